"""HTTP front: the HTTP and HTTPS listeners, routing, error rendering, fault injection,
statistics and the unsigned /_emulator/ admin endpoints. Authentication is in auth.py,
the fault settings in faults.py."""

import ipaddress
import json
import logging
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import errors
from .api import TAG_FILTER_MAX, Api
from .auth import Authenticator
from .backend import NoneBackend
from .errors import ApiError
from .faults import DROP, FaultScopes
from .state import CLIENT_TOKEN_WINDOW, State, World, new_request_id

log = logging.getLogger("ecs_emulator")
access_log = logging.getLogger("ecs_emulator.access")

API_VERSION = "2014-05-26"


class Stats:
    """Calls, answer codes and signature versions: of all callers, and per AccessKeyId (`key`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._all = self._empty()
        self._by_key = {}

    @staticmethod
    def _empty():
        return {"calls": {}, "codes": {}, "signatures": {}}

    def reset(self, key=None):
        with self._lock:
            if key is None:
                self._all = self._empty()
                self._by_key = {}
            else:
                self._by_key.pop(key, None)

    def record(self, action, code, signature, key=None):
        with self._lock:
            for scope in (self._all, self._by_key.setdefault(key, self._empty()) if key else None):
                if scope is None:
                    continue
                scope["calls"][action] = scope["calls"].get(action, 0) + 1
                per = scope["codes"].setdefault(action, {})
                per[code] = per.get(code, 0) + 1
                scope["signatures"][signature] = scope["signatures"].get(signature, 0) + 1

    def describe(self, key=None):
        with self._lock:
            scope = self._all if key is None else self._by_key.get(key, self._empty())
            return json.loads(json.dumps(scope))


class Request:
    """One API request as it came off the wire."""

    def __init__(self, method, path, query_pairs, headers, body):
        self.method = method
        self.path = path or "/"
        self.query_pairs = query_pairs
        self.headers = headers
        self.body = body
        self.params = dict(query_pairs)
        self.caller = None  # the AccessKeyId, once the signature checked out
        ctype = (headers.get("Content-Type") or "").lower()
        if body and "application/x-www-form-urlencoded" in ctype:
            self.params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        # V3 (ACS3-HMAC-SHA256) names the action in a header and signs in Authorization; V1 has
        # everything, Action and Signature included, in the parameters.
        self.v3 = bool(headers.get("Authorization")) or (
            "Action" not in self.params and bool(headers.get("x-acs-action")))

    @property
    def action(self):
        return (self.headers.get("x-acs-action") if self.v3 else self.params.get("Action")) or "-"


class _Dropped(Exception):
    """The fault 'drop': close the connection without an answer."""


# ---------------------------------------------------------------------- HTTP

class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator = None


class EmulatorHTTPSServer(EmulatorHTTPServer):
    """The same API over TLS. The handshake runs in the request's thread, so a client that does
    not trust the certificate (or does not speak TLS) cannot stall the others."""

    def __init__(self, address, handler, cert_file, key_file):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)  # before binding: a bad file leaves no socket behind
        super().__init__(address, handler)
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        request.settimeout(None)
        super().finish_request(request, client_address)


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
            self._admin(emulator, method, url.path, url.query, body)
            return
        if method not in ("GET", "POST"):
            request_id = new_request_id()
            self._send(405, {"RequestId": request_id, "Code": "UnsupportedHTTPMethod",
                             "Message": "Specified HTTP method is not supported."}, request_id)
            return
        # Form decoding ('+' is a space), as the V3 SDK writes its query with urlencode.
        query = parse_qsl(url.query, keep_blank_values=True)
        status, response, request_id = emulator.handle(Request(method, url.path, query, self.headers, body))
        if status is None:
            self.close_connection = True  # the fault "drop": no answer at all
            return
        self._send(status, response, request_id)

    def _admin(self, emulator, method, path, query, body):
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
            # ?access_key=ID: the faults, statistics or instances of that caller alone (faults.py).
            key = emulator.admin_scope(dict(parse_qsl(query)).get("access_key"))
            if route == "/_emulator/faults":
                if method == "GET":
                    return self._send(200, emulator.faults.describe(key))
                if method in ("PUT", "POST"):
                    return self._send(200, emulator.configure_faults(payload, key))
                if method == "DELETE":
                    return self._send(200, emulator.clear_faults(key))
            elif route == "/_emulator/instances" and method == "GET":
                return self._send(200, emulator.state.dump(key))
            elif route == "/_emulator/stats":
                if method == "GET":
                    return self._send(200, emulator.stats.describe(key))
                if method == "DELETE":
                    emulator.stats.reset(key)
                    return self._send(200, emulator.stats.describe(key))
            elif route == "/_emulator/health" and method == "GET":
                return self._send(200, emulator.health())
        except ValueError as exc:
            return self._send(400, {"error": str(exc)})
        self._send(404, {"error": "no such admin endpoint: %s %s" % (method, path)})


class Emulator:
    """The whole emulator; usable in-process (tests) or from __main__.

    tls_listen (HOST, PORT) with tls_cert / tls_key (PEM files) adds an HTTPS listener that
    serves the same API and admin endpoints as the HTTP one.
    """

    def __init__(self, credentials, listen=("127.0.0.1", 0), world=None, backend=None, state_file=None,
                 time_scale=1.0, delays=None, faults=None, backend_workers=4,
                 client_token_window=CLIENT_TOKEN_WINDOW, tag_filter_max=TAG_FILTER_MAX,
                 tls_listen=None, tls_cert=None, tls_key=None):
        self.auth = Authenticator(credentials)
        self.world = world or World.load()
        self.faults = FaultScopes(faults)
        self.state = State(self.world, backend or NoneBackend(), state_file=state_file,
                           time_scale=time_scale, delays=delays, backend_workers=backend_workers,
                           client_token_window=client_token_window)
        self.state.list_lag = self.faults.list_lag
        self.api = Api(self.state, tag_filter_max=tag_filter_max)
        self.stats = Stats()
        self.httpd = EmulatorHTTPServer(listen, Handler)
        self.httpd.emulator = self
        self.httpsd = None
        if tls_listen is not None:
            try:
                if not tls_cert or not tls_key:
                    raise ValueError("an HTTPS listener needs a certificate and its key (--tls-cert, --tls-key)")
                self.httpsd = EmulatorHTTPSServer(tls_listen, Handler, tls_cert, tls_key)
            except (ValueError, OSError):
                self.httpd.server_close()
                self.state.close()
                raise
            self.httpsd.emulator = self
        self._threads = []

    @property
    def credentials(self):
        return self.auth.credentials

    @property
    def servers(self):
        return [s for s in (self.httpd, self.httpsd) if s is not None]

    @property
    def address(self):
        host, port = self.httpd.server_address[:2]
        return host, port

    @property
    def endpoint(self):
        return "%s:%d" % self.address

    @property
    def tls_endpoint(self):
        """HOST:PORT of the HTTPS listener, or None."""
        return "%s:%d" % self.httpsd.server_address[:2] if self.httpsd else None

    def configure_faults(self, config, key=None):
        described = self.faults.configure(config, key)
        self.state.list_lag = self.faults.list_lag
        return described

    def clear_faults(self, key=None):
        described = self.faults.clear(key)
        self.state.list_lag = self.faults.list_lag
        return described

    def admin_scope(self, key):
        """An admin endpoint's ?access_key=: None (every caller) or a key the emulator knows."""
        if key is None:
            return None
        if key not in self.credentials:
            raise ValueError("access_key %s: no such AccessKeyId in the emulator's credentials" % key)
        return key

    def health(self):
        return {"ok": True, "backend": self.state.backend.name, "endpoint": self.endpoint,
                "tls_endpoint": self.tls_endpoint, "list_lag": self.state.list_lag,
                "client_token_window": self.state.client_token_window, "tag_filter_max": self.api.tag_filter_max}

    def start(self):
        for server in self.servers:
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True,
                                      name="ecs-https" if server is self.httpsd else "ecs-http")
            thread.start()
            self._threads.append(thread)
        return self

    def serve_forever(self, poll_interval=0.1):
        """Serve until shutdown(): HTTPS in a thread, HTTP in this one."""
        if self.httpsd is not None:
            thread = threading.Thread(target=self.httpsd.serve_forever, args=(poll_interval,), daemon=True,
                                      name="ecs-https")
            thread.start()
            self._threads.append(thread)
        self.httpd.serve_forever(poll_interval)

    def shutdown(self):
        """Stop serving (blocks until the serve loops return; call it from another thread than theirs)."""
        for server in self.servers:
            server.shutdown()

    def close(self):
        if self._threads:
            self.shutdown()
            for thread in self._threads:
                thread.join(5)
        for server in self.servers:
            server.server_close()
        self.state.close()

    # ------------------------------------------------------------------ request handling

    def _host_id(self, region_id):
        region = self.world.regions.get(region_id)
        return region["RegionEndpoint"] if region else "ecs.aliyuncs.com"

    def handle(self, request):
        """-> (HTTP status, body, request id); status None means: close without answering."""
        started = time.monotonic()
        request_id = new_request_id()
        action = request.action
        region_id = request.params.get("RegionId", "")
        try:
            body = self._process(request, action, region_id)
            status, code = 200, "200"
            response = {"RequestId": request_id}
            response.update(body)
        except _Dropped:
            status, code, response = None, "(dropped)", None
        except ApiError as exc:
            status, code = exc.status, exc.code
            response = {
                "RequestId": request_id,
                "HostId": self._host_id(region_id),
                "Code": exc.code,
                "Message": exc.message,
                "Recommend": "https://api.aliyun.com/troubleshoot?q=%s&product=Ecs&requestId=%s"
                             % (exc.code, request_id),
            }
        except Exception:
            log.exception("unexpected error in %s", action)
            status, code, message = errors.INTERNAL_ERROR
            response = {"RequestId": request_id, "HostId": self._host_id(region_id), "Code": code,
                        "Message": message, "Recommend": ""}
        signature = "v3" if request.v3 else "v1"
        self.stats.record(action, code, signature, request.caller)
        access_log.info("%s %s %s region=%s -> %s %s %.1fms rid=%s", request.method, signature, action,
                        region_id or "-", status or "-", code, (time.monotonic() - started) * 1000, request_id)
        return status, response, request_id

    @staticmethod
    def _fail(fault):
        if fault == DROP:
            raise _Dropped()
        raise ApiError(*fault)

    def _process(self, request, action, region_id):
        if request.v3:
            version = request.headers.get("x-acs-version")
            if not request.headers.get("x-acs-action"):
                raise ApiError(400, "MissingAction", "x-acs-action is mandatory for this action.")
        else:
            version = request.params.get("Version")
            if action == "-":
                raise ApiError(400, "MissingAction", "Action is mandatory for this action.")
        if not version:
            raise ApiError(400, "MissingVersion", "Version is mandatory for this action.")
        if version != API_VERSION:
            raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        if action not in self.api.actions:
            raise ApiError(404, "InvalidAction.NotFound",
                           "Specified api is not found, please check your url and method.")
        if request.v3:
            request.caller = self.auth.v3(request.method, request.path, request.query_pairs, request.headers,
                                          request.body)
        else:
            request.caller = self.auth.v1(request.method, request.params)

        faults = self.faults.of(request.caller)
        latency, fault, phase = faults.decide(action)
        if fault is not None and phase == "before":
            time.sleep(latency)
            self._fail(fault)
        # The instances a changing call works on stay busy while it runs, latency included.
        busy = self.api.changed_instances(action, request.params)
        self.state.claim(busy, action)
        try:
            time.sleep(latency)
            body = self.api.call(action, request.params, region_id, caller=request.caller, list_lag=faults.list_lag)
        finally:
            self.state.release(busy)
        if fault is not None:
            # phase "after": the action took effect but the client never learns it.
            self._fail(fault)
        return body
