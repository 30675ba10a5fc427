"""Node addresses (_ipam_nodes.py): the owner a machine's address belongs to, the checks of a pool against
the machine's network, and proposals that stay distinct within a task - against a private etcd."""
import os
import subprocess
import sys

import pytest

from ansible_collections.containerops.platform.plugins.module_utils import _ipam_nodes as nodes_mod
from ansible_collections.containerops.platform.plugins.module_utils.ipam import ETCD_ARGSPEC, Ipam, IpamError, Store

POOL = {"name": "p", "subnet": "10.60.0.0/24", "gateway": "10.60.0.1", "ranges": ["10.60.0.10-10.60.0.14"],
        "reserved": [], "provider": "vsphere"}


def test_the_ipam_option_takes_the_etcd_modules_connection_options():
    assert nodes_mod.IPAM_OPTION["options"] is ETCD_ARGSPEC   # the one spec, from the model (no etcd client)
    assert nodes_mod.IPAM_OPTION["apply_defaults"] and ETCD_ARGSPEC["password"]["no_log"]


def test_modules_without_a_pool_import_neither_the_ipam_client_nor_etcd3gw():
    code = ("import sys\n"
            "from ansible_collections.containerops.platform.plugins.modules import ecs_instance, vsphere_vm\n"
            "loaded = [m for m in sys.modules if m.startswith('etcd3gw') or m.endswith('module_utils.ipam')]\n"
            "assert not loaded, loaded\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("place, name, words", [
    ("DC1", "web 01", ["vms[0].name: 'web 01' cannot be part of the IPAM owner node:DC1:web 01", "rename"]),
    ("DC1", "w" * 190, ["at most 191 characters"]),
    ("My DC", "web-01", ["datacenter 'My DC' cannot be part of the IPAM owner node:<datacenter>:<name>"]),
    ("a:b", "web-01", ["datacenter 'a:b'"]),
])
def test_an_owner_that_the_ipam_cannot_take_is_an_error_naming_the_option(place, name, words):
    with pytest.raises(IpamError) as info:
        nodes_mod.NodeAddresses({}, "vsphere", place).owner(name, "vms[0].name")
    for word in words:
        assert word in str(info.value)


def test_the_owner_is_the_machine_in_its_datacenter_or_region_never_an_id():
    assert nodes_mod.NodeAddresses({}, "vsphere", "DC1").owner("web-01", "name") == "node:DC1:web-01"
    assert nodes_mod.NodeAddresses({}, "ecs", "cn-hangzhou").owner("w.1", "name") == "node:cn-hangzhou:w.1"


def test_a_pool_must_lie_inside_the_vswitch_and_hand_out_no_address_ecs_keeps():
    pool = dict(POOL, provider="ecs")
    assert nodes_mod.vswitch_problems(pool, "10.60.0.0/16") == []
    (outside,) = nodes_mod.vswitch_problems(pool, "10.61.0.0/24")
    assert "10.60.0.0/24" in outside and "10.61.0.0/24" in outside and "not inside" in outside
    edge = dict(pool, ranges=["10.60.0.2-10.60.0.254"])
    (kept,) = nodes_mod.vswitch_problems(edge, "10.60.0.0/24")
    assert "10.60.0.253, 10.60.0.254" in kept and "10.60.0.255" not in kept
    assert nodes_mod.vswitch_problems(dict(edge, reserved=["10.60.0.253", "10.60.0.254"]), "10.60.0.0/24") == []


def test_a_nic_gets_the_pools_prefix_and_gateway_and_what_it_gives_itself_must_agree():
    net = {"name": "VM Network", "ipam_pool": "p", "dns_servers": ["10.60.0.2"]}
    filled, errors = nodes_mod.nic_from_pool(net, "networks[0]", POOL, "10.60.0.10")
    assert errors == [] and filled == {"name": "VM Network", "ip": "10.60.0.10", "prefix": 24,
                                       "gateway": "10.60.0.1", "dns_servers": ["10.60.0.2"]}
    agreeing = dict(net, netmask="255.255.255.0", gateway="10.60.0.1")
    assert nodes_mod.nic_from_pool(agreeing, "networks[0]", POOL, "10.60.0.10")[1] == []
    _filled, errors = nodes_mod.nic_from_pool(dict(net, netmask="255.255.0.0", gateway="10.60.0.254"),
                                              "vms[1].networks[0]", POOL, "10.60.0.10")
    assert errors == [
        "vms[1].networks[0].netmask: 255.255.0.0 is not the netmask of ipam_pool p (subnet 10.60.0.0/24, netmask "
        "255.255.255.0); leave it out, the pool gives it",
        "vms[1].networks[0].gateway: 10.60.0.254 is not the gateway 10.60.0.1 of ipam_pool p; leave it out, "
        "the pool gives it"]
    assert "prefix: 16 is not the prefix" in nodes_mod.nic_from_pool(dict(net, prefix=16), "n", POOL, "x")[1][0]
    no_gateway = dict(POOL, gateway=None)
    assert "outside" not in str(nodes_mod.nic_from_pool(dict(net, gateway="10.60.0.1"), "n", no_gateway, "x")[1])
    assert "not an address in the subnet" in nodes_mod.nic_from_pool(dict(net, gateway="10.9.0.1"), "n",
                                                                     no_gateway, "x")[1][0]


