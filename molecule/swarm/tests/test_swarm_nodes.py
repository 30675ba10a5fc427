"""Every node's own view after the swarm role ran (testinfra, on each node of the scenario)."""
import json

import pytest


@pytest.fixture(scope="module")
def inventory(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def swarm(host):
    return json.loads(host.check_output("docker info --format '{{json .Swarm}}'"))


def test_the_engine_runs_and_is_an_active_swarm_node(host, swarm):
    assert host.service("docker").is_running
    assert swarm["LocalNodeState"] == "active"
    assert swarm["Error"] == ""


def test_the_node_is_a_manager_exactly_when_inventory_says_so(inventory, swarm):
    assert swarm["ControlAvailable"] is (inventory["platform_role"] == "manager")


def test_the_node_advertises_its_address_from_inventory(inventory, swarm):
    assert swarm["NodeAddr"] == inventory["swarm_advertise_addr"]


def test_every_node_knows_the_managers_by_their_advertised_addresses(swarm, fleet):
    managers = {f"{v['swarm_advertise_addr']}:2377" for v in fleet.values() if v["platform_role"] == "manager"}
    assert {m["Addr"] for m in swarm["RemoteManagers"]} == managers


def test_the_docker_sdk_the_swarm_modules_need_is_installed(host):
    assert host.package("python3-docker").is_installed
