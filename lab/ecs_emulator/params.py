"""Request parameters: typed access, tag lists, paging and the naming rules of ECS.

Every check here answers with the real error code and names the parameter.
"""

import hashlib
import json
import re

from . import errors
from .errors import ApiError

# Params that describe the call, not the request: left out of ClientToken fingerprints.
COMMON_PARAMS = {
    "Action", "Version", "Format", "AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
    "SignatureNonce", "SignatureType", "Timestamp", "SecurityToken", "ClientToken", "DryRun",
}


# ---------------------------------------------------------------------- parameter access
class Params:
    """Request parameters; an empty string counts as not given (the SDK sends set_X("") as X=)."""

    def __init__(self, raw, caller=None, list_lag=0.0):
        self.raw = raw
        self.caller = caller        # the AccessKeyId that signed the request
        self.list_lag = list_lag    # seconds until what this request makes or changes is listed

    def get(self, name, default=None):
        value = self.raw.get(name)
        return default if value is None or value == "" else value

    def has(self, name):
        return self.get(name) is not None

    def required(self, name):
        value = self.get(name)
        if value is None:
            raise errors.missing(name)
        return value

    def bool(self, name, default=False):
        value = self.get(name)
        if value is None:
            return default
        low = value.lower()
        if low == "true":
            return True
        if low == "false":
            return False
        raise errors.invalid(name)

    def int(self, name, default=None, lo=None, hi=None, error=None):
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise error or errors.invalid(name)
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise error or errors.invalid(name)
        return number

    def repeat(self, prefix):
        """Values of prefix.1, prefix.2, ... ordered by N (gaps allowed)."""
        found = []
        pat = re.compile(r"^%s\.(\d+)$" % re.escape(prefix))
        for key, value in self.raw.items():
            m = pat.match(key)
            if m and value != "":
                found.append((int(m.group(1)), value))
        return [v for _index, v in sorted(found)]

    def tags(self, prefix="Tag", max_n=20):
        """[(key, value-or-None)] from prefix.N.Key / prefix.N.Value, ordered by N."""
        pat = re.compile(r"^%s\.(\d+)\.(Key|Value)$" % re.escape(prefix))
        entries = {}
        for key, value in self.raw.items():
            m = pat.match(key)
            if m:
                entries.setdefault(int(m.group(1)), {})[m.group(2)] = value
        out = []
        for n in sorted(entries):
            if n < 1 or n > max_n:
                raise ApiError(400, "InvalidTagCount", "The specified tags are beyond the permitted range.")
            key = entries[n].get("Key")
            value = entries[n].get("Value")
            if key is None or key == "":
                if value not in (None, ""):
                    raise ApiError(400, "InvalidTagKey.Malformed", "The specified Tag.%d.Key is not valid." % n)
                continue
            out.append((key, value))
        return out

    def json_list(self, name, error=None, max_items=100):
        value = self.get(name)
        if value is None:
            return None
        try:
            items = json.loads(value)
        except ValueError:
            raise error or errors.invalid(name)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items) or len(items) > max_items:
            raise error or errors.invalid(name)
        return items


