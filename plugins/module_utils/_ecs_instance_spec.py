# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the ecs_instance module: what a task asks for, and the RunInstances calls that create it.

* desired_instances(): each item of ``instances`` over the top-level options;
* check_task(): ECS's own rules for names, host names, addresses, disks, tags, user data and
  bandwidth, applied before the first API call, so bad input never gets as far as a half-made
  fleet. Every problem names the parameter as written in the task (``instances[2].private_ip``
  or the top-level ``private_ip``) and the fix;
* plan_batches() / batch_request(): which creations share one RunInstances call.

Everything here is pure: no API call, no Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.containerops.platform.plugins.module_utils.ecs import encode_user_data


class Failure(Exception):
    """Stops the run with a message; the module adds what was created so far."""


PER_INSTANCE = dict(
    vswitch_id=dict(type="str"),
    zone_id=dict(type="str"),
    security_group_ids=dict(type="list", elements="str"),
    image_id=dict(type="str"),
    instance_type=dict(type="str"),
    private_ip=dict(type="str"),
    ipam_pool=dict(type="str"),   # the address from the IPAM instead (_ipam_nodes.py)
    host_name=dict(type="str"),
    tags=dict(type="dict"),
    user_data=dict(type="str", no_log=True),   # user data may carry secrets (tokens, keys)
    internet_max_bandwidth_out=dict(type="int"),
    system_disk=dict(type="dict", options=dict(category=dict(type="str"), size=dict(type="int"))),
)

REQUIRED_TO_CREATE = ("vswitch_id", "security_group_ids", "image_id", "instance_type")
SYSTEM_TAG_PREFIXES = ("acs:", "aliyun")

# ECS's limits (RunInstances and tag documentation).
INSTANCE_NAME_RULE = ("2-128 characters, starting with a letter, then letters, digits, '.', '_', '-' or ':' "
                      "(not http:// or https://)")
HOST_NAME_RULE = ("2-64 characters of letters, digits, '-' and '.'; every dot-separated part starts and ends "
                  "with a letter or digit")
