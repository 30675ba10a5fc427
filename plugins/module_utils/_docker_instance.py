# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to pinned_instance: one application instance as a container with its fixed address.

The container is standalone (not a Swarm task), on a local macvlan or ipvlan network of the node,
with the address IPAM gave its owner and, on macvlan, the MAC derived from that address. Measured
on Engine 20.10: a container on a swarm-scoped (ConfigFrom) network is given an address from the
node's range and the requested one is dropped (moby#24170), so pinned instances use local networks.

The rules (``desired_instance``, ``resources``, ``plan_instance``) take plain dicts, so unit tests
call them without an engine; ``Instances`` makes the engine calls through DockerEngine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import re
import shlex

from ansible.module_utils.common.text.formatters import human_to_bytes

from ansible_collections.containerops.platform.plugins.module_utils._docker_network import DRIVERS, NAME_RE, Networks
from ansible_collections.containerops.platform.plugins.module_utils._host_net import HostNetError, derive_mac
from ansible_collections.containerops.platform.plugins.module_utils._ipam_model import IpamError, owner_key
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import diff_entry
from ansible_collections.containerops.platform.plugins.module_utils.docker import EngineError

# What each workload class limits. memory is also the swap limit (no swap beyond it); swappiness
# low, so the kernel reclaims page cache before the container's memory (0 for the JVM, whose
# collector walks the whole heap); cpu_shares weighs containers against each other under contention
# (1024 is Docker's default; batch yields); host_cores are the node's cores the cpu quota leaves
# to the host (engine, Salt, sshd): the quota is the node's cores less these, at least one core.
WORKLOAD_CLASSES = {
    "general": {"memory": "1g", "memory_swappiness": 10, "cpu_shares": 1024, "host_cores": 1},
    "jvm": {"memory": "4g", "memory_swappiness": 0, "cpu_shares": 1024, "host_cores": 2},
    "batch": {"memory": "2g", "memory_swappiness": 10, "cpu_shares": 256, "host_cores": 1},
}
CPU_PERIOD = 100000  # microseconds: the quota below is cpus x this period
MIN_MEMORY = 6 * 1024 * 1024  # the engine refuses less
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
LABEL_PREFIX = "containerops."
# Options whose change needs a new container, and those the engine changes in place (docker update).
RECREATE_KEYS = ("image", "command", "network", "ip", "mac_address", "env", "labels", "memory_swappiness")
UPDATE_KEYS = ("memory", "cpu_shares", "cpus", "restart_policy")


class InstanceError(Exception):
    """Bad input, or an instance that cannot be put in place; the message says what to do."""


def resources(workload_class, node_cpus, memory=None, cpu_shares=None, cpus=None):
    """The limits of a workload class on a node of node_cpus cores; explicit values win."""
    cls = WORKLOAD_CLASSES[workload_class]
    mem_text = memory if memory not in (None, "") else cls["memory"]
    try:
        mem = human_to_bytes(str(mem_text))
    except ValueError:
        raise InstanceError("memory %s is not a size: give it like 512m or 2g" % mem_text)
    if mem < MIN_MEMORY:
        raise InstanceError("memory %s is less than the 6m the engine accepts" % mem_text)
    shares = cls["cpu_shares"] if cpu_shares is None else cpu_shares
    if shares < 2:
        raise InstanceError("cpu_shares %d is below 2, the smallest weight: give 2-262144 (1024 is the default)"
                            % shares)
    if cpus is None:
        cpus = float(max(1, node_cpus - cls["host_cores"]))
    elif not 0 < cpus <= node_cpus:
        raise InstanceError("cpus %s: give more than 0 and at most the node's %d cores" % (cpus, node_cpus))
    return {"memory": mem, "memory_swap": mem, "memory_swappiness": cls["memory_swappiness"],
            "cpu_shares": shares, "cpus": round(float(cpus), 3)}


