# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vsphere
short_description: vSphere VMs as inventory, read with one bulk PropertyCollector retrieval
version_added: 0.1.0
description:
  - Lists the VMs of a vCenter (templates skipped) in the groups and with the host variables of
    the containerops.platform fleet conventions (docs/fleet.md) - C(provider_vsphere),
    C(zone_<cluster>), C(role_<containerops.role attribute>); C(platform_observed_ip) (guest IP),
    C(platform_provider), C(platform_region), C(platform_zone), C(platform_observed_role),
    C(platform_power_state), and C(vsphere_moid), C(vsphere_uuid), C(vsphere_path) (inventory
    path of the VM), C(vsphere_attributes) (all custom attributes by name).
  - It never sets a variable that describes a desired host (C(platform_role), C(vsphere_folder),
    C(vsphere_cpus), C(vsphere_cluster), ...), so a fleet host's desired settings are not
    overridden by what the VM has now, whatever the order of the inventory sources.
  - C(ansible_host) is set to the guest IP only for a host that has no C(ansible_host) from an
    earlier source, so VMs the inventory does not describe can be reached; a desired host keeps its
    address (VMware Tools may report another interface's address, such as docker0's, as the guest IP).
  - Fetches everything in two bulk reads through the same PropertyCollector - the names of
    datacenters, folders, clusters and hosts with the custom attribute definitions, then ONE
    paged retrieval of the VMs over a ContainerView. There is no per-VM call (no lazy property
    reads, no folder walks, no per-VM custom value reads).
  - The configuration file name must end with C(vsphere.yml) or C(vsphere.yaml).
  - Every connection option may be a Jinja template (e.g. a lookup of a credentials file). Under
    ansible-core 2.19's trust model this works because the plugin's configuration file is
    loaded as trusted template source; the plugin renders these options with its templar, with
    C(inventory_dir) and C(inventory_file) defined. Lookup paths that are relative resolve
    against the current directory. Values from environment variables are never rendered.
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.vsphere
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    type: str
    required: true
    choices: [containerops.platform.vsphere]
  hostname:
    description:
      - vCenter (or ESXi) host name or IP address.
      - Falls back to the environment variable E(VMWARE_HOST).
    type: str
    env:
      - name: VMWARE_HOST
  username:
    description:
      - User to log in to vCenter with, e.g. C(automation@vsphere.local).
      - Falls back to the environment variable E(VMWARE_USER).
    type: str
    aliases: [user]
    env:
      - name: VMWARE_USER
  password:
    description:
      - Password of O(username). Never logged.
      - Falls back to the environment variable E(VMWARE_PASSWORD).
    type: str
    aliases: [pass, pwd]
    env:
      - name: VMWARE_PASSWORD
  port:
    description:
      - HTTPS port of the vCenter API. May be a template (rendered, then converted to a number).
      - Falls back to the environment variable E(VMWARE_PORT).
    type: raw
    default: 443
    env:
      - name: VMWARE_PORT
  validate_certs:
    description:
      - Verify the TLS certificate of vCenter. May be a template (rendered, then converted to a boolean).
      - Set to V(false) only for a lab or a vCenter with a self-signed certificate.
      - Falls back to the environment variable E(VMWARE_VALIDATE_CERTS).
    type: raw
    default: true
    env:
      - name: VMWARE_VALIDATE_CERTS
  datacenters:
    description:
      - Only VMs of these datacenters (by name). Scoping happens in vCenter (ContainerViews
        rooted at these objects), so VMs outside are never transferred.
    type: list
    elements: str
    default: []
  clusters:
    description:
      - Only VMs running in these clusters (by name; inside O(datacenters) when that is set).
      - With O(folders) as well, a VM is listed when it is in any of the clusters or folders.
    type: list
    elements: str
    default: []
  folders:
    description:
      - Only VMs in these VM folders (and their subfolders), as inventory paths C(/DC0/vm/prod)
        or paths below each datacenter's VM folder (C(prod/web)).
    type: list
    elements: str
    default: []
  properties:
    description:
      - More VM property paths to fetch in the same retrieval, e.g. C(config.guestId),
        C(config.hardware.numCPU) or C(summary.storage.committed). Each becomes a host variable
        C(vsphere_<path>) in snake case (C(config.guestId) -> C(vsphere_config_guest_id),
        C(config.hardware.numCPU) -> C(vsphere_config_hardware_num_cpu)); data objects become dicts.
      - Always fetched - C(name), C(parent), C(config.uuid), C(config.template),
        C(runtime.powerState), C(runtime.host), C(guest.ipAddress), C(customValue).
    type: list
    elements: str
    default: []
  filters:
    description:
      - Jinja expressions evaluated for each VM with its host variables; a VM is listed only when
        all are true. Client side - they do not reduce what is fetched (use O(datacenters),
        O(clusters) or O(folders) for that).
      - Filters and the constructed options (O(compose), O(groups), O(keyed_groups)) also see
        C(vsphere_name), C(vsphere_esxi_host), C(vsphere_power_state), C(vsphere_ip) and
        C(vsphere_folder_path), which are not stored as host variables because every stored
        variable slows C(ansible-inventory) down for every host; O(compose) can store any of them.
    type: list
    elements: str
    default: []
  hostnames:
    description:
      - Preference list for the inventory host name; the first that is set wins. Entries are
        C(name), C(uuid), C(moid), C(ip), C(guest_hostname) or a path from O(properties).
      - The VM name is the default because the fleet's desired hosts use it (docs/fleet.md).
        If two listed VMs get the same host name, the later one gets C(_<moid>) appended and a
        warning is shown.
    type: list
    elements: str
    default: [name]
