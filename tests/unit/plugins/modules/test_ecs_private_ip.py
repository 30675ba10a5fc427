"""ecs_private_ip against an in-process ECS emulator (backend none, fast time scale): real instances
made with RunInstances, their primary ENIs given and relieved of secondary IPs through the module's
entry point, and what it did read back with DescribeNetworkInterfaces. Once through ansible-playbook,
as users run it."""
import json
import os
import pathlib
import secrets
import subprocess
import sys
import threading
import time

import pytest
import yaml

from ansible_collections.containerops.platform.plugins.module_utils import ecs
from ansible_collections.containerops.platform.plugins.module_utils._ecs_eni import run_ecs_private_ip, secondary_ips
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError
from ansible_collections.containerops.platform.plugins.modules import ecs_private_ip as mod

REPO = pathlib.Path(__file__).resolve().parents[4]
KEY, SECRET = "LTAI" + secrets.token_hex(8), secrets.token_urlsafe(24)
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
VSW_H = "vsw-bp1lab0hangzhouh00001"  # 10.88.16.0/24
SG_HZ = "sg-bp1lab0hangzhou00001"


def client(emu, **kwargs):
    return ecs.EcsClient(ecs.Credentials(KEY, SECRET, None, "cn-hangzhou"), endpoint=emu.endpoint, **kwargs)


def instance(emu, instance_type="ecs.g7.large"):
    """A Running instance: (instance id, its primary ENI's id, its primary IP)."""
    c = client(emu)
    ids = c.call("RunInstances", {"ImageId": IMAGE, "InstanceType": instance_type, "VSwitchId": VSW_H,
                                  "SecurityGroupIds": [SG_HZ]})["InstanceIdSets"]["InstanceIdSet"]
    inst = c.wait_for(ids, ["Running"], 30, initial=0.02)[ids[0]]
    return ids[0], "eni-" + ids[0][2:], ecs.private_ip(inst)


def listed(emu, eni_id):
    """The ENI's secondary IPs as DescribeNetworkInterfaces lists them, asked by another client."""
    rows = client(emu).call("DescribeNetworkInterfaces", {"NetworkInterfaceId": [eni_id]})
    return secondary_ips(rows["NetworkInterfaceSets"]["NetworkInterfaceSet"][0])


def params(emu, **given):
    """The module's argspec defaults, the emulator's connection, then the task's own."""
    full = dict((k, spec.get("default")) for k, spec in mod.argument_spec().items())
    full.update(access_key=KEY, secret_key=SECRET, region="cn-hangzhou", endpoint=emu.endpoint, wait_timeout=30)
    full.update(given)
    return full


def task(emu, check=False, **given):
    return run_ecs_private_ip(params(emu, **given), check_mode=check)


def failure(emu, **given):
    with pytest.raises(ProvisionError) as info:
        task(emu, **given)
    return info.value


def codes(emu, action):
    return emu.stats.describe()["codes"].get(action, {})


def test_assigns_two_addresses_and_a_second_run_changes_nothing(emu):
    iid, eni, _ip = instance(emu)
    first = task(emu, instance_id=iid, private_ips=["10.88.16.202", "10.88.16.201"])
    assert first["changed"] and first["assigned"] == ["10.88.16.202", "10.88.16.201"]
    assert (first["network_interface_id"], first["instance_id"]) == (eni, iid)
    assert first["mac_address"] == emu.state.instances[iid]["MacAddress"]
    assert first["private_ips"] == listed(emu, eni) == ["10.88.16.201", "10.88.16.202"]
    assert first["diff"] == [{"before_header": "%s (%s) (before)" % (eni, iid), "after_header": "%s (%s) (after)" % (
        eni, iid), "before": {"private_ips": []}, "after": {"private_ips": ["10.88.16.201", "10.88.16.202"]}}]
    assert codes(emu, "AssignPrivateIpAddresses") == {"200": 1}  # both in one call
    again = task(emu, network_interface_id=eni, private_ips=["10.88.16.201"])
    assert not again["changed"] and again["assigned"] == [] and again["diff"] == []
    assert again["api_calls"] == {"DescribeNetworkInterfaces": 1}
    assert again["private_ips"] == ["10.88.16.201", "10.88.16.202"]


