"""Test support: EcsProxy, a reverse proxy that makes an ECS endpoint lag (or alters requests)
like the real API, and tls_files, a throw-away CA and server certificate.

Used by the unit tests of ecs_instance and module_utils/ecs.py and by the integration tests
that drive ansible-playbook through the proxy. tests/support is on sys.path (pyproject.toml,
pytest's pythonpath).
"""
import http.client
import json
import pathlib
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


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
