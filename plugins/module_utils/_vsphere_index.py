# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to vsphere_vm: one datacenter's inventory, read in one retrieval.

The names vsphere_vm resolves (folders, clusters, pools, datastores, port groups,
VMs) and who holds which IP, without a call per object.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import with_retries
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_spec import IP_CLAIM, claimed_ips

try:
    from pyVmomi import vim, vmodl
except ImportError:  # reported by connect()
    pass


def _index_properties():
    return {
        vim.Folder: ["name", "parent"],
        vim.ClusterComputeResource: ["name", "resourcePool"],
        vim.ResourcePool: ["name", "parent", "owner"],
        vim.VirtualMachine: ["name", "parent", "config.template", "guest.ipAddress", "customValue",
                             "runtime.powerState"],
        vim.DistributedVirtualSwitch: ["uuid"],
    }


class DatacenterIndex:
    """One datacenter's inventory, read in one retrieval: the names the module resolves."""

    def __init__(self, client, datacenter):
        self.client = client
        dc_ref = client.find_datacenter(datacenter)
        self.name = datacenter
        self.ref = dc_ref
        # The datacenter itself and, through it, its datastores and networks (a view of the
        # datacenter does not list every datastore on every server) ride in the same call.
        P = vmodl.query.PropertyCollector
        P_ = [P.TraversalSpec(name=path, type=vim.Datacenter, path=path, skip=False)
              for path in ("datastore", "network")]
        objects = P.FilterSpec(
            objectSet=[P.ObjectSpec(obj=dc_ref, skip=False, selectSet=P_)],
            propSet=client.props({
                vim.Datacenter: ["name", "vmFolder", "hostFolder"], vim.Datastore: ["name"], vim.Network: ["name"],
                vim.dvs.DistributedVirtualPortgroup: ["name", "key", "config.distributedVirtualSwitch"]}))
        rows = client.retrieve_views([dc_ref], _index_properties(),
                                     extra_specs=[objects, client.field_definitions_spec()], plain=True)
        self.dc = next(r for r in rows if r["moid"] == dc_ref._moId)
        self.fields = client.field_names(rows)  # key -> name
        self.by_type = {}
        for row in rows:
            self.by_type.setdefault(row["type"], []).append(row)
        self.folders = dict((r["moid"], r) for r in self.by_type.get("Folder", []))
        self.vms = self.by_type.get("VirtualMachine", [])
        switches = (self.by_type.get("VmwareDistributedVirtualSwitch", [])
                    + self.by_type.get("DistributedVirtualSwitch", []))
        self.switch_uuid = dict((r["moid"], r.get("uuid")) for r in switches)
        self.networks = {}
        for row in self.by_type.get("Network", []) + self.by_type.get("DistributedVirtualPortgroup", []) + \
                self.by_type.get("OpaqueNetwork", []):
            self.networks.setdefault(row["name"], {})[row["moid"]] = row
        self.datastores = dict((r["name"], r["moid"]) for r in self.by_type.get("Datastore", []))
        self._ip_pools = None

    # -- lookups

    def folder_path(self, folder_moid):
        """'/DC0/vm/a/b' for a VM folder moid."""
        parts = []
        current = folder_moid
        while current in self.folders:
            parts.append(self.folders[current]["name"])
            current = self.folders[current].get("parent")
        return "/" + "/".join([self.name] + list(reversed(parts)))

    def find_folder(self, segments):
        current = self.dc["vmFolder"]
        for seg in segments:
            children = [m for m, f in self.folders.items() if f.get("parent") == current and f["name"] == seg]
            if not children:
                return None
            current = children[0]
        return current

    def vms_named(self, name):
        return [v for v in self.vms if v.get("name") == name]

    def attributes_of(self, custom_values):
        """customValue {key: value} -> {attribute name: value}."""
        return dict((self.fields[k], v) for k, v in (custom_values or {}).items() if k in self.fields)

    def claims_of(self, vm):
        """[(ip, how)] a VM row holds: its guest IP and its IP claim (extraConfig, when read, and attribute)."""
        held = [(vm["guest.ipAddress"], "guest IP")] if vm.get("guest.ipAddress") else []
        claims = claimed_ips((vm.get("config.extraConfig") or {}).get(IP_CLAIM))
        held.extend((ip, "%s claim" % IP_CLAIM) for ip in claims)
        held.extend((ip, "%s attribute" % IP_CLAIM)
                    for ip in claimed_ips(self.attributes_of(vm.get("customValue")).get(IP_CLAIM)))
        return held

    def ip_owners(self):
        """{ip: (VM name, how)} of every VM of the datacenter."""
        owners = {}
        for vm in self.vms:
            for ip, how in self.claims_of(vm):
                owners.setdefault(ip, (vm["name"], how))
        return owners

    def ip_pools(self):
        """Subnets vSphere knows for port groups (IP pools / network protocol profiles): {network moid: net}."""
        if self._ip_pools is None:
            self._ip_pools = {}
            try:
                pools = with_retries(self.client.content.ipPoolManager.QueryIpPools,
                                     self.client.obj(self.dc["moid"]))
            except vmodl.MethodFault:
                pools = []  # not every vCenter edition has IP pools; fall back to netmask checks
            for pool in pools or []:
                cfg = pool.ipv4Config
                if not cfg or not cfg.subnetAddress or not cfg.netmask:
                    continue
                try:
                    net = ipaddress.IPv4Network("%s/%s" % (cfg.subnetAddress, cfg.netmask), strict=False)
                except ValueError:
                    continue
                for assoc in pool.networkAssociation or []:
                    if assoc.network is not None:
                        self._ip_pools[assoc.network._moId] = (net, pool.name)
        return self._ip_pools
