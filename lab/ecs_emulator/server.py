"""HTTP front: routing, common-parameter and signature checks, error rendering,
fault injection, statistics and the unsigned /_emulator/ admin endpoints."""

import calendar
import ipaddress
import json
import logging
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import errors, signature
from .api import Api
from .backend import NoneBackend
from .errors import ApiError
from .state import State, World, new_request_id

log = logging.getLogger("ecs_emulator")
access_log = logging.getLogger("ecs_emulator.access")

API_VERSION = "2014-05-26"
NONCE_WINDOW = 15 * 60
TIMESTAMP_SKEW = 15 * 60


# ---------------------------------------------------------------------- credentials

def parse_credentials(data):
    """{"access_keys": {ID: SECRET | {"secret", "security_token", "expiration"}}} -> {ID: {...}}."""
    if not isinstance(data, dict) or not isinstance(data.get("access_keys"), dict):
        raise ValueError('credentials must look like {"access_keys": {"ID": "SECRET"}}')
    out = {}
    for key_id, value in data["access_keys"].items():
        if isinstance(value, str):
            value = {"secret": value}
        if not isinstance(value, dict) or not isinstance(value.get("secret"), str) or not value["secret"]:
            raise ValueError("access key %s: a non-empty secret is required" % key_id)
        out[key_id] = {
            "secret": value["secret"],
            "security_token": value.get("security_token"),
            "expiration": value.get("expiration"),  # unix time after which the STS token is expired
        }
    if not out:
        raise ValueError("no access keys given")
    return out


# ---------------------------------------------------------------------- faults and stats

class Faults:
    DEFAULT = {
        "throttling_rate": 0.0,
        "error_5xx_rate": 0.0,
        "latency_ms": 0,
        "actions": None,             # None: every action
        "seed": None,
        "error_5xx_phase": "random",  # before: nothing done; after: the action ran, the answer is lost
        "error_5xx_codes": ["ServiceUnavailable", "InternalError"],
    }

    def __init__(self, config=None):
        self._lock = threading.Lock()
        self.configure(config or {})

    def configure(self, config):
        unknown = set(config) - set(self.DEFAULT)
        if unknown:
            raise ValueError("unknown fault settings: %s" % ", ".join(sorted(unknown)))
        merged = dict(self.DEFAULT, **config)
        for rate in ("throttling_rate", "error_5xx_rate"):
            merged[rate] = float(merged[rate])
            if not 0.0 <= merged[rate] <= 1.0:
                raise ValueError("%s must be within 0..1" % rate)
        merged["latency_ms"] = int(merged["latency_ms"])
        if merged["latency_ms"] < 0:
            raise ValueError("latency_ms must be >= 0")
        if merged["actions"] is not None:
            if not isinstance(merged["actions"], list) or not all(isinstance(a, str) for a in merged["actions"]):
                raise ValueError("actions must be a list of action names")
        if merged["error_5xx_phase"] not in ("before", "after", "random"):
            raise ValueError("error_5xx_phase must be before, after or random")
        codes = merged["error_5xx_codes"]
        if not codes or any(c not in ("ServiceUnavailable", "InternalError") for c in codes):
            raise ValueError("error_5xx_codes: ServiceUnavailable and/or InternalError")
        with self._lock:
            self.config = merged
            self._rng = random.Random(merged["seed"])
            self.injected = {"throttling": 0, "error_5xx": 0, "latency": 0}
        return self.describe()

    def describe(self):
        with self._lock:
            return dict(self.config, injected=dict(self.injected))

    def decide(self, action):
        """-> (latency seconds, error tuple or None, phase). Draws are seeded, in request order."""
        with self._lock:
            cfg = self.config
            if cfg["actions"] is not None and action not in cfg["actions"]:
                return 0.0, None, None
            latency = cfg["latency_ms"] / 1000.0
            if latency:
                self.injected["latency"] += 1
            if cfg["throttling_rate"] and self._rng.random() < cfg["throttling_rate"]:
                self.injected["throttling"] += 1
                return latency, errors.THROTTLING, "before"
            if cfg["error_5xx_rate"] and self._rng.random() < cfg["error_5xx_rate"]:
                self.injected["error_5xx"] += 1
                code = self._rng.choice(cfg["error_5xx_codes"])
                error = errors.SERVICE_UNAVAILABLE if code == "ServiceUnavailable" else errors.INTERNAL_ERROR
                phase = cfg["error_5xx_phase"]
                if phase == "random":
                    phase = self._rng.choice(("before", "after"))
                return latency, error, phase
            return latency, None, None


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.calls = {}
            self.codes = {}

    def record(self, action, code):
        with self._lock:
            self.calls[action] = self.calls.get(action, 0) + 1
            per = self.codes.setdefault(action, {})
            per[code] = per.get(code, 0) + 1

    def describe(self):
        with self._lock:
            return {"calls": dict(self.calls), "codes": {k: dict(v) for k, v in self.codes.items()}}


