# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to vsphere_vm and ecs_instance: node addresses from the IPAM (docs/ipam.md, "Node addresses").

A machine that names a pool (vsphere_vm ``networks[].ipam_pool``, ecs_instance ``ipam_pool``)
gets its address from the IPAM. The address belongs to an owner derived from the machine,
``node:<datacenter|region>:<name>``, which outlives it: a machine re-created under its name
gets its address back. Its moid or instance id is only the holder.

Both runners go the same way, so that bad input allocates nothing:
  check the pools (exist, provider, fit the network) and propose() an address per new machine
  (read only, distinct within the task) -> the runner's own checks with those addresses ->
  commit() (the proposed addresses allocated, before the first create call; when another task
  took one meanwhile, its owner gets another and the runner checks again) -> create ->
  bind() the holder -> on removal, release() once the machine is gone.
Check mode stops after propose() and shows the addresses in the diff. Nothing here imports
the IPAM client (ipam.py and etcd3gw) before the first pool is read, so a task that names
no pool needs neither etcd nor etcd3gw.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.containerops.platform.plugins.module_utils._ipam_model import (
    DEFAULT_PREFIX,
    ETCD_ARGSPEC,
    OWNER_PART_RE,
    IpamError,
    allocatable,
    is_free_for,
    owner_key,
    pool_ranges,
)

IPAM_OPTION = dict(type="dict", options=ETCD_ARGSPEC, apply_defaults=True)


