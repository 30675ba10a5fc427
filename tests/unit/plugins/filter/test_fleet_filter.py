"""The desired fleet in inventory becomes exactly the module arguments provision.yml passes on."""

import pytest

from ansible_collections.containerops.platform.plugins.filter.fleet import ecs_instance_specs, vsphere_vm_specs


def test_vsphere_host_becomes_a_vm_entry_with_static_nic_and_role():
    host = {"inventory_hostname": "vs-1", "ansible_host": "10.1.2.3", "platform_role": "manager",
            "vsphere_template": "tpl", "vsphere_cpus": 2, "vsphere_network": "VM Network",
            "vsphere_netmask": "255.255.255.0", "vsphere_gateway": "10.1.2.1",
            "vsphere_extra_config": {"k": "v"}, "unrelated": "x"}
    assert vsphere_vm_specs([host]) == [{
        "name": "vs-1", "template": "tpl", "cpus": 2, "extra_config": {"k": "v"},
        "networks": [{"name": "VM Network", "ip": "10.1.2.3", "netmask": "255.255.255.0", "gateway": "10.1.2.1"}],
        "attributes": {"containerops.role": "manager"},
    }]


def test_vsphere_host_without_network_or_role_keeps_template_nic():
    (spec,) = vsphere_vm_specs([{"inventory_hostname": "vs-2", "vsphere_template": "tpl"}])
    assert spec == {"name": "vs-2", "template": "tpl"}


def test_ecs_hosts_are_grouped_by_region_with_ip_and_role_tag():
    hosts = [
        {"inventory_hostname": "e1", "ansible_host": "10.0.16.5", "ecs_region": "cn-hangzhou",
         "ecs_vswitch_id": "vsw-1", "platform_role": "worker", "ecs_tags": {"team": "ops"}},
        {"inventory_hostname": "e2", "ecs_region": "cn-shanghai", "ecs_image_id": "img"},
        {"inventory_hostname": "e3", "ecs_region": "cn-hangzhou", "ecs_vswitch_id": "vsw-2"},
    ]
    specs = ecs_instance_specs(hosts)
    assert list(specs) == ["cn-hangzhou", "cn-shanghai"]
    assert specs["cn-hangzhou"][0] == {"name": "e1", "host_name": "e1", "vswitch_id": "vsw-1",
                                       "private_ip": "10.0.16.5",
                                       "tags": {"team": "ops", "containerops.role": "worker"}}
    assert [s["name"] for s in specs["cn-hangzhou"]] == ["e1", "e3"]
    assert specs["cn-shanghai"] == [{"name": "e2", "host_name": "e2", "image_id": "img"}]


def test_ecs_host_without_region_is_a_clear_error():
    with pytest.raises(ValueError, match="e9 has no ecs_region"):
        ecs_instance_specs([{"inventory_hostname": "e9"}])
