"""Request signatures, as computed by the SDKs.

V1 (HMAC-SHA1, SignatureVersion 1.0; aliyun-python-sdk-core and footmark): the SDK urlencodes,
then turns '+' into %20, '*' into %2A and %7E back into '~'; that is RFC 3986 percent-encoding
with only ``A-Za-z0-9-_.~`` left bare, which is what ``quote(s, safe='-_.~')`` gives.

V3 (ACS3-HMAC-SHA256; the current SDK alibabacloud_tea_openapi by default): a canonical request
of method, path, sorted RFC 3986 query, the headers the client lists in SignedHeaders and the
body's SHA-256, hashed and signed with HMAC-SHA256 (hex). aliyun.md 4.1 has the details and
the test vectors.
"""

import base64
import hashlib
import hmac
import re
from urllib.parse import quote

V3_ALGORITHM = "ACS3-HMAC-SHA256"


def percent_encode(value):
    return quote(str(value), safe="-_.~", encoding="utf-8")


def canonicalized_query(params):
    # Sorted by name in byte (code point) order; Signature itself is never signed.
    items = sorted((k, v) for k, v in params.items() if k != "Signature")
    return "&".join("%s=%s" % (percent_encode(k), percent_encode(v)) for k, v in items)


def string_to_sign(method, params):
    return "%s&%s&%s" % (method.upper(), percent_encode("/"), percent_encode(canonicalized_query(params)))


def sign(text, secret):
    digest = hmac.new((secret + "&").encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(method, params, secret):
    """Return (ok, string_to_sign) for the request's params."""
    sts = string_to_sign(method, params)
    expected = sign(sts, secret)
    got = params.get("Signature", "")
    return hmac.compare_digest(expected.encode(), got.encode()), sts


# ---------------------------------------------------------------------- V3

_AUTHORIZATION = re.compile(
    r"^(?P<algorithm>ACS3-[A-Z0-9-]+)\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]*)\s*,\s*Signature=(?P<signature>[0-9a-fA-F]+)$")


def parse_authorization(value):
    """'ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex' -> dict, or None if malformed."""
    match = _AUTHORIZATION.match((value or "").strip())
    if not match:
        return None
    found = match.groupdict()
    found["signed"] = [name for name in found["signed"].split(";") if name]
    return found


def v3_canonical_query(pairs):
    """(name, value) pairs, decoded from the wire; re-encoded RFC 3986 and sorted (by name, then value)."""
    encoded = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in pairs)
    return "&".join("%s=%s" % kv for kv in encoded)


def v3_canonical_headers(get_all, names):
    """One 'name:value' line per signed header; repeated headers give their sorted values joined by ','."""
    return "".join("%s:%s\n" % (name, ",".join(sorted(v.strip() for v in get_all(name) or [""])))
                   for name in names)


def v3_string_to_sign(method, path, pairs, get_all, signed_names, payload_sha256):
    canonical_request = "\n".join([
        method.upper(), path or "/", v3_canonical_query(pairs), v3_canonical_headers(get_all, signed_names),
        ";".join(signed_names), payload_sha256])
    return "%s\n%s" % (V3_ALGORITHM, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest())


def v3_sign(text, secret):
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
