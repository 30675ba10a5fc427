"""The fleet's vocabulary (plugins/module_utils/fleet.py, docs/fleet.md): one role mark, one group-name rule,
one set of power words and one reading of a filter's answer, the same for both clouds' inventory plugins, the
desired-fleet filters and vsphere_vm's shared state words."""
import pytest

from ansible_collections.containerops.platform.plugins.filter import fleet as desired
from ansible_collections.containerops.platform.plugins.inventory import ecs as ecs_inv
from ansible_collections.containerops.platform.plugins.inventory import vsphere as vs_inv
from ansible_collections.containerops.platform.plugins.module_utils import _vsphere_spec
from ansible_collections.containerops.platform.plugins.module_utils.fleet import (
    ROLE_KEY,
    RUNNING,
    STOPPED,
    fleet_groups,
    group_name,
    observed_role,
    power_state,
    role_marks,
    truthy,
)


@pytest.mark.parametrize("kind, value, group", [
    ("zone", "cn-hangzhou-h", "zone_cn_hangzhou_h"), ("zone", "ap-southeast-1a", "zone_ap_southeast_1a"),
    ("zone", "IDC-Shanghai.1", "zone_idc_shanghai_1"), ("zone", "DC0_C0", "zone_dc0_c0"),
    ("role", "Web.Front-End", "role_web_front_end"), ("role", "Worker Pool", "role_worker_pool"),
    ("role", "a b/c", "role_a_b_c"), ("provider", "vsphere", "provider_vsphere"),
])
def test_group_names_are_lower_case_with_everything_else_as_underscores(kind, value, group):
    assert group_name(kind, value) == group


def test_groups_come_from_the_platform_variables_both_plugins_set():
    assert fleet_groups({"platform_provider": "ecs", "platform_zone": "cn-hangzhou-h",
                         "platform_observed_role": "Manager"}) == ["provider_ecs", "zone_cn_hangzhou_h", "role_manager"]
    # No zone (a VM on a standalone host), no role mark: no such group.
    assert fleet_groups({"platform_provider": "vsphere", "platform_zone": None}) == ["provider_vsphere"]


@pytest.mark.parametrize("word, fleet_word", [
    ("poweredOn", "running"), ("poweredOff", "stopped"), ("suspended", "suspended"),          # vSphere
    ("Running", "running"), ("Stopped", "stopped"), ("Pending", "pending"), ("Stopping", "stopping"),  # ECS
    (None, "unknown"), ("", "unknown"),
])
def test_each_clouds_power_word_becomes_the_fleets(word, fleet_word):
    assert power_state(word) == fleet_word


VM = {"moid": "vm-1", "name": "vs1", "uuid": "u", "ip": None, "datacenter": "DC0", "cluster": "C0", "esxi_host": "h",
      "folder": "/DC0/vm", "attributes": {ROLE_KEY: "worker"}, "extra": {}}
INSTANCE = {"InstanceId": "i-1", "RegionId": "cn-hangzhou", "ZoneId": "cn-hangzhou-h",
            "Tags": {"Tag": [{"TagKey": ROLE_KEY, "TagValue": "worker"}]}}


@pytest.mark.parametrize("hostvars, on, off, groups", [
    (lambda word: vs_inv.InventoryModule._hostvars(dict(VM, power_state=word)), "poweredOn", "poweredOff",
     ["provider_vsphere", "zone_c0", "role_worker"]),
    (lambda word: ecs_inv.host_vars(dict(INSTANCE, Status=word)), "Running", "Stopped",
     ["provider_ecs", "zone_cn_hangzhou_h", "role_worker"]),
], ids=["vsphere", "ecs"])
def test_both_inventory_plugins_speak_the_same_vocabulary(hostvars, on, off, groups):
    assert hostvars(on)["platform_power_state"] == RUNNING
    assert hostvars(off)["platform_power_state"] == STOPPED
    assert hostvars(on)["platform_observed_role"] == "worker"
    assert fleet_groups(hostvars(on)) == groups


def test_vsphere_vm_accepts_the_fleets_power_words():
    assert set(_vsphere_spec.SHARED_STATES) == {RUNNING, STOPPED}


def test_the_role_mark_the_filters_write_is_the_one_the_plugins_read():
    assert role_marks("manager") == {"containerops.role": "manager"}
    assert observed_role(role_marks("manager")) == "manager"
    assert role_marks(None) == {} and role_marks("") == {}
    assert observed_role({ROLE_KEY: ""}) is None and observed_role(None) is None
    (vm,) = desired.vsphere_vm_specs([{"inventory_hostname": "vs-1", "platform_role": "manager"}])
    by_region = desired.ecs_instance_specs([{"inventory_hostname": "e1", "ecs_region": "r", "platform_role": "worker"}])
    assert observed_role(vm["attributes"]) == "manager" and observed_role(by_region["r"][0]["tags"]) == "worker"


@pytest.mark.parametrize("answer, keep", [
    (True, True), (False, False), (1, True), (0, False), ([], False), (["x"], True), (None, False),
    ("true", True), ("True ", True), ("yes", True), ("on", True), ("1", True),
    ("false", False), ("False", False), ("no", False), ("0", False), ("", False), ("running", False),
])
def test_a_filter_answer_keeps_a_host_when_ansible_would_call_it_true(answer, keep):
    assert truthy(answer) is keep