"""

EXAMPLES = r"""
# inventories/lab/vsphere.yml - the lab's vcsim; credentials read from the lab's state file.
# A relative lookup path is relative to the current directory; inventory_dir (the directory of
# this file) is available to build one relative to the inventory instead.
plugin: containerops.platform.vsphere
hostname: "{{ (lookup('ansible.builtin.file', inventory_dir ~ '/../../.lab/lab.json') | from_json).vsphere.host }}"
port: "{{ (lookup('ansible.builtin.file', inventory_dir ~ '/../../.lab/lab.json') | from_json).vsphere.port }}"
username: "{{ (lookup('ansible.builtin.file', inventory_dir ~ '/../../.lab/lab.json') | from_json).vsphere.username }}"
password: "{{ (lookup('ansible.builtin.file', inventory_dir ~ '/../../.lab/lab.json') | from_json).vsphere.password }}"
validate_certs: false

---
# Another file, e.g. inventories/prod/vsphere.yml.
# Production: credentials from the environment (VMWARE_USER, VMWARE_PASSWORD), one datacenter,
# a cache, and extra groups.
plugin: containerops.platform.vsphere
hostname: vcenter.example.internal
datacenters: [DC1]
folders: [/DC1/vm/platform]
properties: [config.guestId]
filters:
  - platform_power_state == 'running'
keyed_groups:
  - key: vsphere_config_guest_id
    prefix: os
compose:
  ansible_user: "'root'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-inventory
cache_timeout: 300
"""

import os
import re

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.containerops.platform.plugins.module_utils.fleet import (
    fleet_groups,
    group_name,
    observed_role,
    power_state,
    set_connection_address,
    truthy,
)
from ansible_collections.containerops.platform.plugins.module_utils.vsphere import HAS_PYVMOMI, VSphereError, connect

try:
    from pyVmomi import vim
    from pyVmomi.VmomiSupport import DataObject, ManagedObject
except ImportError:
    pass  # reported in parse()

# What every VM needs for the fleet conventions; anything else only on request (each
# property is parsed 10000 times for 10000 VMs).
BASE_PATHS = ["name", "parent", "config.uuid", "config.template", "runtime.powerState", "runtime.host",
              "guest.ipAddress", "customValue"]
HOSTNAME_PATHS = {"name": "name", "uuid": "config.uuid", "ip": "guest.ipAddress",
                  "guest_hostname": "guest.hostName", "moid": None}


def snake(path):
    """config.guestId -> config_guest_id (for host variable names)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", path).replace(".", "_").lower()


