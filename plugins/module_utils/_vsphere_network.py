# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to vsphere_portgroup_policy: a port group's security policy, on standard or distributed switches.

A standard port group lives on each ESXi host (HostNetworkSystem.UpdatePortGroup, the whole
spec at once); a distributed one once in vCenter (ReconfigureDVPortgroup_Task with the current
configVersion and only defaultPortConfig.macManagementPolicy, which vCenter merges).

resolve (two retrievals: the datacenter's clusters, hosts and distributed port groups by
name, then the chosen objects' port groups) -> plan (what differs, the diff; every problem
found here fails the task before anything changes) -> apply (only what differs: one
UpdatePortGroup per host, all hosts at once; or one task, awaited with the client's task wait).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.containerops.platform.plugins.module_utils._provisioning import diff_entry
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import VSphereError
from ansible_collections.containerops.platform.plugins.module_utils.vsphere import connect

try:
    from pyVmomi import vim
except ImportError:  # reported by connect()
    pass


# Option -> field: the same names in HostNetworkSecurityPolicy and DVSMacManagementPolicy.
FIELDS = {"promiscuous": "allowPromiscuous", "forged_transmits": "forgedTransmits", "mac_changes": "macChanges"}
SECURITY_OPTIONS = tuple(FIELDS)
POLICY_OPTIONS = SECURITY_OPTIONS + ("mac_learning",)
MAC_MANAGEMENT_API = (6, 7)  # defaultPortConfig.macManagementPolicy (securityPolicy before, now deprecated)
HOST_PATHS = ["name", "runtime.connectionState", "configManager.networkSystem", "config.network.portgroup",
              "config.network.vswitch"]


def validate_params(params):
    """Problems with the options alone, each naming the option and the fix (no vCenter needed)."""
    errors = []
    if not (params.get("name") or "").strip():
        errors.append("name: the port group's name is required, e.g. 'VM Network'")
    if all(params.get(o) is None for o in POLICY_OPTIONS):
        errors.append("nothing to set: give at least one of %s (true or false)" % ", ".join(POLICY_OPTIONS))
    standard = params.get("cluster") is not None or params.get("hosts") is not None
    if standard and params.get("mac_learning") is not None:
        errors.append("mac_learning: only distributed port groups learn MACs (vSphere 6.7, VDS 6.6); leave out "
                      "cluster and hosts to set it on a distributed port group, or set promiscuous: true on "
                      "this standard one")
    if params.get("cluster") is not None and not params["cluster"].strip():
        errors.append("cluster: empty; give the cluster's name, or hosts")
    if params.get("hosts") is not None:
        if not params["hosts"]:
            errors.append("hosts: empty list; name at least one ESXi host, or give cluster")
        for i, host in enumerate(params["hosts"]):
            if not (host or "").strip():
                errors.append("hosts[%d]: empty host name" % i)
    timeout = params.get("task_timeout")
    if timeout is not None and not 1 <= timeout <= 86400:
        errors.append("task_timeout: %s is not 1 to 86400 seconds" % timeout)
    return errors


def run_portgroup_policy(params, check_mode=False):
    """Entry point of the module: returns the result (with 'diff'), raises VSphereError (details: the result so far)."""
    errors = validate_params(params)
    if errors:
        raise VSphereError("; ".join(errors), errors=errors, changed=False)
    client = connect(params["hostname"], params["username"], params["password"], params["port"],
                     params["validate_certs"])
    try:
        inventory = _Inventory(client, params["datacenter"])
        if params.get("cluster") is not None or params.get("hosts") is not None:
            policy = StandardPolicy(client, inventory, params)
        else:
            policy = DistributedPolicy(client, inventory, params)
        policy.plan()
        if not check_mode:
            policy.apply()
        return policy.result()
    finally:
        client.close()


def wanted(params):
    return dict((o, params[o]) for o in POLICY_OPTIONS if params.get(o) is not None)


class _Inventory:
    """The names the module resolves in one datacenter: clusters, hosts, distributed port groups (one retrieval)."""

    def __init__(self, client, datacenter):
        self.name = datacenter
        dc = client.find_datacenter(datacenter)
        rows = client.retrieve_views([dc], {vim.ClusterComputeResource: ["name", "host"], vim.HostSystem: ["name"],
                                            vim.dvs.DistributedVirtualPortgroup: ["name"]}, plain=True)
        self.clusters = dict((r["name"], r) for r in rows if r["type"] == "ClusterComputeResource")
        self.hosts = dict((r["name"], r["moid"]) for r in rows if r["type"] == "HostSystem")
        self.dv_portgroups = {}
        for row in rows:
            if row["type"] == "DistributedVirtualPortgroup":
                self.dv_portgroups.setdefault(row["name"], []).append(row["moid"])


def _names(items):
    return ", ".join(sorted(items)) or "none"


class StandardPolicy:
    """One standard port group on many hosts: read all in one retrieval, UpdatePortGroup where it differs."""

    def __init__(self, client, inventory, params):
        self.client, self.inventory, self.params = client, inventory, params
        self.name = params["name"]
        self.wanted = wanted(params)
        self.hosts = []   # per host: the result entry
        self._apply = {}  # host name -> (network system, new spec)

    def _host_moids(self):
        inv = self.inventory
        if self.params.get("hosts") is not None:
            names = list(dict.fromkeys(h.strip() for h in self.params["hosts"]))
            missing = [n for n in names if n not in inv.hosts]
            if missing:
                raise VSphereError("hosts: %s not found in datacenter %s; it has: %s"
                                   % (", ".join("'%s'" % n for n in missing), inv.name, _names(inv.hosts)),
                                   changed=False)
            return [inv.hosts[n] for n in names]
        cluster = inv.clusters.get(self.params["cluster"].strip())
        if cluster is None:
            raise VSphereError("cluster: '%s' not found in datacenter %s; it has: %s"
                               % (self.params["cluster"], inv.name, _names(inv.clusters)), changed=False)
        if not cluster.get("host"):
            raise VSphereError("cluster: '%s' has no hosts; add hosts to it or give hosts" % cluster["name"],
                               changed=False)
        return cluster["host"]

    def plan(self):
        refs = [self.client.obj(m) for m in self._host_moids()]
        rows = self.client.retrieve_objects(refs, {vim.HostSystem: HOST_PATHS})
        errors = []
        for row in sorted(rows, key=lambda r: r.get("name") or ""):
            error = self._plan_host(row)
            if error:
                errors.append(error)
        if errors:
            raise VSphereError("; ".join(errors), errors=errors, changed=False)

    def _plan_host(self, row):
        host = row.get("name") or row["moid"]
        state = row.get("runtime.connectionState")
        if state != "connected" or not row.get("configManager.networkSystem"):
            return ("host %s is %s: its port groups cannot be changed; reconnect it, or list the other hosts "
                    "in hosts" % (host, state or "not reporting its configuration"))
        groups = row.get("config.network.portgroup") or []
        found = [g for g in groups if g.spec.name == self.name]
        if not found:
            hint = ""
            if self.name in self.inventory.dv_portgroups:
                hint = ("; '%s' is a distributed port group in datacenter %s: leave out cluster and hosts to set "
                        "its policy" % (self.name, self.inventory.name))
            return "port group '%s' not found on host %s; the host has: %s%s" % (
                self.name, host, _names(g.spec.name for g in groups), hint)
        spec = found[0].spec
        security = spec.policy.security if spec.policy is not None else None
        before = dict((o, getattr(security, f, None) if security is not None else None) for o, f in FIELDS.items())
        after = dict(before, **self.wanted)
        entry = {"host": host, "changed": before != after, "vswitch": spec.vswitchName, "vlan_id": spec.vlanId,
                 "vswitch_policy": self._vswitch_policy(row, spec.vswitchName), "before": before, "after": after}
        self.hosts.append(entry)
        if entry["changed"]:
            # The spec as read, only security changed: UpdatePortGroup replaces the whole spec, and a
            # policy left unset would become "inherit from the vSwitch".
            if spec.policy is None:
                spec.policy = vim.host.NetworkPolicy()
            if spec.policy.security is None:
                spec.policy.security = vim.host.NetworkPolicy.SecurityPolicy()
            for option, value in self.wanted.items():
                setattr(spec.policy.security, FIELDS[option], value)
            self._apply[host] = (self.client.obj(row["configManager.networkSystem"]), spec)
        return None

    @staticmethod
    def _vswitch_policy(row, vswitch):
        for switch in row.get("config.network.vswitch") or []:
            policy = switch.spec.policy if switch.spec is not None else None
            if switch.name == vswitch and policy is not None and policy.security is not None:
                return dict((o, getattr(policy.security, f, None)) for o, f in FIELDS.items())
        return None

    def apply(self):
        calls = dict((host, (network_system.UpdatePortGroup, [], {"pgName": self.name, "portgrp": spec}))
                     for host, (network_system, spec) in self._apply.items())
        done, failed = self.client.start(calls)
        if failed:
            for entry in self.hosts:
                if entry["host"] in failed:
                    entry["changed"], entry["error"] = False, failed[entry["host"]]
            lines = ["%s: %s" % (host, error) for host, error in sorted(failed.items())]
            raise VSphereError("UpdatePortGroup of '%s' failed on %d host(s): %s; changed on: %s"
                               % (self.name, len(failed), "; ".join(lines), _names(done)),
                               changed=bool(done), type="standard", hosts=self.hosts)

    def result(self):
        changed = [e for e in self.hosts if e["changed"]]
        return {"changed": bool(changed), "type": "standard", "hosts": self.hosts,
                "diff": [diff_entry("%s on %s" % (self.name, e["host"]), e["before"], e["after"]) for e in changed]}


class DistributedPolicy:
    """One distributed port group: defaultPortConfig.macManagementPolicy through ReconfigureDVPortgroup_Task."""

    def __init__(self, client, inventory, params):
        self.client, self.inventory, self.params = client, inventory, params
        self.name = params["name"]
        self.wanted = wanted(params)
        self.entry = None
        self._spec = None

    def _find(self):
        inv = self.inventory
        moids = inv.dv_portgroups.get(self.name, [])
        if not moids:
            raise VSphereError("name: no distributed port group '%s' in datacenter %s (it has: %s); for a standard "
                               "port group give cluster or hosts" % (self.name, inv.name, _names(inv.dv_portgroups)),
                               changed=False)
        if len(moids) > 1:
            raise VSphereError("name: %d distributed port groups are named '%s' in datacenter %s (%s); rename all "
                               "but one" % (len(moids), self.name, inv.name, ", ".join(sorted(moids))), changed=False)
        about = self.client.content.about
        if _version(about.apiVersion) < MAC_MANAGEMENT_API:
            raise VSphereError("distributed port group '%s': vCenter speaks vSphere API %s; the MAC management "
                               "policy needs 6.7 or later" % (self.name, about.apiVersion), changed=False)
        return moids[0]

    def plan(self):
        ref = self.client.obj(self._find())
        (row,) = self.client.retrieve_objects([ref], {vim.dvs.DistributedVirtualPortgroup: [
            "name", "config.configVersion", "config.defaultPortConfig"]})
        setting = row.get("config.defaultPortConfig")
        current = getattr(setting, "macManagementPolicy", None)
        before = _mac_management_view(current, getattr(setting, "securityPolicy", None))
        after = dict(before, **self.wanted)
        self.entry = {"name": self.name, "moid": row["moid"], "changed": before != after,
                      "before": before, "after": after}
        if not self.entry["changed"]:
            return
        S = vim.dvs.VmwareDistributedVirtualSwitch
        learning = getattr(current, "macLearningPolicy", None)
        if "mac_learning" in self.wanted:
            learning = learning or S.MacLearningPolicy()
            learning.inherited, learning.enabled = False, self.wanted["mac_learning"]
        # A whole policy: vCenter replaces macManagementPolicy as one, so unchanged values go along.
        policy = S.MacManagementPolicy(inherited=False, macLearningPolicy=learning,
                                       **dict((FIELDS[o], after[o]) for o in SECURITY_OPTIONS))
        self._spec = (ref, vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
            configVersion=row.get("config.configVersion"),
            defaultPortConfig=S.VmwarePortConfigPolicy(macManagementPolicy=policy)))

    def apply(self):
        if self._spec is None:
            return
        ref, spec = self._spec
        _done, errors = self.client.run_tasks({self.name: (ref.ReconfigureDVPortgroup_Task, [spec], {})},
                                              timeout=self.params["task_timeout"], option="task_timeout")
        if errors:
            error = errors[self.name]
            if "ConcurrentAccess" in error:
                error += " (the port group changed between this task's read and write; run it again)"
            self.entry["changed"], self.entry["error"] = False, error
            raise VSphereError("ReconfigureDVPortgroup_Task of distributed port group '%s' failed: %s"
                               % (self.name, error), changed=False, type="distributed", dv_portgroup=self.entry)

    def result(self):
        e = self.entry
        diff = [diff_entry("distributed port group %s" % self.name, e["before"], e["after"])] if e["changed"] else []
        return {"changed": e["changed"], "type": "distributed", "hosts": [], "dv_portgroup": e, "diff": diff}


def _mac_management_view(policy, security):
    """{option: value} of a DV port group; from the deprecated securityPolicy if there is no macManagementPolicy."""
    if policy is not None:
        view = dict((o, getattr(policy, f, None)) for o, f in FIELDS.items())
        learning = getattr(policy, "macLearningPolicy", None)
        view["mac_learning"] = learning.enabled if learning is not None else False
        return view
    view = {}
    for option, field in FIELDS.items():
        bool_policy = getattr(security, field, None) if security is not None else None
        view[option] = getattr(bool_policy, "value", None)
    view["mac_learning"] = None
    return view


def _version(text):
    parts = []
    for part in (text or "0").split(".")[:2]:
        parts.append(int(part) if part.isdigit() else 0)
    return tuple(parts + [0] * (2 - len(parts)))
