# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the desired fleet in inventory (docs/fleet.md) into module arguments.

A desired host carries `vsphere_*` or `ecs_*` variables; provision.yml hands the
hosts of a fleet group to these filters and passes the result straight to
vsphere_vm (`vms:`) or ecs_instance (`instances:`), so one task makes them all.
"""

from ansible_collections.containerops.platform.plugins.module_utils.fleet import ROLE_KEY

# vSphere host variable (without the vsphere_ prefix) -> vsphere_vm option of the same name.
VSPHERE_OPTIONS = ("template", "cluster", "resource_pool", "folder", "datastore", "cpus", "memory_mb",
                   "disks", "extra_config", "user_data", "metadata", "domain", "dns_servers")
ECS_OPTIONS = ("vswitch_id", "zone_id", "security_group_ids", "image_id", "instance_type", "user_data")


def _get(host, key):
    # hostvars entries are lazy mappings: `in` + item access templates the value.
    return host[key] if key in host else None


def _copy_prefixed(host, prefix, options):
    spec = {}
    for option in options:
        value = _get(host, prefix + option)
        if value is not None:
            spec[option] = value
    return spec


def vsphere_vm_specs(hosts):
    specs = []
    for host in hosts:
        name = _get(host, "inventory_hostname")
        spec = {"name": name, **_copy_prefixed(host, "vsphere_", VSPHERE_OPTIONS)}
        network = {"name": _get(host, "vsphere_network"), "ip": _get(host, "ansible_host"),
                   "netmask": _get(host, "vsphere_netmask"), "gateway": _get(host, "vsphere_gateway")}
        if network["name"]:
            spec["networks"] = [{k: v for k, v in network.items() if v is not None}]
        role = _get(host, "platform_role")
        if role:
            spec["attributes"] = {ROLE_KEY: role}
        specs.append(spec)
    return specs


def ecs_instance_specs(hosts):
    """Group desired ECS hosts by region: {region: [instances entries]}."""
    by_region = {}
    for host in hosts:
        name = _get(host, "inventory_hostname")
        region = _get(host, "ecs_region")
        if not region:
            raise ValueError(f"ecs_instance_specs: host {name} has no ecs_region; set it in inventory")
        spec = {"name": name, "host_name": name, **_copy_prefixed(host, "ecs_", ECS_OPTIONS)}
        if _get(host, "ansible_host"):
            spec["private_ip"] = _get(host, "ansible_host")
        tags = dict(_get(host, "ecs_tags") or {})
        if _get(host, "platform_role"):
            tags[ROLE_KEY] = _get(host, "platform_role")
        if tags:
            spec["tags"] = tags
        by_region.setdefault(region, []).append(spec)
    return by_region


class FilterModule:
    def filters(self):
        return {"vsphere_vm_specs": vsphere_vm_specs, "ecs_instance_specs": ecs_instance_specs}