class NonceCache:
    def __init__(self, window=NONCE_WINDOW):
        self.window = window
        self._seen = {}
        self._lock = threading.Lock()
        self._last_prune = time.time()

    def use(self, key_id, nonce):
        """False if (key, nonce) was used within the window."""
        now = time.time()
        with self._lock:
            if now - self._last_prune > 60:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.window}
                self._last_prune = now
            seen_at = self._seen.get((key_id, nonce))
            if seen_at is not None and now - seen_at < self.window:
                return False
            self._seen[(key_id, nonce)] = now
            return True


# ---------------------------------------------------------------------- HTTP

class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator = None


def _parse_timestamp(value):
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return calendar.timegm(time.strptime(value, fmt))
        except ValueError:
            continue
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ecs-emulator"
    sys_version = ""
    # Headers and body go out as one segment: separate small writes on a keep-alive
    # connection hit Nagle + delayed ACK and cost ~40 ms per call.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        # The default logs the request line, which carries the Signature: keep it out of the logs.
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body, request_id=None):
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if request_id:
            self.send_header("x-acs-request-id", request_id)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _dispatch(self, method):
        emulator = self.server.emulator
        # Proxy-form requests (HTTP_PROXY pointing here) carry the full URL: route on its path.
        url = urlsplit(self.path)
        body = self._body()
        if url.path.startswith("/_emulator/") or url.path == "/_emulator":
            self._admin(emulator, method, url.path, body)
            return
        if method not in ("GET", "POST"):
            request_id = new_request_id()
            self._send(405, {"RequestId": request_id, "Code": "UnsupportedHTTPMethod",
                             "Message": "Specified HTTP method is not supported."}, request_id)
            return
        params = {}
        for key, values in parse_qs(url.query, keep_blank_values=True).items():
            params[key] = values[-1]
        ctype = (self.headers.get("Content-Type") or "").lower()
        if body and "application/x-www-form-urlencoded" in ctype:
            for key, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                params[key] = values[-1]
        status, response, request_id = emulator.handle(method, params)
        self._send(status, response, request_id)

    def _admin(self, emulator, method, path, body):
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            self._send(403, {"error": "the admin API answers loopback clients only"})
            return
        try:
            payload = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError:
            self._send(400, {"error": "body is not JSON"})
            return
        route = path.rstrip("/")
        try:
            if route == "/_emulator/faults":
                if method == "GET":
                    return self._send(200, emulator.faults.describe())
                if method in ("PUT", "POST"):
                    if not isinstance(payload, dict):
                        raise ValueError("expected a JSON object")
                    return self._send(200, emulator.faults.configure(payload))
                if method == "DELETE":
                    return self._send(200, emulator.faults.configure({}))
            elif route == "/_emulator/instances" and method == "GET":
                return self._send(200, emulator.state.dump())
            elif route == "/_emulator/stats":
                if method == "GET":
                    return self._send(200, emulator.stats.describe())
                if method == "DELETE":
                    emulator.stats.reset()
                    return self._send(200, emulator.stats.describe())
            elif route == "/_emulator/health" and method == "GET":
                return self._send(200, {"ok": True, "backend": emulator.state.backend.name})
        except ValueError as exc:
            return self._send(400, {"error": str(exc)})
        self._send(404, {"error": "no such admin endpoint: %s %s" % (method, path)})


