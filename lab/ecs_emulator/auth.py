"""Who is calling: access keys, STS tokens, nonces, timestamps and both signature versions.

Each check answers with the code real ECS gives (aliyun.md 2.2, 2.3, 4.2). Where the
reference has no code for a V3 case, IncompleteSignature (400) is used, as it suggests.
"""

import calendar
import hashlib
import hmac
import threading
import time

from . import signature
from .errors import ApiError

NONCE_WINDOW = 15 * 60
TIMESTAMP_SKEW = 15 * 60


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


def _parse_timestamp(value):
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return calendar.timegm(time.strptime(value, fmt))
        except ValueError:
            continue
    return None


def _missing(name, code_name=None):
    # Gateway style "Missing<Param>"; the AccessKeyId text matches the real one.
    return ApiError(400, "Missing" + (code_name or name), "%s is mandatory for this action." % name)


def _incomplete(detail):
    return ApiError(400, "IncompleteSignature",
                    "The request signature does not conform to Aliyun standards. %s" % detail)


class Authenticator:
    def __init__(self, credentials):
        self.credentials = parse_credentials(credentials)
        self.nonces = NonceCache()

    def _key(self, key_id):
        cred = self.credentials.get(key_id)
        if cred is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        return cred

    @staticmethod
    def _check_time(value):
        stamp = _parse_timestamp(value)
        if stamp is None:
            raise ApiError(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if abs(time.time() - stamp) > TIMESTAMP_SKEW:
            raise ApiError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")

    @staticmethod
    def _check_token(cred, token, name):
        if not cred["security_token"]:
            return
        if not token:
            raise ApiError(400, "MissingSecurityToken", "%s is mandatory for this action." % name)
        if token != cred["security_token"]:
            raise ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                           "Specified SecurityToken mismatch with the AccessKey.")
        if cred["expiration"] is not None and time.time() > float(cred["expiration"]):
            raise ApiError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")

    def _use_nonce(self, key_id, nonce):
        if not self.nonces.use(key_id, nonce):
            raise ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")

    def v1(self, method, params):
        """Signature V1: everything in the (query + form) parameters. Returns the access key id."""
        def common(name):
            value = params.get(name)
            if value is None or value == "":
                raise _missing(name)
            return value

        key_id = common("AccessKeyId")
        cred = self._key(key_id)
        if common("SignatureMethod") != "HMAC-SHA1":
            raise ApiError(400, "InvalidSignatureMethod", "Specified signature method is not supported.")
        if common("SignatureVersion") != "1.0":
            raise ApiError(400, "InvalidSignatureVersion", "Specified signature version is not supported.")
        nonce = common("SignatureNonce")
        self._check_time(common("Timestamp"))
        common("Signature")
        ok, string_to_sign = signature.verify(method, params, cred["secret"])
        if not ok:
            # The SDK splits this message at ':' and compares the tail with its own StringToSign.
            raise ApiError(400, "SignatureDoesNotMatch",
                           "Specified signature is not matched with our calculation. server string to sign is:"
                           + string_to_sign)
        self._check_token(cred, params.get("SecurityToken"), "SecurityToken")
        self._use_nonce(key_id, nonce)
        return key_id

    def v3(self, method, path, query_pairs, headers, body):
        """Signature V3: the Authorization header over the headers it names. Returns the access key id."""
        auth = signature.parse_authorization(headers.get("Authorization"))
        if auth is None:
            raise _incomplete('Expected "Authorization: %s Credential=<AccessKeyId>,SignedHeaders=<h1;h2>,'
                              'Signature=<hex>".' % signature.V3_ALGORITHM)
        if auth["algorithm"] != signature.V3_ALGORITHM:
            raise ApiError(400, "InvalidSignatureMethod",
                           "Specified signature method is not supported: %s (the emulator verifies %s)."
                           % (auth["algorithm"], signature.V3_ALGORITHM))
        key_id = auth["credential"]
        cred = self._key(key_id)
        signed = auth["signed"]
        present = {name.lower() for name in headers.keys()}
        unsigned = sorted(n for n in present if (n.startswith("x-acs-") or n == "host") and n not in signed)
        if unsigned or signed != sorted(set(signed)) or any(n != n.lower() for n in signed):
            raise _incomplete("SignedHeaders must be the sorted lower-case names of the signed headers and "
                              "include host and every x-acs-* header; not signed: %s." % (", ".join(unsigned) or "-"))
        nonce = headers.get("x-acs-signature-nonce")
        if not nonce:
            raise _missing("x-acs-signature-nonce", "SignatureNonce")
        date = headers.get("x-acs-date")
        if not date:
            raise _missing("x-acs-date", "Timestamp")
        self._check_time(date)
        # The body's own hash, not the client's x-acs-content-sha256 claim: a wrong claim cannot match.
        string_to_sign = signature.v3_string_to_sign(method, path, query_pairs, headers.get_all, signed,
                                                     hashlib.sha256(body).hexdigest())
        expected = signature.v3_sign(string_to_sign, cred["secret"])
        if not hmac.compare_digest(expected, auth["signature"].lower()):
            raise ApiError(400, "SignatureDoesNotMatch",
                           "Specified signature does not match our calculation. server string to sign is:"
                           + string_to_sign)
        self._check_token(cred, headers.get("x-acs-security-token"), "x-acs-security-token")
        self._use_nonce(key_id, nonce)
        return key_id
