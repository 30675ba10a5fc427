"""Hosts whose address comes from an IPAM pool: the filters pass the pool, never ansible_host, as the address."""
import pytest

from ansible_collections.containerops.platform.plugins.filter.fleet import ecs_instance_specs, vsphere_vm_specs


def test_a_vsphere_host_with_a_pool_gets_a_pool_nic_and_ansible_host_is_not_its_ip():
    bare = {"inventory_hostname": "vs-9", "vsphere_network": "VM Network", "vsphere_ipam_pool": "vs-nodes"}
    observed = dict(bare, ansible_host="10.1.2.3", vsphere_gateway="10.1.2.1")
    assert vsphere_vm_specs([bare])[0]["networks"] == [{"name": "VM Network", "ipam_pool": "vs-nodes"}]
    assert vsphere_vm_specs([observed])[0]["networks"] == [{"name": "VM Network", "ipam_pool": "vs-nodes",
                                                            "gateway": "10.1.2.1"}]


def test_a_vsphere_pool_without_a_port_group_is_a_clear_error():
    with pytest.raises(ValueError, match="vs-8 has vsphere_ipam_pool but no vsphere_network"):
        vsphere_vm_specs([{"inventory_hostname": "vs-8", "vsphere_ipam_pool": "vs-nodes"}])


def test_an_ecs_host_with_a_pool_passes_the_pool_and_no_private_ip():
    hosts = [{"inventory_hostname": "e7", "ecs_region": "cn-hangzhou", "ecs_ipam_pool": "hz-nodes"},
             {"inventory_hostname": "e8", "ecs_region": "cn-hangzhou", "ecs_ipam_pool": "hz-nodes",
              "ansible_host": "10.88.16.44"}]
    assert ecs_instance_specs(hosts) == {"cn-hangzhou": [
        {"name": "e7", "host_name": "e7", "ipam_pool": "hz-nodes"},
        {"name": "e8", "host_name": "e8", "ipam_pool": "hz-nodes"}]}
