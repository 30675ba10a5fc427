#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pinned_instance
short_description: One application instance as a container with its fixed address on this node
version_added: 0.1.0
description:
  - Runs on the node chosen for the instance and keeps one standalone container there, on a local macvlan or ipvlan
    network (M(containerops.platform.macvlan_network)), with the address IPAM gave its owner
    (M(containerops.platform.ipam_address)) and, on macvlan, a MAC derived from that address - C(02:42) and the
    address's four bytes, as libnetwork generates it - so the address keeps its MAC when the instance moves and
    neighbours' ARP entries stay right.
  - Stop, start and restart keep the address and the MAC. A container whose image, command, env, labels, network,
    address, MAC or swappiness differ from the options is removed and created again (the diff shows what differs);
    memory, CPU limits and the restart policy change in place.
  - After every start (also of a new container) a gratuitous ARP for the address goes out from inside the container's
    network namespace, O(garp_count) frames one second apart, so neighbours and switches learn where the address is
    now; Engine 20.10 sends none. The frames are written from Python on the node, so no arping package is needed.
  - The node's cores come from the engine (C(NCPU)), so O(workload_class) leaves the host its cores on any node size.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads the engine and reports what would be done (C(actions)); changes nothing.
  diff_mode:
    support: full
    description: The instance before and after (env values as digests).
extends_documentation_fragment:
  - containerops.platform.docker
