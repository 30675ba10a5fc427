"""macvlan_network run as on a node, its engine the HTTP-level fake (fake_docker_engine) behind the real
Docker SDK: the exact Engine API requests for macvlan, ipvlan and swarm scope, a second run that sends
nothing, check mode that sends nothing, and refusals that reach no engine or change nothing."""
import socket

import pytest
from fake_docker_engine import FakeEngine
from module_runner import run_module

from ansible_collections.containerops.platform.plugins.modules import macvlan_network

# The module looks the parent up on the machine it runs on: here, this one.
PARENT = next((n for _i, n in socket.if_nameindex() if n != "lo"), "lo")


@pytest.fixture
def engine():
    fake = FakeEngine().start()
    yield fake
    fake.stop()


def run(engine, capsys, check_mode=False, **args):
    base = {"name": "apps", "parent": PARENT, "subnet": "10.199.0.0/24", "gateway": "10.199.0.1",
            "aux_addresses": {"shim": "10.199.0.2"}, "docker_host": engine.base_url}
    return run_module(macvlan_network.main, dict(base, **args), capsys, check_mode)


IPAM = {"Driver": "default", "Options": {}, "Config": [{
    "Subnet": "10.199.0.0/24", "Gateway": "10.199.0.1", "IPRange": "10.199.0.1/32",
    "AuxiliaryAddresses": {"shim": "10.199.0.2"}}]}


def test_macvlan_is_created_once_with_exactly_this_request(engine, capsys):
    result = run(engine, capsys)
    assert result["changed"] and result["created"] == ["apps"]
    assert engine.calls() == [("POST", "/networks/create", {}, {
        "Name": "apps", "Driver": "macvlan", "CheckDuplicate": True, "Options": {"parent": PARENT}, "IPAM": IPAM})]
    assert result["network"] == {"driver": "macvlan", "scope": "local", "parent": PARENT, "mode": "bridge",
                                 "subnet": "10.199.0.0/24", "gateway": "10.199.0.1", "ip_range": "10.199.0.1/32",
                                 "aux_addresses": {"shim": "10.199.0.2"}}
    assert result["diff"][0]["before"] == {} and result["diff"][0]["after"]["parent"] == PARENT
    engine.clear()
    again = run(engine, capsys)
    assert not again["changed"] and engine.calls() == [] and again["diff"] == []


def test_check_mode_reports_the_network_and_sends_nothing(engine, capsys):
    result = run(engine, capsys, check_mode=True)
    assert result["changed"] and result["created"] == [] and engine.calls() == []
    assert result["network"]["subnet"] == "10.199.0.0/24" and engine.networks == {}


def test_ipvlan_is_l2_on_the_vlan_link(engine, capsys):
    result = run(engine, capsys, driver="ipvlan", vlan=132)
    assert result["changed"]
    [(_m, _p, _q, body)] = engine.calls()
    assert body["Driver"] == "ipvlan" and body["Options"] == {"parent": PARENT + ".132", "ipvlan_mode": "l2"}
    assert body["IPAM"] == IPAM


def test_swarm_scope_config_on_every_node_and_the_swarm_network_only_on_a_manager(engine, capsys):
    swarm = {"scope": "swarm", "ip_range": "10.199.0.64/28"}
    worker = run(engine, capsys, **swarm)
    assert worker["created"] == ["apps-config"]
    assert engine.calls() == [("POST", "/networks/create", {}, {
        "Name": "apps-config", "ConfigOnly": True, "CheckDuplicate": True, "Options": {"parent": PARENT},
        "IPAM": dict(IPAM, Config=[dict(IPAM["Config"][0], IPRange="10.199.0.64/28")])})]
    engine.clear()
    refused = run(engine, capsys, swarm_network=True, **swarm)
    assert refused["failed"] and "must run on a Swarm manager" in refused["msg"] and engine.calls() == []
    engine.swarm_manager = True
    manager = run(engine, capsys, swarm_network=True, **swarm)
    assert manager["created"] == ["apps"]
    assert engine.calls() == [("POST", "/networks/create", {}, {
        "Name": "apps", "Driver": "macvlan", "Scope": "swarm", "Attachable": True, "CheckDuplicate": True,
        "ConfigFrom": {"Network": "apps-config"}})]
    assert manager["network"] == {"driver": "macvlan", "scope": "swarm", "config_from": "apps-config",
                                  "attachable": True}


def test_a_missing_parent_fails_before_the_engine_is_asked_anything(engine, capsys):
    result = run(engine, capsys, parent="nosuch0")
    assert result["failed"] and not result["changed"]
    assert "parent nosuch0 is not an interface of this node (its interfaces: " in result["msg"]
    assert PARENT in result["msg"] and engine.requests == []


def test_a_network_with_containers_that_differs_is_left_alone_and_the_message_says_why(engine, capsys):
    run(engine, capsys)
    engine.networks[next(iter(engine.networks))]["Containers"] = {"c1": {"Name": "web-1"}}
    engine.clear()
    result = run(engine, capsys, subnet="10.199.1.0/24", gateway="10.199.1.1", aux_addresses={}, recreate=True)
    assert result["failed"] and not result["changed"]
    assert 'subnet "10.199.0.0/24" (wanted "10.199.1.0/24")' in result["msg"]
    assert "containers on it (web-1) would have to be detached first" in result["msg"]
    assert engine.calls() == []


def test_recreate_replaces_a_different_network_nobody_uses(engine, capsys):
    run(engine, capsys)
    engine.clear()
    result = run(engine, capsys, aux_addresses={"shim": "10.199.0.3"}, recreate=True)
    assert result["changed"] and result["removed"] == ["apps"] and result["created"] == ["apps"]
    calls = [(m, p.split("/")[1]) for m, p, _q, _b in engine.calls()]
    assert calls == [("DELETE", "networks"), ("POST", "networks")]
    assert result["network"]["aux_addresses"] == {"shim": "10.199.0.3"}


def test_absent_removes_it_and_then_has_nothing_to_do(engine, capsys):
    run(engine, capsys)
    assert run(engine, capsys, state="absent")["removed"] == ["apps"] and engine.networks == {}
    assert not run(engine, capsys, state="absent")["changed"]
