# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Alibaba Cloud ECS client of the collection.

Built on aliyun-python-sdk-core's AcsClient (it signs requests) and the
aliyunsdkecs request classes. What we add on top, and why:

* credentials from options, the environment or an aliyun-cli profile, with one
  documented order, so modules and the inventory plugin agree;
* an ``endpoint`` option (Apsara Stack, private endpoints, the lab emulator);
* our own retry loop (exponential backoff, full jitter, bounded in attempts and
  time) instead of the SDK's, so every attempt is counted once and each one is
  signed afresh (new SignatureNonce and Timestamp);
* paging (MaxResults/NextToken) and a waiter that asks for many instances per
  round with backoff instead of busy-looping;
* errors that name the ECS code and what to do about it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import importlib
import ipaddress
import json
import logging
import os
import random
import re
import threading
import time

try:
    from urllib.parse import urlsplit
    from urllib.request import proxy_bypass_environment
except ImportError:  # pragma: no cover - Python 2 is not supported
    urlsplit = proxy_bypass_environment = None

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
DEFAULT_CREDENTIALS_FILE = "~/.aliyun/config.json"
PAGE_SIZE = 100          # the documented maximum of MaxResults
IDS_PER_CALL = 100       # InstanceIds / InstanceId.N limit of the plural APIs
TAG_RESOURCES_PER_CALL = 50
TAGS_PER_CALL = 20

# The SDK logs every ServerException at ERROR; modules report errors themselves.
logging.getLogger("aliyunsdkcore").addHandler(logging.NullHandler())
logging.getLogger("aliyunsdkcore").propagate = False


# ---------------------------------------------------------------------------- options

# Shared by every ECS module. Credentials take no Ansible env fallback on purpose:
# resolve_credentials() reads the environment itself so that an option given in the
# task (e.g. profile) beats a key that merely happens to be exported.
CONNECTION_ARGSPEC = dict(
    access_key=dict(type="str", aliases=["access_key_id"]),
    secret_key=dict(type="str", no_log=True, aliases=["access_key_secret"]),
    security_token=dict(type="str", no_log=True),
    profile=dict(type="str"),
    # str, not path: a relative path is resolved against the inventory source's directory.
    shared_credentials_file=dict(type="str"),
    region=dict(type="str", aliases=["region_id"]),
    endpoint=dict(type="raw"),
)

ENV_ACCESS_KEY = ("ALICLOUD_ACCESS_KEY", "ALICLOUD_ACCESS_KEY_ID")
ENV_SECRET_KEY = ("ALICLOUD_SECRET_KEY", "ALICLOUD_SECRET_ACCESS_KEY")
ENV_SECURITY_TOKEN = ("ALICLOUD_SECURITY_TOKEN",)
ENV_REGION = ("ALICLOUD_REGION", "ALICLOUD_REGION_ID")
ENV_PROFILE = ("ALICLOUD_PROFILE",)
ENV_CREDENTIALS_FILE = ("ALICLOUD_SHARED_CREDENTIALS_FILE",)
ENV_ENDPOINT = ("ALICLOUD_ECS_ENDPOINT",)


class EcsConfigError(Exception):
    """Bad or missing connection settings; the message says which option to fix."""


class Credentials:
    def __init__(self, access_key, secret_key, security_token=None, region=None, source=""):
        self.access_key = access_key
        self.secret_key = secret_key
        self.security_token = security_token or None
        self.region = region
        self.source = source  # for messages: where the keys came from, never the keys

    def __repr__(self):
        return "Credentials(%s, from %s)" % (self.access_key, self.source)


def _env(environ, names):
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def resolve_path(path, base_dir=None):
    """Expand ~ and make relative paths relative to base_dir (the inventory file's directory)."""
    path = os.path.expanduser(path)
    if base_dir and not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return os.path.normpath(path)


