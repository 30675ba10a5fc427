"""module_utils/_docker_instance.py: the limits each workload class gives on nodes of any size, what
overrides them, which option changes recreate a container and which change it in place, and the
inputs refused before anything changes."""
import pytest

from ansible_collections.containerops.platform.plugins.module_utils._docker_instance import (
    InstanceError,
    current_instance,
    desired_instance,
    differences,
    plan_instance,
    resources,
)

GIB = 1024 ** 3


@pytest.mark.parametrize("cls, cores, memory, swappiness, shares, cpus", [
    ("general", 2, GIB, 10, 1024, 1.0),
    ("general", 8, GIB, 10, 1024, 7.0),
    ("jvm", 8, 4 * GIB, 0, 1024, 6.0),
    ("jvm", 2, 4 * GIB, 0, 1024, 1.0),  # at least one core, even where two cannot be left
    ("batch", 4, 2 * GIB, 10, 256, 3.0),
])
def test_each_workload_class_leaves_the_host_its_cores_and_never_swaps_beyond_the_limit(
        cls, cores, memory, swappiness, shares, cpus):
    assert resources(cls, cores) == {"memory": memory, "memory_swap": memory, "memory_swappiness": swappiness,
                                     "cpu_shares": shares, "cpus": cpus}


def test_explicit_memory_cpu_shares_and_cpus_override_the_class():
    got = resources("jvm", 8, memory="3g", cpu_shares=512, cpus=2.5)
    assert got == {"memory": 3 * GIB, "memory_swap": 3 * GIB, "memory_swappiness": 0, "cpu_shares": 512,
                   "cpus": 2.5}


@pytest.mark.parametrize("kw, words", [
    ({"cpus": 9}, ["cpus 9", "at most the node's 8 cores"]),
    ({"cpus": 0}, ["more than 0"]),
    ({"memory": "lots"}, ["memory lots is not a size", "512m"]),
    ({"memory": "1m"}, ["less than the 6m"]),
    ({"cpu_shares": 1}, ["cpu_shares 1 is below 2"]),
])
def test_limits_that_cannot_work_are_refused(kw, words):
    with pytest.raises(InstanceError) as err:
        resources("general", 8, **kw)
    for word in words:
        assert word in str(err.value)


NETWORK = {"Name": "apps", "Driver": "macvlan", "Scope": "local", "ConfigOnly": False,
           "IPAM": {"Config": [{"Subnet": "10.199.0.0/24", "Gateway": "10.199.0.1",
                                "AuxiliaryAddresses": {"shim": "10.199.0.2"}}]}}


def params(**kw):
    base = {"name": "web-1", "image": "web:1", "network": "apps", "ip": "10.199.0.100", "mac_address": None,
            "owner": "web:prod:1", "workload_class": "general", "memory": None, "cpu_shares": None, "cpus": None,
            "restart_policy": "unless-stopped", "labels": {}, "env": {}, "command": None}
    base.update(kw)
    return base


def test_the_instance_carries_its_owner_address_and_class_as_labels_and_the_derived_mac():
    want = desired_instance(params(env={"A": 1}, command="sh -c 'sleep 9'"), NETWORK, 4)
    assert want["mac_address"] == "02:42:0a:c7:00:64"
    assert want["command"] == ["sh", "-c", "sleep 9"] and want["env"] == {"A": "1"}
    assert want["labels"] == {"containerops.application": "web", "containerops.environment": "prod",
                              "containerops.slot": "1", "containerops.ip": "10.199.0.100",
                              "containerops.workload-class": "general", "containerops.env-keys": "A"}
    owner = desired_instance(params(owner={"application": "web", "environment": "prod", "slot": 1}), NETWORK, 4)
    assert owner["labels"]["containerops.slot"] == "1"


