"""What a cloud has and what the inventory wants never share a variable name (docs/fleet.md).

Host variables of any inventory source beat group_vars, and a later source beats an earlier
one: a plugin that set a desired name would silently replace the desired value (a role change
ignored, an instance type drift never warned about, a guest IP as a manager's address)."""
import pathlib

import pytest
from ansible.inventory.data import InventoryData

from ansible_collections.containerops.platform.plugins.filter import fleet as desired
from ansible_collections.containerops.platform.plugins.inventory import ecs as ecs_inv
from ansible_collections.containerops.platform.plugins.inventory import vsphere as vs_inv
from ansible_collections.containerops.platform.plugins.module_utils.fleet import DESIRED_NAMES, set_connection_address

REPO = pathlib.Path(__file__).resolve().parents[4]

INSTANCE = {
    "InstanceId": "i-1", "InstanceName": "e1", "Status": "Running", "RegionId": "cn-hangzhou",
    "ZoneId": "cn-hangzhou-h", "InstanceType": "ecs.g7.large", "ImageId": "img",
    "VpcAttributes": {"VpcId": "vpc-1", "VSwitchId": "vsw-1", "PrivateIpAddress": {"IpAddress": ["10.0.16.5"]}},
    "SecurityGroupIds": {"SecurityGroupId": ["sg-1"]}, "PublicIpAddress": {"IpAddress": ["47.1.2.3"]},
    "Tags": {"Tag": [{"TagKey": "containerops.role", "TagValue": "worker"}]},
}
VM = {"moid": "vm-1", "name": "vs1", "uuid": "u", "ip": "172.17.0.1", "power_state": "poweredOn",
      "datacenter": "DC0", "cluster": "C0", "esxi_host": "h", "folder": "/DC0/vm",
      "attributes": {"containerops.role": "worker"}, "extra": {}}


def desired_vocabulary():
    """Every variable name a desired fleet host may carry (what the filters read)."""
    names = set(DESIRED_NAMES)
    names.update("vsphere_" + o for o in desired.VSPHERE_OPTIONS + ("network", "netmask", "gateway", "datacenter"))
    names.update("ecs_" + o for o in desired.ECS_OPTIONS + ("region", "tags"))
    return names


@pytest.mark.parametrize("plugin_vars", [ecs_inv.host_vars(INSTANCE), vs_inv.InventoryModule._hostvars(VM)],
                         ids=["ecs", "vsphere"])
def test_no_inventory_plugin_variable_is_a_desired_name(plugin_vars):
    assert not set(plugin_vars) & desired_vocabulary()
    assert plugin_vars["platform_observed_role"] == "worker" and plugin_vars["platform_observed_ip"]


def test_observed_ecs_settings_are_all_reported_under_observed_names():
    hv = ecs_inv.host_vars(INSTANCE)
    assert (hv["ecs_observed_instance_type"], hv["ecs_observed_image_id"], hv["ecs_observed_vswitch_id"],
            hv["ecs_observed_security_group_ids"], hv["ecs_observed_tags"]) == \
        ("ecs.g7.large", "img", "vsw-1", ["sg-1"], {"containerops.role": "worker"})


@pytest.mark.parametrize("fleet_first", [True, False], ids=["fleet-file-first", "plugin-first"])
def test_a_desired_address_is_never_replaced_whatever_the_source_order(fleet_first):
    inventory = InventoryData()
    inventory.add_host("vs1")

    def fleet_file():
        inventory.set_variable("vs1", "ansible_host", "10.88.1.13")

    def plugin():
        set_connection_address(inventory, "vs1", "172.17.0.1")   # docker0, as VMware Tools may report it

    for source in ((fleet_file, plugin) if fleet_first else (plugin, fleet_file)):
        source()
    assert inventory.get_host("vs1").vars["ansible_host"] == "10.88.1.13"


def test_a_machine_the_inventory_does_not_describe_is_reached_at_its_observed_address():
    inventory = InventoryData()
    inventory.add_host("stray")
    set_connection_address(inventory, "stray", "10.0.16.9")
    assert inventory.get_host("stray").vars["ansible_host"] == "10.0.16.9"
    inventory.add_host("off")
    set_connection_address(inventory, "off", None)
    assert "ansible_host" not in inventory.get_host("off").vars
