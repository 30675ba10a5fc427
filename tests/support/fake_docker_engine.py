"""A Docker Engine API 1.41 (Engine 20.10) fake at the HTTP layer, on a unix socket.

The unit tests of the Docker modules point the real SDK (docker.APIClient) and the real modules at it
(docker_host: unix://<socket>) in place of dockerd, which cannot create macvlan networks on every
machine and cannot run ipvlan or 802.1q links on this kernel at all. It records every request
(method, path without the version prefix, query, JSON body), so a test asserts the exact calls, and
keeps the networks, containers and images it was asked for, answering as dockerd does for what the
modules use: 404/409 errors with dockerd's messages, a requested address taken ("Address already in
use"), config-only networks, an endpoint only while a container runs.
"""
import ipaddress
import itertools
import json
import os
import re
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

API_VERSION = "1.41"
_IDS = itertools.count(1)


def _new_id():
    return "%064x" % (0xD0C0000 + next(_IDS))


class FakeEngine:
    """State and answers; start() serves it on a unix socket until stop()."""

    def __init__(self, ncpu=4, swarm_manager=False):
        self.requests = []
        self.networks = {}  # id -> network
        self.containers = {}  # id -> container
        self.images = {}  # name -> image
        self.pullable = set()
        self.ncpu = ncpu
        self.swarm_manager = swarm_manager
        # The pid inspect reports for a running container (a test's own network namespace).
        self.container_pid = 0
        # An address the engine hands out whatever was asked (as Engine 20.10 does on ConfigFrom networks).
        self.address_instead = None
        self.lock = threading.Lock()
        self._dir = None
        self._server = None
        self.base_url = None

    # ------------------------------------------------------------ set-up helpers
    def add_image(self, name, env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)):
        self.images[name] = {"Id": "sha256:" + _new_id(), "RepoTags": [name], "Config": {"Env": list(env)}}

    def add_network(self, body):
        return self._create_network(body)["Id"]

    def calls(self, method=None, prefix=""):
        """(method, path, query, body) of the requests that changed something (not GETs) or match."""
        return [r for r in self.requests if (method is None and r[0] != "GET" or r[0] == method)
                and r[1].startswith(prefix)]

    def clear(self):
        self.requests[:] = []

    # ------------------------------------------------------------ serving
    def start(self):
        self._dir = tempfile.mkdtemp(prefix="fake-docker-")
        path = os.path.join(self._dir, "docker.sock")
        engine = self

        class Handler(_Handler):
            fake = engine

        self._server = _UnixServer(path, Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = "unix://" + path
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        os.unlink(os.path.join(self._dir, "docker.sock"))
        os.rmdir(self._dir)

    # ------------------------------------------------------------ the API
    def handle(self, method, path, query, body):
        with self.lock:
            self.requests.append((method, path, query, body))
            return self._route(method, path, query, body)

    def _route(self, method, path, query, body):
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return 200, {"ApiVersion": API_VERSION, "MinAPIVersion": "1.12", "Version": "20.10.24"}
        if path == "/_ping":
            return 200, "OK"
        if path == "/info":
            return 200, {"NCPU": self.ncpu, "Swarm": {"LocalNodeState": "active" if self.swarm_manager else "inactive",
                                                      "ControlAvailable": self.swarm_manager}}
        if parts[0] == "networks":
            return self._networks(method, parts[1:], body)
        if parts[0] == "containers":
            return self._containers(method, parts[1:], query, body)
        if parts[0] == "images":
            if method == "POST" and parts[1] == "create":
                name = query["fromImage"][0] + ":" + query.get("tag", ["latest"])[0]
                if name not in self.pullable:
                    return 404, {"message": "pull access denied for %s, repository does not exist" % name}
                self.add_image(name)
                return 200, {"status": "Downloaded newer image for %s" % name}
            name = "/".join(parts[1:-1])
            if name in self.images:
                return 200, self.images[name]
            return 404, {"message": "No such image: %s" % name}
        return 404, {"message": "page not found"}

    # networks
    def _find_network(self, ref):
        for net in self.networks.values():
            if net["Name"] == ref or net["Id"] == ref:
                return net
        return None

    def _create_network(self, body):
        config_from = (body.get("ConfigFrom") or {}).get("Network") or ""
        net = {"Name": body["Name"], "Id": _new_id(), "Scope": body.get("Scope") or "local",
               "Driver": "null" if body.get("ConfigOnly") else body.get("Driver") or "bridge",
               "ConfigOnly": bool(body.get("ConfigOnly")), "ConfigFrom": {"Network": config_from},
               "Attachable": bool(body.get("Attachable")), "Options": body.get("Options") or {},
               "IPAM": {"Driver": "default", "Options": None,
                        "Config": [] if config_from else list((body.get("IPAM") or {}).get("Config") or [])},
               "Containers": {}, "Labels": body.get("Labels") or {}}
        self.networks[net["Id"]] = net
        return net

    def _networks(self, method, rest, body):
        if method == "GET" and not rest:
            return 200, [dict(n, Containers={}) for n in self.networks.values()]
        if method == "POST" and rest == ["create"]:
            if self._find_network(body["Name"]):
                return 409, {"message": "network with name %s already exists" % body["Name"]}
            config_from = (body.get("ConfigFrom") or {}).get("Network")
            if config_from and not self._find_network(config_from):
                return 404, {"message": "network %s not found" % config_from}
            if config_from and body.get("IPAM"):
                return 403, {"message": "user specified configurations are not supported if the network depends "
                                        "on a configuration network"}
            return 201, {"Id": self._create_network(body)["Id"], "Warning": ""}
        net = self._find_network(rest[0])
        if net is None:
            return 404, {"message": "network %s not found" % rest[0]}
        if method == "GET":
            return 200, net
        if method == "DELETE":
            if net["Containers"]:
                return 403, {"message": "error while removing network: network %s id %s has active endpoints"
                                        % (net["Name"], net["Id"])}
            del self.networks[net["Id"]]
            return 204, None
        return 405, {"message": "method not allowed"}

    # containers
    def _find_container(self, ref):
        ref = ref.lstrip("/")
        for c in self.containers.values():
            if c["Name"] == "/" + ref or c["Id"] == ref:
                return c
        return None

    def _containers(self, method, rest, query, body):
        if method == "POST" and rest == ["create"]:
            name = query["name"][0]
            if self._find_container(name):
                return 409, {"message": 'Conflict. The container name "/%s" is already in use' % name}
            image = self.images.get(body["Image"])
            if image is None:
                return 404, {"message": "No such image: %s" % body["Image"]}
            host = body.get("HostConfig") or {}
            endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
            for net_name in endpoints:
                if self._find_network(net_name) is None:
                    return 404, {"message": "network %s not found" % net_name}
            config = dict(body, Env=list(image["Config"]["Env"]) + list(body.get("Env") or []))
            config.pop("HostConfig", None)
            config.pop("NetworkingConfig", None)
            cid = _new_id()
            self.containers[cid] = {
                "Id": cid, "Name": "/" + name, "Image": image["Id"], "Config": config, "HostConfig": host,
                "State": {"Status": "created", "Running": False, "Pid": 0},
                "NetworkSettings": {"Networks": dict(
                    (n, {"IPAMConfig": ep.get("IPAMConfig"), "IPAddress": "", "MacAddress": "", "NetworkID": ""})
                    for n, ep in endpoints.items())}}
            return 201, {"Id": cid, "Warnings": []}
        c = self._find_container(rest[0])
        if c is None:
            return 404, {"message": "No such container: %s" % rest[0]}
        action = rest[1] if len(rest) > 1 else None
        if method == "GET" and action == "json":
            return 200, c
        if method == "DELETE":
            self._disconnect(c)
            del self.containers[c["Id"]]
            return 204, None
        if action == "start":
            if c["State"]["Running"]:
                return 304, None
            return self._start(c)
        if action == "stop":
            if not c["State"]["Running"]:
                return 304, None
            self._disconnect(c)
            c["State"] = {"Status": "exited", "Running": False, "Pid": 0}
            return 204, None
        if action == "restart":
            self._disconnect(c)
            return self._start(c)
        if action == "update":
            c["HostConfig"].update(dict((k, v) for k, v in body.items() if k != "RestartPolicy"))
            if "RestartPolicy" in body:
                c["HostConfig"]["RestartPolicy"] = body["RestartPolicy"]
            return 200, {"Warnings": []}
        return 405, {"message": "method not allowed"}

    def _start(self, c):
        for name, ep in c["NetworkSettings"]["Networks"].items():
            net = self._find_network(name)
            ip = self.address_instead or (ep.get("IPAMConfig") or {}).get("IPv4Address")
            config = net["IPAM"]["Config"][0]
            taken = [e["IPv4Address"].split("/")[0] for e in net["Containers"].values()]
            taken += [config.get("Gateway")] + list((config.get("AuxiliaryAddresses") or {}).values())
            if ip in taken:
                return 403, {"message": "Address already in use"}
            if ipaddress.ip_address(ip) not in ipaddress.ip_network(config["Subnet"]):
                return 403, {"message": "Requested address is out of range"}
            mac = c["Config"].get("MacAddress") or "02:42:" + ":".join(
                "%02x" % int(o) for o in ip.split("."))
            if net["Driver"] == "ipvlan":
                mac = "00:16:3e:00:00:01"  # the parent's (an ENI's) MAC
            ep.update(IPAddress=ip, MacAddress=mac, NetworkID=net["Id"],
                      IPPrefixLen=ipaddress.ip_network(config["Subnet"]).prefixlen)
            net["Containers"][c["Id"]] = {"Name": c["Name"].lstrip("/"), "MacAddress": mac,
                                          "IPv4Address": "%s/%d" % (ip, ep["IPPrefixLen"])}
        c["State"] = {"Status": "running", "Running": True, "Pid": self.container_pid}
        return 204, None

    def _disconnect(self, c):
        for net in self.networks.values():
            net["Containers"].pop(c["Id"], None)
        for ep in c["NetworkSettings"]["Networks"].values():
            ep.update(IPAddress="", MacAddress="")


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


_VERSIONED = re.compile(r"^/v[0-9.]+(/.*)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, *args):  # quiet; the fake records requests itself
        pass

    def address_string(self):
        return "unix"

    def _serve(self):
        url = urlsplit(self.path)
        match = _VERSIONED.match(url.path)
        path = match.group(1) if match else url.path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw.strip() else None
        status, answer = self.fake.handle(self.command, path, parse_qs(url.query), body)
        data = b"" if answer is None else (answer if isinstance(answer, str) else json.dumps(answer)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_HEAD = _serve