def load_profile(path, name=None):
    """One profile of an aliyun-cli config file (`current` when name is None) as Credentials."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (IOError, OSError) as exc:
        raise EcsConfigError("shared_credentials_file %s cannot be read: %s" % (path, exc))
    except ValueError as exc:
        raise EcsConfigError("shared_credentials_file %s is not aliyun-cli JSON: %s" % (path, exc))
    wanted = name or data.get("current") or "default"
    profiles = {p.get("name"): p for p in data.get("profiles", []) if isinstance(p, dict)}
    if wanted not in profiles:
        raise EcsConfigError("profile %r is not in %s (profiles there: %s); set `profile` to one of them"
                             % (wanted, path, ", ".join(sorted(str(n) for n in profiles)) or "none"))
    prof = profiles[wanted]
    mode = prof.get("mode") or "AK"
    source = "profile %s in %s" % (wanted, path)
    if mode not in ("AK", "StsToken"):
        raise EcsConfigError("%s has mode %s; only AK and StsToken profiles are supported. Use an AK or "
                             "StsToken profile, or pass access_key/secret_key/security_token" % (source, mode))
    if not prof.get("access_key_id") or not prof.get("access_key_secret"):
        raise EcsConfigError("%s has no access_key_id/access_key_secret" % source)
    token = prof.get("sts_token") if mode == "StsToken" else None
    if mode == "StsToken" and not token:
        raise EcsConfigError("%s has mode StsToken but no sts_token" % source)
    return Credentials(prof["access_key_id"], prof["access_key_secret"], token, prof.get("region_id"), source)


def resolve_credentials(options, environ=None, base_dir=None):
    """Credentials from, in this order (the first that applies wins):

    1. access_key + secret_key options (security_token option or ALICLOUD_SECURITY_TOKEN);
    2. the profile option, read from shared_credentials_file;
    3. ALICLOUD_ACCESS_KEY(_ID) + ALICLOUD_SECRET_KEY / ALICLOUD_SECRET_ACCESS_KEY (+ ALICLOUD_SECURITY_TOKEN);
    4. ALICLOUD_PROFILE, or the `current` profile of the credentials file if that file exists.

    The region is the region option, else ALICLOUD_REGION(_ID), else the profile's region_id.
    """
    environ = os.environ if environ is None else environ
    opt = dict((k, options.get(k)) for k in CONNECTION_ARGSPEC)
    cred_file = opt["shared_credentials_file"] or _env(environ, ENV_CREDENTIALS_FILE)
    explicit_file = bool(cred_file)
    cred_file = resolve_path(cred_file or DEFAULT_CREDENTIALS_FILE, base_dir)
    token = opt["security_token"] or _env(environ, ENV_SECURITY_TOKEN)

    if opt["access_key"] or opt["secret_key"]:
        if not (opt["access_key"] and opt["secret_key"]):
            raise EcsConfigError("access_key and secret_key go together: give both or neither")
        creds = Credentials(opt["access_key"], opt["secret_key"], token, None, "the access_key option")
    elif opt["profile"]:
        creds = load_profile(cred_file, opt["profile"])
    elif _env(environ, ENV_ACCESS_KEY) and _env(environ, ENV_SECRET_KEY):
        creds = Credentials(_env(environ, ENV_ACCESS_KEY), _env(environ, ENV_SECRET_KEY), token, None,
                            "ALICLOUD_ACCESS_KEY in the environment")
    elif _env(environ, ENV_PROFILE) or explicit_file or os.path.exists(cred_file):
        creds = load_profile(cred_file, _env(environ, ENV_PROFILE))
    else:
        raise EcsConfigError(
            "no Alibaba Cloud credentials: set access_key and secret_key, or profile (with "
            "shared_credentials_file, default %s), or export ALICLOUD_ACCESS_KEY and ALICLOUD_SECRET_KEY"
            % DEFAULT_CREDENTIALS_FILE)
    creds.region = opt["region"] or _env(environ, ENV_REGION) or creds.region
    return creds


def endpoint_option(options, environ=None):
    environ = os.environ if environ is None else environ
    value = options.get("endpoint")
    if value in (None, "", {}):
        value = _env(environ, ENV_ENDPOINT)
    return value or None


_LOOPBACK_HOSTS = ("localhost", "localhost.localdomain")


def _is_loopback(host):
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def endpoint_url(endpoint, region):
    """The URL (scheme://host[:port]) to use for a region, or None for the SDK's public endpoint.

    ``endpoint`` is a string, or a dict region -> string (regions not in it use the public
    endpoint). A string may contain ``{region}``. A bare host[:port] is reached over https,
    except loopback hosts (a local emulator), which get http; write http:// to force it.
    """
    if isinstance(endpoint, dict):
        endpoint = endpoint.get(region)
    if not endpoint:
        return None
    if not isinstance(endpoint, str):
        raise EcsConfigError("endpoint must be host[:port], a URL, or a dict region -> endpoint; got %r"
                             % (endpoint,))
    endpoint = endpoint.strip().replace("{region}", region).rstrip("/")
    if "://" in endpoint:
        scheme = endpoint.split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise EcsConfigError("endpoint %s: the scheme must be http or https" % endpoint)
        return endpoint
    host = urlsplit("//" + endpoint).hostname or ""
    return ("http://" if _is_loopback(host) else "https://") + endpoint


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

RETRYABLE_CODES = frozenset([
    "Throttling", "Throttling.User", "Throttling.Api", "Throttling.Resource", "ServiceUnavailable",
    "InternalError", "UnknownError", "LastTokenProcessing", "SDK.HttpError", "SDK.ServerUnreachable",
])


class EcsError(Exception):
    """An ECS API call failed (after retries where that made sense)."""

    def __init__(self, action, code, message, request_id=None, http_status=None, attempts=1, elapsed=0.0):
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.attempts = attempts
        self.elapsed = elapsed
        super(EcsError, self).__init__(self.describe())

    @property
    def hint(self):
        code = self.code or ""
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

    def next_delay(self, attempts, elapsed, code, http_status, rng):
        """Seconds to sleep before the next attempt, or None to give up."""
        if not is_retryable(code, http_status) or attempts >= self.max_attempts:
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
STABLE = frozenset(["Running", "Stopped"])


class WaitTimeout(Exception):
    def __init__(self, message, last):
        super(WaitTimeout, self).__init__(message)
        self.last = last  # instance id -> last status seen


def _request_class(action):
    module = importlib.import_module("aliyunsdkecs.request.v20140526.%sRequest" % action)
    return getattr(module, "%sRequest" % action)


class EcsClient:
    """Calls ECS actions in any region through one AcsClient per region."""

    def __init__(self, credentials, endpoint=None, retry=None, sleep=time.sleep, rng=None,
                 connect_timeout=5, read_timeout=30, pool_size=16, user_agent="containerops.platform"):
        if not HAS_SDK:
            raise EcsConfigError(SDK_MISSING_MSG % SDK_IMPORT_ERROR)
        self.credentials = credentials
        self.endpoint = endpoint
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
                                   proxy=self._proxy(region))
                if creds.security_token:
                    # The SDK's signer factory would prefer ALIYUN_ACCESS_KEY_ID from the environment
                    # over a credential object; set the STS signer directly.
                    client._signer = StsTokenSigner(StsTokenCredential(
                        creds.access_key, creds.secret_key, creds.security_token))
                self._clients[region] = client
            return client

    def _proxy(self, region):
        """The SDK reads HTTP(S)_PROXY but ignores NO_PROXY; honour NO_PROXY and never proxy loopback."""
        url = endpoint_url(self.endpoint, region)
        if not url:
            return None
        host = urlsplit(url).hostname or ""
        if _is_loopback(host) or proxy_bypass_environment(host):
            return {"http": None, "https": None}  # truthy, so the SDK skips the environment
        return None

    def _request(self, action, region, params):
        request = _request_class(action)()
        for key, value in flatten_params(params).items():
            request.add_query_param(key, value)
        request.add_query_param("RegionId", region)
        request.set_accept_format("JSON")
        url = endpoint_url(self.endpoint, region)
        if url:
            request.set_endpoint(url)  # a URL with scheme wins over the protocol type
        else:
            request.set_protocol_type("https")
        return request

    def _count(self, action):
        with self._lock:
            self.calls[action] = self.calls.get(action, 0) + 1

    def call(self, action, params=None, region=None, retry=True):
        """Run one action; returns the parsed JSON body or raises EcsError.

        Each attempt builds and signs a fresh request (new nonce and timestamp).
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
            delay = self.retry.next_delay(attempts, elapsed, code, status, self.rng) if retry else None
            if delay is None:
                raise EcsError(action, code, message, request_id, status, attempts, elapsed)
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
                                  dict((i, (last[i] or {}).get("Status", ABSENT)) for i in ids))
            self.sleep(min(remaining, delay * self.rng.uniform(0.8, 1.2)))
            delay = min(cap, delay * factor)

    @staticmethod
    def _reached(inst, targets, absent_ok):
        if inst is None:
            return ABSENT in targets or absent_ok
        return inst.get("Status") in targets

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
    """EcsClient from connection options (module params or plugin options)."""
    creds = resolve_credentials(options, environ=environ, base_dir=base_dir)
    return EcsClient(creds, endpoint=endpoint_option(options, environ), **kwargs)


