#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipam_address
short_description: Allocate, release, bind or unbind a fixed address of an IPAM pool in etcd
version_added: 0.1.0
description:
  - An address belongs to a stable B(owner) - an application's instance slot in an environment, never a
    container or VM ID - and the same owner always gets the same address back, also after a release.
  - A B(holder) is what binds the address now (a VM or container); it changes on failover while the
    owner stays. Each address keeps the history of its holders (the last 20).
  - A released address is B(held down) for the pool's C(hold_down) seconds; only its owner may take it
    again in that time.
  - Every change is one etcd transaction comparing the keys it read, so tasks running at once never hand
    out one address twice. An exhausted pool is an error that allocates nothing.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads etcd and reports the address that would be allocated and what would change; writes nothing.
  diff_mode:
    support: full
    description: One before/after entry for the address (ip, owner, state, holder).
extends_documentation_fragment:
  - containerops.platform.etcd
options:
  pool:
    description: Name of the pool (see M(containerops.platform.ipam_pool)).
    type: str
    required: true
  owner:
    description:
      - "The address's stable owner - a dictionary with C(application), C(environment) and C(slot), or a
        string. The dictionary C({application: web, environment: prod, slot: 1}) and the string
        C(web:prod:1) are the same owner."
      - A string that looks like a container ID is refused.
    type: raw
    required: true
  state:
    description:
      - V(allocated) gives the owner an address (its own, when it has one).
      - V(bound) also records O(holder) as the address's holder (allocating first if needed), in the same
        transaction.
      - V(unbound) clears the holder (only if it is O(holder), when given).
      - V(released) puts the owner's address into hold-down.
    type: str
    choices: [allocated, bound, unbound, released]
    default: allocated
  ip:
    description:
      - Ask for this address. It must be in one of the pool's ranges (or, with O(allow_outside_ranges), in
        the subnet), not reserved, and not the address of another owner or held down for one.
      - An owner that already has another address gets an error; release it first.
    type: str
  allow_outside_ranges:
    description: Let O(ip) be an address of the subnet outside the allocatable ranges.
    type: bool
    default: false
  holder:
    description: With V(bound), the VM or container that binds the address now; with V(unbound), the holder to clear.
    type: str
  takeover:
    description:
      - With V(bound), take the address from another holder. Only after that holder is fenced (powered off or
        cut off), or two machines answer on one address.
    type: bool
    default: false
  takeover_from:
    description:
      - With V(bound), take the address only from this machine or a container on it (a holder V(<machine>) or
        V(<machine>/<container>)), in the same transaction that binds it; that is the machine failover has just fenced.
        Any other holder still makes the task fail, so a failover never takes an address from a node it did
        not fence.
    type: str
  force:
    description: With V(released), release an address that still has a holder (the holder is cleared).
    type: bool
    default: false
seealso:
  - module: containerops.platform.ipam_pool
  - plugin: containerops.platform.ipam
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: An address for slot 1 of web in prod
  containerops.platform.ipam_address:
    endpoints: "{{ etcd_endpoints }}"
    pool: vs-apps
    owner: {application: web, environment: prod, slot: 1}
  register: web1

- name: The container web-1 holds it now
  containerops.platform.ipam_address:
    pool: vs-apps
    owner: web:prod:1
    state: bound
    holder: "{{ inventory_hostname }}/web-1"

- name: Failover - the new node takes the address once the old one is fenced
  containerops.platform.ipam_address:
    pool: vs-apps
    owner: web:prod:1
    state: bound
    holder: lab-vs-2/web-1
    takeover_from: lab-vs-1     # fenced: powered off through its cloud's API

- name: The slot is gone; its address is held down before anyone else gets it
  containerops.platform.ipam_address:
    pool: vs-apps
    owner: web:prod:1
    state: released
    force: true
"""

RETURN = r"""
ip:
  description: The owner's address (in check mode, the one it would get); null when it has none.
  returned: success
  type: str
  sample: 10.88.32.100
owner:
  description: The owner's key, C(application:environment:slot) or the string given.
  returned: success
  type: str
  sample: web:prod:1
pool:
  description: The pool.
  returned: success
  type: str
address:
  description: The address record after the task (in check mode, as it would be).
  returned: success
  type: dict
  contains:
    ip: {description: The address., type: str}
    owner: {description: Its owner., type: str}
    state: {description: C(allocated) or C(held-down)., type: str}
    holder: {description: What binds it now (null when nothing)., type: str}
    hold_until: {description: Epoch seconds the hold-down ends (when held down)., type: float}
    history:
      description: Holders, oldest first, C({holder, since, until}); the current one has C(until) null.
      type: list
      elements: dict
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
            pool=dict(type="str", required=True),
            owner=dict(type="raw", required=True),
            state=dict(type="str", default="allocated", choices=["allocated", "bound", "unbound", "released"]),
            ip=dict(type="str"),
            allow_outside_ranges=dict(type="bool", default=False),
            holder=dict(type="str"),
            takeover=dict(type="bool", default=False),
            takeover_from=dict(type="str"),
            force=dict(type="bool", default=False),
            **ETCD_ARGSPEC
        ),
        required_if=[("state", "bound", ("holder",))],
        mutually_exclusive=[("takeover", "takeover_from")],
        supports_check_mode=True,
    )
    p = module.params
    check = module.check_mode
    try:
        ipam = Ipam(connect(p), p["prefix"])
        if p["state"] in ("allocated", "bound"):
            result = ipam.allocate(p["pool"], p["owner"], ip=p["ip"], outside_ranges=p["allow_outside_ranges"],
                                   holder=p["holder"] if p["state"] == "bound" else None,
                                   takeover=p["takeover_from"] or p["takeover"], check_mode=check)
        elif p["state"] == "released":
            result = ipam.release(p["pool"], p["owner"], force=p["force"], check_mode=check)
        else:
            result = ipam.unbind(p["pool"], p["owner"], holder=p["holder"], check_mode=check)
    except IpamError as exc:
        module.fail_json(msg=str(exc), changed=False)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