_INSTANCE_NAME = re.compile("^[A-Za-z\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5.:_-]{1,127}$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
# GiB per system disk category (cloud_essd at PL1, its default level); unset, ECS picks
# cloud_efficiency on current instance types.
SYSTEM_DISK_SIZES = {"cloud": (20, 500), "cloud_efficiency": (20, 2048), "cloud_ssd": (20, 2048),
                     "cloud_essd": (20, 2048), "cloud_auto": (1, 2048), "cloud_essd_entry": (20, 2048)}
DEFAULT_SYSTEM_DISK_SIZES = (20, 2048)
MAX_TAGS = 20
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 128
MAX_USER_DATA = 32 * 1024  # bytes, once base64-encoded
BANDWIDTH_OUT = (0, 100)   # Mbit/s


# ---------------------------------------------------------------------------- the task's instances

def desired_instances(params):
    """The per-instance settings: each item of `instances` over the top-level defaults."""
    items = params["instances"] if params["instances"] is not None else [{"name": params["name"]}]
    desired, seen = [], set()
    for n, item in enumerate(items):
        unknown = set(item) - set(PER_INSTANCE) - {"name"}
        if unknown:
            raise Failure("instances[%d]: unknown key(s) %s; allowed: name, %s"
                          % (n, ", ".join(sorted(unknown)), ", ".join(sorted(PER_INSTANCE))))
        name = item.get("name")
        if not name or not isinstance(name, str):
            raise Failure("instances[%d]: name is required (the InstanceName)" % n)
        if name in seen:
            raise Failure("instances: name %s is listed twice; every name is one instance" % name)
        seen.add(name)
        merged = dict((key, item[key] if item.get(key) is not None else params.get(key)) for key in PER_INSTANCE)
        merged["name"] = name
        merged["host_name"] = merged["host_name"] or name
        # An item's own address beats the task's pool, and its own pool the task's address.
        for own, other in (("private_ip", "ipam_pool"), ("ipam_pool", "private_ip")):
            if item.get(own) is not None and item.get(other) is None:
                merged[other] = None
        if merged["security_group_ids"] is not None and isinstance(merged["security_group_ids"], str):
            merged["security_group_ids"] = [merged["security_group_ids"]]
        desired.append(merged)
    return desired


def _given(params, n, key):
    """Whether the task sets this key for instance n: in its item or at the top level."""
    if params.get("instances") is not None and params["instances"][n].get(key) is not None:
        return True
    return params.get(key) is not None


def _where(params, n, key):
    """The parameter a value came from, as the task writes it: instances[n].key or the top-level key."""
    if params.get("instances") is not None and params["instances"][n].get(key) is not None:
        return "instances[%d].%s" % (n, key)
    return key


def check_task(params, desired):
    """Every way the task breaks ECS's rules, as one Failure (nothing has been called yet)."""
    problems = []

    def add(text):
        if text not in problems:  # a bad top-level value is reported once, not once per instance
            problems.append(text)

    for option in ("wait_timeout", "list_lag_timeout"):
        value = params.get(option)
        if value is not None and value < 1:
            add("%s is %s: give a number of seconds, at least 1%s" % (
                option, value, " (to not wait, set wait: false)" if option == "wait_timeout" else ""))
    in_items = params.get("instances") is not None
    ips = {}
    for n, d in enumerate(desired):
        def where(key, n=n):
            return _where(params, n, key)

        if not valid_instance_name(d["name"]):
            add("%s %r is not a valid ECS instance name (%s): rename it"
                % ("instances[%d].name" % n if in_items else "name", d["name"], INSTANCE_NAME_RULE))
        elif not valid_host_name(d["host_name"]):
            if _given(params, n, "host_name"):
                add("%s %r is not a valid host name (%s)" % (where("host_name"), d["host_name"], HOST_NAME_RULE))
            else:
                param = "instances[%d].host_name" % n if in_items else "host_name"
                add("%s defaults to the name %r, which is not a valid host name (%s): set %s"
                    % (param, d["name"], HOST_NAME_RULE, param))
        if d["private_ip"] is not None and d["ipam_pool"] is not None:
            add("%s and %s: set one of them - private_ip is the address, ipam_pool takes it from the IPAM"
                % (where("private_ip"), where("ipam_pool")))
        elif d["private_ip"] is not None:
            try:
                ips.setdefault(str(ipaddress.IPv4Address(d["private_ip"])), []).append(n)
            except ValueError:
                add("%s %r is not an IPv4 address: give one such as 10.88.16.11, or leave private_ip unset so "
                    "ECS picks one" % (where("private_ip"), d["private_ip"]))
        groups = d["security_group_ids"] or []
        twice = sorted(set(g for g in groups if groups.count(g) > 1))
        if twice:
            add("%s lists %s more than once: list each security group once"
                % (where("security_group_ids"), ", ".join(twice)))
        for text in _disk_problems(d["system_disk"]):
            add(where("system_disk") + text)
        for text in _tag_problems(d["tags"]):
            add(where("tags") + text)
        if d["user_data"] is not None:
            size = len(encode_user_data(d["user_data"]))
            if size > MAX_USER_DATA:
                add("%s is %d bytes once base64-encoded; ECS takes at most %d (32 KiB): shorten it, or let it "
                    "fetch the rest when the node boots" % (where("user_data"), size, MAX_USER_DATA))
        bandwidth = d["internet_max_bandwidth_out"]
        if bandwidth is not None and not BANDWIDTH_OUT[0] <= bandwidth <= BANDWIDTH_OUT[1]:
            add("%s is %s: give %d to %d Mbit/s (0: no public IP)"
                % ((where("internet_max_bandwidth_out"), bandwidth) + BANDWIDTH_OUT))
    for ip, users in sorted(ips.items()):
        if len(users) < 2:
            continue
        names = ", ".join(desired[n]["name"] for n in users)
        if all(_where(params, n, "private_ip") == "private_ip" for n in users):
            add("private_ip %s (top level) would go to %s: an address belongs to one instance; set private_ip "
                "per item of instances" % (ip, names))
        else:
            add("%s ask for the same private_ip %s (%s): an address belongs to one instance; give each its own"
                % (", ".join(_where(params, n, "private_ip") for n in users), ip, names))
    if problems:
        raise Failure("nothing was changed: " + "; ".join(problems))


def valid_instance_name(name):
    return bool(_INSTANCE_NAME.match(name)) and not name.lower().startswith(("http://", "https://"))


def valid_host_name(name):
    if not 2 <= len(name) <= 64:
        return False
    return all(_HOST_LABEL.match(label) for label in name.split("."))


def _disk_problems(disk):
    if not disk:
        return []
    problems = []
    category, size = disk.get("category"), disk.get("size")
    if category is not None and category not in SYSTEM_DISK_SIZES:
        problems.append(".category %r is not a system disk category: use one of %s"
                        % (category, ", ".join(sorted(SYSTEM_DISK_SIZES))))
    low, high = SYSTEM_DISK_SIZES.get(category, DEFAULT_SYSTEM_DISK_SIZES)
    if size is not None and not low <= size <= high:
        problems.append(".size %s GiB is out of range for %s: give %d to %d"
                        % (size, category or "the default category", low, high))
    return problems


def _tag_problems(tags):
    if not tags:
        return []
    problems = []
    if len(tags) > MAX_TAGS:
        problems.append(" has %d tags; ECS allows at most %d on an instance: drop some" % (len(tags), MAX_TAGS))
    for key, value in sorted(tags.items(), key=lambda kv: str(kv[0])):
        key = str(key)
        low = key.lower()
        if low.startswith(SYSTEM_TAG_PREFIXES):
            problems.append(" key %r: keys starting with aliyun or acs: are the system's; rename it" % key)
        elif not key or len(key) > MAX_TAG_KEY or "http://" in low or "https://" in low:
            problems.append(" key %r: a key is 1-%d characters without http:// or https://" % (key, MAX_TAG_KEY))
        value = "" if value is None else str(value)
        lowv = value.lower()
        if len(value) > MAX_TAG_VALUE or lowv.startswith("acs:") or "http://" in lowv or "https://" in lowv:
            problems.append(" value of %r: a value is at most %d characters, does not start with acs: and holds "
                            "no http:// or https://" % (key, MAX_TAG_VALUE))
    return problems


def shared_request_params(d, zone_id):
    """RunInstances parameters of one instance except name, host name and IP."""
    tags = d["tags"] or {}
    disk = d["system_disk"] or {}
    params = {
        "ImageId": d["image_id"],
        "InstanceType": d["instance_type"],
        "VSwitchId": d["vswitch_id"],
        "ZoneId": zone_id,
        "SecurityGroupIds": list(d["security_group_ids"]),
        "UserData": encode_user_data(d["user_data"]),
        "InternetMaxBandwidthOut": d["internet_max_bandwidth_out"],
        "SystemDisk.Category": disk.get("category"),
        "SystemDisk.Size": disk.get("size"),
        "Tag": [{"Key": k, "Value": "" if tags[k] is None else str(tags[k])} for k in sorted(tags)] or None,
    }
    return dict((k, v) for k, v in params.items() if v is not None)


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
                    batches.append([it for _index, it in current])
                    current = []
                current.append((number, item))
            if current:
                batches.append([it for _index, it in current])
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
