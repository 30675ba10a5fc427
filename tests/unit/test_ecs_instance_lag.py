"""ecs_instance when DescribeInstances lags behind RunInstances, as real ECS does: the instances
RunInstances made are reported (ids included) and never made twice, by this run or a re-run.

The lag comes from EcsProxy, a small HTTP proxy on loopback in front of an emulator (backend
none, in-process) that hides instances younger than N seconds from DescribeInstances and
DescribeInstanceStatus. It is defined here and also used by test_ecs_client.py (TLS and a
request altered on the way) and tests/integration/test_ecs_instance_listing_lag.py (through ansible-playbook).
"""
import http.client
import json
import pathlib
import random
import secrets
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "lab"))

from ansible_collections.containerops.platform.plugins.module_utils import ecs  # noqa: E402
from ansible_collections.containerops.platform.plugins.modules import ecs_instance as mod  # noqa: E402

KEY, SECRET = "LTAI" + secrets.token_hex(8), secrets.token_urlsafe(24)
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
VSW_H = "vsw-bp1lab0hangzhouh00001"
SG_HZ = "sg-bp1lab0hangzhou00001"


# ---------------------------------------------------------------- the proxy

class EcsProxy:
    """Reverse proxy on 127.0.0.1 for ECS RPC traffic to an http upstream (host:port).

    lag:         hide an instance from DescribeInstances / DescribeInstanceStatus until `lag`
                 seconds after the first RunInstances answer that carried its id (the proxy's
                 own clock), as ECS does for seconds after creation;
    tls:         (certfile, keyfile): serve https with that certificate;
    extra_query: appended to every request's query string (a middlebox that alters requests).
    """

    LISTINGS = {"DescribeInstances": ("Instances", "Instance"),
                "DescribeInstanceStatus": ("InstanceStatuses", "InstanceStatus")}

    def __init__(self, upstream, lag=0.0, tls=None, extra_query=""):
        self.upstream = upstream
        self.lag = lag
        self.extra_query = extra_query
        self.born = {}    # InstanceId -> when the proxy first saw it in a RunInstances answer
        self.hidden = 0   # instances left out of listings so far
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.httpd.server_address[1]

    @property
    def url(self):
        return "%s://%s" % (self.scheme, self.endpoint)

    def start(self):
        self.thread.start()
        return self

    def close(self):
        self.httpd.shutdown()
        self.thread.join(5)
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def filter(self, action, status, body):
        """The answer as the client gets it: young instances left out of the two listings."""
        now = time.monotonic()
        if action == "RunInstances" and status == 200:
            with self.lock:
                for iid in json.loads(body).get("InstanceIdSets", {}).get("InstanceIdSet", []):
                    self.born.setdefault(iid, now)
        elif action in self.LISTINGS and status == 200 and self.lag:
            outer, inner = self.LISTINGS[action]
            data = json.loads(body)
            rows = data.get(outer, {}).get(inner, [])
            with self.lock:
                kept = [r for r in rows if now - self.born.get(r["InstanceId"], -1e9) >= self.lag]
                self.hidden += len(rows) - len(kept)
            if len(kept) != len(rows):
                data[outer][inner] = kept
                data["TotalCount"] = max(0, int(data.get("TotalCount", 0)) - (len(rows) - len(kept)))
                body = json.dumps(data).encode()
        return body

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass  # request lines carry signatures

            def do_GET(self):
                self._forward()

            def do_POST(self):
                self._forward()

            def do_PUT(self):
                self._forward()

            def do_DELETE(self):
                self._forward()

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                query = url.query + proxy.extra_query if url.query else proxy.extra_query.lstrip("&")
                action = (parse_qs(url.query).get("Action") or [""])[0]
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ("host", "connection"))
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                try:
                    conn.request(self.command, url.path + ("?" + query if query else ""), body=body, headers=headers)
                    answer = conn.getresponse()
                    data = proxy.filter(action, answer.status, answer.read())
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

        return Handler


def tls_files(directory, host="127.0.0.1"):
    """A throw-away CA and a server certificate for host signed by it: (ca.pem, cert.pem, key.pem)."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "containerops test CA")])
    usage = dict(digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                 key_agreement=False, encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(key_cert_sign=True, crl_sign=True, **usage), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(key_cert_sign=False, crl_sign=False, **usage), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [pathlib.Path(directory) / name for name in ("ca.pem", "cert.pem", "key.pem")]
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return tuple(str(p) for p in paths)


# ---------------------------------------------------------------- the Runner behind a lagging proxy

class FakeModule:
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


@pytest.fixture
def emu(monkeypatch):
    from ecs_emulator import Emulator
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    made = Emulator({"access_keys": {KEY: SECRET}}, time_scale=0.01).start()
    yield made
    made.close()


def runner(endpoint, **params):
    """A Runner as the module builds it (argspec defaults), for the lab world's network."""
    full = dict((k, spec.get("default")) for k, spec in mod.argument_spec().items())
    full.update(wait_timeout=60, image_id=IMAGE, instance_type="ecs.g7.large", vswitch_id=VSW_H,
                security_group_ids=[SG_HZ])
    full.update(params)
    client = ecs.EcsClient(ecs.Credentials(KEY, SECRET, None, "cn-hangzhou"), endpoint=endpoint,
                           retry=ecs.RetryPolicy(base=0.001, cap=0.01), rng=random.Random(1))
    return mod.Runner(FakeModule(full), client)


