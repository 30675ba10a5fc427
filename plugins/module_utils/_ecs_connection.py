# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to module_utils/ecs.py (which re-exports it): the connection options every ECS module
and the ECS inventory plugin share, and what they resolve to.

* credentials from options, the environment or an aliyun-cli profile, in one documented order;
* the endpoint for a region, which never silently falls back to plain http or to a public
  endpoint;
* the TLS verification the SDK is given (validate_certs, ca_bundle).

No API call and no SDK here: everything can be checked before the first request.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    urlsplit = None

DEFAULT_CREDENTIALS_FILE = "~/.aliyun/config.json"


# ---------------------------------------------------------------------------- options

# Shared by every ECS module. Credentials take no Ansible env fallback on purpose:
# resolve_credentials() reads the environment itself so that an option given in the
# task (e.g. profile) beats a key that merely happens to be exported.
CONNECTION_ARGSPEC = dict(
    # The AccessKey ID names the key, like a user name; the secret is secret_key.
    access_key=dict(type="str", no_log=False, aliases=["access_key_id"]),
    secret_key=dict(type="str", no_log=True, aliases=["access_key_secret"]),
    security_token=dict(type="str", no_log=True),
    profile=dict(type="str"),
    # str, not path: a relative path is resolved against the inventory source's directory.
    shared_credentials_file=dict(type="str"),
    region=dict(type="str", aliases=["region_id"]),
    endpoint=dict(type="raw"),
    allow_http=dict(type="bool", default=False),
    validate_certs=dict(type="bool", default=True),
    # str, not path: like shared_credentials_file, relative to an inventory source's directory.
    ca_bundle=dict(type="str"),
)

ENV_ACCESS_KEY = ("ALICLOUD_ACCESS_KEY", "ALICLOUD_ACCESS_KEY_ID")
ENV_SECRET_KEY = ("ALICLOUD_SECRET_KEY", "ALICLOUD_SECRET_ACCESS_KEY")
ENV_SECURITY_TOKEN = ("ALICLOUD_SECURITY_TOKEN",)
ENV_REGION = ("ALICLOUD_REGION", "ALICLOUD_REGION_ID")
ENV_PROFILE = ("ALICLOUD_PROFILE",)
ENV_CREDENTIALS_FILE = ("ALICLOUD_SHARED_CREDENTIALS_FILE",)
ENV_ENDPOINT = ("ALICLOUD_ECS_ENDPOINT",)
ENV_CA_BUNDLE = ("ALICLOUD_CA_BUNDLE", "ALIBABA_CLOUD_CA_BUNDLE")  # the second one is the SDK's own


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
    except OSError as exc:
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


def is_loopback(host):
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


PUBLIC_ENDPOINT = "public"  # an endpoint map value: Alibaba Cloud's public endpoint for that region
OTHER_REGIONS = "*"        # an endpoint map key: every region the map does not name


def endpoint_url(endpoint, region, allow_http=False):
    """The URL (scheme://host[:port]) to use for a region, or None for the SDK's public endpoint.

    ``endpoint`` is a string, or a dict region -> string whose ``*`` entry serves the regions it
    does not name; a region it has no entry for is an error, never a silent switch to the public
    endpoint (write ``public`` for that). A string may contain ``{region}``. A bare host[:port] is
    reached over https, except loopback hosts (a local emulator), which get http. Plain http to
    any other host is an error unless allow_http: the STS token and every answer would travel
    in clear.
    """
    if isinstance(endpoint, dict):
        if region in endpoint:
            endpoint = endpoint[region]
        elif OTHER_REGIONS in endpoint:
            endpoint = endpoint[OTHER_REGIONS]
        else:
            raise EcsConfigError(
                "endpoint has no entry for region %s (it has %s): add one, or a \"%s\" entry for every other "
                "region; the value %s sends a region to Alibaba Cloud's public endpoint"
                % (region, ", ".join(sorted(str(k) for k in endpoint)) or "none", OTHER_REGIONS, PUBLIC_ENDPOINT))
        if endpoint == PUBLIC_ENDPOINT:
            return None
        if not endpoint:
            raise EcsConfigError("endpoint: the entry for region %s is empty; give host[:port], a URL, or %s"
                                 % (region, PUBLIC_ENDPOINT))
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
        url = endpoint
    else:
        host = urlsplit("//" + endpoint).hostname or ""
        url = ("http://" if is_loopback(host) else "https://") + endpoint
    host = urlsplit(url).hostname or ""
    if url.lower().startswith("http://") and not is_loopback(host) and not allow_http:
        raise EcsConfigError(
            "endpoint %s is plain http to %s, which is not this host: the STS token and every answer would "
            "travel unencrypted and unauthenticated. Use https://, or set allow_http: true if the network "
            "path to it is trusted" % (url, host))
    return url


def tls_verify(options, environ=None, base_dir=None):
    """The SDK's ``verify=`` from validate_certs and ca_bundle: True, False, or a CA bundle path."""
    environ = os.environ if environ is None else environ
    bundle = options.get("ca_bundle") or _env(environ, ENV_CA_BUNDLE)
    if options.get("validate_certs") is False:
        if options.get("ca_bundle"):
            raise EcsConfigError("ca_bundle is set but validate_certs is false, so it would be ignored: "
                                 "drop one of them")
        return False
    if not bundle:
        return True
    bundle = resolve_path(bundle, base_dir)
    if not os.path.isfile(bundle) or not os.access(bundle, os.R_OK):
        raise EcsConfigError("ca_bundle %s is not a readable file: give the path of a PEM file with the CA "
                             "certificate(s) that signed the endpoint's certificate" % bundle)
    return bundle