class Problems(IpamError):
    """Every problem found before anything was written (``problems``: one line each)."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class NodeAddresses:
    """The IPAM as one machine-module task uses it. ``place``: the datacenter or region."""

    def __init__(self, options, provider, place, check_mode=False):
        self.options, self.provider, self.place, self.check_mode = dict(options or {}), provider, place, check_mode
        self._ipam = None
        self._pools = {}
        self.proposed = {}      # (pool, owner) -> the address a new machine gets
        self._diff = {}         # (pool, owner) -> diff entry (before as first read, after as last written)
        self.rows = {}          # (pool, owner) -> row of the module's node_addresses result
        self.changed = False

    @property
    def ipam(self):
        if self._ipam is None:
            from ansible_collections.containerops.platform.plugins.module_utils.ipam import Ipam, connect
            try:
                self._ipam = Ipam(connect(self.options), self.options.get("prefix") or DEFAULT_PREFIX)
            except IpamError as exc:  # its options are the ipam option's here
                raise IpamError("ipam: %s" % exc)
        return self._ipam

    def owner(self, name, where):
        """node:<place>:<name>; IpamError naming ``where`` (the option that named the machine)."""
        if not OWNER_PART_RE.match(str(self.place or "")):
            raise IpamError("%s '%s' cannot be part of the IPAM owner node:<%s>:<name> (letters, digits, '_', "
                            "'.' and '-' only): give the machines their addresses instead of an IPAM pool"
                            % (self._place_option(), self.place, self._place_option()))
        owner = "node:%s:%s" % (self.place, name)
        try:
            return owner_key(owner)
        except IpamError:
            raise IpamError("%s: '%s' cannot be part of the IPAM owner %s (letters, digits, '_', '.', ':' and '-', "
                            "at most 191 characters in all): rename the machine, or give its address instead of "
                            "an IPAM pool" % (where, name, owner))

    def _place_option(self):
        return "datacenter" if self.provider == "vsphere" else "region"

    def pool(self, name, where):
        """The pool record; IpamError naming ``where`` when it is missing or of the other cloud."""
        if name not in self._pools:
            try:
                record = self.ipam.get_pool(name)
            except IpamError as exc:
                raise IpamError("%s: %s" % (where, exc))
            if record is None:
                raise IpamError("%s: pool %s does not exist under %s; create it with containerops.platform.ipam_pool"
                                % (where, name, self.ipam.prefix))
            if record.get("provider") != self.provider:
                raise IpamError("%s: pool %s is a pool of provider %s; name a pool of provider %s"
                                % (where, name, record.get("provider"), self.provider))
            self._pools[name] = record
        return self._pools[name]

    # ---------------------------------------------------------- a machine's address

    def current(self, pool, name, where):
        """The address the owner of an existing machine has (allocated), or None. Read only."""
        owner = self.owner(name, where)
        ip = self.ipam.lookup(pool, owner)
        self.rows[(pool, owner)] = _row(name, pool, owner, ip, None)
        return ip

    def propose(self, pool, name, where):
        """The address a new machine gets: its owner's own, else a free one no other machine of this
        task was given. Writes nothing; an exhausted pool is an IpamError."""
        owner = self.owner(name, where)
        taken = dict((ip, other) for (p, other), ip in self.proposed.items() if p == pool and other != owner)
        result = self.ipam.allocate(pool, owner, check_mode=True)
        if result["ip"] in taken:
            # The allocator's pick for this owner went to another machine of this task (nothing is
            # written before commit()): the first free address nobody here was given instead.
            result = self.ipam.allocate(pool, owner, ip=self._free(pool, owner, taken), check_mode=True)
        self.proposed[(pool, owner)] = result["ip"]
        self._note(name, pool, owner, result)
        return result["ip"]

    def _free(self, pool, owner, taken):
        found, _rev = self.ipam.store.range(self.ipam.addresses(pool), prefix=True)
        records = dict((value["ip"], value) for value, _mod, _ver in found.values())
        now = self.ipam.clock()
        for ip in allocatable(self._pools.get(pool) or self.ipam.get_pool(pool)):
            if ip not in taken and is_free_for(records.get(ip), owner, now):
                return ip
        raise IpamError("pool %s is exhausted: no free address is left for owner %s after the %d this task gives "
                        "other machines; nothing was allocated. Release addresses or widen the pool's ranges"
                        % (pool, owner, len(taken)))

    def commit(self):
        """Allocate the proposed addresses (not in check mode), before any machine is created.

        True when another task allocated a proposed address since: its owner gets another one (in the
        same transaction-safe way), and the runner checks and plans again - propose() gives it now.
        """
        if self.check_mode:
            return False
        moved = False
        for (pool, owner), ip in sorted(self.proposed.items()):
            try:
                result = self.ipam.allocate(pool, owner, ip=ip)
            except IpamError:
                if not self._taken(pool, owner, ip):
                    raise
                result, moved = self.ipam.allocate(pool, owner), True
            self.proposed[(pool, owner)] = result["ip"]
            self._note(self.rows[(pool, owner)]["name"], pool, owner, result)
        return moved

    def _taken(self, pool, owner, ip):
        key = self.ipam.addresses(pool) + ip
        found, _rev = self.ipam.store.range(key)
        return key in found and not is_free_for(found[key][0], owner, self.ipam.clock())

    def bind(self, pool, name, ip, holder, where):
        """Record ``holder`` (the machine's moid / instance id) for the owner's address ``ip``."""
        owner = self.owner(name, where)
        # takeover: the owner is the machine's name and the module has just found or made the one
        # machine of that name, so an earlier holder was its predecessor (removed some other way).
        result = self.ipam.allocate(pool, owner, ip=ip, holder=holder, takeover=True, check_mode=self.check_mode)
        self._note(name, pool, owner, result)

    def release(self, pool, name, where):
        """The owner's address goes into the pool's hold-down; call it once the machine is gone."""
        owner = self.owner(name, where)
        result = self.ipam.release(pool, owner, force=True, check_mode=self.check_mode)
        self._note(name, pool, owner, result)

    def _note(self, name, pool, owner, result):
        address = result.get("address") or {}
        self.rows[(pool, owner)] = _row(name, pool, owner, address.get("ip") or result.get("ip"), address)
        for entry in result.get("diff") or []:
            self.changed = True
            if (pool, owner) in self._diff:
                self._diff[(pool, owner)]["after"] = entry["after"]
            else:
                self._diff[(pool, owner)] = dict(entry)

    @property
    def diff(self):
        """One diff entry per address this task changes (would change, in check mode)."""
        return [self._diff[key] for key in sorted(self._diff)]

    def result(self):
        return [self.rows[key] for key in sorted(self.rows)]


def _row(name, pool, owner, ip, address):
    address = address or {}
    return {"name": name, "pool": pool, "owner": owner, "ip": ip, "state": address.get("state"),
            "holder": address.get("holder")}


# ============================================================== ecs_instance


def vswitch_problems(pool, cidr):
    """Why ``pool`` cannot give addresses on a vSwitch of ``cidr`` (ECS keeps its first and last three)."""
    subnet, vswitch = ipaddress.ip_network(pool["subnet"]), ipaddress.ip_network(cidr, strict=False)
    if not subnet.subnet_of(vswitch):
        return ["ipam_pool %s has the subnet %s, which is not inside the vSwitch CIDR %s; name a pool inside it"
                % (pool["name"], subnet, vswitch)]
    reserved = [vswitch.network_address] + [vswitch.broadcast_address - n for n in (2, 1, 0)]
    handed = [str(ip) for ip in reserved if str(ip) not in pool["reserved"]
              and any(first <= ip <= last for first, last in pool_ranges(pool))]
    if handed:
        return ["ipam_pool %s can hand out %s, which ECS keeps for itself in the vSwitch CIDR %s; add %s to the "
                "pool's reserved addresses or narrow its ranges" % (pool["name"], ", ".join(handed), vswitch,
                                                                    "them" if len(handed) > 1 else "it")]
    return []


# ============================================================== vsphere_vm


def nic_from_pool(net, where, pool, ip):
    """(the networks[] entry with the pool's address, prefix and gateway, [errors]).

    A netmask, prefix or gateway given next to ipam_pool must be the pool's.
    """
    subnet = ipaddress.ip_network(pool["subnet"])
    errors = []
    if net.get("prefix") is not None and net["prefix"] != subnet.prefixlen:
        errors.append("%s.prefix: %s is not the prefix of ipam_pool %s (subnet %s); leave it out, the pool gives it"
                      % (where, net["prefix"], pool["name"], subnet))
    if net.get("netmask"):
        try:
            mask = ipaddress.ip_network("0.0.0.0/%s" % net["netmask"]).prefixlen
        except ValueError:
            mask = None  # validate_network says so
        if mask is not None and mask != subnet.prefixlen:
            errors.append("%s.netmask: %s is not the netmask of ipam_pool %s (subnet %s, netmask %s); leave it out, "
                          "the pool gives it" % (where, net["netmask"], pool["name"], subnet, subnet.netmask))
    gateway = net.get("gateway")
    if gateway and pool.get("gateway") and gateway != pool["gateway"]:
        errors.append("%s.gateway: %s is not the gateway %s of ipam_pool %s; leave it out, the pool gives it"
                      % (where, gateway, pool["gateway"], pool["name"]))
    elif gateway and (_ip(gateway) is None or _ip(gateway) not in subnet):
        errors.append("%s.gateway: %s is not an address in the subnet %s of ipam_pool %s" % (
            where, gateway, subnet, pool["name"]))
    filled = dict((k, v) for k, v in net.items() if k not in ("ipam_pool", "netmask"))
    filled.update(ip=ip, prefix=subnet.prefixlen, gateway=gateway or pool.get("gateway"))
    return filled, errors


def _ip(text):
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        return None


def pool_nics(spec):
    """[(index, pool)] of a vsphere_vm spec's networks[] entries that name an IPAM pool."""
    return [(i, net["ipam_pool"]) for i, net in enumerate(spec.get("networks") or []) if net.get("ipam_pool")]


def vsphere_addresses(nodes, specs, exists):
    """The specs with their ipam_pool NICs given their addresses; Problems before anything is written.

    A VM to create gets a proposed address; a VM that exists (``exists(spec)``) the one its owner
    has - it keeps its address, and a VM whose owner has none is an error naming the fix.
    """
    filled, problems = [], []
    for spec in specs:
        nics = pool_nics(spec)
        if nics and spec["state"] == "absent":
            # Released after the VM is gone: the owner and the pool must hold up now already.
            for i, pool_name in nics:
                try:
                    nodes.owner(spec["name"], spec["src"]["name"])
                    nodes.pool(pool_name, "%s[%d].ipam_pool" % (spec["src"]["networks"], i))
                except IpamError as exc:
                    problems.append(str(exc))
        if not nics or spec["state"] == "absent":
            filled.append(spec)
            continue
        networks = list(spec["networks"])
        seen = {}
        for i, pool_name in nics:
            where = "%s[%d]" % (spec["src"]["networks"], i)
            if pool_name in seen:
                problems.append("%s.ipam_pool: VM '%s' names pool %s for %s too; a machine has one address per pool"
                                % (where, spec["name"], pool_name, seen[pool_name]))
                continue
            seen[pool_name] = where
            try:
                pool = nodes.pool(pool_name, where + ".ipam_pool")
                if exists(spec):
                    ip = nodes.current(pool_name, spec["name"], spec["src"]["name"])
                    if ip is None:
                        owner = nodes.owner(spec["name"], spec["src"]["name"])
                        problems.append(
                            "%s.ipam_pool: VM '%s' exists, but pool %s has no address allocated to its owner %s. "
                            "Allocate the VM's address to that owner with containerops.platform.ipam_address (ip: "
                            "its address), or delete the VM (state: absent, force: true) to re-create it with an "
                            "address from the pool" % (where, spec["name"], pool_name, owner))
                        continue
                else:
                    ip = nodes.propose(pool_name, spec["name"], spec["src"]["name"])
            except IpamError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))
                continue
            networks[i], errors = nic_from_pool(networks[i], where, pool, ip)
            problems.extend(errors)
        filled.append(dict(spec, networks=networks))
    if problems:
        raise Problems(problems)
    return filled


def vsphere_settle(nodes, specs, results, gone):
    """After the run: bind each VM's pool addresses to its moid; release those of VMs that are gone.

    ``specs``: as the task gave them (with ipam_pool); ``results``: name -> the module's per-VM
    result (its moid); ``gone``: names of absent-state VMs that no longer exist.
    """
    for spec in specs:
        nics = pool_nics(spec)
        if spec["state"] == "absent":
            for _i, pool_name in nics if spec["name"] in gone else ():
                nodes.release(pool_name, spec["name"], spec["src"]["name"])
            continue
        moid = (results.get(spec["name"]) or {}).get("moid")
        for _i, pool_name in nics:
            ip = nodes.rows.get((pool_name, nodes.owner(spec["name"], spec["src"]["name"])), {}).get("ip")
            if moid and ip:
                nodes.bind(pool_name, spec["name"], ip, moid, spec["src"]["name"])