@pytest.fixture
def nodes(etcd_url, ipam_prefix):
    Ipam(Store([etcd_url]), ipam_prefix).pool_present(POOL)
    return lambda check=False: nodes_mod.NodeAddresses({"endpoints": [etcd_url], "prefix": ipam_prefix},
                                                       "vsphere", "DC1", check)


def test_proposals_of_one_task_are_distinct_until_the_pool_runs_out_and_write_nothing(nodes):
    task = nodes(check=True)
    revision = task.ipam.store.revision()
    ips = [task.propose("p", "vm-%d" % i, "vms[%d].name" % i) for i in range(5)]
    assert sorted(ips) == ["10.60.0.%d" % n for n in range(10, 15)]
    with pytest.raises(IpamError, match="pool p is exhausted.*after the 5 this task gives other machines"):
        task.propose("p", "vm-5", "vms[5].name")
    task.commit()  # check mode: nothing
    assert task.ipam.store.revision() == revision and len(task.diff) == 5

    real = nodes()
    again = [real.propose("p", "vm-%d" % i, "vms[%d].name" % i) for i in range(5)]
    real.commit()
    assert sorted(again) == sorted(ips)
    assert [real.current("p", "vm-%d" % i, "name") for i in range(5)] == again


def test_bind_records_the_holder_and_release_puts_the_address_into_hold_down(nodes):
    task = nodes()
    ip = task.propose("p", "vm-a", "name")
    task.commit()
    task.bind("p", "vm-a", ip, "vm-42", "name")
    # A re-created machine of the same name takes the address over from its predecessor.
    task.bind("p", "vm-a", ip, "vm-43", "name")
    (row,) = task.result()
    assert (row["owner"], row["ip"], row["holder"], row["state"]) == ("node:DC1:vm-a", ip, "vm-43", "allocated")
    assert task.diff[0]["before"] == {"state": "absent"} and task.diff[0]["after"]["holder"] == "vm-43"
    task.release("p", "vm-a", "name")
    assert task.result()[0]["state"] == "held-down" and task.result()[0]["holder"] is None
    assert nodes().current("p", "vm-a", "name") is None
    assert nodes().propose("p", "vm-a", "name") == ip, "its owner gets it back"


def test_a_pool_of_the_other_cloud_or_none_at_all_is_an_error_naming_the_option(nodes, etcd_url, ipam_prefix):
    Ipam(Store([etcd_url]), ipam_prefix).pool_present(dict(POOL, name="e", subnet="10.61.0.0/24",
                                                           gateway=None, ranges=[], provider="ecs"))
    task = nodes()
    with pytest.raises(IpamError, match=r"^networks\[0\].ipam_pool: pool e is a pool of provider ecs"):
        task.pool("e", "networks[0].ipam_pool")
    with pytest.raises(IpamError, match=r"^networks\[1\].ipam_pool: pool nope does not exist under /test/"):
        task.pool("nope", "networks[1].ipam_pool")


def test_an_address_another_task_took_since_the_proposal_moves_its_owner_to_another(nodes):
    mine, other = nodes(), nodes()
    proposed = [mine.propose("p", "vm-%d" % i, "name") for i in range(2)]
    # Another task allocates the first proposal for its own machine before this one commits.
    other.ipam.allocate("p", "node:DC1:vm-other", ip=proposed[0])
    assert mine.commit() is True, "the runner must check and plan again"
    got = [mine.current("p", "vm-%d" % i, "name") for i in range(2)]
    assert got[0] not in (proposed[0], None) and got[1] == proposed[1]
    assert [mine.propose("p", "vm-%d" % i, "name") for i in range(2)] == got, "proposals now give the new ones"
    assert mine.commit() is False


def test_a_task_with_a_pool_and_no_etcd_endpoints_says_which_option_to_set(monkeypatch):
    monkeypatch.delenv("CONTAINEROPS_ETCD_ENDPOINTS", raising=False)
    with pytest.raises(IpamError, match=r"^networks\[0\].ipam_pool: ipam: no etcd endpoints: set the endpoints "
                                        "option or CONTAINEROPS_ETCD_ENDPOINTS"):
        nodes_mod.NodeAddresses({}, "vsphere", "DC1").pool("p", "networks[0].ipam_pool")
