#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: macvlan_network
short_description: Ensure the Docker data network that fixed application addresses live on, on this node
version_added: 0.1.0
description:
  - Runs on a node and makes its engine's network for fixed addresses match - a C(macvlan) network (each container
    has its own MAC; the vSphere path) or an C(ipvlan) L2 network (every container leaves with the parent's MAC, as
    an Aliyun VPC requires for an ENI's secondary IPs) on a parent interface of the node, optionally an 802.1q VLAN.
  - O(scope=local) is one network of the node; pinned instances (M(containerops.platform.pinned_instance)) use it.
  - O(scope=swarm) is the moby pattern for Swarm services - on every node a config-only network C(<name>-config)
    holding the node's parent and addresses, and once, on a manager, the swarm-scoped attachable network O(name)
    created from it (O(swarm_network)). The swarm network is a separate switch because it is one object of the whole
    swarm - created by one task on one manager, never by every node at once - while each node's config network needs
    that node's own interfaces. Engine 20.10 drops an address asked for on a swarm-scoped network, so pinned
    instances need O(scope=local).
  - Checked before anything changes - the parent is an interface of this node, the gateway and auxiliary addresses
    lie in the subnet, no other network uses the parent (a parent takes one macvlan or ipvlan network), and a
    network of that name has the same driver, parent, subnet, gateway, range and auxiliary addresses. A network
    cannot change in place - one that differs is an error that says what differs, and it is removed and created again
    only with O(recreate=true) and only while no container is attached to it.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads the engine and reports what would be created or removed; changes nothing.
  diff_mode:
    support: full
    description: One before/after entry per network that changes.
extends_documentation_fragment:
  - containerops.platform.docker
options:
  name:
    description: Name of the network containers attach to (with O(scope=swarm), the config network is C(<name>-config)).
    type: str
    required: true
  driver:
    description:
      - V(macvlan) - bridge mode, a MAC per container (the vSphere port group needs forged transmits and promiscuous
        mode or MAC learning - containerops.platform.vsphere_portgroup_policy sets them).
      - V(ipvlan) - L2 mode (C(ipvlan_mode=l2)); containers share the parent's MAC, so the VPC accepts their frames.
    type: str
    choices: [macvlan, ipvlan]
    default: macvlan
  parent:
    description:
      - The node's interface the network attaches to, e.g. C(eth0). It must exist on the node (the error lists the
        node's interfaces).
      - With O(vlan), the physical interface of the 802.1q link C(<parent>.<vlan>), which the driver creates.
      - Required with O(state=present).
    type: str
  vlan:
    description: 802.1q VLAN ID (1-4094); the network attaches to C(<parent>.<vlan>).
    type: int
  subnet:
    description: IPv4 subnet of the network (the IPAM pool's), e.g. C(10.88.32.0/24). Required with O(state=present).
    type: str
  gateway:
    description: The subnet's router. Required with O(state=present).
    type: str
  ip_range:
    description:
      - Addresses the engine may hand out to a container that asks for none.
      - Default with O(scope=local) - the gateway's /32, so nothing is handed out - fixed addresses are always given
        explicitly, and a container without one fails instead of taking an address that belongs to an instance on
        another node.
      - Required with O(scope=swarm) - each node's own range, overlapping no other node's and no fixed address.
    type: str
  aux_addresses:
    description:
      - "Addresses of the subnet the engine must never give a container, by name - e.g. C({shim: 10.88.32.2}) for the
        node's host shim (M(containerops.platform.macvlan_shim))."
    type: dict
    default: {}
  scope:
    description: V(local) - one network of this node; V(swarm) - this node's C(<name>-config) (and O(swarm_network)).
    type: str
    choices: [local, swarm]
    default: local
  swarm_network:
    description:
      - With O(scope=swarm), also ensure the swarm-scoped attachable network O(name) from C(<name>-config). Set it on
        one manager only (C(run_once), or a condition on the first manager); a worker is refused.
    type: bool
    default: false
  recreate:
    description:
      - Remove and create again a network of that name that differs, when no container is attached to it on this
        node. Without it, a difference is an error.
    type: bool
    default: false
  state:
    description: V(absent) removes the network(s) of this task; refused while containers are attached.
    type: str
    choices: [present, absent]
    default: present
notes:
  - The parent interface is looked up on the host the task runs on, so run it on the node whose engine it manages
    (the default O(docker_host)).
seealso:
  - module: containerops.platform.pinned_instance
  - module: containerops.platform.macvlan_shim
"""

EXAMPLES = r"""
- name: The vSphere nodes' data network (the IPAM pool vs-apps), the shim's address kept out of it
  containerops.platform.macvlan_network:
    name: apps
    parent: eth0
    subnet: 10.88.32.0/24
    gateway: 10.88.32.1
    aux_addresses:
      shim: "{{ macvlan_shim_address }}"

- name: ECS nodes - ipvlan L2 on the primary ENI, so containers send with the ENI's MAC
  containerops.platform.macvlan_network:
    name: apps
    driver: ipvlan
    parent: eth0
    subnet: 10.88.16.0/24
    gateway: 10.88.16.1

- name: A tagged VLAN on a trunk port (the driver creates eth1.132)
  containerops.platform.macvlan_network:
    name: apps-132
    parent: eth1
    vlan: 132
    subnet: 10.132.0.0/24
    gateway: 10.132.0.1

- name: Swarm services on macvlan - each node's config network, the swarm network once on the first manager
  containerops.platform.macvlan_network:
    name: svc
    scope: swarm
    parent: eth0
    subnet: 10.88.40.0/24
    gateway: 10.88.40.1
    ip_range: "{{ node_svc_range }}"
    swarm_network: "{{ inventory_hostname == groups['managers'][0] }}"
"""

RETURN = r"""
network:
  description: The network containers attach to as it is after the task (with O(scope=swarm) on a node without
    O(swarm_network), the node's config network); empty after O(state=absent).
  returned: success
  type: dict
  sample: {"driver": "macvlan", "scope": "local", "parent": "eth0", "mode": "bridge", "subnet": "10.88.32.0/24",
           "gateway": "10.88.32.1", "ip_range": "10.88.32.1/32", "aux_addresses": {"shim": "10.88.32.2"}}
created:
  description: Networks this run created (also when it failed later).
  returned: always
  type: list
  elements: str
removed:
  description: Networks this run removed (also when it failed later).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._docker_network import (
    NetworkError,
    Networks,
    desired_network,
    network_names,
    network_view,
    plan_absent,
    plan_network,
)
from ansible_collections.containerops.platform.plugins.module_utils._host_net import interfaces
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import diff_entry
from ansible_collections.containerops.platform.plugins.module_utils.docker import (
    ENGINE_ARGSPEC,
    DockerEngine,
    EngineError,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            driver=dict(type="str", default="macvlan", choices=["macvlan", "ipvlan"]),
            parent=dict(type="str"),
            vlan=dict(type="int"),
            subnet=dict(type="str"),
            gateway=dict(type="str"),
            ip_range=dict(type="str"),
            aux_addresses=dict(type="dict", default={}),
            scope=dict(type="str", default="local", choices=["local", "swarm"]),
            swarm_network=dict(type="bool", default=False),
            recreate=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            **ENGINE_ARGSPEC
        ),
        required_if=[("state", "present", ("parent", "subnet", "gateway"))],
        supports_check_mode=True,
    )
    p = module.params
    names = network_names(p["name"], p["scope"], p["swarm_network"])
    created, removed = [], []
    try:
        desired = desired_network(p, interfaces()) if p["state"] == "present" else None
        engine = DockerEngine.from_params(p)
        networks = Networks(engine)
        listing = networks.list()
        existing = dict((name, networks.get(name, listing)) for name in names)
        if desired is None:
            plan = plan_absent(names, existing)
        else:
            if p["swarm_network"] and not (engine.info().get("Swarm") or {}).get("ControlAvailable"):
                raise NetworkError("swarm_network: true must run on a Swarm manager, and this node is not one: run it "
                                   "once, on a manager (run_once with delegate_to, or a condition on the first "
                                   "manager); nothing was changed")
            others = [n for n in listing if n.get("Name") not in names]
            plan = plan_network(desired, existing, others, p["recreate"])
        diff = [diff_entry(name, before, after) for name, before, after in plan["diff"]]
        changed = bool(plan["remove"] or plan["create"])
        if not module.check_mode:
            for name, net_id in plan["remove"]:
                networks.remove(name, net_id)
                removed.append(name)
            for name, body in plan["create"]:
                networks.create(body)
                created.append(name)
            listing = networks.list() if changed else listing
        final = networks.get(names[-1], listing) if p["state"] == "present" and not module.check_mode else None
    except (NetworkError, EngineError) as exc:
        done = "" if not (created or removed) else " (this run removed: %s; created: %s)" % (
            ", ".join(removed) or "nothing", ", ".join(created) or "nothing")
        module.fail_json(msg="%s%s" % (exc, done), changed=bool(created or removed), created=created, removed=removed)
    if module.check_mode and p["state"] == "present":
        final_view = dict(plan["diff"][-1][2]) if plan["diff"] else network_view(existing[names[-1]], p["driver"])
    else:
        final_view = network_view(final, p["driver"]) or {}
    module.exit_json(changed=changed, network=final_view, created=created, removed=removed, diff=diff)


if __name__ == "__main__":
    main()
