#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: swarm_node_prune
short_description: Remove Swarm node entries that no longer belong to the inventory
version_added: 0.1.0
description:
  - Runs on a Swarm manager and compares the swarm's node list with O(keep), the hosts that
    belong to the swarm.
  - B(Stale entries) - a node whose hostname is in O(keep), whose status is C(down) and whose ID
    is not the host's live node ID (a machine re-created with the same name) - are demoted when
    they are managers and removed.
  - B(Departed nodes) - a node whose hostname is not in O(keep) and that carries O(managed_label)
    (or any node when O(remove_unmanaged=true)) - are demoted when managers, drained, waited on
    until none of their tasks is left (Swarm reschedules them elsewhere), then removed. Nodes
    without the label are reported in RV(foreign) and never touched.
  - community.docker.docker_swarm C(state=remove) only removes nodes that are already down and
    community.docker.docker_node does not wait for a drain; this module does both in one step.
  - The node the module runs on is never removed.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports what would be removed; changes nothing.
  diff_mode:
    support: full
    description: The node list (id, hostname) before and after.
extends_documentation_fragment:
  - containerops.platform.docker
options:
  keep:
    description:
      - Hostnames (as the engine reports them, C(docker info) C(Name)) of the nodes that belong to
        the swarm, each mapped to that host's live node ID, an empty string when the host is
        not in the swarm yet, or C(null) for a host that belongs to the swarm but was not examined
        in this run (its entries are left alone).
      - Build it from the inventory's whole fleet, not from the play's hosts, so a run on part of
        the fleet never treats the rest as departed.
    type: dict
    required: true
  max_removals:
    description:
      - At most this many departed nodes are removed in one run. When more would go, the module
        fails before it changes anything, naming them, unless every one of them is listed in
        O(confirm_removals). Stale entries of re-created machines do not count.
    type: int
    default: 1
  confirm_removals:
    description:
      - Hostnames of departed nodes the operator confirms may be removed beyond O(max_removals).
    type: list
    elements: str
    default: []
  managed_label:
    description: Node label key that marks a node as managed by this collection.
    type: str
    default: containerops.managed
  remove_departed:
    description: Drain and remove departed nodes. With V(false) only stale entries are removed.
    type: bool
    default: true
  remove_unmanaged:
    description:
      - Also remove departed nodes without O(managed_label). Off by default, so nodes some other
        tool added to the swarm are not removed by accident.
    type: bool
    default: false
  drain_timeout:
    description: Seconds to wait for a drained node's tasks to be gone before failing.
    type: int
    default: 180
"""

EXAMPLES = r"""
- name: Nodes that left inventory and stale entries of re-created machines are gone
  containerops.platform.swarm_node_prune:
    keep:
      lab-vs-1: k3j2...   # live node ID
      lab-vs-2: ""        # re-created, not joined yet
"""

RETURN = r"""
stale:
  description: Down entries of re-created machines that were (or would be) removed.
  returned: always
  type: list
  elements: dict
departed:
  description: Managed nodes that left inventory and were (or would be) drained and removed.
  returned: always
  type: list
  elements: dict
node_ids:
  description: IDs of the nodes in the swarm after the task (a host whose live node ID is not among
    them is not part of this swarm any more and has to leave and join again).
  returned: success
  type: list
  elements: str
node_labels:
  description: The labels of each node in RV(node_ids), by node ID, as the swarm has them before the task
    (the role sets node labels only where they differ from these).
  returned: success
  type: dict
foreign:
  description: Nodes not in O(keep) and without O(managed_label); left alone.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils.docker import (
    ENGINE_ARGSPEC,
    DockerEngine,
    EngineError,
    active_tasks,
    node_summary,
    plan_node_prune,
    removal_refusal,
)


def demote(spec):
    spec["Role"] = "worker"


def drain(spec):
    spec["Availability"] = "drain"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            keep=dict(type="dict", required=True),
            managed_label=dict(type="str", default="containerops.managed"),
            remove_departed=dict(type="bool", default=True),
            remove_unmanaged=dict(type="bool", default=False),
            drain_timeout=dict(type="int", default=180),
            max_removals=dict(type="int", default=1),
            confirm_removals=dict(type="list", elements="str", default=[]),
            **ENGINE_ARGSPEC
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["max_removals"] < 0:
        module.fail_json(msg="max_removals is %d: set a number >= 0 (swarm_remove_max)" % p["max_removals"])
    keep = {str(k): (None if v is None else str(v)) for k, v in p["keep"].items()}
    done = []
    try:
        engine = DockerEngine.from_params(p)
        info = engine.info()
        swarm = info.get("Swarm") or {}
        if not swarm.get("ControlAvailable"):
            module.fail_json(msg="swarm_node_prune must run on a Swarm manager; this node's swarm state "
                                 "is %s" % swarm.get("LocalNodeState"))
        nodes = engine.nodes()
        plan = plan_node_prune(nodes, keep, swarm.get("NodeID"), p["managed_label"],
                               remove_unmanaged=p["remove_unmanaged"], remove_departed=p["remove_departed"])
        changed = bool(plan["stale"] or plan["departed"])
        result = dict(changed=changed, stale=plan["stale"], departed=plan["departed"],
                      foreign=plan["foreign"], kept_duplicates=plan["kept_duplicates"])
        if module._diff:
            before = sorted("%s %s" % (n["hostname"], n["id"]) for n in map(node_summary, nodes))
            gone = set(n["id"] for n in plan["stale"] + plan["departed"])
            result["diff"] = dict(before="\n".join(before) + "\n", after="\n".join(
                x for x in before if x.split()[-1] not in gone) + "\n")
        gone = set(n["id"] for n in plan["stale"] + plan["departed"])
        result["node_ids"] = [n["ID"] for n in nodes if n["ID"] not in gone]
        result["node_labels"] = {n["ID"]: (n.get("Spec") or {}).get("Labels") or {}
                                 for n in nodes if n["ID"] not in gone}
        refusal = removal_refusal(plan, p["max_removals"], p["confirm_removals"])
        if refusal:
            module.fail_json(msg=refusal, **{k: v for k, v in result.items() if k != "changed"})
        if module.check_mode or not changed:
            module.exit_json(**result)

        # Stale entries are down: demote (a down manager still counts for Raft quorum) and remove.
        for n in plan["stale"]:
            if n["role"] == "manager":
                engine.update_node(n["id"], demote)
            engine.remove_node(n["id"], force=True)
            done.append(n["id"])

        # Departed nodes: demote first (quorum shrinks cleanly), drain all, then wait and remove.
        for n in plan["departed"]:
            if n["role"] == "manager":
                engine.update_node(n["id"], demote)
            engine.update_node(n["id"], drain)
        for n in plan["departed"]:
            left = engine.wait_node_empty(n["id"], p["drain_timeout"]) if n["state"] != "down" else []
            if left:
                module.fail_json(
                    msg="node %s (%s) is drained but %d task(s) still run on it after %ss; it was not removed. "
                        "Raise swarm_drain_timeout or check why the tasks cannot move (placement "
                        "constraints, resources)" % (n["hostname"], n["id"], len(active_tasks(left)),
                                                     p["drain_timeout"]),
                    removed=done, **{k: v for k, v in result.items() if k != "changed"})
            engine.remove_node(n["id"], force=True)
            done.append(n["id"])
    except EngineError as exc:
        module.fail_json(msg=str(exc), removed=done)
    result["removed"] = done
    module.exit_json(**result)


if __name__ == "__main__":
    main()
