# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to ipam_audit: the IPAM's records against what the machines really have.

An observation is one address found in use: ``{ip, holder, source, running}``. The holder is named as
the IPAM names holders - ``<node>/<container>`` for a pinned instance (source ``container``) or a node's
shim (``shim``), the VM's name for a VM (``vm``), the node for an address on its ENI (``eni``). A
machine is the part of a holder before the ``/``. Only machines that were looked at (``checked``, and
``eni_checked`` for ENIs) can be said to lack an address; a record whose holder is on a machine nobody
looked at is listed as unchecked, never as a difference.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

# Where an address is seen, and what in the IPAM it answers to.
SOURCES = ("container", "shim", "vm", "eni")


def machine(holder):
    return (holder or "").split("/", 1)[0]


def _ip_key(ip):
    return int(ipaddress.IPv4Address(ip))


def check_observations(observed):
    """The observations as dicts with every key, or ValueError naming the bad entry."""
    out = []
    for n, entry in enumerate(observed or []):
        if not isinstance(entry, dict):
            raise ValueError("observed[%d]: %r is not a dictionary with ip, holder and source" % (n, entry))
        missing = [k for k in ("ip", "holder", "source") if not entry.get(k)]
        if missing:
            raise ValueError("observed[%d]: %s missing; give ip, holder and source (%s)"
                             % (n, ", ".join(missing), ", ".join(SOURCES)))
        if entry["source"] not in SOURCES:
            raise ValueError("observed[%d]: source %r is none of %s" % (n, entry["source"], ", ".join(SOURCES)))
        try:
            ip = str(ipaddress.IPv4Address(str(entry["ip"])))
        except ValueError:
            raise ValueError("observed[%d]: ip %r is not an IPv4 address" % (n, entry["ip"]))
        out.append(dict(ip=ip, holder=str(entry["holder"]), source=entry["source"],
                        running=bool(entry.get("running", True))))
    return out


def _where(obs):
    return "%s (%s%s)" % (obs["holder"], obs["source"], "" if obs["running"] else ", stopped")


def compare(pools, records, observed, checked, eni_checked=()):
    """Every difference between the IPAM and the observations.

    pools: {name: pool record}; records: {pool: {ip: address record}}; observed: check_observations()'s
    list. Returns (differences, unchecked): differences are dicts {kind, ip, pool, owner, ipam_holder,
    seen, message}, in address order; unchecked lists the holders on machines nobody looked at."""
    checked, eni_checked = set(checked or ()), set(eni_checked or ())
    subnets = [(name, ipaddress.IPv4Network(p["subnet"])) for name, p in sorted(pools.items())]
    by_ip = {}
    for obs in observed:
        by_ip.setdefault(obs["ip"], []).append(obs)
    at = {}
    for pool, recs in records.items():
        for ip, rec in recs.items():
            at[ip] = (pool, rec)

    found = []

    def add(kind, ip, pool, rec, seen, message):
        found.append(dict(kind=kind, ip=ip, pool=pool, owner=(rec or {}).get("owner"),
                          ipam_holder=(rec or {}).get("holder"), seen=[_where(o) for o in seen], message=message))

    for ip, seen in sorted(by_ip.items(), key=lambda item: _ip_key(item[0])):
        pool, rec = at.get(ip, (None, None))
        if pool is None:
            pool = next((name for name, net in subnets if ipaddress.IPv4Address(ip) in net), None)
            if pool is None:
                continue        # not an address of the IPAM's pools
        machines = sorted(set(o["holder"] for o in seen if o["source"] != "eni" and o["running"]))
        if len(machines) > 1:
            add("twice", ip, pool, rec, seen, "%s answers on %d holders at once: %s. Fence or stop all but the IPAM's "
                "holder (%s)" % (ip, len(machines), ", ".join(machines), (rec or {}).get("holder") or "none"))
        if rec is None or rec.get("state") != "allocated":
            state = "is held down since its release" if rec else "has no allocation"
            add("not_in_ipam", ip, pool, rec, seen, "%s of pool %s is in use on %s, but %s in the IPAM. Remove it "
                "there, or allocate and bind it (ipam_address)" % (ip, pool, ", ".join(_where(o) for o in seen), state))
            continue
        holder = rec.get("holder")
        wrong = [o for o in seen if (machine(holder) if o["source"] == "eni" else holder) != o["holder"]]
        if wrong:
            add("other_holder", ip, pool, rec, wrong, "%s (owner %s) is held by %s in the IPAM, but is on %s. "
                "Remove it there (network.yml or ecs_private_ip state=absent), or move the holder once that is "
                "what should run (failover.yml, migrate.yml)"
                % (ip, rec.get("owner"), holder or "nobody", ", ".join(_where(o) for o in wrong)))

    unchecked = []
    for ip, (pool, rec) in sorted(at.items(), key=lambda item: _ip_key(item[0])):
        holder = rec.get("holder")
        if rec.get("state") != "allocated" or not holder:
            continue
        where = machine(holder)
        seen = by_ip.get(ip, [])
        if where not in checked and where not in eni_checked:
            unchecked.append(holder)
            continue
        if where in checked and not [o for o in seen if o["source"] != "eni" and o["holder"] == holder]:
            add("not_found", ip, pool, rec, [], "The IPAM says %s holds %s (owner %s), but %s does not have it. Run "
                "network.yml (or migrate.yml / failover.yml for an instance that moved), or unbind it"
                % (holder, ip, rec.get("owner"), where))
        # A shim's address stays on its node (it reaches the node's own containers), so no ENI needs it.
        shim = [o for o in seen if o["source"] == "shim" and o["holder"] == holder]
        if where in eni_checked and not shim and not [o for o in seen if o["source"] == "eni" and o["holder"] == where]:
            add("not_on_eni", ip, pool, rec, [], "%s (owner %s, held by %s) is not a secondary IP of %s's ENI, so the "
                "VPC does not deliver it there. Run network.yml for %s" % (ip, rec.get("owner"), holder, where, where))
    found.sort(key=lambda d: (_ip_key(d["ip"]), d["kind"]))
    return found, sorted(set(unchecked))