class Emulator:
    """The whole emulator; usable in-process (tests) or from __main__."""

    def __init__(self, credentials, listen=("127.0.0.1", 0), world=None, backend=None, state_file=None,
                 time_scale=1.0, delays=None, faults=None, backend_workers=4):
        self.credentials = parse_credentials(credentials)
        self.world = world or World.load()
        self.state = State(self.world, backend or NoneBackend(), state_file=state_file,
                           time_scale=time_scale, delays=delays, backend_workers=backend_workers)
        self.api = Api(self.state)
        self.faults = Faults(faults)
        self.stats = Stats()
        self.nonces = NonceCache()
        self.httpd = EmulatorHTTPServer(listen, Handler)
        self.httpd.emulator = self
        self._thread = None

    @property
    def address(self):
        host, port = self.httpd.server_address[:2]
        return host, port

    @property
    def endpoint(self):
        return "%s:%d" % self.address

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="ecs-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self, poll_interval=0.1):
        self.httpd.serve_forever(poll_interval)

    def close(self):
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()
        self.state.close()

    # ------------------------------------------------------------------ request handling

    def _host_id(self, region_id):
        region = self.world.regions.get(region_id)
        return region["RegionEndpoint"] if region else "ecs.aliyuncs.com"

    def handle(self, method, params):
        started = time.monotonic()
        request_id = new_request_id()
        action = params.get("Action") or "-"
        region_id = params.get("RegionId", "")
        try:
            body = self._process(method, params, action, region_id)
            status, code = 200, "200"
            response = {"RequestId": request_id}
            response.update(body)
        except ApiError as exc:
            status, code = exc.status, exc.code
            response = {
                "RequestId": request_id,
                "HostId": self._host_id(region_id),
                "Code": exc.code,
                "Message": exc.message,
                "Recommend": "https://api.aliyun.com/troubleshoot?q=%s&product=Ecs&requestId=%s" % (exc.code, request_id),
            }
        except Exception:
            log.exception("unexpected error in %s", action)
            status, code, message = errors.INTERNAL_ERROR
            response = {"RequestId": request_id, "HostId": self._host_id(region_id), "Code": code,
                        "Message": message, "Recommend": ""}
        self.stats.record(action, code)
        access_log.info("%s %s region=%s -> %d %s %.1fms rid=%s", method, action, region_id or "-",
                        status, code, (time.monotonic() - started) * 1000, request_id)
        return status, response, request_id

    def _common(self, params, name):
        value = params.get(name)
        if value is None or value == "":
            # Gateway style "Missing<Param>"; the AccessKeyId text matches the real one.
            raise ApiError(400, "Missing" + name, "%s is mandatory for this action." % name)
        return value

    def _authenticate(self, method, params):
        key_id = self._common(params, "AccessKeyId")
        cred = self.credentials.get(key_id)
        if cred is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if self._common(params, "SignatureMethod") != "HMAC-SHA1":
            raise ApiError(400, "InvalidSignatureMethod", "Specified signature method is not supported.")
        if self._common(params, "SignatureVersion") != "1.0":
            raise ApiError(400, "InvalidSignatureVersion", "Specified signature version is not supported.")
        nonce = self._common(params, "SignatureNonce")
        stamp = _parse_timestamp(self._common(params, "Timestamp"))
        if stamp is None:
            raise ApiError(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if abs(time.time() - stamp) > TIMESTAMP_SKEW:
            raise ApiError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        self._common(params, "Signature")
        ok, string_to_sign = signature.verify(method, params, cred["secret"])
        if not ok:
            # The SDK splits this message at ':' and compares the tail with its own StringToSign.
            raise ApiError(400, "SignatureDoesNotMatch",
                           "Specified signature is not matched with our calculation. server string to sign is:"
                           + string_to_sign)
        if cred["security_token"]:
            token = params.get("SecurityToken")
            if not token:
                raise ApiError(400, "MissingSecurityToken", "SecurityToken is mandatory for this action.")
            if token != cred["security_token"]:
                raise ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                               "Specified SecurityToken mismatch with the AccessKey.")
            if cred["expiration"] is not None and time.time() > float(cred["expiration"]):
                raise ApiError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
        if not self.nonces.use(key_id, nonce):
            raise ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")

    def _process(self, method, params, action, region_id):
        self._common(params, "Action")
        version = self._common(params, "Version")
        if version != API_VERSION:
            raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        if action not in self.api.actions:
            raise ApiError(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
        self._authenticate(method, params)

        latency, fault, phase = self.faults.decide(action)
        if latency:
            time.sleep(latency)
        if fault is not None and phase == "before":
            raise ApiError(*fault)
        body = self.api.call(action, params, region_id)
        if fault is not None:
            # phase "after": the action took effect but the client never learns it.
            raise ApiError(*fault)
        return body
