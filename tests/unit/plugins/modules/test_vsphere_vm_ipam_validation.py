"""vsphere_vm with NICs that name an IPAM pool: what it refuses, each message naming the parameter and the fix.

The option checks run in the module itself (no vCenter configured: a case that got past them would end
in "hostname is required"); the checks against the pool run the module's IPAM step on a private etcd
(conftest's etcd_url), with the VMs' existence given, and must write nothing.
"""
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.containerops.platform.plugins.module_utils._ipam_nodes import (
    NodeAddresses,
    Problems,
    vsphere_addresses,
)
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_spec import merge_vm_specs
from ansible_collections.containerops.platform.plugins.modules import vsphere_vm

POOL = {"name": "vs-nodes", "subnet": "10.70.0.0/24", "gateway": "10.70.0.1", "ranges": ["10.70.0.100-10.70.0.110"],
        "provider": "vsphere"}


def run_module(monkeypatch, capsys, args):
    for var in ("VMWARE_HOST", "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_PORT", "VMWARE_VALIDATE_CERTS",
                "CONTAINEROPS_ETCD_ENDPOINTS"):
        monkeypatch.delenv(var, raising=False)
    with patch_module_args(dict({"datacenter": "DC1", "template": "debian12"}, **args)):
        with pytest.raises(SystemExit):
            vsphere_vm.main()
    return json.loads(capsys.readouterr().out)


def test_ip_and_ipam_pool_on_one_nic_are_refused_before_vcenter(monkeypatch, capsys):
    out = run_module(monkeypatch, capsys, {"vms": [{"name": "a"}, {"name": "b", "networks": [
        {"name": "VM Network", "ip": "10.70.0.5", "prefix": 24, "ipam_pool": "vs-nodes"}]}]})
    assert out["failed"] and out["errors"] == [
        "vms[1].networks[0]: set ip or ipam_pool, not both (ipam_pool takes the address from the IPAM)"]


def test_a_pool_nic_may_give_a_gateway_without_an_ip(monkeypatch, capsys):
    out = run_module(monkeypatch, capsys, {"name": "a", "networks": [
        {"name": "VM Network", "ipam_pool": "vs-nodes", "gateway": "10.70.0.1"}]})
    assert "errors" not in out and "hostname" in out["msg"], out


def test_the_etcd_password_is_never_shown(monkeypatch, capsys):
    secret = "etcd-S3cret-value"
    out = run_module(monkeypatch, capsys, {"name": "a", "ipam": {"endpoints": ["http://127.0.0.1:9"], "user": "u",
                                                                 "password": secret}})
    assert secret not in json.dumps(out)


@pytest.fixture
def task(etcd_url, ipam_prefix):
    def make(params, exists=(), check_mode=False):
        nodes = NodeAddresses({"endpoints": [etcd_url], "prefix": ipam_prefix}, "vsphere", "DC1", check_mode)
        if not nodes.ipam.get_pool("vs-nodes"):
            nodes.ipam.pool_present(POOL)
        specs = merge_vm_specs(dict({"name": None, "vms": None, "state": "poweredon"}, **params))
        return nodes, specs, (lambda spec: spec["name"] in exists)
    return make


def fill(nodes, specs, exists):
    revision = nodes.ipam.store.revision()
    try:
        return vsphere_addresses(nodes, specs, exists)
    finally:
        assert nodes.ipam.store.revision() == revision, "checks and proposals write nothing"


def test_a_netmask_or_gateway_that_disagrees_with_the_pool_fails_naming_the_parameter(task):
    nodes, specs, exists = task({"vms": [
        {"name": "a", "networks": [{"name": "VM Network", "ipam_pool": "vs-nodes"}]},
        {"name": "b", "networks": [{"name": "VM Network", "ipam_pool": "vs-nodes", "netmask": "255.255.0.0"}]},
        {"name": "c", "networks": [{"name": "VM Network", "ipam_pool": "vs-nodes", "gateway": "10.70.0.254"}]},
    ]})
    with pytest.raises(Problems) as info:
        fill(nodes, specs, exists)
    assert info.value.problems == [
        "vms[1].networks[0].netmask: 255.255.0.0 is not the netmask of ipam_pool vs-nodes (subnet 10.70.0.0/24, "
        "netmask 255.255.255.0); leave it out, the pool gives it",
        "vms[2].networks[0].gateway: 10.70.0.254 is not the gateway 10.70.0.1 of ipam_pool vs-nodes; leave it out, "
        "the pool gives it"]


def test_a_top_level_pool_nic_gives_every_vm_its_own_address_prefix_and_gateway(task):
    nodes, specs, exists = task({"networks": [{"name": "VM Network", "ipam_pool": "vs-nodes"}],
                                 "vms": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    filled = fill(nodes, specs, exists)
    nics = [spec["networks"][0] for spec in filled]
    assert len(set(n["ip"] for n in nics)) == 3
    assert all(n["prefix"] == 24 and n["gateway"] == "10.70.0.1" and "ipam_pool" not in n for n in nics)
    assert specs[0]["networks"][0] == {"name": "VM Network", "ipam_pool": "vs-nodes"}, "the task's specs stay"


def test_an_existing_vm_whose_owner_has_no_address_fails_naming_the_fix(task):
    nodes, specs, exists = task({"name": "old", "networks": [{"name": "VM Network", "ipam_pool": "vs-nodes"}]},
                                exists={"old"})
    with pytest.raises(Problems) as info:
        fill(nodes, specs, exists)
    (text,) = info.value.problems
    assert text.startswith("networks[0].ipam_pool: VM 'old' exists, but pool vs-nodes has no address allocated "
                           "to its owner node:DC1:old")
    assert "containerops.platform.ipam_address" in text and "state: absent" in text


def test_two_nics_of_one_vm_from_one_pool_and_a_missing_pool_are_refused(task):
    nodes, specs, exists = task({"vms": [
        {"name": "a", "networks": [{"name": "VM Network", "ipam_pool": "vs-nodes"},
                                   {"name": "DC0_DVPG0", "ipam_pool": "vs-nodes"}]},
        {"name": "b", "networks": [{"name": "VM Network", "ipam_pool": "no-such-pool"}], "state": "absent"},
    ]})
    with pytest.raises(Problems) as info:
        fill(nodes, specs, exists)
    first, second = info.value.problems
    assert second.startswith("vms[1].networks[0].ipam_pool: pool no-such-pool does not exist")
    assert first == ("vms[0].networks[1].ipam_pool: VM 'a' names pool vs-nodes for vms[0].networks[0] too; "
                     "a machine has one address per pool")
