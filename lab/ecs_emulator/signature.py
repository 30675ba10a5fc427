"""RPC signature v1.0 (HMAC-SHA1), as computed by aliyun-python-sdk-core.

The SDK urlencodes, then turns '+' into %20, '*' into %2A and %7E back into '~';
that is RFC 3986 percent-encoding with only ``A-Za-z0-9-_.~`` left bare, which is
what ``quote(s, safe='-_.~')`` gives.
"""

import base64
import hashlib
import hmac
from urllib.parse import quote


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
