# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to ipam.py: what a pool, an owner and an address record are, without etcd.

Everything here is pure (no I/O, the time is passed in), so the rules are unit-tested
without a server: a pool's validation (subnet, gateway, ranges, reserved addresses, VLAN,
provider), overlap between pools, the owner key, and the planning of one change to one
address record (allocate, release, bind, unbind). ipam.py reads a snapshot from etcd,
calls these, and writes the outcome in one transaction.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

PROVIDERS = ("vsphere", "ecs")
HISTORY_LIMIT = 20
DEFAULT_HOLD_DOWN = 600
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
OWNER_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
OWNER_STRING_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,190}$")
CONTAINER_ID_RE = re.compile(r"^[0-9a-f]{12}$|^[0-9a-f]{64}$")


try:
    from ansible.module_utils.basic import env_fallback
except ImportError:  # pragma: no cover - ansible-core always has it
    env_fallback = None

DEFAULT_PREFIX = "/containerops/ipam"

# The connection options (doc fragment containerops.platform.etcd) and their environment variables.
# Here, not in ipam.py, so that modules which only declare them (vsphere_vm, ecs_instance) never
# import the etcd client.
ETCD_ENV = {
    "endpoints": "CONTAINEROPS_ETCD_ENDPOINTS",
    "user": "CONTAINEROPS_ETCD_USER",
    "password": "CONTAINEROPS_ETCD_PASSWORD",
    "ca_cert": "CONTAINEROPS_ETCD_CA_CERT",
    "client_cert": "CONTAINEROPS_ETCD_CLIENT_CERT",
    "client_key": "CONTAINEROPS_ETCD_CLIENT_KEY",
    "prefix": "CONTAINEROPS_IPAM_PREFIX",
}


def _fb(option):
    return (env_fallback, [ETCD_ENV[option]])


ETCD_ARGSPEC = dict(
    endpoints=dict(type="list", elements="str", fallback=_fb("endpoints")),
    user=dict(type="str", fallback=_fb("user")),
    password=dict(type="str", no_log=True, fallback=_fb("password")),
    ca_cert=dict(type="path", fallback=_fb("ca_cert")),
    client_cert=dict(type="path", fallback=_fb("client_cert")),
    client_key=dict(type="path", no_log=False, fallback=_fb("client_key")),
    timeout=dict(type="int", default=10),
    prefix=dict(type="str", default=DEFAULT_PREFIX, fallback=_fb("prefix")),
)


class IpamError(Exception):
    """What is wrong and what to do; nothing was written when this is raised before a transaction."""


# ------------------------------------------------------------------ owners


def owner_key(owner):
    """The stable key of an owner: ``application:environment:slot`` or a plain string.

    An owner is what keeps its address across re-creations (an application's instance slot
    in an environment), never a container or VM ID, which changes every time; those are
    holders.
    """
    if isinstance(owner, dict):
        missing = [k for k in ("application", "environment", "slot") if owner.get(k) in (None, "")]
        if missing:
            raise IpamError("owner needs application, environment and slot; missing: %s" % ", ".join(missing))
        extra = sorted(set(owner) - {"application", "environment", "slot"})
        if extra:
            raise IpamError("owner has unknown keys %s: give application, environment and slot only"
                            % ", ".join(extra))
        parts = [str(owner[k]) for k in ("application", "environment", "slot")]
        for name, part in zip(("application", "environment", "slot"), parts):
            if not OWNER_PART_RE.match(part):
                raise IpamError("owner %s '%s' may hold letters, digits, '_', '.' and '-' only (at most 63)"
                                % (name, part))
        return ":".join(parts)
    if not isinstance(owner, str) or not OWNER_STRING_RE.match(owner):
        raise IpamError("owner '%s' must be a dictionary (application, environment, slot) or a string of "
                        "letters, digits, '_', '.', ':' and '-'" % (owner,))
    if CONTAINER_ID_RE.match(owner):
        raise IpamError("owner '%s' looks like a container ID: an owner must outlive its containers "
                        "(use application, environment and slot); a container is a holder" % owner)
    return owner


def check_name(kind, name):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise IpamError("%s name '%s' may hold letters, digits, '_', '.' and '-' only (at most 63)" % (kind, name))
    return name


# ------------------------------------------------------------------ pools


def _address(text, what, pool):
    try:
        ip = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise IpamError("pool %s: %s '%s' is not an IP address" % (pool, what, text))
    if ip.version != 4:
        raise IpamError("pool %s: %s '%s' is IPv6; pools are IPv4 only" % (pool, what, text))
    return ip


