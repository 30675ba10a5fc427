"""The swarm as its manager sees it: members, health, roles and labels from inventory."""
import json

import pytest

testinfra_hosts = ["molecule_managers"]


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def nodes(host):
    """docker node ls, one entry per node, by host name."""
    listed = _json_lines(host.check_output("docker node ls --format '{{json .}}'"))
    return {n["Hostname"]: n for n in listed}


@pytest.fixture(scope="module")
def specs(host, nodes):
    """docker node inspect of every node, by host name."""
    inspected = json.loads(host.check_output("docker node inspect " + " ".join(n["ID"] for n in nodes.values())))
    return {n["Description"]["Hostname"]: n for n in inspected}


def test_the_swarm_has_exactly_the_fleet_as_nodes(nodes, fleet):
    assert sorted(nodes) == sorted(fleet)


def test_every_node_is_ready_and_active(nodes):
    assert {name: (n["Status"], n["Availability"]) for name, n in nodes.items()} == \
        {name: ("Ready", "Active") for name in nodes}


def test_managers_and_workers_are_as_inventory_says(nodes, fleet):
    for name, n in nodes.items():
        if fleet[name]["platform_role"] == "manager":
            assert n["ManagerStatus"] == "Leader", name   # the only manager leads
        else:
            assert n["ManagerStatus"] == "", name


def test_every_node_carries_the_labels_of_inventory_and_no_others(specs, fleet):
    for name, spec in specs.items():
        hostvars = fleet[name]
        expected = {
            "containerops.managed": "true",
            "containerops.workload-class": hostvars["platform_workload_class"],
            "containerops.zone": hostvars["platform_zone"],
            **hostvars["swarm_node_labels"],
        }
        # No provider or region in inventory: no label for them.
        assert spec["Spec"]["Labels"] == expected, name


def test_every_node_is_reached_at_its_advertised_address(specs, fleet):
    # A manager that listens on 0.0.0.0 may report that as Status.Addr; its Raft address is the one used.
    reached = {name: s["ManagerStatus"]["Addr"].rsplit(":", 1)[0] if "ManagerStatus" in s else s["Status"]["Addr"]
               for name, s in specs.items()}
    assert reached == {name: fleet[name]["swarm_advertise_addr"] for name in specs}
