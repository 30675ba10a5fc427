# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: ecs
short_description: Alibaba Cloud ECS instances as inventory hosts
version_added: 0.1.0
description:
  - Lists the ECS instances of one or more regions (regions fetched concurrently, 100 instances
    per DescribeInstances page with C(MaxResults)/C(NextToken)) and turns them into hosts with the
    groups and variables of the collection's fleet conventions (C(docs/fleet.md)).
  - "Groups: C(provider_ecs) (every instance), C(zone_<ZoneId>) and C(role_<containerops.role tag>);
    group names are sanitised to lower case with C(-) and C(.) turned into C(_)."
  - "Host variables: C(platform_provider=ecs), C(platform_region), C(platform_zone),
    C(platform_observed_ip) (the VPC private IP), C(platform_observed_role) (tag C(containerops.role),
    unset without it), C(platform_power_state) (C(running), C(stopped), or C(pending), C(starting),
    C(stopping)) and C(ecs_*): C(ecs_instance_id), C(ecs_instance_name), C(ecs_observed_instance_type),
    C(ecs_observed_image_id), C(ecs_vpc_id), C(ecs_observed_vswitch_id), C(ecs_observed_security_group_ids),
    C(ecs_status) (the ECS word), C(ecs_observed_tags) (a dictionary), and C(ecs_public_ip) when there is one."
  - What the instance has never takes a name the desired fleet uses (C(ecs_instance_type),
    C(platform_role), ... in C(docs/fleet.md)), so desired settings in inventory always win over what
    the cloud reports, and C(ecs_instance) can warn about the difference.
  - C(ansible_host) is set to the private IP only for a host that has no C(ansible_host) from an
    earlier inventory source, so Ansible can reach instances the inventory does not describe; a
    desired host's address is never replaced (put the fleet file after this source to be sure)."
  - The source file name must end in C(ecs.yml) or C(ecs.yaml).
  - Connection options (keys, C(profile), C(endpoint)...) may be Jinja templates, such as an
    C(ansible.builtin.env) lookup (see the examples). They are rendered with the plugin's templar;
    ansible-core 2.19 renders them because it loads the source file as trusted. Host and group
    variables of the inventory are not available to them.
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.ecs
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as a source for this plugin.
    required: true
    type: str
    choices: [containerops.platform.ecs]
  regions:
    description:
      - Regions to list. Empty means the O(region) option (or its fallbacks); without that, every
        region DescribeRegions returns.
    type: list
    elements: str
    default: []
  vpc_ids:
    description: Only instances in these VPCs (DescribeInstances C(VpcId), one query per VPC).
    type: list
    elements: str
    default: []
  vswitch_ids:
    description: Only instances in these vSwitches (DescribeInstances C(VSwitchId), one query per vSwitch).
    type: list
    elements: str
    default: []
  tags:
    description:
      - Only instances carrying all these tags (DescribeInstances C(Tag.N)). A null or empty value
        matches any value of that key.
    type: dict
    default: {}
  statuses:
    description: Only instances in these statuses (DescribeInstances C(Status), one query per status).
    type: list
    elements: str
    choices: [Pending, Running, Starting, Stopping, Stopped]
    default: []
  filters:
    description:
      - Jinja expressions evaluated per instance with its host variables (as above, before O(compose));
        an instance is kept only when every expression is true. Runs after the server-side filters.
    type: list
    elements: str
    default: []
  hostnames:
    description:
      - Preference list for the inventory hostname; the first one with a value wins. Entries are
        C(InstanceName), C(InstanceId), C(HostName), C(PrivateIpAddress) or C(tag:<key>).
      - When two instances would get the same hostname, the later one is named by its C(InstanceId)
        and a warning is shown.
    type: list
    elements: str
    default: [InstanceName, InstanceId]
  max_workers:
    description: Threads that query regions (and filter combinations) concurrently.
    type: int
    default: 8