def _range(text, pool):
    """``A-B``, a CIDR, or one address -> (first, last)."""
    text = str(text).strip()
    if "-" in text:
        start, _sep, end = text.partition("-")
        first, last = _address(start, "range start", pool), _address(end, "range end", pool)
        if first > last:
            raise IpamError("pool %s: range %s starts after it ends" % (pool, text))
        return first, last
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise IpamError("pool %s: range '%s' is not A-B, a CIDR or an address" % (pool, text))
        if net.version != 4:
            raise IpamError("pool %s: range '%s' is IPv6; pools are IPv4 only" % (pool, text))
        return net.network_address, net.broadcast_address
    ip = _address(text, "range", pool)
    return ip, ip


def _fmt_range(first, last):
    return str(first) if first == last else "%s-%s" % (first, last)


def normalize_pool(spec):
    """The pool record for ``spec`` (name, subnet, gateway, ranges, reserved, vlan, provider, zone,
    hold_down), or IpamError naming the first rule it breaks."""
    name = check_name("pool", spec.get("name"))
    try:
        subnet = ipaddress.ip_network(str(spec.get("subnet") or ""), strict=True)
    except ValueError as exc:
        raise IpamError("pool %s: subnet '%s' is not a network in CIDR form (%s)" % (name, spec.get("subnet"), exc))
    if subnet.version != 4:
        raise IpamError("pool %s: subnet %s is IPv6; pools are IPv4 only" % (name, subnet))
    if subnet.prefixlen > 30:
        raise IpamError("pool %s: subnet %s is too small; use /30 or larger" % (name, subnet))
    ends = (subnet.network_address, subnet.broadcast_address)

    def inside(ip, what):
        if ip not in subnet:
            raise IpamError("pool %s: %s %s is outside the subnet %s" % (name, what, ip, subnet))
        if ip in ends:
            raise IpamError("pool %s: %s %s is the %s address of %s" % (
                name, what, ip, "network" if ip == ends[0] else "broadcast", subnet))

    gateway = None
    if spec.get("gateway"):
        gateway = _address(spec["gateway"], "gateway", name)
        inside(gateway, "gateway")
    reserved = sorted({_address(r, "reserved address", name) for r in spec.get("reserved") or []})
    for ip in reserved:
        inside(ip, "reserved address")

    if spec.get("ranges"):
        ranges = sorted(_range(r, name) for r in spec["ranges"])
    else:
        # The whole subnet but its network, broadcast and gateway addresses.
        first, last = ends[0] + 1, ends[1] - 1
        ranges = [(first, last)]
        if gateway:
            ranges = [(a, b) for a, b in ((first, gateway - 1), (gateway + 1, last)) if a <= b]
    for first, last in ranges:
        text = _fmt_range(first, last)
        if first not in subnet or last not in subnet:
            raise IpamError("pool %s: range %s is outside the subnet %s" % (name, text, subnet))
        for end in ends:
            if first <= end <= last:
                raise IpamError("pool %s: range %s includes the %s address %s" % (
                    name, text, "network" if end == ends[0] else "broadcast", end))
        if gateway and first <= gateway <= last:
            raise IpamError("pool %s: the gateway %s is inside the range %s; take it out of the range"
                            % (name, gateway, text))
    for (a1, b1), (a2, b2) in zip(ranges, ranges[1:]):
        if a2 <= b1:
            raise IpamError("pool %s: ranges %s and %s overlap" % (name, _fmt_range(a1, b1), _fmt_range(a2, b2)))

    vlan = spec.get("vlan")
    if vlan is not None:
        if isinstance(vlan, bool) or not isinstance(vlan, int) or not 1 <= vlan <= 4094:
            raise IpamError("pool %s: vlan %s is not a VLAN ID (1-4094)" % (name, vlan))
    provider = spec.get("provider")
    if provider not in PROVIDERS:
        raise IpamError("pool %s: provider '%s' must be one of %s" % (name, provider, ", ".join(PROVIDERS)))
    hold_down = spec.get("hold_down")
    hold_down = DEFAULT_HOLD_DOWN if hold_down is None else hold_down
    if isinstance(hold_down, bool) or not isinstance(hold_down, int) or hold_down < 0:
        raise IpamError("pool %s: hold_down %s must be a number of seconds >= 0" % (name, hold_down))
    return {
        "name": name,
        "subnet": str(subnet),
        "gateway": str(gateway) if gateway else None,
        "ranges": [_fmt_range(a, b) for a, b in ranges],
        "reserved": [str(r) for r in reserved],
        "vlan": vlan,
        "provider": provider,
        "zone": spec.get("zone"),
        "hold_down": hold_down,
    }