@pytest.mark.parametrize("kw, network, words", [
    ({"ip": "10.199.1.5"}, NETWORK, ["ip 10.199.1.5 is not a host address of network apps's subnet 10.199.0.0/24"]),
    ({"ip": "10.199.0.2"}, NETWORK, ["ip 10.199.0.2 is the shim address of network apps"]),
    ({"ip": "10.199.0.1"}, NETWORK, ["is the gateway address"]),
    ({"mac_address": "03:42:0a:c7:00:64"}, NETWORK, ["is not a unicast MAC"]),
    ({"mac_address": "02:42:0a:c7:00:64"}, dict(NETWORK, Driver="ipvlan"), ["parent's MAC", "leave it out"]),
    ({}, dict(NETWORK, Scope="swarm"), ["swarm-scoped", "drops the address", "scope local"]),
    ({}, dict(NETWORK, ConfigOnly=True), ["config-only network"]),
    ({}, dict(NETWORK, Driver="bridge"), ["is a bridge network: pinned instances need a macvlan or ipvlan"]),
    ({}, None, ["network apps does not exist on this node", "macvlan_network"]),
    ({"owner": "web"}, NETWORK, ["owner web must name application, environment and slot"]),
    ({"owner": "0123456789ab"}, NETWORK, ["looks like a container ID"]),
    ({"labels": {"containerops.ip": "x"}}, NETWORK, ["containerops.ip", "prefix is the module's own"]),
])
def test_bad_input_is_refused_naming_the_option(kw, network, words):
    with pytest.raises(InstanceError) as err:
        desired_instance(params(**kw), network, 4)
    for word in words:
        assert word in str(err.value)


def inspected(want, running=True, **config):
    cfg = {"Image": want["image"], "Cmd": want["command"], "Labels": dict(want["labels"]),
           "Env": ["PATH=/bin"] + ["%s=%s" % kv for kv in want["env"].items()], "MacAddress": want["mac_address"]}
    cfg.update(config)
    return {"Config": cfg, "HostConfig": {
        "Memory": want["memory"], "MemorySwap": want["memory_swap"], "MemorySwappiness": want["memory_swappiness"],
        "CpuShares": want["cpu_shares"], "CpuPeriod": 100000, "CpuQuota": int(want["cpus"] * 100000),
        "RestartPolicy": {"Name": want["restart_policy"]}},
        "NetworkSettings": {"Networks": {"apps": {"IPAMConfig": {"IPv4Address": want["ip"]}}}},
        "State": {"Running": running, "Status": "running" if running else "exited"}}


def test_an_instance_as_wanted_needs_nothing_whatever_the_image_adds():
    want = desired_instance(params(env={"A": "1"}), NETWORK, 4)
    assert plan_instance(current_instance(inspected(want), "apps"), want, "started") == []


@pytest.mark.parametrize("change, steps", [
    ({"image": "web:2"}, ["remove", "create", "start"]),
    ({"ip": "10.199.0.101"}, ["remove", "create", "start"]),
    ({"mac_address": "02:00:00:00:00:01"}, ["remove", "create", "start"]),
    ({"env": {}}, ["remove", "create", "start"]),  # a variable taken out
    ({"memory": "2g"}, ["update"]),
    ({"cpus": 2.0}, ["update"]),
    ({"restart_policy": "always"}, ["update"]),
])
def test_what_a_changed_option_does(change, steps):
    have = current_instance(inspected(desired_instance(params(env={"A": "1"}), NETWORK, 4)), "apps")
    want = desired_instance(params(**dict({"env": {"A": "1"}}, **change)), NETWORK, 4)
    assert plan_instance(have, want, "started") == steps
    assert set(differences(have, want)) <= {"image", "ip", "mac_address", "env", "labels", "memory", "cpus",
                                            "restart_policy"}


def test_env_values_never_show_in_what_differs():
    have = current_instance(inspected(desired_instance(params(env={"TOKEN": "s3cret"}), NETWORK, 4)), "apps")
    found = differences(have, desired_instance(params(env={"TOKEN": "n3w"}), NETWORK, 4))
    assert "s3cret" not in repr(found) and "n3w" not in repr(found)
    assert found["env"][0]["TOKEN"].startswith("sha256:")


@pytest.mark.parametrize("state, running, steps", [
    ("started", False, ["start"]), ("stopped", True, ["stop"]), ("stopped", False, []),
    ("restarted", True, ["restart"]), ("restarted", False, ["start"]), ("absent", True, ["remove"]),
])
def test_state_changes_keep_the_container(state, running, steps):
    want = desired_instance(params(), NETWORK, 4)
    assert plan_instance(current_instance(inspected(want, running), "apps"), want, state) == steps
