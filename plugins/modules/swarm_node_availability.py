#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: swarm_node_availability
short_description: Drain a Swarm node and wait until its tasks have moved, or make it active again once it is healthy
version_added: 0.2.0
description:
  - Runs on a Swarm manager and sets a node's availability, then waits for what that means -
    C(drain) until no task occupies the node any more (Swarm rescheduled them), C(active) until the
    node is C(ready) and, for a manager, C(reachable) in the Raft cluster.
  - community.docker.docker_node sets the availability but does not wait, so the next step (an engine
    restart, a removal) could begin while tasks still run on the node or before it is back.
  - The node spec is read, changed and written back at its version (retried when another writer got
    there first), so labels and role set elsewhere are kept.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports whether the availability would change; does not wait.
  diff_mode:
    support: full
    description: The node's availability before and after.
extends_documentation_fragment:
  - containerops.platform.docker
options:
  node:
    description: The node's ID or host name.
    type: str
    required: true
  availability:
    description:
      - C(drain) moves the node's tasks away; C(active) lets it run tasks again; C(pause) keeps its
        tasks but gives it no new ones (waited for like C(active)).
    type: str
    required: true
    choices: [active, drain, pause]
  wait_timeout:
    description: Seconds to wait for the tasks to move (drain) or the node to be ready and reachable (active).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Drain a node before its engine restarts
  containerops.platform.swarm_node_availability:
    node: worker-3
    availability: drain
  delegate_to: manager-1

- name: Active again once it is ready (and reachable, for a manager)
  containerops.platform.swarm_node_availability:
    node: worker-3
    availability: active
    wait_timeout: 120
  delegate_to: manager-1
"""

RETURN = r"""
node:
  description: The node after the task (id, hostname, role, availability, state, leader, reachability).
  returned: success
  type: dict
previous_availability:
  description: The node's availability before the task, to restore it later (a node an operator drained stays drained).
  returned: success
  type: str
  sample: active
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils.docker import (
    ENGINE_ARGSPEC,
    DockerEngine,
    EngineError,
    active_tasks,
    node_summary,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            node=dict(type="str", required=True),
            availability=dict(type="str", required=True, choices=["active", "drain", "pause"]),
            wait_timeout=dict(type="int", default=300),
            **ENGINE_ARGSPEC
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["wait_timeout"] <= 0:
        module.fail_json(msg="wait_timeout is %d: set a number of seconds > 0" % p["wait_timeout"])
    try:
        engine = DockerEngine.from_params(p)
        before = node_summary(engine.node(p["node"]))
        changed = before["availability"] != p["availability"]
        diff = {"before": {"availability": before["availability"]}, "after": {"availability": p["availability"]}}
        if module.check_mode:
            module.exit_json(changed=changed, node=before, previous_availability=before["availability"], diff=diff)
        if changed:
            engine.update_node(before["id"], lambda spec: spec.update(Availability=p["availability"]))
        if p["availability"] == "drain":
            left = engine.wait_node_empty(before["id"], p["wait_timeout"])
            if left:
                module.fail_json(msg="node %s is drained but %d task(s) still run on it after %ds; nothing else was "
                                     "done. Raise the wait, or check why they cannot move (placement constraints, "
                                     "resources on the other nodes)" % (before["hostname"], len(active_tasks(left)),
                                                                        p["wait_timeout"]), changed=changed)
            after = node_summary(engine.node(before["id"]))
        else:
            after = engine.wait_node_healthy(before["id"], p["wait_timeout"])
            if after is None:
                now = node_summary(engine.node(before["id"]))
                module.fail_json(msg="node %s is not healthy %ds after it was made active: state %s, reachability %s. "
                                     "Look at its engine (journalctl -u docker) and docker node ps %s"
                                     % (before["hostname"], p["wait_timeout"], now["state"], now["reachability"],
                                        before["hostname"]), changed=changed, node=now)
    except EngineError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, node=after, previous_availability=before["availability"], diff=diff)


if __name__ == "__main__":
    main()