def to_data(value):
    """pyVmomi values -> JSON-able data (for host vars and the cache)."""
    if isinstance(value, ManagedObject):
        return value._moId
    if isinstance(value, str):
        return str(value)  # pyVmomi enums are str subclasses Ansible cannot store
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)  # pyVmomi's long/short/byte
    if isinstance(value, float):
        return float(value)
    if isinstance(value, DataObject):
        return dict((p.name, to_data(getattr(value, p.name))) for p in value._GetPropertyList()
                    if getattr(value, p.name) is not None and p.name not in ("dynamicType", "dynamicProperty"))
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return dict((k, to_data(v)) for k, v in value.items())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, type):
        return getattr(value, "_wsdlName", value.__name__)  # e.g. managedObjectType: VirtualMachine
    return value


class Structure:
    """Names and parents of datacenters, folders, clusters and hosts: where each VM lives."""

    def __init__(self, rows, fields):
        self.rows = dict((r["moid"], r) for r in rows)
        self.fields = fields

    def up(self, object_id, kinds):
        """The nearest ancestor (or self) whose type is in kinds."""
        seen = 0
        while object_id in self.rows and seen < 64:
            row = self.rows[object_id]
            if row["type"] in kinds:
                return row
            object_id = row.get("parent")
            seen += 1
        return None

    def path(self, object_id):
        parts = []
        while object_id in self.rows:
            row = self.rows[object_id]
            if row["type"] != "Folder" or row.get("parent") in self.rows:
                parts.append(row["name"])  # the root folder ("Datacenters") is not in paths
            object_id = row.get("parent")
        return "/" + "/".join(reversed(parts))

    def named(self, kinds, name):
        return [r for r in self.rows.values() if r["type"] in kinds and r["name"] == name]


