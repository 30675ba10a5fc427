"""module_utils/_docker_network.py: what a macvlan_network task asks the engine for, and the inputs and
existing networks it refuses before anything changes (each message names the option and the fix)."""
import pytest

from ansible_collections.containerops.platform.plugins.module_utils._docker_network import (
    NetworkError,
    desired_network,
    plan_absent,
    plan_network,
    wanted_networks,
)

IFACES = ["lo", "eth0", "docker0"]


def params(**kw):
    base = {"name": "apps", "driver": "macvlan", "parent": "eth0", "vlan": None, "subnet": "10.88.32.0/24",
            "gateway": "10.88.32.1", "ip_range": None, "aux_addresses": {"shim": "10.88.32.2"}, "scope": "local",
            "swarm_network": False}
    base.update(kw)
    return base


IPAM = {"Driver": "default", "Options": {}, "Config": [{
    "Subnet": "10.88.32.0/24", "Gateway": "10.88.32.1", "IPRange": "10.88.32.1/32",
    "AuxiliaryAddresses": {"shim": "10.88.32.2"}}]}


def test_macvlan_local_is_one_network_on_the_parent_with_nothing_to_hand_out():
    [(name, _view, body)] = wanted_networks(desired_network(params(), IFACES))
    assert name == "apps"
    assert body == {"Name": "apps", "Driver": "macvlan", "CheckDuplicate": True, "Options": {"parent": "eth0"},
                    "IPAM": IPAM}


def test_ipvlan_is_l2_mode_on_the_vlan_link_the_driver_creates():
    [(_name, view, body)] = wanted_networks(desired_network(params(driver="ipvlan", vlan=100), IFACES))
    assert body["Driver"] == "ipvlan"
    assert body["Options"] == {"parent": "eth0.100", "ipvlan_mode": "l2"}
    assert view["mode"] == "l2" and view["parent"] == "eth0.100"


def test_swarm_scope_is_a_config_only_network_per_node_and_the_swarm_network_from_it():
    d = desired_network(params(scope="swarm", ip_range="10.88.32.64/28", swarm_network=True), IFACES)
    (config, _v1, config_body), (net, _v2, net_body) = wanted_networks(d)
    assert config == "apps-config" and net == "apps"
    assert config_body == {"Name": "apps-config", "ConfigOnly": True, "CheckDuplicate": True,
                           "Options": {"parent": "eth0"},
                           "IPAM": dict(IPAM, Config=[dict(IPAM["Config"][0], IPRange="10.88.32.64/28")])}
    assert net_body == {"Name": "apps", "Driver": "macvlan", "Scope": "swarm", "Attachable": True,
                        "CheckDuplicate": True, "ConfigFrom": {"Network": "apps-config"}}
    assert [n for n, _v, _b in wanted_networks(dict(d, swarm_network=False))] == ["apps-config"]


@pytest.mark.parametrize("change, words", [
    ({"parent": "eth3"}, ["parent eth3 is not an interface of this node (its interfaces: docker0, eth0, lo)"]),
    ({"parent": "eth3", "vlan": 7}, ["parent eth3 is not an interface", "creates the VLAN link eth3.7"]),
    ({"parent": "eth0.5", "vlan": 7}, ["already names a VLAN link", "give the physical interface"]),
    ({"vlan": 4095}, ["vlan 4095 is not an 802.1q VLAN ID: give 1-4094"]),
    ({"parent": "enp0s31f6xyz", "vlan": 1000}, ["longer than Linux's 15 characters"]),
    ({"subnet": "10.88.32.7/24"}, ["subnet 10.88.32.7/24 is not an IPv4 network", "host bits zero"]),
    ({"gateway": "10.88.33.1"}, ["gateway 10.88.33.1 is not a host address of subnet 10.88.32.0/24"]),
    ({"gateway": "10.88.32.0"}, ["gateway 10.88.32.0 is not a host address"]),
    ({"aux_addresses": {"shim": "10.9.0.2"}}, ["aux_addresses.shim 10.9.0.2 must be an address of subnet"]),
    ({"aux_addresses": {"shim": "10.88.32.1"}}, ["other than the gateway"]),
    ({"ip_range": "10.88.40.0/28"}, ["ip_range 10.88.40.0/28 is not inside subnet 10.88.32.0/24"]),
    ({"scope": "swarm"}, ["scope swarm needs ip_range", "a range of its own"]),
    ({"swarm_network": True}, ["swarm_network is only for scope swarm"]),
    ({"name": "-apps"}, ["is not a Docker network name"]),
])
def test_bad_input_is_refused_naming_the_option_and_the_fix(change, words):
    with pytest.raises(NetworkError) as err:
        desired_network(params(**change), IFACES)
    for word in words:
        assert word in str(err.value)


