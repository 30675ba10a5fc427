# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to ipam.py: the etcd v3 connection (etcd3gw over the HTTP gateway).

Store tries the endpoints in order and keeps the first that answers, logs in when a user is
given (the token goes in the Authorization header), and turns every etcd failure into an
IpamError naming the endpoint. same_mod() and unchanged_since() are the comparisons the IPAM's
transactions are made of.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

from ansible_collections.containerops.platform.plugins.module_utils._ipam_model import ETCD_ENV, IpamError

try:
    import etcd3gw
    from etcd3gw import exceptions as etcd_exceptions
    HAS_ETCD3GW = True
    ETCD3GW_IMPORT_ERROR = None
except ImportError as exc:  # Store() says it
    HAS_ETCD3GW = False
    ETCD3GW_IMPORT_ERROR = str(exc)

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urlparse import urlsplit


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _range_end(prefix):
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Store:
    """One etcd cluster: the first endpoint that answers serves the run."""

    def __init__(self, endpoints, user=None, password=None, ca_cert=None, client_cert=None, client_key=None,
                 timeout=10):
        if not HAS_ETCD3GW:
            raise IpamError("the etcd3gw Python library is required on the controller (pip install etcd3gw): %s"
                            % ETCD3GW_IMPORT_ERROR)
        if not endpoints:
            raise IpamError("no etcd endpoints: set the endpoints option or %s" % ETCD_ENV["endpoints"])
        if bool(client_cert) != bool(client_key):
            raise IpamError("client_cert and client_key go together; one of them is missing")
        if bool(user) != bool(password):
            raise IpamError("user and password go together; one of them is missing")
        self.clients = []
        for url in endpoints:
            parts = urlsplit(url.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise IpamError("etcd endpoint '%s' must be a URL http(s)://HOST:PORT" % url)
            if ca_cert and parts.scheme != "https":
                raise IpamError("ca_cert is given but the etcd endpoint %s is plain http; write it https://" % url)
            client = etcd3gw.Etcd3Client(host=parts.hostname, port=parts.port or 2379, protocol=parts.scheme,
                                         ca_cert=ca_cert, cert_cert=client_cert, cert_key=client_key,
                                         timeout=timeout, api_path="/v3/")
            self.clients.append(("%s://%s:%s" % (parts.scheme, parts.hostname, parts.port or 2379), client))
        self.user, self.password = user, password
        self.current = None

    def _post(self, path, payload):
        order = ([self.current] if self.current else []) + [c for c in self.clients if c is not self.current]
        failures = []
        for url, client in order:
            step = path
            try:
                if self.user and "Authorization" not in client.session.headers:
                    step = "the login of user %s" % self.user
                    token = client.post(client.get_url("/auth/authenticate"),
                                        json={"name": self.user, "password": self.password})["token"]
                    client.session.headers["Authorization"] = token
                    step = path
                answer = client.post(client.get_url(path), json=payload)
                self.current = (url, client)
                return answer
            except (etcd_exceptions.ConnectionFailedError, etcd_exceptions.ConnectionTimeoutError) as exc:
                failures.append("%s: %s" % (url, _detail(exc)))
            except etcd_exceptions.Etcd3Exception as exc:
                detail = _detail(exc)
                hint = ""
                if "user name is empty" in detail or "authentication failed" in detail:
                    hint = ". Set user and password (or %s and %s)" % (ETCD_ENV["user"], ETCD_ENV["password"])
                elif "permission denied" in detail:
                    hint = ". Grant the etcd user read and write on the IPAM prefix"
                raise IpamError("etcd at %s refused %s: %s%s" % (url, step, detail, hint))
        raise IpamError("no etcd endpoint answered (%s). Check the endpoints option (or %s) and that etcd runs"
                        % ("; ".join(failures), ETCD_ENV["endpoints"]))

    def range(self, key, prefix=False, revision=None, keys_only=False):
        """(records, revision): records maps key -> (value, mod_revision, version); value None with keys_only."""
        payload = {"key": _b64(key), "keys_only": keys_only}
        if prefix:
            payload["range_end"] = _b64(_range_end(key))
        if revision:
            payload["revision"] = revision
        answer = self._post("/kv/range", payload)
        out = {}
        for kv in answer.get("kvs", []):
            value = base64.b64decode(kv.get("value", "")).decode("utf-8")
            out[base64.b64decode(kv["key"]).decode("utf-8")] = (
                json.loads(value) if value else None, int(kv.get("mod_revision", 0)), int(kv.get("version", 0)))
        return out, int(answer["header"]["revision"])

    def txn(self, compare, puts=(), deletes=(), delete_ranges=(), lease=None):
        """One transaction: True when every comparison held and the writes were made (puts attached to
        ``lease`` when given)."""
        ops = [{"request_put": dict({"key": _b64(k), "value": _b64(json.dumps(v, sort_keys=True))},
                                    **({"lease": lease} if lease else {}))} for k, v in puts]
        ops += [{"request_delete_range": {"key": _b64(k)}} for k in deletes]
        ops += [{"request_delete_range": {"key": _b64(k), "range_end": _b64(_range_end(k))}} for k in delete_ranges]
        answer = self._post("/kv/txn", {"compare": compare, "success": ops, "failure": []})
        return bool(answer.get("succeeded"))

    def revision(self):
        return self.range("\0")[1]

    # Leases: keys that etcd deletes by itself when their holder stops renewing them (locks).
    def lease_grant(self, ttl):
        return self._post("/lease/grant", {"TTL": int(ttl)})["ID"]

    def lease_revoke(self, lease):
        """Revoke a lease (its keys go with it); one that lapsed already is fine."""
        if not lease:
            return
        try:
            self._post("/lease/revoke", {"ID": lease})
        except IpamError as exc:
            if "lease not found" not in str(exc):
                raise

    def lease_ttl(self, lease):
        """Seconds the lease has left (-1: it is gone)."""
        if not lease:
            return -1
        return int(self._post("/lease/timetolive", {"ID": lease}).get("TTL", -1))


def _detail(exc):
    text = getattr(exc, "detail_text", None) or str(exc) or type(exc).__name__
    try:
        text = json.loads(text).get("error") or text
    except (ValueError, AttributeError):
        pass
    return str(text).strip()[:300]


def same_mod(key, mod):
    """Compare: ``key`` was not changed since it was read (mod 0: it did not exist)."""
    if not mod:
        return {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": 0}
    return {"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": mod}


def unchanged_since(prefix, revision):
    """Compare: no key under ``prefix`` was created or changed after ``revision``."""
    return {"key": _b64(prefix), "range_end": _b64(_range_end(prefix)), "target": "MOD", "result": "LESS",
            "mod_revision": revision + 1}
