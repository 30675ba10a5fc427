"""World model, instance state machine and persistence.

Everything that changes lives in State and is guarded by State.lock. Timed
transitions run on one scheduler thread; backend calls run on a small worker
pool, serialised per instance, so an HTTP request never waits for a backend.
"""

import collections
import concurrent.futures
import copy
import heapq
import ipaddress
import json
import logging
import os
import random
import string
import tempfile
import threading
import time
import uuid

from .errors import operation_conflict

log = logging.getLogger("ecs_emulator.state")

STATE_VERSION = 1

# Seconds, before --time-scale. Real ECS takes tens of seconds; a lab wants it short.
DEFAULT_DELAYS = {"pending": 1.0, "starting": 2.0, "stopping": 2.0}

# Seconds a RunInstances ClientToken is remembered. ECS documents no validity window (aliyun.md
# 4.3); one hour is our choice: long enough for any retry loop, short enough that a client which
# relies on the token forever (a re-run hours later) meets the expiry in the lab, not in production.
CLIENT_TOKEN_WINDOW = 3600.0

_ALNUM = string.ascii_lowercase + string.digits


def iso_minutes(ts):
    # DescribeInstances reports CreationTime/StartTime to the minute, e.g. 2026-01-01T08:00Z.
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ts))


class World:
    """The fixed part of the cloud: regions, zones, VPCs, vSwitches, SGs, images, types."""

    def __init__(self, data):
        self.data = data
        self.regions = collections.OrderedDict()
        self.zones = {}
        self.vpcs = collections.OrderedDict()
        self.vswitches = collections.OrderedDict()
        self.security_groups = collections.OrderedDict()
        for region in data["regions"]:
            rid = region["RegionId"]
            self.regions[rid] = region
            for zone in region.get("zones", []):
                self.zones[zone["ZoneId"]] = dict(zone, RegionId=rid)
            for vpc in region.get("vpcs", []):
                self.vpcs[vpc["VpcId"]] = dict(vpc, RegionId=rid)
            for vsw in region.get("vswitches", []):
                item = dict(vsw, RegionId=rid)
                item["_net"] = ipaddress.ip_network(vsw["CidrBlock"])
                if vsw["ZoneId"] not in self.zones or vsw["VpcId"] not in self.vpcs:
                    raise ValueError("vSwitch %s names an unknown zone or VPC" % vsw["VSwitchId"])
                self.vswitches[vsw["VSwitchId"]] = item
            for sg in region.get("security_groups", []):
                self.security_groups[sg["SecurityGroupId"]] = dict(sg, RegionId=rid)
        self.images = collections.OrderedDict((i["ImageId"], i) for i in data.get("images", []))
        self.instance_types = collections.OrderedDict(
            (t["InstanceTypeId"], t) for t in data.get("instance_types", []))

    @classmethod
    def load(cls, path=None):
        if path is None:
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "world.json")
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def id_prefix(self, region_id):
        return self.regions[region_id].get("id_prefix", "")

    @staticmethod
    def usable_hosts(vsw):
        """First address and last three of a vSwitch CIDR are reserved."""
        net = vsw["_net"]
        first = int(net.network_address) + 1
        last = int(net.broadcast_address) - 3
        return first, last


class Scheduler:
    """Runs short callbacks at given wall-clock times on one thread."""

    def __init__(self):
        self._heap = []
        self._seq = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="ecs-scheduler", daemon=True)
        self._thread.start()

    def call_later(self, delay, fn, *args):
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (time.time() + max(0.0, delay), self._seq, fn, args))
            self._cond.notify()

    def _run(self):
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    timeout = None if not self._heap else self._heap[0][0] - time.time()
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                fn, args = heapq.heappop(self._heap)[2:]
            try:
                fn(*args)
            except Exception:  # a bad callback must not kill the state machine
                log.exception("scheduled callback failed")

    def stop(self):
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(5)


