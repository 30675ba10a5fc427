"""pinned_instance run as on a node, its engine the HTTP-level fake (fake_docker_engine) behind the real
Docker SDK: the exact container request (address, derived MAC, limits, labels), a second run that sends
nothing, stop/start/restart keeping address and MAC, re-creation only for a changed option (in the diff),
limits changed in place, refusals that change nothing, and the gratuitous ARP after a start, sent for
real into a network namespace of the test's own."""
import json

import pytest
from fake_docker_engine import FakeEngine
from module_runner import run_module
from private_netns import mac_of, private_netns, sniffer

from ansible_collections.containerops.platform.plugins.module_utils._host_net import garp_frame
from ansible_collections.containerops.platform.plugins.modules import pinned_instance

MACVLAN = {"Name": "apps", "Driver": "macvlan", "Options": {"parent": "eth0"}, "IPAM": {"Config": [
    {"Subnet": "10.199.0.0/24", "Gateway": "10.199.0.1", "IPRange": "10.199.0.1/32",
     "AuxiliaryAddresses": {"shim": "10.199.0.2"}}]}}
GIB = 1024 ** 3


@pytest.fixture
def engine():
    fake = FakeEngine(ncpu=4).start()
    fake.add_image("containerops-lab/busybox:latest")
    fake.add_network(MACVLAN)
    yield fake
    fake.stop()


def run(engine, capsys, check_mode=False, **args):
    base = {"name": "web-1", "image": "containerops-lab/busybox:latest", "network": "apps", "ip": "10.199.0.100",
            "owner": "web:test:1", "command": ["sleep", "100000"], "env": {"GREETING": "hi"}, "garp_count": 0,
            "docker_host": engine.base_url}
    return run_module(pinned_instance.main, dict(base, **args), capsys, check_mode)


def test_the_container_gets_its_address_and_derived_mac_in_exactly_this_request(engine, capsys):
    result = run(engine, capsys, workload_class="jvm", labels={"team": "a"})
    assert result["changed"] and result["actions"] == ["create", "start"]
    create, start = engine.calls()
    assert create[:3] == ("POST", "/containers/create", {"name": ["web-1"]})
    body = create[3]
    assert body["Image"] == "containerops-lab/busybox:latest" and body["Cmd"] == ["sleep", "100000"]
    assert body["Env"] == ["GREETING=hi"] and body["MacAddress"] == "02:42:0a:c7:00:64"
    assert body["Labels"] == {"team": "a", "containerops.application": "web", "containerops.environment": "test",
                              "containerops.slot": "1", "containerops.ip": "10.199.0.100",
                              "containerops.workload-class": "jvm", "containerops.env-keys": "GREETING"}
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"apps": {"IPAMConfig": {"IPv4Address": "10.199.0.100"}}}}
    host = body["HostConfig"]
    assert {k: host[k] for k in ("NetworkMode", "RestartPolicy", "Memory", "MemorySwap", "MemorySwappiness",
                                 "CpuShares", "CpuPeriod", "CpuQuota")} == {
        "NetworkMode": "apps", "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "Memory": 4 * GIB, "MemorySwap": 4 * GIB, "MemorySwappiness": 0, "CpuShares": 1024,
        "CpuPeriod": 100000, "CpuQuota": 200000}  # jvm on 4 cores: 2 left to the host
    assert start[:2] == ("POST", "/containers/%s/start" % result["container_id"])
    assert (result["ip"], result["mac_address"]) == ("10.199.0.100", "02:42:0a:c7:00:64")
    engine.clear()
    again = run(engine, capsys, workload_class="jvm", labels={"team": "a"})
    assert not again["changed"] and again["actions"] == [] and engine.calls() == []


