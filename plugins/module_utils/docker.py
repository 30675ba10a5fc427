# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Docker Engine client of the collection.

Modules that talk to a Docker engine (the local one, over its unix socket) go
through ``DockerEngine``: node and task listing, node updates with the
version-conflict retry Swarm needs, node removal, unlock, and waiting. It wraps
the Docker SDK for Python (Debian: ``python3-docker``), which community.docker's
Swarm modules need on the node anyway.

Pure planning helpers (``plan_node_prune``) take plain dicts so unit tests can
call them without an engine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

try:
    import docker  # the Docker SDK for Python
    from docker.errors import APIError, DockerException
    HAS_DOCKER_SDK = True
    DOCKER_SDK_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the node
    HAS_DOCKER_SDK = False
    DOCKER_SDK_IMPORT_ERROR = str(exc)

    # Without the SDK, DockerEngine refuses to start, so these are never raised; they keep
    # the except clauses below valid.
    class DockerException(Exception):
        pass

    class APIError(DockerException):
        pass

SDK_MISSING_MSG = ("the Docker SDK for Python is missing on this node (%s): install it "
                   "(Debian/Ubuntu: apt-get install python3-docker; the containerops.platform.swarm "
                   "role does this)")

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# argument_spec entries of the engine options (doc fragment containerops.platform.docker)
ENGINE_ARGSPEC = dict(
    docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST),
    ca_path=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
)

# Task states in which a task still occupies its node (swarmkit api/types.proto).
ACTIVE_TASK_STATES = frozenset(["new", "pending", "assigned", "accepted", "preparing", "ready",
                                "starting", "running"])


class EngineError(Exception):
    """An engine call failed; the message says what and, where known, what to do."""


def engine_tls(params):
    """docker.tls.TLSConfig for a tcp:// engine, None for unix:// and ssh://; EngineError for what
    would talk to an engine in the clear (checked before anything is sent)."""
    host = params.get("docker_host") or DEFAULT_DOCKER_HOST
    scheme = host.split("://", 1)[0].lower() if "://" in host else ""
    tls = [params.get(k) for k in ("ca_path", "client_cert", "client_key")]
    if scheme in ("unix", "npipe", "ssh"):
        return None
    if scheme not in ("tcp", "https"):
        raise EngineError("docker_host %s: use unix:///var/run/docker.sock, ssh://USER@HOST, or tcp://HOST:2376 with "
                          "ca_path, client_cert and client_key (an engine is never reached over plain http)" % host)
    if not all(tls):
        raise EngineError("docker_host %s is a TCP engine, and without TLS anyone who reaches the port controls it "
                          "and reads the swarm's secrets: set ca_path, client_cert and client_key (missing: %s), or "
                          "reach it over ssh:// or its unix socket" % (host, ", ".join(
                              k for k, v in zip(("ca_path", "client_cert", "client_key"), tls) if not v)))
    return docker.tls.TLSConfig(client_cert=(tls[1], tls[2]), ca_cert=tls[0], verify=True)