def overlapping_pool(pool, others):
    """Name of a pool among ``others`` (records) whose subnet overlaps ``pool``'s, or None."""
    net = ipaddress.ip_network(pool["subnet"])
    for other in others:
        if other["name"] != pool["name"] and net.overlaps(ipaddress.ip_network(other["subnet"])):
            return "%s (%s)" % (other["name"], other["subnet"])
    return None


def pool_ranges(pool):
    return [_range(r, pool["name"]) for r in pool["ranges"]]


def range_size(pool):
    skip = set(pool["reserved"])
    total = 0
    for first, last in pool_ranges(pool):
        total += int(last) - int(first) + 1
        total -= sum(1 for r in skip if first <= ipaddress.ip_address(r) <= last)
    return total


def allocatable(pool):
    """The pool's allocatable addresses in order (ranges minus reserved), lazily."""
    skip = set(pool["reserved"])
    for first, last in pool_ranges(pool):
        for n in range(int(first), int(last) + 1):
            ip = str(ipaddress.IPv4Address(n))
            if ip not in skip:
                yield ip


def check_request(pool, ip, outside_ranges=False):
    """The normalized ``ip`` if an owner may ask for it in ``pool``, else IpamError."""
    addr = _address(ip, "requested address", pool["name"])
    subnet = ipaddress.ip_network(pool["subnet"])
    if addr not in subnet:
        raise IpamError("pool %s: %s is outside the subnet %s" % (pool["name"], addr, subnet))
    if addr in (subnet.network_address, subnet.broadcast_address):
        raise IpamError("pool %s: %s is the network or broadcast address of %s" % (pool["name"], addr, subnet))
    if pool.get("gateway") == str(addr):
        raise IpamError("pool %s: %s is the pool's gateway" % (pool["name"], addr))
    if str(addr) in pool["reserved"]:
        raise IpamError("pool %s: %s is a reserved address of the pool" % (pool["name"], addr))
    if not outside_ranges and not any(a <= addr <= b for a, b in pool_ranges(pool)):
        raise IpamError("pool %s: %s is outside the allocatable ranges %s; set allow_outside_ranges to take "
                        "an address of the subnet outside them" % (pool["name"], addr, ", ".join(pool["ranges"])))
    return str(addr)


def pool_update_conflicts(pool, records):
    """Addresses in use that the new ``pool`` would no longer contain (outside the subnet, reserved, gateway)."""
    subnet = ipaddress.ip_network(pool["subnet"])
    bad = []
    for rec in records:
        ip = ipaddress.ip_address(rec["ip"])
        if ip not in subnet or rec["ip"] in pool["reserved"] or rec["ip"] == pool.get("gateway"):
            bad.append("%s (%s)" % (rec["ip"], rec.get("owner")))
    return bad


# ------------------------------------------------------------------ address records


def is_held_down(rec, now):
    return rec.get("state") == "held-down" and now < rec.get("hold_until", 0)


def is_free_for(rec, owner, now):
    """Whether ``owner`` may take the address of record ``rec`` (None: never used)."""
    if rec is None or rec.get("owner") == owner:
        return True
    return rec.get("state") == "held-down" and not is_held_down(rec, now)


def new_record(ip, owner, now):
    return {"ip": ip, "owner": owner, "state": "allocated", "allocated_at": now, "released_at": None,
            "hold_until": None, "holder": None, "holder_since": None, "history": []}


def take(rec, ip, owner, now):
    """The record after ``owner`` takes ``ip`` (a new record, or ``rec`` given to this owner again)."""
    if rec is None or rec.get("owner") != owner:
        return new_record(ip, owner, now)
    if rec.get("state") == "allocated":
        return rec
    out = dict(rec, state="allocated", allocated_at=now, released_at=None, hold_until=None)
    return out


def released(rec, now, hold_down):
    out = dict(rec, state="held-down", released_at=now, hold_until=now + hold_down)
    if out.get("holder"):
        out = unbound(out, now)
    return out


def bound(rec, holder, now):
    if rec.get("holder") == holder:
        return rec
    out = unbound(rec, now) if rec.get("holder") else dict(rec)
    history = list(out.get("history") or []) + [{"holder": holder, "since": now, "until": None}]
    out.update(holder=holder, holder_since=now, history=history[-HISTORY_LIMIT:])
    return out


def unbound(rec, now):
    history = [dict(h) for h in rec.get("history") or []]
    for entry in history:
        if entry.get("holder") == rec.get("holder") and entry.get("until") is None:
            entry["until"] = now
    return dict(rec, holder=None, holder_since=None, history=history[-HISTORY_LIMIT:])


def view(rec):
    """What the diff shows of a record: no history, no timestamps."""
    if rec is None:
        return {"state": "absent"}
    return {"ip": rec["ip"], "owner": rec.get("owner"), "state": rec.get("state"), "holder": rec.get("holder")}