CLUSTER_TYPES = ("ClusterComputeResource",)
COMPUTE_TYPES = ("ClusterComputeResource", "ComputeResource")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "containerops.platform.vsphere"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("vsphere.yml", "vsphere.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        if not HAS_PYVMOMI:
            raise AnsibleParserError("the containerops.platform.vsphere inventory needs pyvmomi on the controller")
        self._config_path = os.path.abspath(path)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        records = None
        if use_cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if records is None:
            records = self._fetch()
        if update_cache:
            self._cache[cache_key] = records
        self._populate(records)

    # ---------------------------------------------------------------- options

    def _rendered(self, name):
        """A connection option, rendered when it is a template from the (trusted) config file.

        inventory_dir / inventory_file are available, so a credentials file can be found
        relative to the inventory rather than to the current directory.
        """
        value = self.get_option(name)
        if isinstance(value, str) and self.templar.is_possibly_template(value):
            self.templar.available_variables = {"inventory_dir": os.path.dirname(self._config_path),
                                                "inventory_file": self._config_path}
            value = self.templar.template(value)
        return value

    def _connection(self):
        try:
            port = int(self._rendered("port"))
        except (TypeError, ValueError):
            raise AnsibleParserError("port: %r is not a port number" % self._rendered("port"))
        try:
            validate = boolean(self._rendered("validate_certs"), strict=True)
        except TypeError:
            raise AnsibleParserError("validate_certs: %r is not a boolean" % self._rendered("validate_certs"))
        return dict(hostname=self._rendered("hostname"), username=self._rendered("username"),
                    password=self._rendered("password"), port=port, validate_certs=validate)

    def _hostname_paths(self):
        paths = []
        for entry in self.get_option("hostnames"):
            path = HOSTNAME_PATHS.get(entry, entry)
            if path and path not in BASE_PATHS:
                paths.append(path)
        return paths

    # ---------------------------------------------------------------- fetch

    def _fetch(self):
        """Two bulk reads: the structure (+ custom field names), then all VMs in scope, paged."""
        try:
            client = connect(**self._connection())
        except VSphereError as exc:
            raise AnsibleParserError(exc.msg)
        try:
            structure = self._structure(client)
            roots = self._scope(client, structure)
            extra = list(self.get_option("properties")) + self._hostname_paths()
            paths = BASE_PATHS + [p for p in extra if p not in BASE_PATHS]
            rows = client.retrieve_views(roots, {vim.VirtualMachine: sorted(set(paths))}, plain=True)
            return [rec for rec in (self._record(row, structure, extra) for row in rows) if rec]
        except VSphereError as exc:
            raise AnsibleParserError(exc.msg)
        finally:
            client.close()

    def _structure(self, client):
        types = {vim.Folder: ["name", "parent"], vim.Datacenter: ["name", "parent", "vmFolder"],
                 vim.ComputeResource: ["name", "parent"], vim.ClusterComputeResource: ["name", "parent"],
                 vim.HostSystem: ["name", "parent"]}
        rows = client.retrieve_views(None, types, extra_specs=[client.field_definitions_spec()], plain=True)
        fields = client.field_names(rows)
        return Structure([r for r in rows if r["type"] != "CustomFieldsManager"], fields)

    def _scope(self, client, structure):
        """ContainerView roots for the datacenters/clusters/folders options (None = everything)."""
        datacenters = []
        for name in self.get_option("datacenters"):
            found = structure.named(("Datacenter",), name)
            if not found:
                raise AnsibleParserError("datacenters: '%s' not found; vCenter has: %s" % (
                    name, ", ".join(sorted(r["name"] for r in structure.rows.values() if r["type"] == "Datacenter"))))
            datacenters.extend(found)
        dc_ids = set(r["moid"] for r in datacenters)

        def inside(row):
            return not dc_ids or (structure.up(row["moid"], ("Datacenter",)) or {}).get("moid") in dc_ids

        roots = []
        for name in self.get_option("clusters"):
            found = [r for r in structure.named(CLUSTER_TYPES, name) if inside(r)]
            if not found:
                raise AnsibleParserError("clusters: cluster '%s' not found%s" % (
                    name, " in datacenters %s" % ", ".join(self.get_option("datacenters")) if dc_ids else ""))
            roots.extend(found)
        for folder in self.get_option("folders"):
            found = self._find_folders(structure, folder, inside)
            if not found:
                raise AnsibleParserError("folders: VM folder '%s' not found (give /<datacenter>/vm/<path> or "
                                         "<path> below the datacenters' VM folders)" % folder)
            roots.extend(found)
        if not roots:
            roots = datacenters
        return [client.obj(r["moid"]) for r in roots] or None

    @staticmethod
    def _find_folders(structure, folder, inside):
        wanted = "/" + "/".join(p for p in folder.split("/") if p)
        found = []
        for row in structure.rows.values():
            if row["type"] != "Folder" or not inside(row):
                continue
            path = structure.path(row["moid"])
            dc = structure.up(row["moid"], ("Datacenter",))
            relative = path[len("/%s/vm" % dc["name"]):] if dc else None
            if path == wanted or (relative and relative == wanted):
                found.append(row)
        return found

    def _record(self, row, structure, extra):
        """One VM as plain data (what is cached), or None for templates."""
        if row.get("config.template"):
            return None
        host = structure.rows.get(row.get("runtime.host"), {})
        compute = structure.up(host.get("parent"), COMPUTE_TYPES) if host else None
        datacenter = structure.up(row.get("parent"), ("Datacenter",)) or \
            (structure.up(host.get("parent"), ("Datacenter",)) if host else None)
        attributes = dict((structure.fields[k], v) for k, v in (row.get("customValue") or {}).items()
                          if k in structure.fields)
        record = {
            "moid": row["moid"], "name": row.get("name"), "uuid": row.get("config.uuid"),
            "ip": row.get("guest.ipAddress"), "power_state": row.get("runtime.powerState"),
            "datacenter": datacenter["name"] if datacenter else None,
            "cluster": compute["name"] if compute else None,
            "esxi_host": host.get("name"), "folder": structure.path(row.get("parent")) if row.get("parent") else None,
            "attributes": attributes,
            "extra": dict((p, to_data(row.get(p))) for p in extra),
        }
        return record

    # ---------------------------------------------------------------- populate

    def _populate(self, records):
        strict = self.get_option("strict")
        compose, groups, keyed_groups = (self.get_option(o) for o in ("compose", "groups", "keyed_groups"))
        self.inventory.add_group(group_name("provider", "vsphere"))   # there even when no VM is listed
        taken = {}
        for record in records:
            hostvars = self._hostvars(record)
            context = self._context(record, hostvars)
            if not self._passes_filters(context):
                continue
            name = self._hostname(record)
            if name in taken:
                self.display.warning("vsphere inventory: VMs %s and %s both map to host name '%s'; naming the "
                                     "second '%s_%s'" % (taken[name], record["moid"], name, name, record["moid"]))
                name = "%s_%s" % (name, record["moid"])
            taken[name] = record["moid"]
            self.inventory.add_host(name)
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            set_connection_address(self.inventory, name, record["ip"])
            for group in fleet_groups(hostvars):
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            self._set_composite_vars(compose, context, name, strict=strict)
            self._add_host_to_composed_groups(groups, context, name, strict=strict)
            self._add_host_to_keyed_groups(keyed_groups, context, name, strict=strict)

    @staticmethod
    def _hostvars(record):
        """docs/fleet.md host variables, plus vsphere_* details.

        Every stored variable costs ansible-inventory time for every host (set, then
        merged and dumped: about 0.3 s per variable at 10000 VMs), so only these are
        stored; _context() adds more for filters and the constructed options.
        """
        role = observed_role(record["attributes"])
        hostvars = {
            "platform_provider": "vsphere",
            "platform_region": record["datacenter"],
            "platform_zone": record["cluster"],
            "platform_power_state": power_state(record["power_state"]),
            "vsphere_moid": record["moid"],
            "vsphere_uuid": record["uuid"],
            # Not vsphere_folder/_cpus/_cluster/...: those name the DESIRED settings of a
            # fleet host (docs/fleet.md), and a host var from here would override them.
            "vsphere_path": "%s/%s" % (record["folder"], record["name"]) if record["folder"] else None,
            "vsphere_attributes": record["attributes"],
        }
        if record["ip"]:
            hostvars["platform_observed_ip"] = record["ip"]
        if role:
            hostvars["platform_observed_role"] = role
        for path, value in record["extra"].items():
            hostvars["vsphere_" + snake(path)] = value
        return hostvars

    @staticmethod
    def _context(record, hostvars):
        """What filters, compose, groups and keyed_groups see: the host vars and a few more
        facts that are not stored (compose can store any of them)."""
        context = dict(hostvars)
        context.update(vsphere_name=record["name"], vsphere_esxi_host=record["esxi_host"],
                       vsphere_power_state=record["power_state"], vsphere_ip=record["ip"],
                       vsphere_folder_path=record["folder"])
        return context

    def _hostname(self, record):
        for entry in self.get_option("hostnames"):
            if entry == "moid":
                return record["moid"]
            path = HOSTNAME_PATHS.get(entry, entry)
            value = record["extra"].get(path) if path not in ("name", "config.uuid", "guest.ipAddress") else \
                {"name": record["name"], "config.uuid": record["uuid"], "guest.ipAddress": record["ip"]}[path]
            if value:
                return str(value)
        return record["name"]

    def _passes_filters(self, hostvars):
        for expression in self.get_option("filters"):
            try:
                if not truthy(self._compose(expression, hostvars)):
                    return False
            except Exception as exc:  # noqa: BLE001 - reported with the expression
                if self.get_option("strict"):
                    raise AnsibleError("filters: could not evaluate '%s': %s" % (expression, exc))
                return False
        return True
