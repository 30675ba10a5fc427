# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Alibaba Cloud ECS client of the collection.

Built on aliyun-python-sdk-core's AcsClient (it signs requests) and the
aliyunsdkecs request classes. What we add on top, and why:

* the connection options (_ecs_connection.py): credentials from options, the environment
  or an aliyun-cli profile in one documented order, so modules and the inventory plugin
  agree; an ``endpoint`` that never silently falls back to plain http or to a public
  endpoint; TLS verification (``validate_certs``, ``ca_bundle``) for private endpoints;
* our own retry loop (exponential backoff, full jitter, bounded in attempts and
  time) instead of the SDK's, so every attempt is counted once and each one is
  signed afresh (new SignatureNonce and Timestamp);
* paging (MaxResults/NextToken) and a waiter that asks for many instances per
  round with backoff instead of busy-looping;
* errors that name the ECS code and what to do about it, with everything that could
  echo a secret (the server's StringToSign, signed request URLs) taken out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import importlib
import ipaddress
import json
import logging
import random
import re
import threading
import time

try:
    from urllib.parse import quote, quote_plus, urlsplit
    from urllib.request import proxy_bypass_environment
except ImportError:  # pragma: no cover - Python 2 is not supported
    quote = quote_plus = urlsplit = proxy_bypass_environment = None

from ansible_collections.containerops.platform.plugins.module_utils import _ecs_connection
from ansible_collections.containerops.platform.plugins.module_utils._ecs_connection import (
    EcsConfigError,
    endpoint_option,
    endpoint_url,
    is_loopback,
    resolve_credentials,
    tls_verify,
)

# The connection options live in _ecs_connection; modules and the inventory plugin take them from here.
CONNECTION_ARGSPEC = _ecs_connection.CONNECTION_ARGSPEC
Credentials = _ecs_connection.Credentials

try:
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from aliyunsdkcore.auth.credentials import StsTokenCredential
    from aliyunsdkcore.auth.signers.sts_token_signer import StsTokenSigner
    from aliyunsdkcore.client import AcsClient
    HAS_SDK = True
    SDK_IMPORT_ERROR = None
except ImportError as exc:  # reported by the caller with a clear message
    HAS_SDK = False
    SDK_IMPORT_ERROR = str(exc)

    class ClientException(Exception):
        pass

    class ServerException(Exception):
        pass

SDK_MISSING_MSG = ("the Aliyun Python SDK is missing on the host that runs this: "
                   "pip install aliyun-python-sdk-core aliyun-python-sdk-ecs (%s)")

API_VERSION = "2014-05-26"
PAGE_SIZE = 100          # the documented maximum of MaxResults
IDS_PER_CALL = 100       # InstanceIds / InstanceId.N limit of the plural APIs
TAG_RESOURCES_PER_CALL = 50
TAGS_PER_CALL = 20

# The SDK logs every ServerException at ERROR; modules report errors themselves.
logging.getLogger("aliyunsdkcore").addHandler(logging.NullHandler())
logging.getLogger("aliyunsdkcore").propagate = False


# ---------------------------------------------------------------------------- errors

# ECS error code -> what to do. Modules add which of their parameters it concerns.
HINTS = {
    "InvalidAccessKeyId.NotFound": "the access key id is unknown: check access_key (or the profile / "
                                   "ALICLOUD_ACCESS_KEY) and that it is enabled",
    "InvalidAccessKeyId.Inactive": "the access key is disabled: enable it or use another access_key",
    "SignatureDoesNotMatch": "the signature does not match: check secret_key (or the profile / "
                             "ALICLOUD_SECRET_KEY) belongs to access_key",
    "InvalidAccessKeySecret": "the secret is wrong: check secret_key belongs to access_key",
    "IncompleteSignature": "the request signature is incomplete: check secret_key and the clock of this host",
    "InvalidTimeStamp.Expired": "this host's clock is off by more than 15 minutes: fix NTP",
    "InvalidSecurityToken.Expired": "the STS security_token has expired: get a fresh one",
    "InvalidSecurityToken.MismatchWithAccessKey": "security_token does not belong to access_key",
    "InvalidSecurityToken.Malformed": "security_token is malformed",
    "MissingSecurityToken": "these are STS keys: give security_token too",
    "Forbidden.RAM": "the RAM user lacks a permission for this action: grant it (e.g. AliyunECSFullAccess)",
    "Forbidden": "the account may not do this: check its RAM policies",
    "InvalidRegionId.NotFound": "region is not a valid ECS region id (e.g. cn-hangzhou)",
    "Throttling": "the API rate-limited this account: run fewer tasks/forks at once or retry later",
    "ServiceUnavailable": "ECS is temporarily unavailable: retry later",
    "InternalError": "ECS failed internally: retry later",
    "SDK.HttpError": "the endpoint cannot be reached: check endpoint, the network and any HTTP(S)_PROXY",
    "SDK.InvalidRegionId": "region has no known public endpoint: set endpoint or fix region",
    "SDK.EndpointResolvingError": "region has no known public endpoint: set endpoint or fix region",
    "InvalidVSwitchId.NotFound": "vswitch_id does not exist in this region: check vswitch_id and region",
    "InvalidSecurityGroupId.NotFound": "a security_group_ids entry does not exist in this region",
    "InvalidParameter.Mismatch": "security_group_ids / zone_id must belong to the vSwitch's VPC and zone",
    "InvalidImageId.NotFound": "image_id does not exist in this region: pick one from DescribeImages",
    "InvalidInstanceType.ValueNotSupported": "instance_type is not offered here: pick another instance_type "
                                             "or zone (DescribeAvailableResource)",
    "InvalidInstanceType.NotFound": "instance_type does not exist: check its spelling",
    "InvalidPrivateIpAddress": "private_ip is outside the vSwitch CIDR: pick an address inside it",
    "InvalidPrivateIpAddress.Malformed": "private_ip is not an IPv4 address",
    "InvalidPrivateIpAddress.Duplicated": "private_ip is already used by another instance or ENI: pick a free one",
    "InvalidVSwitchId.IpInvalid": "private_ip is reserved (the first and last three addresses of a vSwitch "
                                  "CIDR are): pick another one",
    "QuotaExceeded.PrivateIpAddress": "the vSwitch has no free addresses left: use another vswitch_id",
    "IdempotentParameterMismatch": "this ClientToken was used before with other parameters: the same instance "
                                   "name was asked for with different settings; make the settings match the "
                                   "first request or use another name",
    "InvalidInstanceName.Malformed": "name must be 2-128 characters, start with a letter, and contain only "
                                     "letters, digits, '.', '_', '-' and ':'",
    "InvalidHostName.Malformed": "host_name must be 2-64 characters: dot-separated letters, digits and inner '-'",
    "InvalidUserData.SizeExceeded": "user_data is larger than 32 KiB once base64-encoded",
    "InvalidZoneId.NotFound": "zone_id does not exist in this region",
    "IncorrectInstanceStatus": "the instance is in a state that does not allow this; run again once it settles",
    "InvalidInstanceId.NotFound": "the instance is gone (deleted meanwhile)",
    "OperationDenied.NoStock": "the zone has no stock of instance_type: try another instance_type or vswitch_id",
    "InvalidTagKey.Malformed": "tags: keys must not start with aliyun or acs: and are at most 128 characters",
    "InvalidTagValue.Malformed": "tags: values must not start with acs: and are at most 128 characters",
}

TLS_HINT = ("the endpoint's TLS certificate is not trusted: give ca_bundle, the PEM file of the CA that signed it "
            "(or fix the endpoint's host name, which the certificate must name)")

RETRYABLE_CODES = frozenset([
    "Throttling", "Throttling.User", "Throttling.Api", "Throttling.Resource", "ServiceUnavailable",
    "InternalError", "UnknownError", "LastTokenProcessing", "SDK.HttpError", "SDK.ServerUnreachable",
])


# What a server or SDK message can echo of a signed request: the server's StringToSign (all
# parameters, SecurityToken included) and request URLs with their query strings.
_STRING_TO_SIGN = re.compile(r"(string to sign is:?).*", re.IGNORECASE | re.DOTALL)
_QUERY_STRING = re.compile(r"\?[^\s'\"()<>?]*=[^\s'\"()<>]*")
_LEFT_OUT = "[left out: it echoes the request, security token included]"


def scrub_message(text, secrets=()):
    """A server or SDK error message with everything that may carry a secret taken out.

    The code, the request id and the hint are kept apart (EcsError); only the free text is
    scrubbed: the StringToSign tail, query strings of request URLs, and any exact secret
    (plain or percent-encoded, once or twice) that is still in it.
    """
    if not text:
        return text
    text = _STRING_TO_SIGN.sub(lambda m: "%s %s" % (m.group(1), _LEFT_OUT), str(text))
    text = _QUERY_STRING.sub("?" + _LEFT_OUT, text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            once = quote(secret, safe="")
            for form in (secret, once, quote(once, safe=""), quote_plus(secret)):
                text = text.replace(form, "***")
    return text


class EcsError(Exception):
    """An ECS API call failed (after retries where that made sense). The message is scrubbed."""

    def __init__(self, action, code, message, request_id=None, http_status=None, attempts=1, elapsed=0.0):
        self.action = action
        self.code = code
        self.message = scrub_message(message)
        self.request_id = request_id
        self.http_status = http_status
        self.attempts = attempts
        self.elapsed = elapsed
        super().__init__(self.describe())

    @property
    def hint(self):
        code = self.code or ""
        if tls_refused(code, self.message):
            return TLS_HINT
        if code in HINTS:
            return HINTS[code]
        if code.startswith("Throttling"):
            return HINTS["Throttling"]
        return None

    def describe(self, context=None):
        """'ECS <Action> failed: <Code>: <Message> [after N attempts] (RequestId X). <hint>'."""
        text = "ECS %s failed: %s: %s" % (self.action, self.code, self.message)
        if self.attempts > 1:
            text += " (gave up after %d attempts in %.0fs)" % (self.attempts, self.elapsed)
        if self.request_id:
            text += " (RequestId %s)" % self.request_id
        hint = context or self.hint
        if hint:
            text += ". Fix: " + hint
        return text

    def __str__(self):
        return self.describe()


def is_retryable(code, http_status=None):
    return code in RETRYABLE_CODES or (code or "").startswith("Throttling") or (http_status or 0) >= 500


def tls_refused(code, message):
    """The endpoint's certificate was not trusted: a connection error that no retry mends."""
    return code == "SDK.HttpError" and "certificate verify failed" in (message or "").lower()


class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and by total time.

    The n-th retry sleeps uniform(0, min(cap, base * 2**(n-1))) seconds; no retry starts
    when it would end after `budget` seconds from the first attempt.
    """

    def __init__(self, max_attempts=10, base=0.25, cap=8.0, budget=120.0):
        self.max_attempts = max_attempts
        self.base = base
        self.cap = cap
        self.budget = budget

    def delay(self, retry_number, rng):
        return rng.uniform(0, min(self.cap, self.base * (2 ** (retry_number - 1))))

    def next_delay(self, attempts, elapsed, code, http_status, rng, also=()):
        """Seconds to sleep before the next attempt, or None to give up; `also`: more codes worth a retry."""
        if not (is_retryable(code, http_status) or code in also) or attempts >= self.max_attempts:
            return None
        delay = self.delay(attempts, rng)
        if elapsed + delay > self.budget:
            return None
        return delay


# ---------------------------------------------------------------------------- parameters

def _wire_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"  # the SDK would send Python's True/False
    return str(value)


def flatten_params(params):
    """{'InstanceId': [a, b], 'Tag': [{'Key': k, 'Value': v}], 'X': 1} -> RPC query params.

    Lists become Name.1, Name.2 ...; lists of dicts become Name.1.Key ...; None is left out.
    Values that must travel as JSON (InstanceIds) are passed in already as strings.
    """
    flat = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            for n, item in enumerate(value, 1):
                if isinstance(item, dict):
                    for sub, subval in item.items():
                        if subval is not None:
                            flat["%s.%d.%s" % (key, n, sub)] = _wire_value(subval)
                else:
                    flat["%s.%d" % (key, n)] = _wire_value(item)
        else:
            flat[key] = _wire_value(value)
    return flat


def chunks(items, size):
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)]


def client_token(region, wire_params, salt=""):
    """Deterministic ClientToken for a RunInstances request (<= 64 ASCII characters).

    Derived from the region and every parameter that shapes the instances, so a retried
    or re-run request for the same instances carries the same token and ECS returns
    the instances it already made instead of making new ones.
    """
    material = json.dumps([region, sorted(flatten_params(wire_params).items()), salt],
                          sort_keys=True, separators=(",", ":"))
    return "cop-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:48]


def encode_user_data(text):
    if text is None:
        return None
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


# ---------------------------------------------------------------------------- the client

ABSENT = "Absent"  # pseudo status for "no longer listed by DescribeInstances"
LISTED = "Listed"  # pseudo status for "listed by DescribeInstances, whatever its status"
STABLE = frozenset(["Running", "Stopped"])


class WaitTimeout(Exception):
    def __init__(self, message, last, found=None):
        super().__init__(message)
        self.last = last  # instance id -> last status seen
        self.found = found or {}  # instance id -> last instance dict, for the ids that were listed


def _request_class(action):
    module = importlib.import_module("aliyunsdkecs.request.v20140526.%sRequest" % action)
    return getattr(module, "%sRequest" % action)


class EcsClient:
    """Calls ECS actions in any region through one AcsClient per region."""

    def __init__(self, credentials, endpoint=None, retry=None, sleep=time.sleep, rng=None,
                 connect_timeout=5, read_timeout=30, pool_size=16, user_agent="containerops.platform",
                 allow_http=False, verify=True):
        if not HAS_SDK:
            raise EcsConfigError(SDK_MISSING_MSG % SDK_IMPORT_ERROR)
        self.credentials = credentials
        self.endpoint = endpoint
        self.allow_http = allow_http
        self.verify = verify  # the SDK's verify=: True, False or a CA bundle path
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.SystemRandom()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = pool_size
        self.user_agent = user_agent
        self._clients = {}
        self._lock = threading.Lock()
        self.calls = {}  # action -> attempts made, for reports and tests

    @property
    def region(self):
        return self.credentials.region

    # -- transport

    def _acs(self, region):
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                creds = self.credentials
                # auto_retry=False: our loop below owns retries.
                client = AcsClient(creds.access_key, creds.secret_key, region, auto_retry=False,
                                   connect_timeout=self.connect_timeout, timeout=self.read_timeout,
                                   pool_size=self.pool_size, user_agent=self.user_agent,
                                   proxy=self._proxy(region), verify=self.verify)
                if creds.security_token:
                    # The SDK's signer factory would prefer ALIYUN_ACCESS_KEY_ID from the environment
                    # over a credential object; set the STS signer directly.
                    client._signer = StsTokenSigner(StsTokenCredential(
                        creds.access_key, creds.secret_key, creds.security_token))
                self._clients[region] = client
            return client

    def _proxy(self, region):
        """The SDK reads HTTP(S)_PROXY but ignores NO_PROXY; honour NO_PROXY and never proxy loopback."""
        url = self.url(region)
        if not url:
            return None
        host = urlsplit(url).hostname or ""
        if is_loopback(host) or proxy_bypass_environment(host):
            return {"http": None, "https": None}  # truthy, so the SDK skips the environment
        return None

    def _request(self, action, region, params):
        request = _request_class(action)()
        for key, value in flatten_params(params).items():
            request.add_query_param(key, value)
        request.add_query_param("RegionId", region)
        request.set_accept_format("JSON")
        url = self.url(region)
        if url:
            request.set_endpoint(url)  # a URL with scheme wins over the protocol type
        else:
            request.set_protocol_type("https")
        return request

    def url(self, region):
        """The endpoint URL for a region (None: the SDK's public one); EcsConfigError if it is not trusted."""
        return endpoint_url(self.endpoint, region, self.allow_http)

    def scrub(self, text):
        creds = self.credentials
        return scrub_message(text, (creds.secret_key, creds.security_token))

    def _count(self, action):
        with self._lock:
            self.calls[action] = self.calls.get(action, 0) + 1

    def call(self, action, params=None, region=None, retry=True, retry_codes=()):
        """Run one action; returns the parsed JSON body or raises EcsError.

        Each attempt builds and signs a fresh request (new nonce and timestamp). retry_codes: codes
        this action retries on top of the common ones (a resource busy with an earlier request, say).
        """
        region = region or self.region
        if not region:
            raise EcsConfigError("no region: set region (or ALICLOUD_REGION, or region_id in the profile)")
        params = params or {}
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            self._count(action)
            try:
                body = self._acs(region).do_action_with_exception(self._request(action, region, params))
                return json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
            except ServerException as exc:
                code, message = exc.get_error_code(), exc.get_error_msg()
                status, request_id = exc.get_http_status(), exc.get_request_id()
            except ClientException as exc:
                code, message, status, request_id = exc.get_error_code(), exc.get_error_msg(), None, None
            elapsed = time.monotonic() - started
            retryable = retry and not tls_refused(code, message)
            delay = self.retry.next_delay(attempts, elapsed, code, status, self.rng, retry_codes) if retryable else None
            if delay is None:
                raise EcsError(action, code, self.scrub(message), request_id, status, attempts, elapsed)
            self.sleep(delay)

    # -- paging

    def describe_instances(self, region=None, **filters):
        """Every instance matching the filters, paging with MaxResults=100 / NextToken."""
        params = dict(filters, MaxResults=PAGE_SIZE)
        found = []
        while True:
            page = self.call("DescribeInstances", params, region)
            found.extend(page.get("Instances", {}).get("Instance", []))
            token = page.get("NextToken")
            if not token:
                return found
            params["NextToken"] = token

    def describe_instances_by_ids(self, ids, region=None):
        """id -> instance for the ids that exist; one call per 100 ids."""
        found = {}
        for part in chunks(sorted(set(ids)), IDS_PER_CALL):
            for inst in self.describe_instances(region, InstanceIds=json.dumps(part)):
                found[inst["InstanceId"]] = inst
        return found

    def describe_instance_status(self, ids=None, region=None, page_size=50):
        """id -> status, paging with PageNumber/PageSize (this action has no NextToken)."""
        statuses = {}
        groups = chunks(ids, IDS_PER_CALL) if ids else [None]
        for part in groups:
            number = 1
            while True:
                params = {"PageNumber": number, "PageSize": page_size}
                if part:
                    params["InstanceId"] = part
                page = self.call("DescribeInstanceStatus", params, region)
                rows = page.get("InstanceStatuses", {}).get("InstanceStatus", [])
                statuses.update((r["InstanceId"], r["Status"]) for r in rows)
                if not rows or number * page_size >= int(page.get("TotalCount", 0)):
                    break
                number += 1
        return statuses

    # -- waiting

    def wait_for(self, ids, targets, timeout, region=None, names=None, initial=1.0, factor=1.5, cap=10.0,
                 absent_ok=False):
        """Wait until every instance's status is in `targets` (ABSENT: not listed any more).

        One DescribeInstances per round per 100 ids, sleeping with growing, jittered
        delays in between. Returns id -> last instance dict (None when absent). Raises
        WaitTimeout naming the instances still off target and their last status.
        """
        targets = frozenset(targets)
        ids = sorted(set(ids))
        names = names or {}
        deadline = time.monotonic() + timeout
        delay = initial
        last = {}
        while True:
            found = self.describe_instances_by_ids(ids, region) if ids else {}
            last = dict((i, found.get(i)) for i in ids)
            pending = [i for i in ids if not self._reached(last[i], targets, absent_ok)]
            if not pending:
                return last
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(self._timeout_message(pending, last, targets, timeout, names),
                                  dict((i, (last[i] or {}).get("Status", ABSENT)) for i in ids),
                                  dict((i, inst) for i, inst in last.items() if inst is not None))
            self.sleep(min(remaining, delay * self.rng.uniform(0.8, 1.2)))
            delay = min(cap, delay * factor)

    @staticmethod
    def _reached(inst, targets, absent_ok):
        if inst is None:
            return ABSENT in targets or absent_ok
        return LISTED in targets or inst.get("Status") in targets

    @staticmethod
    def _timeout_message(pending, last, targets, timeout, names):
        shown = []
        for iid in pending[:20]:
            status = (last[iid] or {}).get("Status", ABSENT)
            label = "%s (%s)" % (names[iid], iid) if iid in names else iid
            shown.append("%s is %s" % (label, status))
        more = " and %d more" % (len(pending) - 20) if len(pending) > 20 else ""
        return ("timed out after %ds waiting for %d instance(s) to be %s: %s%s. Raise wait_timeout if they "
                "are just slow, or look at them in the console" % (
                    timeout, len(pending), "/".join(sorted(targets)), ", ".join(shown), more))

    # -- plural lifecycle actions, 100 ids per call

    def power(self, action, ids, region=None, **extra):
        """StartInstances / StopInstances / RebootInstances with BatchOptimization=SuccessFirst.

        Returns id -> per-instance response. SuccessFirst makes a call that ECS executed
        but whose answer was lost (and was then retried) report per instance instead of
        failing as a whole, so callers can tell "already done" from a real refusal.
        """
        responses = {}
        for part in chunks(ids, IDS_PER_CALL):
            params = dict(extra, InstanceId=part, BatchOptimization="SuccessFirst")
            body = self.call(action, params, region)
            for row in body.get("InstanceResponses", {}).get("InstanceResponse", []):
                responses[row["InstanceId"]] = row
        return responses

    def delete(self, ids, region=None, force=False, attempts=3):
        """DeleteInstances in batches of 100; ids already gone are fine.

        A retried delete whose first answer was lost fails with InvalidInstanceId.NotFound
        for the whole batch: look again and delete what is left.
        """
        for part in chunks(ids, IDS_PER_CALL):
            left = list(part)
            for round_ in range(attempts):
                try:
                    self.call("DeleteInstances", {"InstanceId": left, "Force": force or None}, region)
                    break
                except EcsError as exc:
                    if exc.code != "InvalidInstanceId.NotFound" or round_ == attempts - 1:
                        raise
                    left = sorted(self.describe_instances_by_ids(left, region))
                    if not left:
                        break


def build_client(options, base_dir=None, environ=None, **kwargs):
    """EcsClient from connection options (module params or plugin options).

    The endpoint of the client's region is checked here, so an untrusted one fails before any call.
    """
    creds = resolve_credentials(options, environ=environ, base_dir=base_dir)
    client = EcsClient(creds, endpoint=endpoint_option(options, environ), allow_http=bool(options.get("allow_http")),
                       verify=tls_verify(options, environ, base_dir), **kwargs)
    url = client.url(creds.region) if creds.region else None
    if options.get("ca_bundle") and url and url.lower().startswith("http://"):
        raise EcsConfigError("ca_bundle is set but endpoint %s is plain http, so nothing would be verified: "
                             "write the endpoint as https://HOST:PORT" % url)
    return client


# ---------------------------------------------------------------------------- small helpers

def tags_to_dict(instance):
    return dict((t.get("TagKey"), t.get("TagValue", "")) for t in
                (instance.get("Tags") or {}).get("Tag", []) if t.get("TagKey") is not None)


def private_ip(instance):
    ips = ((instance.get("VpcAttributes") or {}).get("PrivateIpAddress") or {}).get("IpAddress") or []
    if ips:
        return ips[0]
    for eni in (instance.get("NetworkInterfaces") or {}).get("NetworkInterface", []):
        if eni.get("PrimaryIpAddress"):
            return eni["PrimaryIpAddress"]
    inner = (instance.get("InnerIpAddress") or {}).get("IpAddress") or []
    return inner[0] if inner else None


def reserved_reason(ip, cidr):
    """Why ip cannot be a vSwitch host address (outside / reserved), or None if it can."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return "is not an IPv4 address"
    net = ipaddress.IPv4Network(cidr, strict=False)
    if addr not in net:
        return "is outside the vSwitch CIDR %s" % cidr
    offset = int(addr) - int(net.network_address)
    if offset == 0 or offset >= net.num_addresses - 3:
        return ("is reserved in %s (ECS keeps the first and the last three addresses of a vSwitch)" % cidr)
    return None