# ---------------------------------------------------------------------------- batching

_SEQ_NAME = re.compile(r"^(.*?)(\d+)(\D*)$")


def split_sequence_name(name):
    """'web-007' -> ('web-', 7, 3, ''); names without a number -> None."""
    m = _SEQ_NAME.match(name)
    if not m:
        return None
    prefix, digits, suffix = m.groups()
    return prefix, int(digits), len(digits), suffix


def _ip_int(ip):
    return int(ipaddress.IPv4Address(ip)) if ip else None


def plan_batches(items, max_amount=100):
    """Group creations into RunInstances calls.

    items: dicts with 'name', 'host_name', 'private_ip' and 'shared' (the other request
    parameters, hashable-comparable). Items whose shared parameters are equal, whose
    names differ only in a consecutive number of one width (web-01, web-02 ...) and whose
    IPs are consecutive in the same order (or all unset) share one call with Amount=N,
    InstanceName=prefix[begin,width]suffix and HostNames.N. Everything else is a call of
    its own. Returns a list of lists of items, each at most max_amount long.
    """
    groups = {}
    for item in items:
        key = json.dumps(item["shared"], sort_keys=True)
        groups.setdefault(key, []).append(item)
    batches = []
    for members in groups.values():
        runs = {}
        singles = []
        for item in members:
            seq = split_sequence_name(item["name"])
            if seq is None or str(seq[1]).zfill(seq[2]) != item["name"][len(seq[0]):len(seq[0]) + seq[2]]:
                singles.append(item)
                continue
            runs.setdefault((seq[0], seq[2], seq[3], item["private_ip"] is None), []).append((seq[1], item))
        for numbered in runs.values():
            numbered.sort(key=lambda pair: pair[0])
            current = []
            for number, item in numbered:
                if current and not _continues(current[-1], (number, item)) or len(current) == max_amount:
                    batches.append([it for _, it in current])
                    current = []
                current.append((number, item))
            if current:
                batches.append([it for _, it in current])
        batches.extend([item] for item in singles)
    return batches


def _continues(prev, nxt):
    (n0, a), (n1, b) = prev, nxt
    if n1 != n0 + 1:
        return False
    ip_a, ip_b = _ip_int(a["private_ip"]), _ip_int(b["private_ip"])
    if ip_a is None and ip_b is None:
        return True
    return ip_a is not None and ip_b == ip_a + 1


def batch_request(batch):
    """RunInstances parameters (without ClientToken) for one planned batch."""
    first = batch[0]
    params = dict(first["shared"])
    if len(batch) == 1:
        params.update(InstanceName=first["name"], HostName=first["host_name"])
    else:
        prefix, begin, width, suffix = split_sequence_name(first["name"])
        params.update(Amount=len(batch), InstanceName="%s[%d,%d]%s" % (prefix, begin, width, suffix),
                      HostNames=[item["host_name"] for item in batch])
    if first["private_ip"]:
        params["PrivateIpAddress"] = first["private_ip"]
    return params


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