def owner_labels(owner):
    """containerops.application/environment/slot of an owner given as ipam_address takes it."""
    try:
        key = owner_key(owner)
    except IpamError as exc:
        raise InstanceError("owner: %s" % exc)
    parts = key.split(":")
    if len(parts) != 3:
        raise InstanceError("owner %s must name application, environment and slot (web:prod:1 or a dictionary), "
                            "as the instance's labels carry each" % key)
    return dict(zip(("containerops.application", "containerops.environment", "containerops.slot"), parts))


def _command(command):
    if command is None or isinstance(command, list):
        return [str(c) for c in command] if command is not None else None
    return shlex.split(str(command))


def desired_instance(params, network, node_cpus):
    """The validated instance of a pinned_instance task on an inspected network; InstanceError otherwise."""
    name = params["name"]
    if not NAME_RE.match(name or ""):
        raise InstanceError("name %r is not a container name: letters, digits, '_', '.' and '-'" % name)
    if network is None:
        raise InstanceError("network %s does not exist on this node: create it first "
                            "(containerops.platform.macvlan_network, scope local)" % params["network"])
    if network.get("ConfigOnly"):
        raise InstanceError("network %s is a config-only network: containers attach to a network created from it"
                            % params["network"])
    if network.get("Scope") == "swarm":
        raise InstanceError("network %s is swarm-scoped, and the engine drops the address asked for on such a "
                            "network (Engine 20.10, moby#24170): put pinned instances on a local network of the node "
                            "(macvlan_network scope local)" % params["network"])
    driver = network.get("Driver")
    if driver not in DRIVERS:
        raise InstanceError("network %s is a %s network: pinned instances need a macvlan or ipvlan network"
                            % (params["network"], driver))
    ipam = ((network.get("IPAM") or {}).get("Config") or [{}])[0]
    try:
        ip = ipaddress.IPv4Address(str(params["ip"]))
    except ValueError:
        raise InstanceError("ip %s is not an IPv4 address" % params["ip"])
    subnet = ipaddress.IPv4Network(ipam["Subnet"])
    reserved = dict((ipam.get("AuxiliaryAddresses") or {}), gateway=ipam.get("Gateway"))
    if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
        raise InstanceError("ip %s is not a host address of network %s's subnet %s" % (ip, params["network"], subnet))
    for what, addr in sorted(reserved.items()):
        if addr and str(ip) == addr:
            raise InstanceError("ip %s is the %s address of network %s: give the instance another one"
                                % (ip, what, params["network"]))
    mac = params.get("mac_address")
    if driver == "ipvlan":
        if mac:
            raise InstanceError("mac_address: containers on the ipvlan network %s leave with the parent's MAC "
                                "(the ENI's), so none can be set; leave it out" % params["network"])
    else:
        mac = (mac or derive_mac(ip)).lower().replace("-", ":")
        if not MAC_RE.match(mac) or int(mac[:2], 16) & 1:
            raise InstanceError("mac_address %s is not a unicast MAC: give it like 02:42:0a:58:20:64, or leave it "
                                "out to derive it from the address" % params.get("mac_address"))
    labels = dict((str(k), str(v)) for k, v in (params.get("labels") or {}).items())
    ours = sorted(k for k in labels if k.startswith(LABEL_PREFIX))
    if ours:
        raise InstanceError("labels %s: the containerops. prefix is the module's own (it sets application, "
                            "environment, slot, ip and workload-class); use another prefix" % ", ".join(ours))
    labels.update(owner_labels(params["owner"]))
    labels.update({"containerops.ip": str(ip), "containerops.workload-class": params["workload_class"]})
    env = dict((str(k), "" if v is None else str(v)) for k, v in (params.get("env") or {}).items())
    secret = dict((str(k), "" if v is None else str(v)) for k, v in (params.get("secret_env") or {}).items())
    both = sorted(set(env) & set(secret))
    if both:
        raise InstanceError("env and secret_env both set %s: give each variable in one of them (secret_env for "
                            "values that must never be shown)" % ", ".join(both))
    env.update(secret)
    # The env keys this module set, so a key taken out of env is noticed (the image's own env merges in).
    labels["containerops.env-keys"] = ",".join(sorted(env))
    spec = {"name": name, "image": params["image"], "command": _command(params.get("command")), "env": env,
            "labels": labels, "network": params["network"], "driver": driver, "ip": str(ip), "mac_address": mac,
            "restart_policy": params["restart_policy"]}
    spec.update(resources(params["workload_class"], node_cpus, params.get("memory"), params.get("cpu_shares"),
                          params.get("cpus")))
    return spec


