#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ecs_private_ip
short_description: Make addresses secondary private IPs of an Alibaba Cloud ECS network interface, or take them off
version_added: 0.1.0
description:
  - Makes the addresses in O(private_ips) secondary private IPv4 addresses of an elastic network interface
    (ENI) - the primary ENI of O(instance_id), or O(network_interface_id) - or takes them off again. The
    interface's other secondary IPs are never touched.
  - Only the difference is changed. The missing addresses are assigned with one C(AssignPrivateIpAddresses)
    call; the ones present are taken off with C(UnassignPrivateIpAddresses) (32 per call).
  - ECS lists a change in C(DescribeNetworkInterfaces) some seconds after it accepted it; with O(wait) the
    module polls until the listing shows every address on (or off) the interface.
  - Before assigning, every address is checked against the vSwitch's CIDR and its reserved addresses, and
    looked up on the other interfaces, so that an address held elsewhere fails the task before anything changes,
    naming the interface and instance that hold it.
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.ecs
attributes:
  check_mode:
    support: full
    description: Only C(Describe*) calls are made; the result and the diff say what would change.
  diff_mode:
    support: full
    description:
      - One before/after entry for the interface when its secondary IPs change, headed by the interface and
        instance IDs, the shape of the other machine modules' diffs.
options:
  instance_id:
    description:
      - The instance whose primary network interface gets or loses the addresses (found with
        C(DescribeNetworkInterfaces InstanceId=... Type=Primary)).
      - Exactly one of O(instance_id) and O(network_interface_id) is required.
    type: str
  network_interface_id:
    description:
      - The network interface that gets or loses the addresses, for example a secondary ENI.
    type: str
  private_ips:
    description:
      - IPv4 addresses, each inside the CIDR of the interface's vSwitch and not one of its reserved addresses
        (the first and the last three), each given once.
      - With O(state=present), the instance type bounds how many secondary IPs an interface can have
        (C(EniPrivateIpAddressQuantity) of C(DescribeInstanceTypes), the primary IP included).
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) assigns the addresses of O(private_ips) that the interface does not have yet.
      - V(absent) takes off the addresses of O(private_ips) that it has. An interface (or instance) that does not
        exist has none of them.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Poll C(DescribeNetworkInterfaces) until it lists every address of O(private_ips) on the interface (or none of
        them, with O(state=absent)).
      - Without it, RV(private_ips) is what the interface will have once ECS lists the change.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole task may take, polls included.
    type: int
    default: 120
notes:
  - C(AssignPrivateIpAddresses) carries a C(ClientToken) derived from the request and unique to the run, so a call
    retried after a lost answer assigns once. When ECS answers C(InvalidIp.IpAssigned) because another run asked
    for the address first, the module looks the address up - on this interface it counts as present, on another
    one it fails the task.
  - An interface busy with an earlier request (C(Operation.Conflict), C(OperationConflict),
    C(InvalidOperation.InvalidEniState)) is retried like throttling, so runs on one interface at once all succeed.
  - The instance must be C(Running) or C(Stopped). Moving an address to another interface takes two tasks, this
    module with O(state=absent) on the old interface, then O(state=present) on the new one; ECS has no reassign.
  - A task that fails half-way reports what it assigned or took off (RV(assigned), RV(unassigned)) and C(changed).
seealso:
  - module: containerops.platform.ecs_instance
"""

EXAMPLES = r"""
- name: Two fixed application addresses on a node's primary ENI
  containerops.platform.ecs_private_ip:
    region: cn-hangzhou
    instance_id: i-bp1abcdefghijklmnopq
    private_ips: [10.88.16.201, 10.88.16.202]

- name: Take one off again (the other secondary IPs stay)
  containerops.platform.ecs_private_ip:
    region: cn-hangzhou
    instance_id: i-bp1abcdefghijklmnopq
    private_ips: [10.88.16.202]
    state: absent

- name: Move an address from one node to another (no reassign in ECS - off first, then on)
  hosts: localhost
  module_defaults:
    group/containerops.platform.ecs:
      region: cn-hangzhou
      profile: production
  tasks:
    - name: Off the old node
      containerops.platform.ecs_private_ip:
        instance_id: "{{ old_instance_id }}"
        private_ips: [10.88.16.201]
        state: absent
    - name: On the new node
      containerops.platform.ecs_private_ip:
        instance_id: "{{ new_instance_id }}"
        private_ips: [10.88.16.201]
"""

RETURN = r"""
network_interface_id:
  description: The network interface (null when O(instance_id) has none, with O(state=absent)).
  returned: always
  type: str
  sample: eni-bp1abcdefghijklmnopq
instance_id:
  description: The instance the interface is attached to.
  returned: always
  type: str
  sample: i-bp1abcdefghijklmnopq
mac_address:
  description: MAC address of the interface.
  returned: always
  type: str
  sample: "00:16:3e:12:34:56"
private_ips:
  description:
    - Every secondary private IP of the interface after the task (in check mode, or without O(wait), what it will
      have), in address order. Not only the ones of O(private_ips).
  returned: always
  type: list
  elements: str
  sample: [10.88.16.201, 10.88.16.202]
assigned:
  description: Addresses this task assigned (in check mode, would assign). Also set when the task failed later.
  returned: always
  type: list
  elements: str
  sample: [10.88.16.202]
unassigned:
  description: Addresses this task took off (in check mode, would take off). Also set when the task failed later.
  returned: always
  type: list
  elements: str
  sample: []
api_calls:
  description: ECS API attempts made, per action (retries included).
  returned: always
  type: dict
  sample: {DescribeNetworkInterfaces: 3, DescribeVSwitches: 1, AssignPrivateIpAddresses: 1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._ecs_eni import run_ecs_private_ip
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError
from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    CONNECTION_ARGSPEC,
    HAS_SDK,
    SDK_IMPORT_ERROR,
    SDK_MISSING_MSG,
)


def argument_spec():
    spec = dict(CONNECTION_ARGSPEC)
    spec.update(
        instance_id=dict(type="str"),
        network_interface_id=dict(type="str"),
        private_ips=dict(type="list", elements="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=120),
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_one_of=[("instance_id", "network_interface_id")],
        mutually_exclusive=[("instance_id", "network_interface_id")],
    )
    if not HAS_SDK:
        module.fail_json(msg=SDK_MISSING_MSG % SDK_IMPORT_ERROR)
    try:
        result = run_ecs_private_ip(module.params, check_mode=module.check_mode, warn=module.warn)
    except ProvisionError as exc:
        module.fail_json(**exc.fail_args())
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
