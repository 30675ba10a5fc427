"""How unkind the emulator is: injected errors, lost answers and latency, and the listing lag.

Set at start (CLI options) and at run time through /_emulator/faults: PUT or POST sets the
keys given on top of the start-up configuration, DELETE goes back to it. So a test that clears
faults does not switch off the listing lag the lab was started with.

  throttling_rate, error_5xx_rate, drop_rate   share of calls (0..1) that get Throttling (400),
                          ServiceUnavailable (503) / InternalError (500), or a connection closed
                          without any answer
  throttling_phase, error_5xx_phase, drop_phase
                          before: the call is refused and nothing happens; after: the action runs
                          and THEN the answer is the error (the client never learns it worked, so
                          its retry arrives a second time); random: either, drawn per call
  error_5xx_codes         which 5xx codes to draw from
  latency_ms              delay for every matching call, while the call holds its instances (so
                          a second changing call on one of them meets OperationConflict)
  actions                 the injected faults and latency apply to these actions only (None: all)
  seed                    makes the draws reproducible (they are taken in request order)
  list_lag                seconds from RunInstances until DescribeInstances (every filter,
                          InstanceIds too) and DescribeInstanceStatus list the new instance; all
                          actions on its id work at once. Real ECS publishes no number ("seconds";
                          aliyun.md 4.3); the lab runs with 4. Fixed per instance when it is made.

Settings apply to every caller, or to one AccessKeyId (`?access_key=` on the admin endpoint): a
caller with settings of its own gets those instead of the shared ones. So the lab's tests inject
faults under a key of their own while other runs on the same emulator meet none of them.
"""

import random
import threading

from . import errors

DROP = "drop"  # fault: close the connection without an answer
PHASES = ("before", "after", "random")
ERRORS_5XX = {"ServiceUnavailable": errors.SERVICE_UNAVAILABLE, "InternalError": errors.INTERNAL_ERROR}


class Faults:
    DEFAULT = {
        "throttling_rate": 0.0,
        "throttling_phase": "before",
        "error_5xx_rate": 0.0,
        "error_5xx_phase": "random",
        "error_5xx_codes": ["ServiceUnavailable", "InternalError"],
        "drop_rate": 0.0,
        "drop_phase": "after",
        "latency_ms": 0,
        "actions": None,
        "seed": None,
        "list_lag": 0.0,
    }

    def __init__(self, config=None):
        self._lock = threading.Lock()
        self.startup = self._validate(dict(self.DEFAULT, **(config or {})))
        self.configure({})

    def _validate(self, merged):
        unknown = set(merged) - set(self.DEFAULT)
        if unknown:
            raise ValueError("unknown fault settings: %s (known: %s)" % (
                ", ".join(sorted(unknown)), ", ".join(sorted(self.DEFAULT))))
        for kind in ("throttling", "error_5xx", "drop"):
            rate = merged[kind + "_rate"] = float(merged[kind + "_rate"])
            if not 0.0 <= rate <= 1.0:
                raise ValueError("%s_rate must be within 0..1" % kind)
            if merged[kind + "_phase"] not in PHASES:
                raise ValueError("%s_phase must be before, after or random" % kind)
        merged["latency_ms"] = int(merged["latency_ms"])
        if merged["latency_ms"] < 0:
            raise ValueError("latency_ms must be >= 0")
        merged["list_lag"] = float(merged["list_lag"])
        if merged["list_lag"] < 0:
            raise ValueError("list_lag must be >= 0 (seconds)")
        if merged["actions"] is not None:
            if not isinstance(merged["actions"], list) or not all(isinstance(a, str) for a in merged["actions"]):
                raise ValueError("actions must be a list of action names")
        codes = merged["error_5xx_codes"]
        if not isinstance(codes, list) or not codes or any(c not in ERRORS_5XX for c in codes):
            raise ValueError("error_5xx_codes: ServiceUnavailable and/or InternalError")
        return merged

    def configure(self, config):
        """Start-up configuration with `config` on top; returns the result."""
        if not isinstance(config, dict):
            raise ValueError("expected a JSON object")
        merged = self._validate(dict(self.startup, **config))
        with self._lock:
            self.config = merged
            self._rng = random.Random(merged["seed"])
            self.injected = {"throttling": 0, "error_5xx": 0, "drop": 0, "latency": 0}
        return self.describe()

    def describe(self):
        with self._lock:
            return dict(self.config, injected=dict(self.injected))

    @property
    def list_lag(self):
        with self._lock:
            return self.config["list_lag"]

    def _phase(self, kind):
        phase = self.config[kind + "_phase"]
        return self._rng.choice(("before", "after")) if phase == "random" else phase

    def decide(self, action):
        """-> (latency seconds, fault or None, phase); a fault is an error tuple or DROP."""
        with self._lock:
            cfg = self.config
            if cfg["actions"] is not None and action not in cfg["actions"]:
                return 0.0, None, None
            latency = cfg["latency_ms"] / 1000.0
            if latency:
                self.injected["latency"] += 1
            if cfg["throttling_rate"] and self._rng.random() < cfg["throttling_rate"]:
                self.injected["throttling"] += 1
                return latency, errors.THROTTLING, self._phase("throttling")
            if cfg["error_5xx_rate"] and self._rng.random() < cfg["error_5xx_rate"]:
                self.injected["error_5xx"] += 1
                error = ERRORS_5XX[self._rng.choice(cfg["error_5xx_codes"])]
                return latency, error, self._phase("error_5xx")
            if cfg["drop_rate"] and self._rng.random() < cfg["drop_rate"]:
                self.injected["drop"] += 1
                return latency, DROP, self._phase("drop")
            return latency, None, None


class FaultScopes:
    """The shared settings, and those of callers (AccessKeyIds) set apart from them. configure,
    describe and list_lag without a key are the shared scope's, as Faults' own."""

    def __init__(self, config=None):
        self.shared = Faults(config)
        self._own = {}
        self._lock = threading.Lock()

    def of(self, key):
        """The settings a call signed with `key` meets."""
        with self._lock:
            return self._own.get(key, self.shared)

    def configure(self, config, key=None):
        if key is None:
            return self.shared.configure(config)
        own = Faults(self.shared.startup)
        described = own.configure(config)
        with self._lock:
            self._own[key] = own
        return described

    def clear(self, key=None):
        """Back to the start-up settings; for a key: back to the shared ones."""
        if key is None:
            return self.shared.configure({})
        with self._lock:
            self._own.pop(key, None)
        return self.describe(key)

    def describe(self, key=None):
        return self.of(key).describe()

    @property
    def list_lag(self):
        return self.shared.list_lag
