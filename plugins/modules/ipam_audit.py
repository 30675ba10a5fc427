#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipam_audit
short_description: Compare the IPAM in etcd with the addresses the machines really have
version_added: 0.1.0
description:
  - Reads every address record of the IPAM's pools (at one etcd revision) and compares them with what was found
    in use on the machines (O(observed)) - pinned instance containers and shims on the nodes, VMs, ENI secondary
    IPs on ECS nodes. Reports every difference; changes nothing.
  - C(twice) - an address answers on two holders at once.
  - C(not_in_ipam) - an address of a pool's subnet is in use, but the IPAM has no allocation for it (or holds
    it down after a release).
  - C(other_holder) - an address is in use somewhere other than its IPAM holder (an ENI counts for its node).
  - C(not_found) - the IPAM's holder is on a machine that was looked at (O(checked)), which does not have it.
  - C(not_on_eni) - an address held on an ECS node (O(eni_checked)) is not a secondary IP of its ENI (shim
    addresses excepted, since they stay on the node).
  - Holders on machines nobody looked at are listed in RV(unchecked), never reported as missing.
  - playbooks/ipam_audit.yml gathers the observations from the fleet, vSphere and ECS and runs this module.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode changes nothing either.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
extends_documentation_fragment:
  - containerops.platform.etcd
options:
  pools:
    description: The pools to audit; all pools of the IPAM when empty.
    type: list
    elements: str
    default: []
  observed:
    description:
      - Addresses found in use. Each a dictionary - C(ip); C(holder), named as the IPAM names holders
        (C(<node>/<container>) for a container or a node's shim, the VM's name for a VM, the node's inventory
        name for an address on its ENI); C(source), one of V(container), V(shim), V(vm), V(eni); and C(running)
        (default true; a stopped container still holds its address).
    type: list
    elements: dict
    default: []
  checked:
    description: The machines (nodes, VMs) whose containers, shims or power state were looked at.
    type: list
    elements: str
    default: []
  eni_checked:
    description: The ECS nodes whose ENI was read (see M(containerops.platform.ecs_eni_info)).
    type: list
    elements: str
    default: []
seealso:
  - module: containerops.platform.ipam_address
  - module: containerops.platform.ecs_eni_info
"""

EXAMPLES = r"""
- name: The IPAM against what node-1 runs (its containers, found by their containerops.ip label)
  containerops.platform.ipam_audit:
    endpoints: "{{ etcd_endpoints }}"
    observed:
      - {ip: 10.20.2.15, holder: node-1/web-prod-1, source: container}
      - {ip: 10.20.2.11, holder: node-1/mv-shim, source: shim}
    checked: [node-1]
  register: audit

- name: Fail on any difference
  ansible.builtin.assert:
    that: audit.differences | length == 0
    fail_msg: "{{ audit.differences | map(attribute='message') | list }}"
"""

RETURN = r"""
differences:
  description: One entry per difference, in address order.
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: V(twice), V(not_in_ipam), V(other_holder), V(not_found) or V(not_on_eni).
      type: str
    ip: {description: The address., type: str}
    pool: {description: Its pool., type: str}
    owner: {description: Its owner in the IPAM (null when it has none)., type: str}
    ipam_holder: {description: Its holder in the IPAM (null when none)., type: str}
    seen: {description: "Where it was found, C(holder (source)).", type: list, elements: str}
    message: {description: What is wrong and what to do., type: str}
  sample:
    - kind: other_holder
      ip: 10.88.2.15
      pool: lab-vsphere
      owner: demo:lab:1
      ipam_holder: lab-vs-1/demo-lab-1
      seen: [lab-vs-3/demo-lab-1 (container, stopped)]
      message: 10.88.2.15 (owner demo:lab:1) is held by lab-vs-1/demo-lab-1 in the IPAM, but is on ...
unchecked:
  description: Holders in the IPAM on machines that were not looked at.
  returned: success
  type: list
  elements: str
audited:
  description: Counts - C(pools), C(addresses) (records read), C(observed).
  returned: success
  type: dict
  sample: {pools: 4, addresses: 9, observed: 12}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._ipam_audit import check_observations, compare
from ansible_collections.containerops.platform.plugins.module_utils.ipam import ETCD_ARGSPEC, Ipam, IpamError, connect


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pools=dict(type="list", elements="str", default=[]),
            observed=dict(type="list", elements="dict", default=[]),
            checked=dict(type="list", elements="str", default=[]),
            eni_checked=dict(type="list", elements="str", default=[]),
            **ETCD_ARGSPEC
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        observed = check_observations(p["observed"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        pools, records = Ipam(connect(p), p["prefix"]).snapshot_all(p["pools"])
    except IpamError as exc:
        module.fail_json(msg=str(exc))
    differences, unchecked = compare(pools, records, observed, p["checked"], p["eni_checked"])
    module.exit_json(changed=False, differences=differences, unchecked=unchecked,
                     audited=dict(pools=len(pools), addresses=sum(len(r) for r in records.values()),
                                  observed=len(observed)))


if __name__ == "__main__":
    main()