# No fixed IPs: ECS picks them, so nothing but the module stops a second instance of a name.
SIX = [{"name": "lag-%02d" % i} for i in range(1, 7)]


def test_six_instances_behind_a_lagging_listing_are_made_once_and_reported(emu):
    with EcsProxy(emu.endpoint, lag=3) as proxy:
        first = runner(proxy.endpoint, instances=SIX)
        first.run()
        rows = first.results()
        assert len(emu.state.instances) == 6 and first.client.calls["RunInstances"] == 1
        assert sorted(first.created) == [i["name"] for i in SIX] and first.changed
        assert {r["status"] for r in rows} == {"Running"}
        assert sorted(r["instance_id"] for r in rows) == sorted(emu.state.instances)
        assert proxy.hidden > 0, "the listing should have lagged"
        # A second identical run sees them by name: nothing to do.
        again = runner(proxy.endpoint, instances=SIX)
        again.run()
        assert not again.changed and "RunInstances" not in again.client.calls and len(emu.state.instances) == 6


def test_a_deadline_before_the_listing_reports_the_ids_and_a_rerun_gets_the_same_ones(emu):
    with EcsProxy(emu.endpoint, lag=4) as proxy:
        cut = runner(proxy.endpoint, instances=SIX[:2], wait_timeout=1)
        with pytest.raises(mod.Failure) as info:
            cut.run()
        made = dict((r["name"], r["instance_id"]) for r in cut.results())
        assert sorted(cut.created) == ["lag-01", "lag-02"] and sorted(made.values()) == sorted(emu.state.instances)
        text = str(info.value)
        assert "waiting for DescribeInstances to list them" in text and "run the task again" in text
        # Re-run at once, while they are still hidden: the same ClientToken answers the same ids.
        rerun = runner(proxy.endpoint, instances=SIX[:2])
        rerun.run()
        assert dict((r["name"], r["instance_id"]) for r in rerun.results()) == made
        assert {r["status"] for r in rerun.results()} == {"Running"} and len(emu.state.instances) == 2


def test_after_the_token_is_forgotten_the_names_still_prevent_a_second_instance(emu):
    with EcsProxy(emu.endpoint, lag=1) as proxy:
        runner(proxy.endpoint, instances=SIX[:2]).run()
        emu.state.tokens.clear()  # ECS's token window has passed; the instances are listed by now
        later = runner(proxy.endpoint, instances=SIX[:2])
        later.run()
        assert not later.changed and "RunInstances" not in later.client.calls and len(emu.state.instances) == 2


def test_no_new_token_while_the_name_turns_up_listed_meanwhile(emu):
    with EcsProxy(emu.endpoint, lag=3) as proxy:
        runner(emu.endpoint, name="lag-taken").run()
        runner(emu.endpoint, name="lag-taken", state="absent", force=True).run()
        emu.state.wait_backend_idle(5)
        # Someone else makes the name anew (other settings, through the lagging listing).
        other = runner(proxy.endpoint, name="lag-taken").client.call("RunInstances", {
            "ImageId": IMAGE, "InstanceType": "ecs.c7.large", "VSwitchId": VSW_H, "SecurityGroupIds": [SG_HZ],
            "InstanceName": "lag-taken"})["InstanceIdSets"]["InstanceIdSet"]
        mine = runner(proxy.endpoint, name="lag-taken", list_lag_timeout=5)
        with pytest.raises(mod.Failure) as info:
            mine.run()
    # The remembered token answered the dead id; by the end of list_lag_timeout the name was listed
    # (someone else's instance), so no second token was sent.
    assert mine.client.calls["RunInstances"] == 1 and list(emu.state.instances) == other
    assert "names are listed now: lag-taken (%s)" % other[0] in str(info.value)


def test_a_list_lag_timeout_shorter_than_the_real_lag_costs_at_most_one_more_instance(emu):
    with EcsProxy(emu.endpoint, lag=5) as proxy:
        hasty = runner(proxy.endpoint, name="lag-hasty", list_lag_timeout=1)
        with pytest.raises(mod.Failure) as info:
            hasty.run()
    assert hasty.client.calls["RunInstances"] == 2 and len(emu.state.instances) == 2
    assert "raise list_lag_timeout" in str(info.value)
