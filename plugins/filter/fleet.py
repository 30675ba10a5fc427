# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the fleet in inventory (docs/fleet.md).

A desired host carries `vsphere_*` or `ecs_*` variables; provision.yml hands the
hosts of a fleet group to vsphere_vm_specs / ecs_instance_specs and passes the
result straight to vsphere_vm (`vms:`) or ecs_instance (`instances:`), so one
task makes them all. hosts_where picks hosts by one of their host variables
(the swarm role's "which hosts are ..." questions).
"""

from collections.abc import Mapping

from jinja2 import Undefined
from jinja2.filters import pass_environment

from ansible_collections.containerops.platform.plugins.module_utils.fleet import role_marks

# vSphere host variable (without the vsphere_ prefix) -> vsphere_vm option of the same name.
VSPHERE_OPTIONS = ("template", "cluster", "resource_pool", "folder", "datastore", "cpus", "memory_mb",
                   "disks", "extra_config", "user_data", "metadata", "domain", "dns_servers")
ECS_OPTIONS = ("vswitch_id", "zone_id", "security_group_ids", "image_id", "instance_type", "user_data", "ipam_pool")


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
        # With an IPAM pool the pool gives the address; ansible_host is then only where to reach the
        # host (the inventory plugin fills it in from the cloud once the machine exists).
        pool = _get(host, "vsphere_ipam_pool")
        network = {"name": _get(host, "vsphere_network"), "ip": None if pool else _get(host, "ansible_host"),
                   "ipam_pool": pool, "netmask": _get(host, "vsphere_netmask"),
                   "gateway": _get(host, "vsphere_gateway")}
        if pool and not network["name"]:
            raise ValueError(f"vsphere_vm_specs: host {name} has vsphere_ipam_pool but no vsphere_network; set the "
                             "port group the pool's address is for")
        if network["name"]:
            spec["networks"] = [{k: v for k, v in network.items() if v is not None}]
        role = _get(host, "platform_role")
        if role:
            spec["attributes"] = role_marks(role)
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
        if _get(host, "ansible_host") and not spec.get("ipam_pool"):
            spec["private_ip"] = _get(host, "ansible_host")
        tags = dict(_get(host, "ecs_tags") or {})
        tags.update(role_marks(_get(host, "platform_role")))
        if tags:
            spec["tags"] = tags
        by_region.setdefault(region, []).append(spec)
    return by_region


_MISSING = object()


def _hostvar(hostvars, host, path):
    """hostvars[host] followed along a dotted path; _MISSING where a key is absent."""
    if host not in hostvars:
        raise ValueError(f"hosts_where: {host} is not a host of the inventory")
    value = hostvars[host]
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
    return _MISSING if isinstance(value, Undefined) else value


@pass_environment
def hosts_where(environment, hosts, hostvars, var, test=None, *args):
    """The hosts, in their order, whose host variable `var` is true or passes the Jinja test.

    Takes the place of hosts | zip(hosts | map('extract', hostvars, var)) | selectattr(1, test, *args)
    | map(attribute=0). A host without the variable is kept only by the test `undefined`, so a
    variable set on some hosts alone needs no `defined` test first.
    """
    selected = []
    for host in hosts:
        value = _hostvar(hostvars, host, var)
        if value is _MISSING:
            keep = test == "undefined"
        elif test is None:
            keep = bool(value)
        else:
            keep = environment.call_test(test, value, args)
        if keep:
            selected.append(host)
    return selected


class FilterModule:
    def filters(self):
        return {"vsphere_vm_specs": vsphere_vm_specs, "ecs_instance_specs": ecs_instance_specs,
                "hosts_where": hosts_where}
