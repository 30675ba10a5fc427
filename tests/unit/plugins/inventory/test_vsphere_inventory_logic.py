"""Pure parts of the vSphere inventory plugin: naming, grouping, where a VM lives (the fleet's vocabulary itself:
tests/unit/plugins/module_utils/test_fleet.py)."""
import pathlib

import pytest

from ansible_collections.containerops.platform.plugins.inventory import vsphere as inv
from ansible_collections.containerops.platform.plugins.module_utils.fleet import fleet_groups

REPO = str(pathlib.Path(__file__).resolve().parents[4])


@pytest.mark.parametrize("path, name", [
    ("config.guestId", "config_guest_id"), ("summary.storage.committed", "summary_storage_committed"),
    ("guest.ipAddress", "guest_ip_address"), ("name", "name"),
])
def test_property_paths_become_snake_case_variables(path, name):
    assert inv.snake(path) == name


def structure():
    rows = [
        {"moid": "group-d1", "type": "Folder", "name": "Datacenters"},
        {"moid": "dc-1", "type": "Datacenter", "name": "DC0", "parent": "group-d1"},
        {"moid": "f-vm", "type": "Folder", "name": "vm", "parent": "dc-1"},
        {"moid": "f-prod", "type": "Folder", "name": "prod", "parent": "f-vm"},
        {"moid": "f-host", "type": "Folder", "name": "host", "parent": "dc-1"},
        {"moid": "c-1", "type": "ClusterComputeResource", "name": "IDC-A", "parent": "f-host"},
        {"moid": "h-1", "type": "HostSystem", "name": "esx1", "parent": "c-1"},
    ]
    return inv.Structure(rows, {1: "containerops.role", 2: "owner"})


def test_where_a_vm_lives_comes_from_the_bulk_structure_read():
    s = structure()
    assert s.path("f-prod") == "/DC0/vm/prod"
    assert s.up("f-prod", ("Datacenter",))["name"] == "DC0"
    assert s.up("h-1", inv.COMPUTE_TYPES)["name"] == "IDC-A"
    row = {"moid": "vm-1", "name": "web-1", "parent": "f-prod", "runtime.host": "h-1", "config.uuid": "u-1",
           "guest.ipAddress": "10.0.0.5", "runtime.powerState": "poweredOn", "customValue": {1: "Manager", 2: "ops"}}
    record = inv.InventoryModule._record(None, row, s, [])
    assert (record["datacenter"], record["cluster"], record["esxi_host"], record["folder"]) == \
        ("DC0", "IDC-A", "esx1", "/DC0/vm/prod")
    assert record["attributes"] == {"containerops.role": "Manager", "owner": "ops"}
    hostvars = inv.InventoryModule._hostvars(record)
    assert hostvars["platform_observed_ip"] == "10.0.0.5" and hostvars["platform_observed_role"] == "Manager"
    assert (hostvars["platform_region"], hostvars["platform_zone"], hostvars["platform_power_state"]) == \
        ("DC0", "IDC-A", "running")
    assert fleet_groups(hostvars) == ["provider_vsphere", "zone_idc_a", "role_manager"]


def test_templates_are_skipped_and_missing_facts_stay_unset():
    s = structure()
    assert inv.InventoryModule._record(None, {"moid": "vm-t", "name": "tpl", "config.template": True}, s, []) is None
    record = inv.InventoryModule._record(None, {"moid": "vm-2", "name": "new", "runtime.powerState": "poweredOff"},
                                         s, [])
    hostvars = inv.InventoryModule._hostvars(record)
    assert "platform_observed_ip" not in hostvars and "platform_observed_role" not in hostvars
    assert fleet_groups(hostvars) == ["provider_vsphere"]
    assert hostvars["platform_power_state"] == "stopped"
