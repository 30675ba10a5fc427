# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's IPAM, kept in etcd v3 (through its HTTP gateway, with etcd3gw).

Key layout under ``prefix`` (default ``/containerops/ipam``); every value is JSON:

  <prefix>/pools/<pool>                  the pool: subnet, gateway, ranges, reserved, vlan,
                                         provider, zone, hold_down (seconds)
  <prefix>/addresses/<pool>/<ip>         one address: owner, state (allocated | held-down),
                                         allocated_at, released_at, hold_until, holder,
                                         holder_since, history [{holder, since, until}] (last 20)
  <prefix>/owners/<pool>/<owner-key>     {"ip": ...}: the owner's address, kept after release so
                                         the same owner gets the same address back
  <prefix>/locks/<owner-key>             the run that moves the owner now, on an etcd lease
                                         (_ipam_lock.py, module ipam_lock)

The owner is stable (``application:environment:slot``); the holder is whatever binds the
address now (a VM or container name or ID) and changes on failover; the history lists holders.

Every change is ONE etcd transaction. It compares the keys the decision rests on, as they
were read: the pool record (mod_revision), the owner key (still absent, or its mod_revision) and the
address key it writes (created or not, mod_revision). Two allocators racing for the same
free address cannot both win; the loser reads again and retries with jittered backoff, a
bounded number of times. Creating, updating or deleting a pool compares a whole key range
(``mod_revision < read revision + 1`` over the pools, or over the pool's addresses) so no
overlapping pool or new allocation slips in between the read and the write. The other
addresses an allocator reads only steer its choice and are not compared, so allocations of
different owners do not serialise.

Hold-down uses the clock of the controller that releases and of the one that allocates.
The etcd connection is in _ipam_etcd.py, the rules (pools, owners, records) in _ipam_model.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time
import zlib

from ansible_collections.containerops.platform.plugins.module_utils._ipam_etcd import (
    Store,
    same_mod,
    unchanged_since,
)
from ansible_collections.containerops.platform.plugins.module_utils._ipam_model import (
    DEFAULT_PREFIX,
    ETCD_ARGSPEC,
    IpamError,
    allocatable,
    bound,
    check_name,
    check_request,
    is_free_for,
    is_held_down,
    normalize_pool,
    overlapping_pool,
    owner_key,
    pool_update_conflicts,
    range_size,
    released,
    take,
    unbound,
    view,
)
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import diff_entry

__all__ = ["IpamError", "owner_key", "Ipam", "Store", "connect", "ETCD_ARGSPEC"]

MAX_ATTEMPTS = 12
SPREAD = 32  # how many free addresses a retrying allocator picks among


def connect(params):
    """A Store from the module or lookup options (ETCD_ARGSPEC)."""
    return Store(params.get("endpoints"), user=params.get("user"), password=params.get("password"),
                 ca_cert=params.get("ca_cert"), client_cert=params.get("client_cert"),
                 client_key=params.get("client_key"), timeout=params.get("timeout") or 10)


# ============================================================== the IPAM


class Conflict(Exception):
    """Another writer changed a key this change rests on: read again."""


class Ipam:
    def __init__(self, store, prefix=DEFAULT_PREFIX, clock=time.time, max_attempts=MAX_ATTEMPTS):
        prefix = prefix.rstrip("/")
        if not prefix.startswith("/"):
            raise IpamError("prefix '%s' must start with /" % prefix)
        self.store, self.prefix, self.clock, self.max_attempts = store, prefix, clock, max_attempts
        self.retries = 0

    # keys
    def pool_key(self, pool):
        return "%s/pools/%s" % (self.prefix, pool)

    def addresses(self, pool):
        return "%s/addresses/%s/" % (self.prefix, pool)

    def owners(self, pool):
        return "%s/owners/%s/" % (self.prefix, pool)

    def _retrying(self, what, attempt_fn):
        """Run ``attempt_fn`` until no Conflict, with jittered exponential backoff, a bounded number of times."""
        for attempt in range(self.max_attempts):
            try:
                return attempt_fn(attempt)
            except Conflict:
                self.retries += 1
                time.sleep(random.uniform(0, min(1.0, 0.01 * 2 ** attempt)))
        raise IpamError("%s: gave up after %d attempts, each lost to a concurrent change in etcd; nothing was "
                        "written by this task. Run it again" % (what, self.max_attempts))

    def _read_pool(self, pool, revision=None):
        check_name("pool", pool)
        found, rev = self.store.range(self.pool_key(pool), revision=revision)
        if self.pool_key(pool) not in found:
            return None, 0, rev
        value, mod, _v = found[self.pool_key(pool)]
        return value, mod, rev

    # ---------------------------------------------------------- pools

    def pool_present(self, spec, check_mode=False):
        desired = normalize_pool(spec)
        name = desired["name"]

        def attempt(_n):
            pools, rev = self.store.range("%s/pools/" % self.prefix, prefix=True)
            current = pools.get(self.pool_key(name))
            before = current[0] if current else None
            clash = overlapping_pool(desired, [v for _k, (v, _m, _ver) in pools.items()])
            if clash:
                raise IpamError("pool %s: subnet %s overlaps pool %s; nothing was written" % (
                    name, desired["subnet"], clash))
            result = dict(changed=before != desired, pool=desired, retries=self.retries,
                          diff=[diff_entry(name, before or {"state": "absent"}, desired)] if before != desired else [])
            if not result["changed"]:
                return result
            compare = [unchanged_since("%s/pools/" % self.prefix, rev)]
            if before:
                recs, _r = self.store.range(self.addresses(name), prefix=True, revision=rev)
                bad = pool_update_conflicts(desired, [v for v, _m, _ver in recs.values()])
                if bad:
                    raise IpamError("pool %s: the change would leave addresses in use outside it (outside the "
                                    "subnet, reserved, or the gateway): %s; release them first"
                                    % (name, ", ".join(sorted(bad))))
                compare.append(unchanged_since(self.addresses(name), rev))
            if check_mode:
                return result
            if not self.store.txn(compare, puts=[(self.pool_key(name), desired)]):
                raise Conflict()
            return result
        return self._retrying("pool %s" % name, attempt)

    def pool_absent(self, name, force=False, check_mode=False):
        def attempt(_n):
            pool, mod, rev = self._read_pool(name)
            if pool is None:
                return dict(changed=False, retries=self.retries, diff=[])
            recs, _r = self.store.range(self.addresses(name), prefix=True, revision=rev)
            in_use = sorted("%s (%s)" % (v["ip"], v["owner"]) for v, _m, _ver in recs.values()
                            if v.get("state") == "allocated")
            if in_use and not force:
                raise IpamError("pool %s still has %d allocated address(es): %s; release them, or set force "
                                "to delete the pool with them" % (name, len(in_use), ", ".join(in_use[:10])))
            result = dict(changed=True, retries=self.retries, deleted_addresses=len(recs),
                          diff=[diff_entry(name, pool, {"state": "absent"})])
            if check_mode:
                return result
            compare = [same_mod(self.pool_key(name), mod), unchanged_since(self.addresses(name), rev)]
            if not self.store.txn(compare, deletes=[self.pool_key(name)],
                                  delete_ranges=[self.addresses(name), self.owners(name)]):
                raise Conflict()
            return result
        return self._retrying("pool %s" % name, attempt)

    def get_pool(self, name):
        return self._read_pool(name)[0]

    # ---------------------------------------------------------- addresses

    def _snapshot(self, pool_name, owner):
        pool, pool_mod, rev = self._read_pool(pool_name)
        if pool is None:
            raise IpamError("pool %s does not exist under %s; create it with containerops.platform.ipam_pool"
                            % (pool_name, self.prefix))
        return Snapshot(self, pool, pool_mod, rev, owner)

    def _choose(self, snap, owner, ip, outside_ranges, attempt, now):
        """The address ``owner`` gets (its own first), or IpamError; nothing is written."""
        pool = snap.pool
        if snap.mine:
            if ip and ip != snap.mine:
                raise IpamError("pool %s: owner %s already has %s, not %s; release it first to change it"
                                % (pool["name"], owner, snap.mine, ip))
            return snap.mine
        if ip:
            ip = check_request(pool, ip, outside_ranges)
            rec = snap.record(ip)
            if not is_free_for(rec, owner, now):
                if rec.get("state") == "allocated":
                    raise IpamError("pool %s: %s is allocated to owner %s" % (pool["name"], ip, rec["owner"]))
                raise IpamError("pool %s: %s was released by owner %s and is held down until %s" % (
                    pool["name"], ip, rec["owner"], _when(rec["hold_until"])))
            return ip
        # Never-used addresses first (their keys alone tell), then the longest released.
        fresh = []
        for candidate in allocatable(pool):
            if candidate not in snap.used:
                fresh.append(candidate)
                if len(fresh) >= SPREAD:
                    break
        if fresh:
            # Allocators racing from the same snapshot would all want the lowest free address: each owner
            # starts at its own place among the first few (stable for an owner), and after a lost race at random.
            if attempt == 0:
                return fresh[zlib.crc32(owner.encode("utf-8")) % min(len(fresh), 8)]
            return random.choice(fresh)
        records = snap.all_records()
        in_ranges = set(allocatable(pool))
        reusable = sorted((rec.get("released_at") or 0, a) for a, rec in records.items()
                          if a in in_ranges and is_free_for(rec, owner, now))
        if reusable:
            return reusable[0][1] if attempt == 0 else random.choice(reusable[:SPREAD])[1]
        allocated = sum(1 for v in records.values() if v.get("state") == "allocated")
        held = [v for v in records.values() if is_held_down(v, now)]
        msg = "pool %s is exhausted: %d allocatable address(es), %d allocated, %d held down" % (
            pool["name"], range_size(pool), allocated, len(held))
        if held:
            msg += " (the first hold-down ends at %s)" % _when(min(v["hold_until"] for v in held))
        raise IpamError(msg + "; nothing was allocated to owner %s. Release addresses or widen the pool's "
                              "ranges" % owner)

    def _commit(self, snap, ip, before, after, attempt_result, check_mode):
        """Write the record of ``ip`` (and the owner key) in one transaction comparing what was read."""
        if before == after or check_mode:
            return attempt_result
        name = snap.pool["name"]
        akey = self.addresses(name) + ip
        compare = [same_mod(self.pool_key(name), snap.pool_mod),
                   same_mod(akey, snap.mod(ip)),
                   same_mod(snap.okey, snap.owner_mod)]
        puts = [(akey, after), (snap.okey, {"ip": ip})]
        deletes = []
        if before and before.get("owner") != after["owner"]:
            # An address past its hold-down goes to a new owner: the old owner's key goes with it.
            old = self.owners(name) + before["owner"]
            old_mod = snap.key_mod(old)
            if old_mod:
                compare.append(same_mod(old, old_mod))
                deletes.append(old)
        if not self.store.txn(compare, puts=puts, deletes=deletes):
            raise Conflict()
        return attempt_result

    def _address_result(self, pool, owner, ip, before, after):
        changed = before != after
        label = "%s %s" % (pool, owner)
        return dict(changed=changed, pool=pool, owner=owner, ip=(after or before or {}).get("ip") if ip else None,
                    address=after, retries=self.retries,
                    diff=[diff_entry(label, view(before), view(after))] if changed else [])

    def allocate(self, pool, owner, ip=None, outside_ranges=False, holder=None, takeover=False, check_mode=False):
        """Give ``owner`` an address (its own again if it has one); with ``holder``, bind it too."""
        key = owner_key(owner)

        def attempt(n):
            now = self.clock()
            snap = self._snapshot(pool, key)
            chosen = self._choose(snap, key, ip, outside_ranges, n, now)
            before = snap.record(chosen)
            after = take(before, chosen, key, now)
            if holder:
                after = self._bind(pool, key, after, holder, takeover, now)
            result = self._address_result(pool, key, chosen, before, after)
            return self._commit(snap, chosen, before, after, result, check_mode)
        return self._retrying("pool %s owner %s" % (pool, key), attempt)

    def _bind(self, pool, owner, rec, holder, takeover, now):
        """``takeover``: True takes the address from any holder; a machine's name takes it only from that
        machine or a container on it (the one failover fenced), in the same transaction."""
        current = rec.get("holder")
        if current and current != holder and not _may_take(current, takeover):
            fix = ("takeover_from is %s, so it stays with %s" % (takeover, current) if takeover
                   else "unbind it first, or set takeover once %s is fenced" % current)
            raise IpamError("pool %s: %s of owner %s is bound to %s since %s; %s"
                            % (pool, rec["ip"], owner, current, _when(rec.get("holder_since")), fix))
        return bound(rec, holder, now)

    def _change_own(self, pool, owner, what, change, check_mode):
        key = owner_key(owner)

        def attempt(_n):
            now = self.clock()
            snap = self._snapshot(pool, key)
            ip = snap.mine
            before = snap.record(ip) if ip else None
            after = change(before, now, snap.pool) if before else None
            result = self._address_result(pool, key, ip, before, after)
            return self._commit(snap, ip, before, after, result, check_mode) if ip else result
        return self._retrying("%s in pool %s for owner %s" % (what, pool, key), attempt)

    def release(self, pool, owner, force=False, check_mode=False):
        """The owner's address goes into hold-down (the owner keeps its claim to it)."""
        def change(rec, now, pool_rec):
            if rec["state"] != "allocated":
                return rec
            if rec.get("holder") and not force:
                raise IpamError("pool %s: %s of owner %s is still bound to %s; unbind it first, or set force"
                                % (pool, rec["ip"], rec["owner"], rec["holder"]))
            return released(rec, now, pool_rec.get("hold_down", 0))
        return self._change_own(pool, owner, "release", change, check_mode)

    def unbind(self, pool, owner, holder=None, check_mode=False):
        """The address has no holder any more; with ``holder``, only if that is the holder now."""
        def change(rec, now, _pool):
            if not rec.get("holder") or (holder and rec["holder"] != holder):
                return rec
            return unbound(rec, now)
        return self._change_own(pool, owner, "unbind", change, check_mode)

    def snapshot_all(self, names=None):
        """({pool: pool record}, {pool: {ip: address record}}) of the named pools (default every pool), all read at
        one etcd revision; an unknown name is an IpamError. Read only."""
        found, rev = self.store.range("%s/pools/" % self.prefix, prefix=True)
        pools = dict((v["name"], v) for v, _m, _ver in found.values() if v)
        unknown = sorted(set(names or ()) - set(pools))
        if unknown:
            raise IpamError("pools %s do not exist (the IPAM has: %s)" % (", ".join(unknown), ", ".join(sorted(pools))
                                                                          or "no pool"))
        pools = dict((n, p) for n, p in pools.items() if not names or n in names)
        records = {}
        for name in pools:
            recs, _r = self.store.range(self.addresses(name), prefix=True, revision=rev)
            records[name] = dict((v["ip"], v) for v, _m, _ver in recs.values() if v)
        return pools, records

    def lookup(self, pool, owner):
        """The owner's allocated address, or None. Read only."""
        rec = self.record_of(pool, owner)
        return rec["ip"] if rec else None

    def record_of(self, pool, owner):
        """The record of the owner's allocated address (ip, owner, state, holder, history), or None. Read only."""
        snap = self._snapshot(pool, owner_key(owner))
        if snap.mine and snap.record(snap.mine).get("state") == "allocated":
            return dict(snap.record(snap.mine), ip=snap.mine)
        return None


class Snapshot:
    """What one attempt reads of a pool, all at one etcd revision, and only what it needs: the owner's key
    and its address first; the address keys without values (which addresses were ever used) only to choose
    a new one; all records only when no never-used address is left."""

    def __init__(self, ipam, pool, pool_mod, revision, owner):
        self.ipam, self.pool, self.pool_mod, self.revision = ipam, pool, pool_mod, revision
        self.store = ipam.store
        self.base = ipam.addresses(pool["name"])
        self.okey = ipam.owners(pool["name"]) + owner
        owned, self.owner_mod = self.get(self.okey)
        self._records = {}   # ip -> (record, mod_revision) read
        self._used = None
        self.mine = None
        ip = (owned or {}).get("ip")
        if ip and (self.record(ip) or {}).get("owner") == owner:
            self.mine = ip

    def get(self, key):
        """(value, mod_revision) of one key at the snapshot's revision; (None, 0) when absent."""
        found, _r = self.store.range(key, revision=self.revision)
        return (found[key][0], found[key][1]) if key in found else (None, 0)

    def key_mod(self, key):
        return self.get(key)[1]

    @property
    def used(self):
        """ip -> mod_revision of every address that has a record."""
        if self._used is None:
            keys, _r = self.store.range(self.base, prefix=True, revision=self.revision, keys_only=True)
            self._used = {k[len(self.base):]: mod for k, (_v, mod, _ver) in keys.items()}
        return self._used

    def record(self, ip):
        if ip not in self._records:
            self._records[ip] = self.get(self.base + ip)
        return self._records[ip][0]

    def mod(self, ip):
        self.record(ip)
        return self._records[ip][1]

    def all_records(self):
        found, _r = self.store.range(self.base, prefix=True, revision=self.revision)
        self._records = {v["ip"]: (v, m) for v, m, _ver in found.values()}
        return {ip: v for ip, (v, _m) in self._records.items()}


def _may_take(current, takeover):
    if takeover is True:
        return True
    return bool(takeover) and (current == takeover or current.startswith(takeover + "/"))


def _when(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch or 0))