def test_check_mode_reads_only_and_reports_what_would_change(emu):
    iid, eni, _ip = instance(emu)
    task(emu, instance_id=iid, private_ips=["10.88.16.201"])
    would = task(emu, check=True, instance_id=iid, private_ips=["10.88.16.201", "10.88.16.210"])
    assert would["changed"] and would["assigned"] == ["10.88.16.210"]
    assert would["private_ips"] == ["10.88.16.201", "10.88.16.210"]
    assert would["diff"][0]["after"] == {"private_ips": ["10.88.16.201", "10.88.16.210"]}
    off = task(emu, check=True, instance_id=iid, private_ips=["10.88.16.201"], state="absent")
    assert off["changed"] and off["unassigned"] == ["10.88.16.201"] and off["private_ips"] == []
    assert set(off["api_calls"]) == set(would["api_calls"]) - {"DescribeVSwitches"} == {"DescribeNetworkInterfaces"}
    assert codes(emu, "AssignPrivateIpAddresses") == {"200": 1} and not codes(emu, "UnassignPrivateIpAddresses")
    assert listed(emu, eni) == ["10.88.16.201"]


def test_absent_takes_off_only_the_listed_addresses_that_are_there(emu):
    iid, eni, _ip = instance(emu)
    task(emu, instance_id=iid, private_ips=["10.88.16.201", "10.88.16.202", "10.88.16.203"])
    off = task(emu, instance_id=iid, private_ips=["10.88.16.202", "10.88.16.209"], state="absent")
    assert off["changed"] and off["unassigned"] == ["10.88.16.202"]
    assert off["private_ips"] == listed(emu, eni) == ["10.88.16.201", "10.88.16.203"]
    assert off["diff"][0]["before"] == {"private_ips": ["10.88.16.201", "10.88.16.202", "10.88.16.203"]}
    again = task(emu, network_interface_id=eni, private_ips=["10.88.16.202"], state="absent")
    assert not again["changed"] and again["unassigned"] == []
    # An instance that does not exist has none of the addresses.
    gone = task(emu, instance_id="i-bp1doesnotexist00000", private_ips=["10.88.16.201"], state="absent")
    assert not gone["changed"] and gone["network_interface_id"] is None