options:
  name:
    description: Container name, e.g. C(web-1).
    type: str
    required: true
  image:
    description: Image, e.g. C(registry.example:5000/web:1.4). Pulled when the node does not have it.
    type: str
  network:
    description: The node's local macvlan or ipvlan network. A swarm-scoped network is refused, because Engine 20.10
      gives its containers addresses from the node's range and drops the one asked for.
    type: str
  ip:
    description: The instance's address, in the network's subnet and neither its gateway nor an auxiliary address.
    type: str
  mac_address:
    description:
      - MAC of the instance on a macvlan network. Default - derived from O(ip) (C(02:42:) and the four bytes of the
        address), so the same address always has the same MAC.
      - Not allowed on an ipvlan network, whose containers use the parent's MAC.
    type: str
  owner:
    description:
      - Whose instance this is - C({application, environment, slot}) or C(application:environment:slot), the owner of
        the address in IPAM. Becomes the labels C(containerops.application), C(containerops.environment) and
        C(containerops.slot); C(containerops.ip) and C(containerops.workload-class) are set too.
    type: raw
  state:
    description:
      - V(started) - the container exists as the options say and runs; V(stopped) - it exists and does not run;
        V(restarted) - it is restarted (started when stopped), every run; V(absent) - it is removed.
    type: str
    choices: [started, stopped, restarted, absent]
    default: started
  workload_class:
    description:
      - Resource limits by the kind of workload (the node label C(containerops.workload-class) uses the same names).
      - "V(general): memory 1g, swappiness 10, cpu_shares 1024, CPU quota = node cores - 1."
      - "V(jvm): memory 4g, swappiness 0 (the collector walks the whole heap), cpu_shares 1024, quota = cores - 2."
      - "V(batch): memory 2g, swappiness 10, cpu_shares 256 (yields to the others), quota = cores - 1."
      - The memory limit is also the swap limit (no swap beyond it); the quota is at least one core.
      - O(memory), O(cpu_shares) and O(cpus) override the class's value.
    type: str
    choices: [general, jvm, batch]
    default: general
  memory:
    description: Memory limit, e.g. C(512m) or C(2g), instead of the workload class's.
    type: str
  cpu_shares:
    description: CPU weight under contention (1024 is the engine's default), instead of the workload class's.
    type: int
  cpus:
    description: CPU quota in cores (e.g. C(1.5)), at most the node's cores, instead of the workload class's.
    type: float
  restart_policy:
    description: What the engine does when the container stops or the node restarts.
    type: str
    choices: ["no", always, unless-stopped, on-failure]
    default: unless-stopped
  labels:
    description: More container labels; the C(containerops.) prefix is the module's own.
    type: dict
    default: {}
  env:
    description:
      - Environment variables. Values never appear in the diff or a message (digests do), but the task's arguments
        are shown at C(-vvv) and kept in the event data AWX stores - use O(secret_env) for passwords and tokens.
      - Anyone who can inspect the container reads the values of both.
    type: dict
    default: {}
  secret_env:
    description:
      - Environment variables whose values are secrets (a password, a token). Set in the container like O(env);
        the module's arguments and results show no value of them, at any verbosity, nor the diff (digests do).
      - A variable is in O(env) or here, not both.
    type: dict
    default: {}
  command:
    description: Command instead of the image's, a list or a string (split like a shell does).
    type: raw
  stop_timeout:
    description: Seconds a stop, restart or re-creation gives the process before it is killed.
    type: int
    default: 10
  garp_count:
    description: Gratuitous ARP frames sent after a start, one second apart; V(0) sends none.
    type: int
    default: 3
notes:
  - Run it on the node whose engine it manages (the default O(docker_host)) - the gratuitous ARP enters the container's
    network namespace through C(/proc) on the host the task runs on.
  - The host cannot reach its own macvlan containers without a shim (M(containerops.platform.macvlan_shim)).
seealso:
  - module: containerops.platform.macvlan_network
  - module: containerops.platform.macvlan_shim
  - module: containerops.platform.ipam_address
"""

EXAMPLES = r"""
- name: The address of web slot 1 in prod
  containerops.platform.ipam_address:
    pool: vs-apps
    owner: web:prod:1
  register: web1
  delegate_to: localhost

- name: web-1 on this node with that address (and its MAC, 02:42 and the address's bytes)
  containerops.platform.pinned_instance:
    name: web-1
    image: registry.lab:5000/web:1.4
    network: apps
    ip: "{{ web1.ip }}"
    owner: web:prod:1
    workload_class: jvm
    memory: 3g
    env:
      JAVA_OPTS: -XX:MaxRAMPercentage=75
    secret_env:
      DB_PASSWORD: "{{ vault_web_db_password }}"

- name: Stopped for maintenance - it keeps its address and MAC
  containerops.platform.pinned_instance:
    name: web-1
    image: registry.lab:5000/web:1.4
    network: apps
    ip: "{{ web1.ip }}"
    owner: web:prod:1
    workload_class: jvm
    memory: 3g
    env:
      JAVA_OPTS: -XX:MaxRAMPercentage=75
    secret_env:
      DB_PASSWORD: "{{ vault_web_db_password }}"
    state: stopped

- name: Gone from the old node after a failover
  containerops.platform.pinned_instance:
    name: web-1
    state: absent
"""

RETURN = r"""
container_id:
  description: ID of the container (null when there is none, or in check mode before it is created).
  returned: success
  type: str
ip:
  description: The instance's address (null after O(state=absent)).
  returned: success
  type: str
  sample: 10.88.32.100
mac_address:
  description: Its MAC - the derived or given one; on ipvlan, the parent's once it runs (null before).
  returned: success
  type: str
  sample: 02:42:0a:58:20:64
garp_sent:
  description: Whether gratuitous ARP frames for the address went out in this run (a failure to send is a warning).
  returned: success
  type: bool
garp_error:
  description: Why the gratuitous ARP could not be sent (also given as a warning).
  returned: when sending it failed
  type: str
recreated:
  description: Whether the container was removed and created again because options differ (see the diff).
  returned: success
  type: bool
actions:
  description: The steps taken, in order (in check mode, the steps that would be taken).
  returned: success
  type: list
  elements: str
  sample: [remove, create, start]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._docker_instance import (
    WORKLOAD_CLASSES,
    InstanceError,
    InstanceFailed,
    run_pinned_instance,
)
from ansible_collections.containerops.platform.plugins.module_utils._docker_network import NetworkError
from ansible_collections.containerops.platform.plugins.module_utils._host_net import send_garp
from ansible_collections.containerops.platform.plugins.module_utils.docker import (
    ENGINE_ARGSPEC,
    DockerEngine,
    EngineError,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            image=dict(type="str"),
            network=dict(type="str"),
            ip=dict(type="str"),
            mac_address=dict(type="str"),
            owner=dict(type="raw"),
            state=dict(type="str", default="started", choices=["started", "stopped", "restarted", "absent"]),
            workload_class=dict(type="str", default="general", choices=sorted(WORKLOAD_CLASSES)),
            memory=dict(type="str"),
            cpu_shares=dict(type="int"),
            cpus=dict(type="float"),
            restart_policy=dict(type="str", default="unless-stopped",
                                choices=["no", "always", "unless-stopped", "on-failure"]),
            labels=dict(type="dict", default={}),
            env=dict(type="dict", default={}),
            secret_env=dict(type="dict", default={}, no_log=True),
            command=dict(type="raw"),
            stop_timeout=dict(type="int", default=10),
            garp_count=dict(type="int", default=3),
            **ENGINE_ARGSPEC
        ),
        required_if=[("state", state, ("image", "network", "ip", "owner"))
                     for state in ("started", "stopped", "restarted")],
        supports_check_mode=True,
    )
    p = module.params
    if p["stop_timeout"] < 0 or not 0 <= p["garp_count"] <= 10:
        module.fail_json(msg="stop_timeout %d / garp_count %d: give seconds >= 0 and 0-10 frames"
                         % (p["stop_timeout"], p["garp_count"]))
    try:
        engine = DockerEngine.from_params(p)
        result = run_pinned_instance(engine, p, module.check_mode,
                                     lambda pid, ip: send_garp(pid, ip, count=p["garp_count"]))
    except InstanceFailed as exc:
        module.fail_json(msg=str(exc), changed=bool(exc.done), actions=exc.done)
    except (InstanceError, NetworkError, EngineError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
