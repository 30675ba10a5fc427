#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ecs_eni_info
short_description: Read the primary network interface (ENI) of Alibaba Cloud ECS instances, with its secondary IPs
version_added: 0.1.0
description:
  - Lists the primary ENI of each instance of O(instance_ids) through C(DescribeNetworkInterfaces) - its ID, MAC,
    vSwitch, primary IP and every secondary private IP. Changes nothing.
  - ECS lists a change some seconds after the call that made it, so a secondary IP assigned or taken off just
    now may not show yet.
  - playbooks/ipam_audit.yml compares the secondary IPs with the IPAM (M(containerops.platform.ipam_audit)).
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.ecs
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  instance_ids:
    description: The instances (C(i-...)), all of O(region).
    type: list
    elements: str
    required: true
seealso:
  - module: containerops.platform.ecs_private_ip
  - module: containerops.platform.ipam_audit
"""

EXAMPLES = r"""
- name: The secondary IPs of two nodes' ENIs
  containerops.platform.ecs_eni_info:
    region: cn-hangzhou
    instance_ids: [i-bp1abcdefghijklmnopq, i-bp1bcdefghijklmnopqr]
  register: enis
"""

RETURN = r"""
interfaces:
  description: One entry per instance whose primary ENI is listed, in the order of O(instance_ids).
  returned: success
  type: list
  elements: dict
  contains:
    instance_id: {description: The instance., type: str}
    network_interface_id: {description: Its primary ENI., type: str}
    mac_address: {description: The ENI's MAC., type: str}
    vswitch_id: {description: The ENI's vSwitch., type: str}
    primary_ip: {description: The ENI's primary private IP., type: str}
    private_ips: {description: Its secondary private IPs in address order., type: list, elements: str}
  sample:
    - {instance_id: i-bp1abcdefghijklmnopq, network_interface_id: eni-bp1abcdefghijklmnopq,
       mac_address: "00:16:3e:12:34:56", vswitch_id: vsw-bp1abcdefghijklmnopq, primary_ip: 10.88.16.11,
       private_ips: [10.88.16.201]}
missing:
  description: Instances of O(instance_ids) with no primary ENI listed (unknown, deleted, or too new to be listed).
  returned: success
  type: list
  elements: str
api_calls:
  description: ECS API attempts made, per action (retries included).
  returned: always
  type: dict
  sample: {DescribeNetworkInterfaces: 2}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._ecs_eni import run_ecs_eni_info
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError
from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    CONNECTION_ARGSPEC,
    HAS_SDK,
    SDK_IMPORT_ERROR,
    SDK_MISSING_MSG,
)


def main():
    spec = dict(CONNECTION_ARGSPEC)
    spec.update(instance_ids=dict(type="list", elements="str", required=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_SDK:
        module.fail_json(msg=SDK_MISSING_MSG % SDK_IMPORT_ERROR)
    try:
        result = run_ecs_eni_info(module.params)
    except ProvisionError as exc:
        module.fail_json(**exc.fail_args())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