def test_a_vlan_link_that_does_not_exist_yet_is_fine_when_its_interface_does():
    assert desired_network(params(parent="eth0.100"), IFACES)["parent"] == "eth0.100"


def existing(driver="macvlan", options=None, ipam=None, containers=None, name="apps"):
    return {"Name": name, "Id": "n1", "Driver": driver, "Scope": "local", "ConfigOnly": False,
            "ConfigFrom": {"Network": ""}, "Options": options or {"parent": "eth0"}, "IPAM": ipam or IPAM,
            "Containers": containers or {}}


def test_a_network_as_wanted_needs_nothing():
    d = desired_network(params(), IFACES)
    assert plan_network(d, {"apps": existing()}, []) == {"remove": [], "create": [], "diff": []}


def test_a_different_network_with_containers_is_never_recreated_and_says_what_differs():
    d = desired_network(params(), IFACES)
    other = dict(IPAM, Config=[dict(IPAM["Config"][0], Subnet="10.88.33.0/24", Gateway="10.88.33.1")])
    net = existing(driver="ipvlan", ipam=other, containers={"c1": {"Name": "web-1"}})
    for recreate in (False, True):
        with pytest.raises(NetworkError) as err:
            plan_network(d, {"apps": net}, [], recreate=recreate)
        msg = str(err.value)
        assert 'driver "ipvlan" (wanted "macvlan")' in msg
        assert 'subnet "10.88.33.0/24" (wanted "10.88.32.0/24")' in msg
        assert 'gateway "10.88.33.1" (wanted "10.88.32.1")' in msg
        assert "containers on it (web-1) would have to be detached first" in msg
        assert "nothing was changed" in msg


def test_a_different_network_without_containers_is_recreated_only_when_asked():
    d = desired_network(params(), IFACES)
    net = existing(options={"parent": "eth1"})
    with pytest.raises(NetworkError) as err:
        plan_network(d, {"apps": net}, [])
    assert 'parent "eth1" (wanted "eth0")' in str(err.value) and "recreate: true" in str(err.value)
    plan = plan_network(d, {"apps": net}, [], recreate=True)
    assert plan["remove"] == [("apps", "n1")] and [n for n, _b in plan["create"]] == ["apps"]
    assert plan["diff"][0][1]["parent"] == "eth1" and plan["diff"][0][2]["parent"] == "eth0"


def test_a_parent_another_network_uses_is_refused():
    d = desired_network(params(), IFACES)
    with pytest.raises(NetworkError) as err:
        plan_network(d, {"apps": None}, [existing(name="old-data")])
    assert "parent eth0 is already used by network old-data" in str(err.value)
    # a bridge network with a "parent" option of its own is no macvlan user of the interface
    assert plan_network(d, {"apps": None}, [existing(driver="bridge", name="br")])["create"]


def test_absent_removes_the_swarm_network_before_its_config_and_never_one_with_containers():
    nets = {"apps-config": existing(name="apps-config"), "apps": existing(name="apps")}
    nets["apps"]["Id"] = "n2"
    assert plan_absent(["apps-config", "apps"], nets)["remove"] == [("apps", "n2"), ("apps-config", "n1")]
    with pytest.raises(NetworkError) as err:
        plan_absent(["apps"], {"apps": existing(containers={"c": {"Name": "web-1"}})})
    assert "still has containers attached on this node (web-1)" in str(err.value)