class BackendWorkers:
    """Thread pool that runs backend operations in order per instance."""

    def __init__(self, max_workers=4):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="ecs-backend")
        self._queues = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def submit(self, key, fn):
        with self._lock:
            queue = self._queues.get(key)
            if queue is not None:
                queue.append(fn)
                return
            self._queues[key] = collections.deque([fn])
        self._pool.submit(self._drain, key)

    def _drain(self, key):
        while True:
            with self._lock:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    self._idle.notify_all()
                    return
                fn = queue.popleft()
            try:
                fn()
            except Exception:
                log.exception("backend job failed")

    def wait_idle(self, timeout):
        deadline = time.time() + timeout
        with self._lock:
            while self._queues and time.time() < deadline:
                self._idle.wait(max(0.0, deadline - time.time()))
            return not self._queues

    def shutdown(self, timeout=30):
        self.wait_idle(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)


class State:
    def __init__(self, world, backend, state_file=None, time_scale=1.0, delays=None, backend_workers=4,
                 client_token_window=CLIENT_TOKEN_WINDOW):
        self.world = world
        self.backend = backend
        self.state_file = state_file
        self.time_scale = float(time_scale)
        self.delays = dict(DEFAULT_DELAYS, **(delays or {}))
        self.lock = threading.RLock()
        self.instances = collections.OrderedDict()  # creation order == DescribeInstances order
        self.releasing = {}  # deleted instances whose backend removal (and IP) is not done yet
        self.tokens = {}     # "Action|RegionId|ClientToken" -> {"fingerprint", "result", "time"}
        self.client_token_window = float(client_token_window)
        self.list_lag = 0.0  # seconds from RunInstances until DescribeInstances/-Status list an instance
        self.busy = {}       # InstanceId -> the changing action being processed on it right now
        self.seq = 0
        self.made_by = {}    # AccessKeyId -> instances it made (the admin API's seq for ?access_key=)
        self._rng = random.SystemRandom()
        self._scheduler = Scheduler()
        self._workers = BackendWorkers(backend_workers)
        self._closed = False
        if state_file and os.path.exists(state_file):
            self._load()
        self._recover()

    # ------------------------------------------------------------------ persistence

    def _snapshot(self):
        return {
            "version": STATE_VERSION,
            "seq": self.seq,
            "made_by": self.made_by,
            "instances": list(self.instances.values()),
            "releasing": self.releasing,
            "tokens": self.tokens,
        }

    def save(self):
        """Write the whole state atomically (tmp file + fsync + rename). Caller holds the lock."""
        if not self.state_file:
            return
        directory = os.path.dirname(os.path.abspath(self.state_file))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ecs-state-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._snapshot(), fh, ensure_ascii=False, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _load(self):
        with open(self.state_file, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("version") != STATE_VERSION:
            raise ValueError("%s: unsupported state version %r" % (self.state_file, data.get("version")))
        self.seq = int(data.get("seq", 0))
        self.made_by = dict(data.get("made_by", {}))
        self.instances = collections.OrderedDict()
        for inst in sorted(data.get("instances", []), key=lambda i: i["Seq"]):
            self.instances[inst["InstanceId"]] = inst
        self.releasing = dict(data.get("releasing", {}))
        self.tokens = dict(data.get("tokens", {}))
        log.info("loaded %d instances from %s", len(self.instances), self.state_file)

    def _recover(self):
        """Re-drive whatever was in flight when the previous process stopped."""
        with self.lock:
            now = time.time()
            for inst in self.instances.values():
                status, op = inst["Status"], inst["Op"]
                if status == "Pending":
                    remaining = inst["PhaseSince"] + self.delay("pending") - now
                    self._scheduler.call_later(remaining, self._pending_done, inst["InstanceId"], op)
                elif status == "Starting":
                    self._submit(inst, "start", op)
                elif status == "Stopping":
                    self._submit(inst, "stop", op)
                elif status == "Running":
                    # Running means the backend really runs it; start is idempotent.
                    self._submit(inst, "ensure", op)
            for iid, rec in self.releasing.items():
                self._submit_remove(iid, rec)

    def close(self, timeout=30):
        with self.lock:
            self._closed = True
        self._scheduler.stop()
        self._workers.shutdown(timeout)
        with self.lock:
            self.save()

    # ------------------------------------------------------------------ helpers

    def delay(self, name):
        return self.delays[name] * self.time_scale

    def new_id(self, prefix, region_id, length=20):
        body_prefix = self.world.id_prefix(region_id)
        body = body_prefix + "".join(self._rng.choice(_ALNUM) for _char in range(length - len(body_prefix)))
        return prefix + body

    def new_mac(self):
        return "00:16:3e:" + ":".join("%02x" % self._rng.randrange(256) for _octet in range(3))

    def used_ips(self, vswitch_id):
        used = set()
        # Secondary IPs of a deleted instance stay taken, like its primary, until the backend has removed it.
        for inst in list(self.instances.values()) + list(self.releasing.values()):
            if inst["VSwitchId"] == vswitch_id:
                used.add(inst["PrivateIpAddress"])
                used.update(e["PrivateIpAddress"] for e in inst.get("SecondaryIps", []))
        return used

    def free_ips(self, vswitch_id, lo, hi, amount):
        """Up to `amount` addresses of [lo, hi] (integers) that no instance holds, lowest first."""
        used = self.used_ips(vswitch_id)
        free = []
        for value in range(lo, hi + 1):
            addr = str(ipaddress.IPv4Address(value))
            if addr not in used:
                free.append(addr)
                if len(free) == amount:
                    break
        return free

    def available_ip_count(self, vswitch_id):
        vsw = self.world.vswitches[vswitch_id]
        first, last = self.world.usable_hosts(vsw)
        return max(0, last - first + 1 - len(self.used_ips(vswitch_id)))

    # ------------------------------------------------------------------ creation

    def create_instances(self, specs, list_lag=None, caller=None):
        """Add fully validated instances (dicts from api.run_instances) that `caller` (an AccessKeyId) made,
        listed after list_lag seconds (default: the state's); caller holds the lock."""
        now = time.time()
        lag = self.list_lag if list_lag is None else list_lag
        created = []
        for spec in specs:
            self.seq += 1
            if caller:
                self.made_by[caller] = self.made_by.get(caller, 0) + 1
            inst = dict(spec)
            inst.update({
                "Seq": self.seq,
                "CreatedBy": caller,
                "Op": 1,
                "Status": "Pending",
                "PhaseSince": now,
                "CreationTime": now,
                "StartTime": None,
                "StoppedMode": "Not-applicable",
                "LastError": None,
                "ListedAt": now + lag,
            })
            self.instances[inst["InstanceId"]] = inst
            created.append(inst)
        self.save()
        for inst in created:
            self._scheduler.call_later(self.delay("pending"), self._pending_done, inst["InstanceId"], inst["Op"])
        return created

    # ------------------------------------------------------------------ consistency and idempotency

    def listed(self, region_id):
        """Instances of the region that the listings show: those older than the listing lag."""
        now = time.time()
        return [i for i in self.instances.values()
                if i["RegionId"] == region_id and i.get("ListedAt", 0) <= now]

    def remembered_token(self, key):
        """The earlier answer for this ClientToken key, or None once its window has passed."""
        entry = self.tokens.get(key)
        if entry is not None and time.time() - entry["time"] > self.client_token_window:
            del self.tokens[key]
            self.save()
            return None
        return entry

    def remember_token(self, key, fingerprint, result):
        now = time.time()
        self.tokens = {k: t for k, t in self.tokens.items() if now - t["time"] <= self.client_token_window}
        self.tokens[key] = {"fingerprint": fingerprint, "result": result, "time": now}
        self.save()

    def claim(self, instance_ids, action):
        """Mark instances busy with a changing action; OperationConflict if one already is."""
        with self.lock:
            for iid in instance_ids:
                if iid in self.busy:
                    raise operation_conflict(iid, self.busy[iid])
            for iid in instance_ids:
                self.busy[iid] = action

    def release(self, instance_ids):
        with self.lock:
            for iid in instance_ids:
                self.busy.pop(iid, None)

    # ------------------------------------------------------------------ user operations (lock held)

    def _next_op(self, inst, status):
        inst["Op"] += 1
        inst["Status"] = status
        inst["PhaseSince"] = time.time()
        return inst["Op"]

    def start(self, inst):
        op = self._next_op(inst, "Starting")
        inst["StoppedMode"] = "Not-applicable"
        self.save()
        self._submit(inst, "start", op)

    def stop(self, inst, stopped_mode="KeepCharging"):
        op = self._next_op(inst, "Stopping")
        inst["PendingStoppedMode"] = stopped_mode
        self.save()
        self._submit(inst, "stop", op)

    def reboot(self, inst):
        op = self._next_op(inst, "Starting")
        self.save()
        self._submit(inst, "reboot", op)

    def delete(self, inst):
        iid = inst["InstanceId"]
        inst["Op"] += 1
        del self.instances[iid]
        # The address stays taken until the backend has really removed the instance.
        rec = copy.deepcopy(inst)
        self.releasing[iid] = rec
        self.save()
        self._submit_remove(iid, rec)

    # ------------------------------------------------------------------ transitions

    def _pending_done(self, iid, op):
        with self.lock:
            inst = self.instances.get(iid)
            if self._closed or inst is None or inst["Op"] != op or inst["Status"] != "Pending":
                return
            inst["Status"] = "Starting"
            inst["PhaseSince"] = time.time()
            self.save()
            self._submit(inst, "start", op)

    def _submit(self, inst, kind, op):
        iid = inst["InstanceId"]
        snapshot = copy.deepcopy(inst)
        method = {"start": self.backend.start, "ensure": self.backend.start,
                  "stop": self.backend.stop, "reboot": self.backend.reboot}[kind]

        def job():
            with self.lock:
                current = self.instances.get(iid)
                if self._closed or current is None or current["Op"] != op:
                    return  # superseded (deleted or another operation started)
            error = None
            started = time.time()
            try:
                method(snapshot)
            except Exception as exc:  # BackendError or anything unexpected
                error = str(exc) or exc.__class__.__name__
            log.debug("backend %s %s took %.2fs", kind, iid, time.time() - started)
            self._backend_done(iid, kind, op, error)

        self._workers.submit(iid, job)

    def _submit_remove(self, iid, rec):
        def job():
            try:
                self.backend.remove(rec)
            except Exception as exc:
                # Retry later: the address must not be reused while the old node may still hold it.
                log.error("backend remove %s failed: %s; retrying in 10s", iid, exc)
                self._scheduler.call_later(10 * max(self.time_scale, 0.01), self._submit_remove, iid, rec)
                return
            with self.lock:
                self.releasing.pop(iid, None)
                self.save()

        if not self._closed:
            self._workers.submit(iid, job)

    def _backend_done(self, iid, kind, op, error):
        with self.lock:
            inst = self.instances.get(iid)
            if inst is None or inst["Op"] != op:
                return
            if error:
                # The real service would leave an instance that cannot start in Stopped too.
                log.error("backend %s of %s failed, instance is now Stopped: %s", kind, iid, error)
                inst["LastError"] = error
                inst["Status"] = "Stopped"
                inst["StoppedMode"] = "KeepCharging"
                inst["PhaseSince"] = time.time()
                self.save()
                return
            if kind == "ensure":
                return
            if kind in ("start", "reboot"):
                target, remaining = "Running", inst["PhaseSince"] + self.delay("starting") - time.time()
            else:
                target, remaining = "Stopped", inst["PhaseSince"] + self.delay("stopping") - time.time()
            self._scheduler.call_later(remaining, self._finish, iid, op, target)

    def _finish(self, iid, op, target):
        with self.lock:
            inst = self.instances.get(iid)
            if self._closed or inst is None or inst["Op"] != op:
                return
            inst["Status"] = target
            inst["PhaseSince"] = time.time()
            inst["LastError"] = None
            if target == "Running":
                inst["StartTime"] = inst["PhaseSince"]
                inst["StoppedMode"] = "Not-applicable"
            else:
                inst["StoppedMode"] = inst.pop("PendingStoppedMode", "KeepCharging")
            self.save()

    # ------------------------------------------------------------------ views

    def dump(self, caller=None):
        """Everything, or (caller: an AccessKeyId) the instances that caller made and its count of them as seq."""
        with self.lock:
            mine = (lambda inst: True) if caller is None else (lambda inst: inst.get("CreatedBy") == caller)
            return json.loads(json.dumps({
                "instances": [i for i in self.instances.values() if mine(i)],
                "releasing": {k: i for k, i in self.releasing.items() if mine(i)},
                "tokens": self.tokens,
                "busy": self.busy,
                "seq": self.seq if caller is None else self.made_by.get(caller, 0),
                "list_lag": self.list_lag,
                "client_token_window": self.client_token_window,
                "backend": self.backend.describe(),
                "time_scale": self.time_scale,
                "delays": self.delays,
            }))

    def wait_backend_idle(self, timeout=10):
        return self._workers.wait_idle(timeout)


def new_request_id():
    return str(uuid.uuid4()).upper()