def test_on_ipvlan_no_mac_is_sent_and_the_parents_is_reported(engine, capsys):
    engine.add_network(dict(MACVLAN, Name="eni", Driver="ipvlan", Options={"parent": "eth0", "ipvlan_mode": "l2"}))
    result = run(engine, capsys, network="eni")
    create = engine.calls("POST", "/containers/create")[0][3]
    assert "MacAddress" not in create and result["mac_address"] == "00:16:3e:00:00:01"
    engine.clear()
    refused = run(engine, capsys, network="eni", name="web-2", ip="10.199.0.101", mac_address="02:42:0a:c7:00:65")
    assert refused["failed"] and "parent's MAC" in refused["msg"] and engine.calls() == []


def test_stop_start_and_restart_keep_the_address_and_mac(engine, capsys):
    cid = run(engine, capsys)["container_id"]
    stopped = run(engine, capsys, state="stopped")
    assert stopped["actions"] == ["stop"] and stopped["container_id"] == cid
    assert run(engine, capsys, state="started")["actions"] == ["start"]
    restarted = run(engine, capsys, state="restarted")
    assert restarted["actions"] == ["restart"] and restarted["changed"]
    endpoint = engine.containers[cid]["NetworkSettings"]["Networks"]["apps"]
    assert (endpoint["IPAddress"], endpoint["MacAddress"]) == ("10.199.0.100", "02:42:0a:c7:00:64")
    assert [m for m, p, _q, _b in engine.calls() if "/create" in p] == ["POST"]  # created once


def test_a_changed_image_recreates_it_and_the_diff_says_so_but_new_limits_change_in_place(engine, capsys):
    first = run(engine, capsys)
    engine.add_image("containerops-lab/busybox:2")
    engine.clear()
    moved = run(engine, capsys, image="containerops-lab/busybox:2")
    assert moved["recreated"] and moved["actions"] == ["remove", "create", "start"]
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _q, _b in engine.calls()] == [
        ("POST", "stop"), ("DELETE", first["container_id"]), ("POST", "create"), ("POST", "start")]
    [entry] = moved["diff"]
    assert entry["before"]["image"] == "containerops-lab/busybox:latest"
    assert entry["after"]["image"] == "containerops-lab/busybox:2"
    assert entry["before"]["ip"] == entry["after"]["ip"] == "10.199.0.100"
    engine.clear()
    limits = run(engine, capsys, image="containerops-lab/busybox:2", memory="512m", cpus=1.5)
    assert limits["actions"] == ["update"] and not limits["recreated"]
    [(method, path, _q, body)] = engine.calls()
    assert (method, path) == ("POST", "/containers/%s/update" % moved["container_id"])
    assert body["Memory"] == body["MemorySwap"] == 512 * 1024 ** 2 and body["CpuQuota"] == 150000


def test_check_mode_reports_and_sends_nothing(engine, capsys):
    result = run(engine, capsys, check_mode=True)
    assert result["changed"] and result["actions"] == ["create", "start"] and result["container_id"] is None
    assert engine.calls() == [] and engine.containers == {}
    assert result["diff"][0]["after"]["env"]["GREETING"].startswith("sha256:")


@pytest.mark.parametrize("args, words", [
    ({"ip": "10.199.0.2"}, ["ip 10.199.0.2 is the shim address of network apps"]),
    ({"network": "nope"}, ["network nope does not exist on this node"]),
    ({"cpus": 8.0}, ["at most the node's 4 cores"]),
    ({"owner": "web"}, ["owner web must name application, environment and slot"]),
])
def test_bad_input_fails_before_anything_changes(engine, capsys, args, words):
    result = run(engine, capsys, **args)
    assert result["failed"] and not result["changed"] and engine.calls() == []
    for word in words:
        assert word in result["msg"]


def test_a_swarm_scoped_network_is_refused(engine, capsys):
    engine.add_network({"Name": "svc", "Driver": "macvlan", "Scope": "swarm", "Attachable": True,
                        "ConfigFrom": {"Network": "svc-config"}})
    result = run(engine, capsys, network="svc")
    assert result["failed"] and "drops the address" in result["msg"] and engine.calls() == []