"""

EXAMPLES = r"""
# inventories/lab/ecs.yml: the lab emulator, keys from the lab's aliyun-cli profile file
plugin: containerops.platform.ecs
shared_credentials_file: ../../.lab/aliyun.json   # relative to this file
profile: containerops-lab
endpoint: 127.0.0.1:8990
regions: [cn-hangzhou, cn-shanghai]

---
# production: keys from the environment (ALICLOUD_ACCESS_KEY / ALICLOUD_SECRET_KEY), or templated
plugin: containerops.platform.ecs
access_key: "{{ lookup('ansible.builtin.env', 'PROD_ALICLOUD_KEY') }}"
secret_key: "{{ lookup('ansible.builtin.env', 'PROD_ALICLOUD_SECRET') }}"
regions: [cn-hangzhou]
vpc_ids: [vpc-bp1example]
tags:
  containerops.managed: "true"
statuses: [Running, Stopped]
filters:
  - "platform_observed_role is defined"
hostnames: [InstanceName, "tag:fqdn", InstanceId]
keyed_groups:
  - key: ecs_observed_instance_type
    prefix: type
compose:
  ansible_user: "'root'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-ecs
cache_timeout: 300
"""

import concurrent.futures
import os

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    CONNECTION_ARGSPEC,
    HAS_SDK,
    SDK_IMPORT_ERROR,
    SDK_MISSING_MSG,
    EcsConfigError,
    EcsError,
    build_client,
    private_ip,
    tags_to_dict,
)
from ansible_collections.containerops.platform.plugins.module_utils.fleet import (
    fleet_groups,
    observed_role,
    power_state,
    set_connection_address,
    truthy,
)

DISCOVERY_REGION = "cn-hangzhou"  # any public region answers DescribeRegions


def host_vars(inst):
    """The fleet.md host variables of one DescribeInstances entry.

    Deliberately few: under ansible-core 2.19 every variable is trust-tagged when set and
    again when dumped, which is most of the cost of a 2000-host inventory.
    """
    tags = tags_to_dict(inst)
    vpc = inst.get("VpcAttributes") or {}
    public = (inst.get("PublicIpAddress") or {}).get("IpAddress") or []
    public_ip = (inst.get("EipAddress") or {}).get("IpAddress") or (public[0] if public else None)
    ip = private_ip(inst)
    hv = {
        "platform_provider": "ecs",
        "platform_region": inst.get("RegionId"),
        "platform_zone": inst.get("ZoneId"),
        "platform_power_state": power_state(inst.get("Status")),
        "ecs_instance_id": inst.get("InstanceId"),
        "ecs_instance_name": inst.get("InstanceName"),
        # Observed, so never the names of the desired fleet (docs/fleet.md): those must win.
        "ecs_observed_instance_type": inst.get("InstanceType"),
        "ecs_observed_image_id": inst.get("ImageId"),
        "ecs_vpc_id": vpc.get("VpcId"),
        "ecs_observed_vswitch_id": vpc.get("VSwitchId"),
        "ecs_observed_security_group_ids": list((inst.get("SecurityGroupIds") or {}).get("SecurityGroupId", [])),
        "ecs_status": inst.get("Status"),
        "ecs_observed_tags": tags,
    }
    if ip:
        hv["platform_observed_ip"] = ip
    if public_ip:
        hv["ecs_public_ip"] = public_ip
    role = observed_role(tags)
    if role:
        hv["platform_observed_role"] = role
    return hv


def preferred_hostname(inst, preferences):
    for pref in preferences:
        if pref.startswith("tag:"):
            value = tags_to_dict(inst).get(pref[4:])
        elif pref == "PrivateIpAddress":
            value = private_ip(inst)
        else:
            value = inst.get(pref)
        if value:
            return str(value)
    return None


def query_params(vpc_ids, vswitch_ids, statuses, tags):
    """One DescribeInstances filter set per combination of the list-valued server-side filters."""
    tag_params = [{"Key": k, "Value": None if v in (None, "") else str(v)} for k, v in sorted(tags.items())]
    combos = []
    for vpc in vpc_ids or [None]:
        for vsw in vswitch_ids or [None]:
            for status in statuses or [None]:
                params = {"VpcId": vpc, "VSwitchId": vsw, "Status": status, "Tag": tag_params or None}
                combos.append(dict((k, v) for k, v in params.items() if v is not None))
    return combos


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "containerops.platform.ecs"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("ecs.yml", "ecs.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if not HAS_SDK:
            raise AnsibleError(SDK_MISSING_MSG % SDK_IMPORT_ERROR)
        cache_key = self.get_cache_key(path)
        use_cache = cache and self.get_option("cache")
        instances = None
        if use_cache:
            try:
                instances = self._cache[cache_key]
            except KeyError:
                pass
        if instances is None:
            instances = self._fetch(os.path.dirname(os.path.abspath(path)))
            if self.get_option("cache"):
                self._cache[cache_key] = instances
        self._populate(instances)

    # ------------------------------------------------------------------ fetching

    def _connection_options(self):
        options = {}
        for key in CONNECTION_ARGSPEC:
            value = self.get_option(key)
            if isinstance(value, str) and ("{{" in value or "{%" in value):
                value = self.templar.template(value)
            options[key] = value
        return options

    def _fetch(self, base_dir):
        try:
            client = build_client(self._connection_options(), base_dir=base_dir,
                                  pool_size=max(10, self.get_option("max_workers")))
            regions = self._regions(client)
            combos = query_params(self.get_option("vpc_ids"), self.get_option("vswitch_ids"),
                                  self.get_option("statuses"), self.get_option("tags") or {})
            jobs = [(region, params) for region in regions for params in combos]
            workers = max(1, min(self.get_option("max_workers"), len(jobs)))
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                pages = list(pool.map(lambda job: client.describe_instances(job[0], **job[1]), jobs))
        except (EcsConfigError, EcsError) as exc:
            raise AnsibleError("containerops.platform.ecs: %s" % exc)
        seen, instances = set(), []
        for page in pages:
            for inst in page:
                if inst["InstanceId"] not in seen:
                    seen.add(inst["InstanceId"])
                    instances.append(inst)
        return instances

    def _regions(self, client):
        regions = self.get_option("regions")
        if regions:
            return list(dict.fromkeys(regions))
        if client.region:
            return [client.region]
        body = client.call("DescribeRegions", {}, region=DISCOVERY_REGION)
        return [r["RegionId"] for r in body.get("Regions", {}).get("Region", [])]

    # ------------------------------------------------------------------ populating

    def _populate(self, instances):
        strict = self.get_option("strict")
        filters = self.get_option("filters")
        preferences = self.get_option("hostnames")
        for inst in instances:
            hv = host_vars(inst)
            if filters and not self._passes(filters, hv):
                continue
            name = preferred_hostname(inst, preferences) or inst["InstanceId"]
            if name in self.inventory.hosts and \
                    self.inventory.get_host(name).vars.get("ecs_instance_id") not in (None, inst["InstanceId"]):
                self.display.warning("containerops.platform.ecs: hostname %s is taken by another instance; "
                                     "naming %s by its InstanceId" % (name, inst["InstanceId"]))
                name = inst["InstanceId"]
            self.inventory.add_host(name)
            for group in fleet_groups(hv):
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            for key, value in hv.items():
                self.inventory.set_variable(name, key, value)
            set_connection_address(self.inventory, name, hv.get("platform_observed_ip"))
            # constructed: compose, groups, keyed_groups (with the variables just set)
            self._set_composite_vars(self.get_option("compose"), hv, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hv, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hv, name, strict=strict)

    def _passes(self, filters, hv):
        for expr in filters:
            try:
                if not truthy(self._compose(expr, hv)):
                    return False
            except Exception as exc:
                if self.get_option("strict"):
                    raise AnsibleError("containerops.platform.ecs: filter %r failed: %s" % (expr, exc))
                return False
        return True