def validate_tags(tags):
    keys = set()
    for key, value in tags:
        low = key.lower()
        if len(key) > 128 or low.startswith(("aliyun", "acs:")) or "http://" in low or "https://" in low:
            raise ApiError(400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid.")
        if value is not None:
            lowv = value.lower()
            if len(value) > 128 or lowv.startswith("acs:") or "http://" in lowv or "https://" in lowv:
                raise ApiError(400, "InvalidTagValue.Malformed", "The specified Tag.n.Value is not valid.")
        if key in keys:
            raise ApiError(400, "Duplicate.TagKey", "The Tag.N.Key contain duplicate key.")
        keys.add(key)


# ---------------------------------------------------------------------- paging

def _encode_token(seq):
    head = "%016x" % seq
    return head + hashlib.md5(("ecs-emulator:" + head).encode()).hexdigest()[:16]


def _decode_token(token):
    if not re.match(r"^[0-9a-f]{32}$", token or "") or _encode_token(int(token[:16], 16)) != token:
        raise errors.invalid("NextToken")
    return int(token[:16], 16)


def paginate(items, p, key, default_size=10, max_size=100, allow_token=True, token_max=100):
    """Page items (already in stable order, key(item) increasing) in either style.

    Page style: PageNumber (from 1) / PageSize. Token style (MaxResults or NextToken given):
    PageNumber/PageSize are ignored, MaxResults is clamped to 10..token_max as documented.
    Returns (page, response-fields).
    """
    if allow_token and (p.has("MaxResults") or p.has("NextToken")):
        size = p.int("MaxResults", default=default_size)
        size = min(max(size, 10), token_max)
        start = 0
        if p.has("NextToken"):
            seq = _decode_token(p.get("NextToken"))
            start = next((i for i, it in enumerate(items) if key(it) >= seq), len(items))
        page = items[start:start + size]
        rest = items[start + size:]
        return page, {"TotalCount": len(items), "NextToken": _encode_token(key(rest[0])) if rest else ""}
    number = p.int("PageNumber", default=1, lo=1)
    size = p.int("PageSize", default=default_size, lo=1, hi=max_size)
    start = (number - 1) * size
    page = items[start:start + size]
    fields = {"TotalCount": len(items), "PageNumber": number, "PageSize": size}
    if allow_token:
        rest = items[start + size:]
        fields["NextToken"] = _encode_token(key(rest[0])) if rest else ""
    return page, fields


# ---------------------------------------------------------------------- name rules

_INSTANCE_NAME = re.compile(r"^[A-Za-z\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5:_.\-]{1,127}$")
_HOST_SEGMENT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?$")
_SEQ_PATTERN = re.compile(r"\[(\d+),(\d+)\]")


def valid_instance_name(name):
    return bool(_INSTANCE_NAME.match(name)) and not name.lower().startswith(("http://", "https://"))


def valid_host_name(name, os_type="linux"):
    """Linux: 2-64 chars, dot-separated segments of letters, digits and inner hyphens (so no
    '.' or '-' first, last or doubled). Windows: 2-15 chars, letters, digits and inner hyphens."""
    if os_type == "windows":
        return 2 <= len(name) <= 15 and "--" not in name and bool(_HOST_SEGMENT.match(name)) \
            and not name.isdigit()
    if not 2 <= len(name) <= 64 or "--" in name:
        return False
    return all(_HOST_SEGMENT.match(seg) for seg in name.split("."))


def valid_description(text):
    return 2 <= len(text) <= 256 and not text.lower().startswith(("http://", "https://"))


def expand_name(template, index, count, instance_id, unique_suffix):
    """name_prefix[begin,bits]suffix sequential naming, ${instance_id}, UniqueSuffix."""
    name = template.replace("${instance_id}", instance_id)
    m = _SEQ_PATTERN.search(name)
    if m:
        begin, bits = int(m.group(1)), int(m.group(2))
        return name[:m.start()] + str(begin + index).zfill(bits) + name[m.end():]
    if unique_suffix:
        return name + "%03d" % (index + 1)
    return name


# ---------------------------------------------------------------------- system disk

# What RunInstances accepts for SystemDisk.Category (the cloud disk kinds; local disks are not
# system disks). The default, cloud_efficiency, is the documented one for I/O optimized types.
SYSTEM_DISK_CATEGORIES = ("cloud", "cloud_efficiency", "cloud_ssd", "cloud_essd", "cloud_auto", "cloud_essd_entry")
SYSTEM_DISK_DEFAULT_CATEGORY = "cloud_efficiency"
SYSTEM_DISK_MIN = 20
# GiB. Basic disks (cloud) stop at 500; every other category at 2048.
SYSTEM_DISK_MAX = {"cloud": 500}
SYSTEM_DISK_MAX_DEFAULT = 2048
ESSD_LEVELS = ("PL0", "PL1", "PL2", "PL3")


def system_disk(p, image_size):
    """SystemDisk.* of RunInstances -> {"Category", "Size", "PerformanceLevel", "DiskName", "Description"}."""
    category = p.get("SystemDisk.Category", SYSTEM_DISK_DEFAULT_CATEGORY)
    if category not in SYSTEM_DISK_CATEGORIES:
        raise ApiError(400, "InvalidSystemDiskCategory.ValueNotSupported",
                       'The specified parameter "SystemDisk.Category" is not valid: %r; use one of %s.'
                       % (category, ", ".join(SYSTEM_DISK_CATEGORIES)))
    top = SYSTEM_DISK_MAX.get(category, SYSTEM_DISK_MAX_DEFAULT)
    if p.has("SystemDisk.Size"):
        try:
            size = int(p.get("SystemDisk.Size"))
        except ValueError:
            raise ApiError(400, "InvalidSystemDiskSize.ValueNotSupported",
                           'The specified parameter "SystemDisk.Size" is not an integer number of GiB.')
        if size < SYSTEM_DISK_MIN:
            raise ApiError(404, "InvalidSystemDiskSize.LessThanMinSize",
                           'The specified parameter "SystemDisk.Size" is less than the min size (%d GiB).'
                           % SYSTEM_DISK_MIN)
        if size < image_size:
            raise ApiError(404, "InvalidSystemDiskSize.LessThanImageSize",
                           'The specified parameter "SystemDisk.Size" is less than the image size (%d GiB).'
                           % image_size)
        if size > top:
            raise ApiError(403, "InvalidDisk.SystemDiskSize",
                           'The specified parameter "SystemDisk.Size" is beyond the permitted range: at most '
                           '%d GiB for %s.' % (top, category))
    else:
        size = max(40, image_size)  # documented default: 40 or the image size, whichever is larger
    level = ""
    if category == "cloud_essd":
        level = p.get("SystemDisk.PerformanceLevel", "PL1")
        if level not in ESSD_LEVELS:
            raise errors.invalid("SystemDisk.PerformanceLevel")
    name = p.get("SystemDisk.DiskName", "")
    if name and not valid_instance_name(name):  # same rule as instance names
        raise ApiError(400, "InvalidDiskName.Malformed", 'The specified parameter "SystemDisk.DiskName" is not valid.')
    description = p.get("SystemDisk.Description", "")
    if description and not valid_description(description):
        raise ApiError(400, "InvalidDiskDescription.Malformed",
                       'The specified parameter "SystemDisk.Description" is not valid.')
    return {"Category": category, "Size": size, "PerformanceLevel": level, "DiskName": name,
            "Description": description}


def client_token(p, action, region_id):
    """(token, key it is remembered under, fingerprint of the request) of a call that takes a ClientToken;
    a malformed token is refused here, before anything is looked up."""
    token = p.get("ClientToken")
    if token is not None and (len(token) > 64 or not all(32 <= ord(c) < 127 for c in token)):
        raise ApiError(400, "InvalidClientToken.ValueNotSupported", "The ClientToken provided is invalid.")
    fingerprint = json.dumps({k: v for k, v in sorted(p.raw.items()) if k not in COMMON_PARAMS}, sort_keys=True)
    return token, "%s|%s|%s" % (action, region_id, token), fingerprint