class DockerEngine:
    """A thin client for one engine, with retries for Swarm's optimistic locking."""

    @classmethod
    def from_params(cls, params, **kwargs):
        """The engine a module's options (ENGINE_ARGSPEC) name; refuses an engine reached in the clear."""
        if not HAS_DOCKER_SDK:
            raise EngineError(SDK_MISSING_MSG % DOCKER_SDK_IMPORT_ERROR)
        return cls(params.get("docker_host") or DEFAULT_DOCKER_HOST, tls=engine_tls(params), **kwargs)

    def __init__(self, base_url=DEFAULT_DOCKER_HOST, timeout=60, retries=5, tls=None):
        if not HAS_DOCKER_SDK:
            raise EngineError(SDK_MISSING_MSG % DOCKER_SDK_IMPORT_ERROR)
        self.retries = retries
        try:
            self.api = docker.APIClient(base_url=base_url, version="auto", timeout=timeout, tls=tls or False)
        except DockerException as exc:
            raise EngineError("cannot talk to the Docker engine at %s: %s (is the engine installed "
                              "and running? playbooks/bootstrap.yml sets it up)" % (base_url, exc))

    # ------------------------------------------------------------ reads
    def info(self):
        return self._call("read the engine info", self.api.info)

    def swarm_state(self):
        """LocalNodeState of this engine: inactive, pending, active, error or locked."""
        return (self.info().get("Swarm") or {}).get("LocalNodeState", "inactive")

    def nodes(self):
        return self._call("list the Swarm nodes", self.api.nodes)

    def node(self, node_id):
        return self._call("inspect Swarm node %s" % node_id, self.api.inspect_node, node_id)

    def swarm(self):
        """The swarm object (spec, version); only a manager can read it."""
        return self._call("inspect the swarm (run this on a manager)", self.api.inspect_swarm)

    def node_tasks(self, node_id):
        return self._call("list the tasks of node %s" % node_id, self.api.tasks,
                          filters={"node": node_id})

    # ------------------------------------------------------------ writes
    def update_node(self, node_id, change):
        """Apply change(spec) to the node's spec; retried when another writer got there first."""
        self._read_modify_write("update Swarm node %s" % node_id, lambda: self.node(node_id),
                                lambda version, spec: self.api.update_node(node_id, version, spec), change)

    def update_swarm(self, change, rotate_unlock_key=False):
        """Apply change(spec) to the whole current swarm spec, so settings nobody asked to change keep
        their values (community.docker.docker_swarm sends only the options it was given)."""
        self._read_modify_write(
            "update the swarm", self.swarm,
            lambda version, spec: self.api.update_swarm(version, swarm_spec=spec,
                                                        rotate_manager_unlock_key=rotate_unlock_key),
            change)

    def _read_modify_write(self, what, read, write, change):
        # Swarm objects carry a version; a write at an old version fails "update out of sequence".
        for attempt in range(self.retries):
            current = read()
            spec = dict(current.get("Spec") or {})
            change(spec)
            try:
                write(current["Version"]["Index"], spec)
                return
            except APIError as exc:
                if "update out of sequence" in str(exc) and attempt + 1 < self.retries:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise EngineError("cannot %s: %s" % (what, getattr(exc, "explanation", None) or exc))

    def remove_node(self, node_id, force=True):
        self._call("remove Swarm node %s" % node_id, self.api.remove_node, node_id, force=force)

    def unlock_key(self):
        """The swarm's current unlock key (a manager with autolock on); None when it has none."""
        return (self._call("read the unlock key", self.api.get_unlock_key) or {}).get("UnlockKey") or None

    def unlock(self, keys):
        """Unlock with the first of keys the engine accepts; EngineError when none is."""
        refused = None
        for key in keys:
            try:
                self.api.unlock_swarm(key)
                return
            except APIError as exc:
                refused = getattr(exc, "explanation", None) or str(exc)
        raise EngineError("none of the %d unlock key(s) known was accepted (last answer: %s)" % (len(keys), refused))

    # ------------------------------------------------------------ waiting
    def wait_node_empty(self, node_id, timeout, interval=1.0):
        """Wait until no task occupies the node; return the tasks still there (empty on success)."""
        deadline = time.monotonic() + timeout
        while True:
            left = active_tasks(self.node_tasks(node_id))
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(interval)

    def wait_node_healthy(self, node_id, timeout, interval=1.0):
        """Wait until the node is ready (and, a manager, reachable); its summary, or None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            node = node_summary(self.node(node_id))
            if node["state"] == "ready" and (node["role"] != "manager" or node["reachability"] == "reachable"):
                return node
            if time.monotonic() >= deadline:
                return None
            time.sleep(interval)

    # ------------------------------------------------------------ for the resource clients
    # _docker_network.py and _docker_instance.py call the SDK through these, so every engine
    # error reaches a module as an EngineError that says what was being done.
    def call(self, what, fn, *args, **kwargs):
        """fn(*args, **kwargs), a method of self.api, with its errors as EngineError."""
        return self._call(what, fn, *args, **kwargs)

    def find(self, what, fn, *args, **kwargs):
        """Like call, but None when the engine answers 404 (no such network, container, image)."""
        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            if getattr(exc, "status_code", None) == 404:
                return None
            raise EngineError("cannot %s: %s" % (what, getattr(exc, "explanation", None) or exc))
        except DockerException as exc:
            raise EngineError("cannot %s: %s" % (what, exc))

    def _call(self, what, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            raise EngineError("cannot %s: %s" % (what, getattr(exc, "explanation", None) or exc))
        except DockerException as exc:
            raise EngineError("cannot %s: %s" % (what, exc))


def active_tasks(tasks):
    return [t for t in tasks if (t.get("Status") or {}).get("State") in ACTIVE_TASK_STATES]


def node_summary(node):
    spec = node.get("Spec") or {}
    return {
        "id": node.get("ID"),
        "hostname": (node.get("Description") or {}).get("Hostname"),
        "role": spec.get("Role"),
        "availability": spec.get("Availability"),
        "state": (node.get("Status") or {}).get("State"),
        "labels": spec.get("Labels") or {},
        "leader": bool((node.get("ManagerStatus") or {}).get("Leader")),
        "reachability": (node.get("ManagerStatus") or {}).get("Reachability"),
    }


def plan_node_prune(nodes, keep, self_id, managed_label, remove_unmanaged=False, remove_departed=True):
    """Decide which Swarm node entries go.

    nodes: node inspect dicts of the swarm. keep: {hostname: live node ID, '' (not in the
    swarm yet) or None (belongs to the swarm, not examined in this run: its entries are
    never touched)} of the hosts that belong to the swarm. self_id: the node the plan runs
    on (never removed).

    Returns {"stale": [...], "departed": [...], "foreign": [...], "kept_duplicates": [...]},
    each a list of node summaries:
      stale      - hostname in keep, entry down, ID is not the host's live ID (a re-created machine)
      departed   - hostname not in keep, carries managed_label (or remove_unmanaged)
      foreign    - hostname not in keep, not ours: left alone
      kept_duplicates - hostname in keep, another ID, but not down: left alone (reported)
    """
    plan = {"stale": [], "departed": [], "foreign": [], "kept_duplicates": []}
    for node in nodes:
        s = node_summary(node)
        if s["id"] == self_id:
            continue
        if s["hostname"] in keep:
            if keep[s["hostname"]] is None or s["id"] == keep[s["hostname"]]:
                continue
            if s["state"] == "down":
                plan["stale"].append(s)
            else:
                plan["kept_duplicates"].append(s)
        elif remove_departed and (managed_label in s["labels"] or remove_unmanaged):
            plan["departed"].append(s)
        else:
            plan["foreign"].append(s)
    return plan


def removal_refusal(plan, max_removals, confirmed):
    """Why the departed nodes of plan may not go in this run, or None when they may: more than
    max_removals of them, and not each named in confirmed (a typo in inventory looks just like
    machines that left)."""
    departed = sorted(n["hostname"] for n in plan["departed"])
    unconfirmed = [h for h in departed if h not in confirmed]
    if len(departed) <= max_removals or not unconfirmed:
        return None
    return ("%d nodes left the inventory's fleet and would be drained and removed: %s. That is more than "
            "max_removals %d (swarm_remove_max), so nothing was changed. If these machines really left, confirm "
            "them: -e '{\"swarm_remove_confirm\": %s}' (or raise swarm_remove_max); if not, fix the inventory "
            "(the fleet group, swarm_fleet_group)" % (len(departed), ", ".join(departed), max_removals,
                                                      json.dumps(departed)))