def test_two_runs_at_once_on_one_eni_both_succeed_through_the_conflict_retry(make_emu):
    # The ENI stays busy 0.5 s after an Assign; the listings lag 1 s, so neither run sees the other's
    # addresses before it asks and both Assign calls arrive within the busy window.
    emu = make_emu(delays={"eni_busy": 50})
    iid, eni, _ip = instance(emu)
    emu.configure_faults({"list_lag": 1.0})
    start, results, errors = threading.Barrier(2), {}, []

    def one(name, ips):
        start.wait()
        try:
            results[name] = task(emu, instance_id=iid, private_ips=ips)
        except ProvisionError as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc.msg)

    threads = [threading.Thread(target=one, args=("a", ["10.88.16.201", "10.88.16.202"])),
               threading.Thread(target=one, args=("b", ["10.88.16.202", "10.88.16.203"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and set(results) == {"a", "b"}
    assert codes(emu, "AssignPrivateIpAddresses").get("Operation.Conflict", 0) >= 1
    # Exact: every address once, each assigned by exactly one of the runs, nothing else.
    assigned = results["a"]["assigned"] + results["b"]["assigned"]
    assert sorted(assigned) == ["10.88.16.201", "10.88.16.202", "10.88.16.203"]
    assert listed(emu, eni) == ["10.88.16.201", "10.88.16.202", "10.88.16.203"]
    # Each run reports the listing when it was done: its own addresses, maybe not yet the other's.
    for name, ips in (("a", {"10.88.16.201", "10.88.16.202"}), ("b", {"10.88.16.202", "10.88.16.203"})):
        assert ips <= set(results[name]["private_ips"]) <= set(listed(emu, eni))


def test_a_5xx_after_the_change_took_effect_is_retried_and_changes_once(emu):
    iid, eni, _ip = instance(emu)
    emu.configure_faults({"error_5xx_rate": 1.0, "error_5xx_phase": "after", "error_5xx_codes": ["InternalError"],
                          "actions": ["AssignPrivateIpAddresses"]})
    # The client's first retry pause lifts the fault, so the retry meets a healthy API: the one the
    # answer of the first attempt was lost to.
    c = client(emu, sleep=lambda seconds: (emu.configure_faults({}), time.sleep(seconds)))
    result = run_ecs_private_ip(params(emu, instance_id=iid, private_ips=["10.88.16.201", "10.88.16.202"]),
                                client=c)
    assert codes(emu, "AssignPrivateIpAddresses") == {"InternalError": 1, "200": 1}
    assert result["assigned"] == ["10.88.16.201", "10.88.16.202"]
    assert listed(emu, eni) == ["10.88.16.201", "10.88.16.202"]
    assert len(emu.state.instances[iid]["SecondaryIps"]) == 2
    # Unassign has no ClientToken: its retry finds the address off and counts it as this run's doing.
    emu.configure_faults({"error_5xx_rate": 1.0, "error_5xx_phase": "after", "error_5xx_codes": ["InternalError"],
                          "actions": ["UnassignPrivateIpAddresses"]})
    off = run_ecs_private_ip(params(emu, instance_id=iid, private_ips=["10.88.16.202"], state="absent"), client=c)
    unassigns = codes(emu, "UnassignPrivateIpAddresses")
    unassigns.pop("Operation.Conflict", None)  # a retry within the ENI's busy window waits for it
    assert unassigns == {"InternalError": 1, "InvalidIp.IpUnassigned": 1}
    assert off["changed"] and off["unassigned"] == ["10.88.16.202"] and listed(emu, eni) == ["10.88.16.201"]


def test_quota_exceeded_names_the_quota_what_is_assigned_and_asked_and_assigns_nothing(emu):
    iid, eni, _ip = instance(emu, "ecs.t6-c1m1.large")  # EniPrivateIpAddressQuantity 4: 3 secondary
    task(emu, instance_id=iid, private_ips=["10.88.16.201", "10.88.16.202"])
    exc = failure(emu, instance_id=iid, private_ips=["10.88.16.203", "10.88.16.204"])
    for part in ("QuotaExceeded.PrivateIpAddress", "private_ips", "ecs.t6-c1m1.large allows 4 private IPs",
                 "so 3 secondary", "has 2 secondary IPs", "asks for 2 more", "Nothing was assigned"):
        assert part in exc.msg, part
    assert not exc.changed and exc.details["assigned"] == []
    calls = dict(codes(emu, "AssignPrivateIpAddresses"))
    # The ENI may still be busy from the first task (10 ms at this time scale): that conflict is retried.
    calls.pop("Operation.Conflict", None)
    assert calls == {"200": 1, "QuotaExceeded.PrivateIpAddress": 1}  # the quota is not retried
    assert listed(emu, eni) == ["10.88.16.201", "10.88.16.202"]


def test_an_address_outside_the_vswitch_cidr_is_refused_naming_it_and_the_cidr(emu):
    iid, eni, _ip = instance(emu)
    exc = failure(emu, instance_id=iid, private_ips=["10.88.16.201", "10.88.17.20", "10.88.16.255"])
    assert "private_ips: 10.88.17.20 is outside the vSwitch CIDR 10.88.16.0/24" in exc.msg
    assert "10.88.16.255 is reserved in 10.88.16.0/24" in exc.msg and VSW_H in exc.msg
    assert not codes(emu, "AssignPrivateIpAddresses") and listed(emu, eni) == []


def test_an_address_another_instance_holds_is_refused_naming_it_and_the_holder(make_emu):
    emu = make_emu()
    iid, eni, _ip = instance(emu)
    other, other_eni, other_ip = instance(emu)
    task(emu, instance_id=other, private_ips=["10.88.16.220"])
    exc = failure(emu, instance_id=iid, private_ips=["10.88.16.201", other_ip, "10.88.16.220"])
    assert "private_ips: %s is the primary IP of %s (instance %s)" % (other_ip, other_eni, other) in exc.msg
    assert "10.88.16.220 is the secondary IP of %s" % other_eni in exc.msg and "Nothing was assigned" in exc.msg
    assert codes(emu, "AssignPrivateIpAddresses") == {"200": 1}  # found before asking
    # Not listed yet when the task looks, ECS refuses it (InvalidIp.IpAssigned); the module finds the holder.
    emu.configure_faults({"list_lag": 0.5})
    task(emu, instance_id=other, private_ips=["10.88.16.221"], wait=False)
    exc = failure(emu, instance_id=iid, private_ips=["10.88.16.221"])
    assert "10.88.16.221 is the secondary IP of %s (instance %s)" % (other_eni, other) in exc.msg
    assert codes(emu, "AssignPrivateIpAddresses")["InvalidIp.IpAssigned"] == 1
    assert listed(emu, eni) == []


def test_a_wait_that_times_out_after_the_assign_reports_what_was_assigned(emu):
    iid, eni, _ip = instance(emu)
    emu.configure_faults({"list_lag": 60})
    exc = failure(emu, instance_id=iid, private_ips=["10.88.16.201"], wait_timeout=1)
    assert exc.changed and exc.details["assigned"] == ["10.88.16.201"]
    assert "assigned 10.88.16.201 to %s (%s) and ECS accepted that" % (eni, iid) in exc.msg
    assert "wait_timeout (1s)" in exc.msg
    assert [e["PrivateIpAddress"] for e in emu.state.instances[iid]["SecondaryIps"]] == ["10.88.16.201"]


@pytest.mark.parametrize("given, says", [
    ({"private_ips": []}, "private_ips is empty"),
    ({"private_ips": ["10.88.16.300"]}, "private_ips: '10.88.16.300' is not an IPv4 address"),
    ({"private_ips": ["fe80::1"]}, "private_ips: 'fe80::1' is not an IPv4 address"),
    ({"private_ips": ["10.88.16.201", "10.88.16.201"]}, "private_ips: 10.88.16.201 is listed twice"),
    ({"private_ips": ["10.88.16.201"], "network_interface_id": "eni-bp1x"}, "exactly one of instance_id"),
    ({"private_ips": ["10.88.16.201"], "instance_id": None}, "exactly one of instance_id"),
])
def test_bad_input_fails_before_any_request(emu, given, says):
    exc = failure(emu, **dict({"instance_id": "i-bp1x"}, **given))
    assert says in exc.msg and not exc.changed
    assert emu.stats.describe()["calls"] == {}


def test_the_module_through_ansible_playbook_with_the_ecs_group_defaults(emu, tmp_path):
    iid, eni, _ip = instance(emu)

    def play(state, *args):
        book = [{"hosts": "localhost", "gather_facts": False,
                 "module_defaults": {"group/containerops.platform.ecs": {"endpoint": emu.endpoint,
                                                                         "region": "cn-hangzhou"}},
                 "tasks": [{"name": "ips", "containerops.platform.ecs_private_ip": {
                     "instance_id": iid, "private_ips": ["10.88.16.201", "10.88.16.202"], "state": state}}]}]
        (tmp_path / "play.yml").write_text(yaml.safe_dump(book))
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ALICLOUD_ACCESS_KEY": KEY,
               "ALICLOUD_SECRET_KEY": SECRET}
        out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                              "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, *args,
                              str(tmp_path / "play.yml")], cwd=REPO, env=env, text=True, capture_output=True,
                             timeout=180, check=False).stdout
        doc = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
        return doc["plays"][0]["tasks"][0]["hosts"]["localhost"]

    first = play("present", "--diff")
    assert first["changed"] and first["assigned"] == ["10.88.16.201", "10.88.16.202"], first
    assert first["diff"][0]["after"] == {"private_ips": ["10.88.16.201", "10.88.16.202"]}
    assert SECRET not in json.dumps(first)
    assert not play("present")["changed"]
    check = play("absent", "--check")
    assert check["changed"] and check["unassigned"] == ["10.88.16.201", "10.88.16.202"]
    assert listed(emu, eni) == ["10.88.16.201", "10.88.16.202"]
