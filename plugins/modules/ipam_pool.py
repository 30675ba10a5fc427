#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipam_pool
short_description: Create, change or delete an IPAM pool in etcd
version_added: 0.1.0
description:
  - A pool is a subnet the platform hands fixed addresses out of, to stable owners (see
    M(containerops.platform.ipam_address)). It records the subnet, its gateway, the allocatable
    ranges, reserved addresses, the VLAN, and the provider and zone it serves.
  - Every rule is checked before anything is written - ranges, gateway and reserved addresses inside the
    subnet, the gateway outside the ranges, ranges not overlapping each other, no overlap with the subnet of
    another pool under the same O(prefix). A pool that breaks one is not created.
  - The overlap check and the write are one etcd transaction, so two tasks creating overlapping pools at
    once cannot both succeed.
  - A change that would leave addresses in use outside the pool (outside the subnet, reserved, or the
    gateway) is refused.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads etcd and reports what would change; writes nothing.
  diff_mode:
    support: full
    description: One before/after entry for the pool.
extends_documentation_fragment:
  - containerops.platform.etcd
options:
  name:
    description: Name of the pool (letters, digits, C(_), C(.), C(-)).
    type: str
    required: true
  state:
    description:
      - V(present) creates the pool or changes it to match; V(absent) deletes it with its address records.
    type: str
    choices: [present, absent]
    default: present
  subnet:
    description: The pool's IPv4 network in CIDR form, for example C(10.88.32.0/24). Required with V(present).
    type: str
  gateway:
    description: The subnet's gateway; inside the subnet and outside every range.
    type: str
  ranges:
    description:
      - Allocatable ranges, each C(FIRST-LAST), a CIDR or one address, inside the subnet and not overlapping.
      - Unset, the whole subnet but its network, broadcast and gateway addresses.
    type: list
    elements: str
  reserved:
    description: Addresses inside the subnet that are never handed out (appliances, a node's shim address, ...).
    type: list
    elements: str
    default: []
  vlan:
    description: VLAN ID (1-4094) of the segment, for the networks built on the pool.
    type: int
  provider:
    description: The provider the pool serves. Required with V(present).
    type: str
    choices: [vsphere, ecs]
  zone:
    description: The zone (vSphere cluster or ECS zone) the pool serves.
    type: str
  hold_down:
    description:
      - Seconds a released address stays held down before it may go to another owner. The owner that
        released it gets it back at any time.
    type: int
    default: 600
  force:
    description: With V(absent), delete the pool even while addresses are allocated from it.
    type: bool
    default: false
seealso:
  - module: containerops.platform.ipam_address
  - plugin: containerops.platform.ipam
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: The fixed-IP pool of the vSphere cluster
  containerops.platform.ipam_pool:
    endpoints: "{{ etcd_endpoints }}"
    name: vs-apps
    subnet: 10.88.32.0/24
    gateway: 10.88.32.1
    ranges: [10.88.32.100-10.88.32.199]
    reserved: [10.88.32.150]
    vlan: 32
    provider: vsphere
    zone: cluster-a

- name: Delete a pool nothing is allocated from any more
  containerops.platform.ipam_pool:
    name: vs-apps
    state: absent
"""

RETURN = r"""
pool:
  description: The pool as stored (ranges and addresses normalized).
  returned: when O(state=present)
  type: dict
  sample: {name: vs-apps, subnet: 10.88.32.0/24, gateway: 10.88.32.1, ranges: [10.88.32.100-10.88.32.199],
           reserved: [10.88.32.150], vlan: 32, provider: vsphere, zone: cluster-a, hold_down: 600}
deleted_addresses:
  description: Address records deleted with the pool.
  returned: when O(state=absent) and the pool existed
  type: int
retries:
  description: Transactions that lost a race with another writer and were retried.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils.ipam import ETCD_ARGSPEC, Ipam, IpamError, connect


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            subnet=dict(type="str"),
            gateway=dict(type="str"),
            ranges=dict(type="list", elements="str"),
            reserved=dict(type="list", elements="str", default=[]),
            vlan=dict(type="int"),
            provider=dict(type="str", choices=["vsphere", "ecs"]),
            zone=dict(type="str"),
            hold_down=dict(type="int", default=600),
            force=dict(type="bool", default=False),
            **ETCD_ARGSPEC
        ),
        required_if=[("state", "present", ("subnet", "provider"))],
        supports_check_mode=True,
    )
    p = module.params
    try:
        ipam = Ipam(connect(p), p["prefix"])
        if p["state"] == "present":
            spec = {k: p[k] for k in ("name", "subnet", "gateway", "ranges", "reserved", "vlan", "provider",
                                      "zone", "hold_down")}
            result = ipam.pool_present(spec, check_mode=module.check_mode)
        else:
            result = ipam.pool_absent(p["name"], force=p["force"], check_mode=module.check_mode)
    except IpamError as exc:
        module.fail_json(msg=str(exc), changed=False)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