# ------------------------------------------------------------------ the container as it is
def _env(config):
    out = {}
    for item in config.get("Env") or []:
        key, _sep, value = item.partition("=")
        out[key] = value
    return out


def current_instance(container, network):
    """An inspected container in the shape of desired_instance (the keys plan_instance compares)."""
    config, host = container.get("Config") or {}, container.get("HostConfig") or {}
    endpoints = (container.get("NetworkSettings") or {}).get("Networks") or {}
    endpoint = endpoints.get(network) or {}
    quota, period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or 0
    labels = config.get("Labels") or {}
    return {
        "image": config.get("Image"), "command": config.get("Cmd"), "env": _env(config), "labels": labels,
        "network": network if network in endpoints else ",".join(sorted(endpoints)) or None,
        "ip": (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or endpoint.get("IPAddress") or None,
        "mac_address": config.get("MacAddress") or endpoint.get("MacAddress") or None,
        "memory": host.get("Memory"), "memory_swap": host.get("MemorySwap"),
        "memory_swappiness": host.get("MemorySwappiness"), "cpu_shares": host.get("CpuShares"),
        "cpus": round(float(quota) / period, 3) if quota and period else None,
        "restart_policy": (host.get("RestartPolicy") or {}).get("Name") or "no",
        "running": bool((container.get("State") or {}).get("Running")),
        "status": (container.get("State") or {}).get("Status"),
    }


def _masked(env):
    # Values never reach a diff or a message: a short digest shows that one changed.
    return dict((k, "sha256:" + hashlib.sha256(v.encode("utf-8")).hexdigest()[:12]) for k, v in env.items())


def differences(have, want):
    """{option: (have, want)} of what differs; env compared by digest, labels and env as this module set them."""
    found = {}
    for key in RECREATE_KEYS + UPDATE_KEYS:
        if key == "command" and want["command"] is None:
            continue
        if key == "mac_address" and want["mac_address"] is None:
            continue
        if key == "labels":
            mine = dict((k, have["labels"].get(k)) for k in want["labels"])
            if mine != want["labels"]:
                found[key] = (mine, want["labels"])
            continue
        if key == "env":
            keys = set(want["env"]) | _tracked_env_keys(have)
            mine = dict((k, have["env"][k]) for k in keys if k in have["env"])
            if mine != want["env"]:
                found[key] = (_masked(mine), _masked(want["env"]))
            continue
        if key == "memory" and (have["memory"], have["memory_swap"]) != (want["memory"], want["memory_swap"]):
            found[key] = (have["memory"], want["memory"])
        elif key != "memory" and have.get(key) != want[key]:
            found[key] = (have.get(key), want[key])
    return found


def _tracked_env_keys(state):
    return set(filter(None, ((state.get("labels") or {}).get("containerops.env-keys") or "").split(",")))


def view(state, want=None):
    """What a diff shows of an instance: the options this module sets (not what the image adds), env masked.

    want: for a container as it is, the desired instance whose labels and env keys to show."""
    if not state:
        return {}
    shown = dict((k, state.get(k)) for k in RECREATE_KEYS + UPDATE_KEYS if k != "env")
    env, labels = state.get("env") or {}, state.get("labels") or {}
    if want is not None:
        keys = set(want["env"]) | _tracked_env_keys(state)
        env = dict((k, v) for k, v in env.items() if k in keys)
        shown["labels"] = dict((k, v) for k, v in labels.items() if k in want["labels"])
    shown["env"] = _masked(env)
    shown["running"] = state.get("running", False)
    return shown


def plan_instance(have, want, state):
    """The steps of a pinned_instance task, in order: remove, create, update, start, stop, restart.

    have: current_instance() or None; want: desired_instance(). A container whose options differ
    is recreated (what differs is in the diff); limits and the restart policy change in place."""
    if state == "absent":
        return ["remove"] if have else []
    if have is None:
        return ["create"] + (["start"] if state in ("started", "restarted") else [])
    differ = differences(have, want)
    if any(k in RECREATE_KEYS for k in differ):
        steps = ["remove", "create"]
        return steps + (["start"] if state in ("started", "restarted") else [])
    steps = ["update"] if differ else []
    if state == "started" and not have["running"]:
        steps.append("start")
    elif state == "stopped" and have["running"]:
        steps.append("stop")
    elif state == "restarted":
        steps.append("restart" if have["running"] else "start")
    return steps


# ------------------------------------------------------------------ engine calls
class Instances:
    """Containers of one engine, through DockerEngine (module_utils/docker.py)."""

    def __init__(self, engine):
        self.engine = engine
        self.api = engine.api

    def get(self, name):
        return self.engine.find("inspect container %s" % name, self.api.inspect_container, name)

    def image(self, image):
        return self.engine.find("inspect image %s" % image, self.api.inspect_image, image)

    def pull(self, image):
        repository, _sep, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        self.engine.call("pull image %s" % image, self.api.pull, repository, tag=tag)
        if self.image(image) is None:
            raise InstanceError("image %s is not on this node and the pull did not bring it: push it to the "
                                "registry the node pulls from, or load it on the node" % image)

    def create(self, want):
        host_config = self.api.create_host_config(
            network_mode=want["network"], restart_policy={"Name": want["restart_policy"], "MaximumRetryCount": 0},
            mem_limit=want["memory"], memswap_limit=want["memory_swap"], mem_swappiness=want["memory_swappiness"],
            cpu_shares=want["cpu_shares"], cpu_period=CPU_PERIOD, cpu_quota=int(want["cpus"] * CPU_PERIOD))
        endpoint = {"IPAMConfig": {"IPv4Address": want["ip"]}}
        networking = {"EndpointsConfig": {want["network"]: endpoint}}
        created = self.engine.call(
            "create container %s" % want["name"], self.api.create_container, want["image"],
            command=want["command"], name=want["name"], environment=want["env"], labels=want["labels"],
            mac_address=want["mac_address"], host_config=host_config, networking_config=networking, detach=True)
        return created["Id"]

    def update(self, container_id, want):
        self.engine.call("update the limits of container %s" % want["name"], self.api.update_container, container_id,
                         mem_limit=want["memory"], memswap_limit=want["memory_swap"], cpu_shares=want["cpu_shares"],
                         cpu_period=CPU_PERIOD, cpu_quota=int(want["cpus"] * CPU_PERIOD),
                         restart_policy={"Name": want["restart_policy"], "MaximumRetryCount": 0})

    def start(self, container_id, name):
        self.engine.call("start container %s" % name, self.api.start, container_id)

    def stop(self, container_id, name, timeout):
        self.engine.call("stop container %s" % name, self.api.stop, container_id, timeout=timeout)

    def restart(self, container_id, name, timeout):
        self.engine.call("restart container %s" % name, self.api.restart, container_id, timeout=timeout)

    def remove(self, container_id, name):
        self.engine.call("remove container %s" % name, self.api.remove_container, container_id, force=True)


# ------------------------------------------------------------------ one task
class InstanceFailed(InstanceError):
    """A step failed after others were done: done names them, so the run says what it changed."""

    def __init__(self, msg, done):
        super().__init__(msg)
        self.done = list(done)


def _endpoint(container, network):
    return ((container.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}


def run_pinned_instance(engine, params, check_mode, announce):
    """Put the instance of a pinned_instance task in place; the module's result.

    announce(pid, ip): sends the gratuitous ARP (send_garp); its HostNetError becomes a warning, because
    the instance runs with its address either way and neighbours relearn it at their next ARP."""
    instances = Instances(engine)
    name, state = params["name"], params["state"]
    container = instances.get(name)
    if state == "absent":
        have = current_instance(container, params.get("network") or "") if container else None
        steps = plan_instance(have, None, state)
        result = {"changed": bool(steps), "actions": steps, "container_id": None, "ip": None, "mac_address": None,
                  "garp_sent": False, "diff": [diff_entry(name, view(have), {})] if steps else []}
        if steps and not check_mode:
            instances.remove(container["Id"], name)
        return result
    want = desired_instance(params, Networks(engine).get(params["network"]), engine.info().get("NCPU") or 1)
    have = current_instance(container, want["network"]) if container else None
    steps = plan_instance(have, want, state)
    running = state in ("started", "restarted") or (state != "stopped" and bool(have and have["running"]))
    result = {"changed": bool(steps), "actions": steps, "container_id": container["Id"] if container else None,
              "ip": want["ip"], "mac_address": want["mac_address"], "garp_sent": False, "recreated": False,
              "diff": [diff_entry(name, view(have, want), view(dict(want, running=running)))] if steps else []}
    result["recreated"] = "remove" in steps and "create" in steps
    if "create" in steps and instances.image(want["image"]) is None:
        if check_mode:
            result["actions"] = ["pull"] + steps
        else:
            instances.pull(want["image"])
    if check_mode or not steps:
        return result
    done, created = [], None
    cid = container["Id"] if container else None
    try:
        for step in steps:
            if step == "remove":
                if have["running"]:
                    instances.stop(cid, name, params["stop_timeout"])
                instances.remove(cid, name)
            elif step == "create":
                cid = created = instances.create(want)
            elif step == "update":
                instances.update(cid, want)
            elif step == "start":
                instances.start(cid, name)
            elif step == "stop":
                instances.stop(cid, name, params["stop_timeout"])
            elif step == "restart":
                instances.restart(cid, name, params["stop_timeout"])
            done.append(step)
    except EngineError as exc:  # the message adds what the run did before it
        msg = str(exc)
        if created and "start" not in done:
            # A container of this run that never started (its address taken, ...) goes again, so a re-run
            # starts clean; an older container stays as it was.
            instances.remove(created, name)
            msg += "; the container created for it was removed again"
        raise InstanceFailed("%s (done before: %s)" % (msg, ", ".join(done) or "nothing"), done)
    result["container_id"] = cid
    if not any(s in done for s in ("start", "restart")):
        return result
    live = instances.get(name) or {}
    endpoint = _endpoint(live, want["network"])
    result["mac_address"] = endpoint.get("MacAddress") or want["mac_address"]
    wrong_mac = want["mac_address"] and result["mac_address"] != want["mac_address"]
    if endpoint.get("IPAddress") != want["ip"] or wrong_mac:
        # Never leave it running on an address that belongs to someone else.
        if created:
            instances.remove(cid, name)
        else:
            instances.stop(cid, name, params["stop_timeout"])
        raise InstanceFailed(
            "the engine gave container %s the address %s and MAC %s instead of %s and %s, so it was %s again: "
            "check the network's driver and scope (a pinned instance needs a local macvlan or ipvlan network)"
            % (name, endpoint.get("IPAddress"), endpoint.get("MacAddress"), want["ip"], want["mac_address"],
               "removed" if created else "stopped"), done + ["remove" if created else "stop"])
    if params["garp_count"]:
        try:
            announce((live.get("State") or {}).get("Pid"), want["ip"])
            result["garp_sent"] = True
        except HostNetError as exc:  # a warning, see above; also in the result, for AWX's event data
            result["garp_error"] = ("%s; neighbours learn the new place of %s at their next ARP request instead"
                                    % (exc, want["ip"]))
            result["warnings"] = [result["garp_error"]]
    return result