def test_an_address_in_use_leaves_no_container_behind(engine, capsys):
    run(engine, capsys)
    engine.clear()
    result = run(engine, capsys, name="web-2", owner="web:test:2")
    assert result["failed"] and "Address already in use" in result["msg"]
    assert "the container created for it was removed again" in result["msg"]
    assert sorted(c["Name"] for c in engine.containers.values()) == ["/web-1"]


def test_a_container_the_engine_gives_another_address_is_not_left_running(engine, capsys):
    engine.address_instead = "10.199.0.77"
    result = run(engine, capsys)
    assert result["failed"] and result["changed"] and result["actions"] == ["create", "start", "remove"]
    assert "gave container web-1 the address 10.199.0.77" in result["msg"]
    assert "instead of 10.199.0.100" in result["msg"]
    assert engine.containers == {}


def test_the_image_is_pulled_when_the_node_lacks_it(engine, capsys):
    engine.pullable.add("registry.lab:5000/web:1.4")
    result = run(engine, capsys, image="registry.lab:5000/web:1.4")
    assert result["changed"]
    assert engine.calls("POST", "/images/create")[0][2] == {"fromImage": ["registry.lab:5000/web"], "tag": ["1.4"]}


def test_after_a_start_gratuitous_arp_goes_out_of_the_containers_namespace(engine, capsys):
    with private_netns("10.199.0.100/24") as pid:
        engine.container_pid = pid  # the "container" runs in the test's own namespace
        mac = mac_of(pid, "d0")
        with sniffer(pid, "d1", count=2) as frames:
            result = run(engine, capsys, garp_count=2)
            got = frames()
    assert result["garp_sent"] and "warnings" not in result
    assert got == [garp_frame(mac, "10.199.0.100").hex()] * 2


def test_a_garp_that_cannot_be_sent_is_a_warning(engine, capsys):
    result = run(engine, capsys, garp_count=1)  # the fake reports pid 0: no namespace to enter
    assert result["changed"] and not result["garp_sent"] and not result.get("failed")
    # The reason is in the result (a controller-side import in the same process may divert warnings).
    text = result["garp_error"]
    assert "gratuitous ARP for 10.199.0.100 was not sent: process 0 is not running on this host" in text
    assert "next ARP request" in text


def test_secret_env_reaches_the_container_and_no_output_shows_a_value(engine, capsys):
    # What the module prints is what ansible-playbook -vvv shows and AWX stores: the invocation, the diff.
    secret = "s3cr3t-db-password-4711"
    result = run(engine, capsys, secret_env={"DB_PASSWORD": secret})
    assert result["changed"]
    create = engine.calls()[0]
    assert sorted(create[3]["Env"]) == ["DB_PASSWORD=" + secret, "GREETING=hi"]
    assert create[3]["Labels"]["containerops.env-keys"] == "DB_PASSWORD,GREETING"
    assert secret not in json.dumps(result)
    assert result["invocation"]["module_args"]["secret_env"] == {"DB_PASSWORD": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    engine.clear()
    changed = run(engine, capsys, secret_env={"DB_PASSWORD": secret + "-rotated"})
    assert changed["recreated"] and changed["actions"] == ["remove", "create", "start"], changed
    assert secret not in json.dumps(changed) and secret + "-rotated" not in json.dumps(changed)
    [entry] = changed["diff"]
    before, after = entry["before"]["env"], entry["after"]["env"]
    assert before["DB_PASSWORD"].startswith("sha256:") and before["DB_PASSWORD"] != after["DB_PASSWORD"]
    engine.clear()
    again = run(engine, capsys, secret_env={"DB_PASSWORD": secret + "-rotated"})
    assert not again["changed"] and engine.calls() == []


def test_a_variable_in_env_and_secret_env_is_refused(engine, capsys):
    result = run(engine, capsys, secret_env={"GREETING": "x"})
    assert result["failed"] and "env and secret_env both set GREETING" in result["msg"]
    assert engine.calls() == []
