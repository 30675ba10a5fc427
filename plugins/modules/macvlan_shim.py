#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: macvlan_shim
short_description: Let a node reach its own macvlan containers through a host shim link
version_added: 0.1.0
description:
  - The kernel filters traffic between a macvlan container and its parent interface's own address, so a node cannot
    reach the pinned instances it runs (health checks, a local proxy). A macvlan link of the host's own on the same
    parent, in bridge mode, with a /32 address and a /32 route per instance address, carries that traffic.
  - Makes the link O(name) match - C(ip link add NAME link PARENT type macvlan mode bridge) with the MAC derived from
    O(address) (C(02:42) and its bytes, stable across re-creations), up, exactly the address O(address)/32, and a
    route C(IP/32 dev NAME) per entry of O(routes). A shim with the wrong parent, mode or MAC is made again (it
    carries no container); a link of that name that is not a macvlan is an error.
  - The links, addresses and routes are the kernel's, gone after a reboot until the next run; keeping them across
    reboots belongs to the node's Salt states (a later step).
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads the link and reports the C(ip) steps that would run.
  diff_mode:
    support: full
    description: The shim (parent, mode, MAC, addresses, routes) before and after.
requirements:
  - iproute2 (C(ip)) on the node; the task needs root.
options:
  name:
    description: Name of the shim link (at most 15 characters).
    type: str
    default: mv-shim
  parent:
    description: The parent interface of the macvlan network (C(<parent>.<vlan>) for a VLAN network). Required with
      O(state=present).
    type: str
  address:
    description: The shim's own address - an address of the network's subnet kept out of it with
      C(aux_addresses) (M(containerops.platform.macvlan_network)). Required with O(state=present).
    type: str
  routes:
    description: The pinned instance addresses (or CIDRs) on this node the node reaches through the shim.
    type: list
    elements: str
    default: []
  purge_routes:
    description: Remove routes through the shim that O(routes) does not list (an instance that moved away).
    type: bool
    default: true
  state:
    description: V(absent) deletes the link (its address and routes go with it).
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: containerops.platform.macvlan_network
  - module: containerops.platform.pinned_instance
"""

EXAMPLES = r"""
- name: This node reaches the instances it runs on the apps network
  containerops.platform.macvlan_shim:
    parent: eth0
    address: "{{ macvlan_shim_address }}"
    routes: "{{ pinned_instances | map(attribute='ip') | list }}"
  become: true
"""

RETURN = r"""
shim:
  description: The shim after the task (null after O(state=absent)).
  returned: success
  type: dict
  sample: {"kind": "macvlan", "parent": "eth0", "mode": "bridge", "mac": "02:42:0a:58:20:02", "up": true,
           "addresses": ["10.88.32.2/32"], "routes": ["10.88.32.100/32"]}
steps:
  description: What was done (in check mode, what would be done), in order.
  returned: success
  type: list
  elements: str
  sample: ["add-link eth0", "up", "add-address 10.88.32.2/32", "add-route 10.88.32.100/32"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._docker_network import (
    NetworkError,
    check_parent_exists,
    parent_interface,
)
from ansible_collections.containerops.platform.plugins.module_utils._host_net import (
    HostNetError,
    IpRoute,
    desired_shim,
    interfaces,
    plan_shim,
    shim_state,
)
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import diff_entry


def _step_text(step):
    verb, arg = step
    if isinstance(arg, dict):
        return "%s %s" % (verb, arg["parent"])
    return verb if arg is None else "%s %s" % (verb, arg)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="mv-shim"),
            parent=dict(type="str"),
            address=dict(type="str"),
            routes=dict(type="list", elements="str", default=[]),
            purge_routes=dict(type="bool", default=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ("parent", "address"))],
        supports_check_mode=True,
    )
    p = module.params
    ipr = IpRoute(module.run_command)
    done = []
    try:
        parent_interface(p["name"], None)  # the shim's name follows the same rules as a parent's
        have = shim_state(ipr, p["name"])
        if p["state"] == "absent":
            want = None
            steps = [("delete-link", None)] if have else []
            if have and have["kind"] != "macvlan":
                raise HostNetError("interface %s is a %s link, not a macvlan shim: nothing was deleted"
                                   % (p["name"], have["kind"] or "physical"))
        else:
            check_parent_exists(parent_interface(p["parent"], None), [n for n in interfaces() if n != p["name"]])
            try:
                want = desired_shim(p["parent"], p["address"], p["routes"])
            except ValueError as exc:
                raise NetworkError("address or routes: %s (give IPv4 addresses or CIDRs)" % exc)
            steps = plan_shim(p["name"], have, want, p["purge_routes"])
        if not module.check_mode:
            for step in steps:
                ipr.apply(p["name"], step)
                done.append(_step_text(step))
    except (HostNetError, NetworkError) as exc:
        module.fail_json(msg="%s%s" % (exc, " (done before: %s)" % ", ".join(done) if done else ""),
                         changed=bool(done), steps=done)
    after = want if module.check_mode else (shim_state(ipr, p["name"]) if want else None)
    diff = [diff_entry(p["name"], have or {}, after or {})] if steps else []
    module.exit_json(changed=bool(steps), shim=after, steps=[_step_text(s) for s in steps], diff=diff)


if __name__ == "__main__":
    main()
