"""containerops.platform.ecs_instance against the lab's ECS emulator (docker backend).

Every play runs through the venv's ansible-playbook. Instances are named t-ecs-*, IPs use
last octets 100-199; each test deletes what it made and resets emulator faults.
"""
import json
import os
import subprocess
import sys
import urllib.request

import pytest
import yaml

from labhelpers import REPO, docker_state, wait_for_ssh, wait_until

pytestmark = pytest.mark.beside_fleet   # the tests' own ECS key and instances, not the fleet: beside its tests

BIN = os.path.dirname(sys.executable)
REGION = "cn-hangzhou"
VSW_H = "vsw-bp1lab0hangzhouh00001"   # cn-hangzhou-h, 10.88.16.0/24
VSW_I = "vsw-bp1lab0hangzhoui00001"   # cn-hangzhou-i, 10.88.17.0/24
SG_HZ = "sg-bp1lab0hangzhou00001"
SG_SH = "sg-uf6lab0shanghai00001"
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
TYPE = "ecs.g7.large"


# ---------------------------------------------------------------- helpers shared with test_ecs_inventory

def tests_key(lab):
    """The tests' own AccessKey: the emulator keeps the faults they inject, and their statistics and instance
    counts, apart from the lab's main key, which the fleet's playbooks use meanwhile (make test's two lanes)."""
    return lab["ecs"]["tests"]


def admin(lab, path, method="GET", body=None, key=None):
    """An admin endpoint of the emulator, scoped to one AccessKey (faults, stats, instances it made): the
    tests' own unless `key` names another, such as lab["ecs"], the key the fleet's playbooks use."""
    data = json.dumps(body).encode() if body is not None else None
    scoped = f"{path}?access_key={(key or tests_key(lab))['access_key_id']}"
    req = urllib.request.Request(lab["ecs"]["admin_url"] + scoped, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def emulator_instances(lab, prefix="t-ecs-"):
    return [i for i in admin(lab, "/instances")["instances"] if i["InstanceName"].startswith(prefix)]


def connection(lab, **overrides):
    conn = {"endpoint": lab["ecs"]["endpoint"], "access_key": tests_key(lab)["access_key_id"],
            "secret_key": tests_key(lab)["access_key_secret"], "region": REGION}
    conn.update(overrides)
    return conn


def base_params(lab, **extra):
    params = {"vswitch_id": VSW_H, "security_group_ids": [SG_HZ], "image_id": IMAGE, "instance_type": TYPE,
              "user_data": lab["user_data"]}
    params.update(extra)
    return params


def diff_of(result, name):
    """The module's diff entry of one instance (one per instance that changes, headed by its name)."""
    (entry,) = [d for d in result["diff"] if d["before_header"] == f"{name} (before)"]
    return entry


def run_play(lab, tmp_path, tasks, check=False, diff=False, defaults=None):
    """Run ecs_instance tasks in one play; returns the registered results, in order.

    Each task is a dict of module params (optionally with '_name'); failures are kept
    (ignore_errors) so a test can look at their messages.
    """
    play_tasks = []
    for n, params in enumerate(tasks):
        params = dict(params)
        play_tasks.append({"name": params.pop("_name", "task %d" % n),
                           "containerops.platform.ecs_instance": params,
                           "register": "r%d" % n, "ignore_errors": True})
    out = tmp_path / "results.json"
    play_tasks.append({"name": "save results", "check_mode": False, "diff": False, "ansible.builtin.copy": {
        "dest": str(out), "content": "{{ [%s] | to_json }}" % ", ".join("r%d" % n for n in range(len(tasks)))}})
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/containerops.platform.ecs": defaults or connection(lab)},
             "tasks": play_tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (tmp_path / "hosts").write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                                    % sys.executable)
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts"), str(tmp_path / "play.yml")]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALICLOUD_ACCESS_KEY",
                 "ALICLOUD_SECRET_KEY", "ALICLOUD_ECS_ENDPOINT", "ALICLOUD_PROFILE"):
        env.pop(name, None)
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, text=True, capture_output=True, timeout=900, check=False)
    assert out.exists(), "ansible-playbook did not finish:\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-4000:])
    return json.loads(out.read_text())


def force_delete(lab, prefix="t-ecs-"):
    """Delete every emulator instance named prefix* (test cleanup), and wait until they are gone."""
    from labhelpers import delete_ecs_instances, ecs_caller
    by_region = {}
    for inst in emulator_instances(lab, prefix):
        by_region.setdefault(inst["RegionId"], []).append(inst["InstanceId"])
    for region, ids in by_region.items():
        delete_ecs_instances(ecs_caller(lab, region), ids)
    wait_until(lambda: not [i for i in admin(lab, "/instances")["releasing"].values()
                            if i["InstanceName"].startswith(prefix)] and not emulator_instances(lab, prefix),
               120, what="test instances removed")


def by_name(result):
    return {row["name"]: row for row in result["instances"]}


# ---------------------------------------------------------------- lifecycle

def test_create_batch_reach_nodes_rerun_stop_start_restart_delete(ecs_lab, tmp_path):
    lab = ecs_lab
    want = base_params(lab, tags={"containerops.role": "worker"}, instances=[
        {"name": "t-ecs-w01", "private_ip": "10.88.16.101"},
        {"name": "t-ecs-w02", "private_ip": "10.88.16.102"},
        {"name": "t-ecs-m1", "private_ip": "10.88.17.103", "vswitch_id": VSW_I,
         "tags": {"containerops.role": "manager"}},
    ])
    seq = admin(lab, "/instances")["seq"]
    (created,) = run_play(lab, tmp_path, [want], diff=True)
    assert not created.get("failed"), created.get("msg")
    assert created["changed"] and sorted(created["created"]) == ["t-ecs-m1", "t-ecs-w01", "t-ecs-w02"]
    state = admin(lab, "/instances")
    assert state["seq"] - seq == 3, "exactly one instance per name was made"
    rows = by_name(created)
    # w01/w02 differ only in name and IP: one RunInstances with Amount=2 made both.
    pair = {rows["t-ecs-w01"]["instance_id"], rows["t-ecs-w02"]["instance_id"]}
    assert any(set(t["result"]["InstanceIdSets"]["InstanceIdSet"]) == pair for t in state["tokens"].values())
    assert rows["t-ecs-w01"]["private_ip"] == "10.88.16.101" and rows["t-ecs-w02"]["private_ip"] == "10.88.16.102"
    assert rows["t-ecs-m1"]["zone_id"] == "cn-hangzhou-i"
    assert all(r["status"] == "Running" and r["created"] for r in rows.values())
    assert rows["t-ecs-m1"]["tags"] == {"containerops.role": "manager"}
    assert diff_of(created, "t-ecs-w01")["before"] == {"state": "absent"}
    assert diff_of(created, "t-ecs-w01")["after"]["status"] == "Running"
    for name, row in rows.items():
        assert wait_for_ssh(lab, row["private_ip"]) == name

    (again,) = run_play(lab, tmp_path, [want])
    assert again["changed"] is False and again["created"] == []
    assert {r["instance_id"] for r in again["instances"]} == {r["instance_id"] for r in rows.values()}
    assert len(emulator_instances(lab)) == 3

    names = [{"name": n} for n in rows]
    (stopped, stopped_again, started, restarted) = run_play(lab, tmp_path, [
        {"instances": names, "state": "stopped"}, {"instances": names, "state": "stopped"},
        {"instances": names, "state": "running"}, {"instances": [{"name": "t-ecs-w01"}], "state": "restarted"}])
    assert stopped["changed"] and {r["status"] for r in stopped["instances"]} == {"Stopped"}
    container = lab["ecs"]["container_prefix"] + rows["t-ecs-w01"]["instance_id"]
    assert stopped_again["changed"] is False
    assert started["changed"] and {r["status"] for r in started["instances"]} == {"Running"}
    assert restarted["changed"] and restarted["instances"][0]["status"] == "Running"
    assert docker_state(container) == "running"
    assert wait_for_ssh(lab, "10.88.16.101") == "t-ecs-w01"

    (gone, gone_again) = run_play(lab, tmp_path, [{"instances": names, "state": "absent"},
                                                  {"instances": names, "state": "absent"}])
    assert gone["changed"] and {r["status"] for r in gone["instances"]} == {"Absent"}
    assert gone_again["changed"] is False
    assert emulator_instances(lab) == []
    wait_until(lambda: docker_state(container) is None, 60, what="container removed")


def test_check_mode_creates_nothing_and_only_dry_runs(ecs_lab, tmp_path):
    lab = ecs_lab
    admin(lab, "/stats", "DELETE")
    (result,) = run_play(lab, tmp_path, [base_params(lab, instances=[
        {"name": "t-ecs-c01", "private_ip": "10.88.16.111"}, {"name": "t-ecs-c02", "private_ip": "10.88.16.112"},
        {"name": "t-ecs-cx", "private_ip": "10.88.16.120", "instance_type": "ecs.c7.large"}])],
        check=True, diff=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and sorted(result["created"]) == ["t-ecs-c01", "t-ecs-c02", "t-ecs-cx"]
    assert diff_of(result, "t-ecs-cx")["after"]["state"] == "present"
    codes = admin(lab, "/stats")["codes"]
    assert codes["RunInstances"] == {"DryRunOperation": 2}
    assert not {"StartInstances", "StopInstances", "DeleteInstances", "TagResources"} & set(codes)
    assert emulator_instances(lab) == []

    # A dry run that ECS would refuse fails in check mode too, naming the parameter.
    (bad,) = run_play(lab, tmp_path, [base_params(lab, name="t-ecs-c03", image_id="no_such_image.vhd")], check=True)
    assert bad["failed"] and "image_id" in bad["msg"] and "InvalidImageId.NotFound" in bad["msg"]


def test_existing_instance_tags_are_reconciled_and_drift_warned(ecs_lab, tmp_path):
    lab = ecs_lab
    (made, retag, purge) = run_play(lab, tmp_path, [
        base_params(lab, name="t-ecs-tag", private_ip="10.88.16.130", tags={"a": "1", "b": "2"}, wait=False),
        {"name": "t-ecs-tag", "tags": {"a": "9"}, "instance_type": "ecs.c7.large", "wait": False},
        {"name": "t-ecs-tag", "tags": {"a": "9"}, "purge_tags": True, "wait": False}])
    assert made["created"] == ["t-ecs-tag"]
    assert retag["changed"] and retag["instances"][0]["tags"] == {"a": "9", "b": "2"}
    assert any("instance_type" in w for w in retag.get("warnings", []))
    assert purge["changed"] and purge["instances"][0]["tags"] == {"a": "9"}
    (inst,) = emulator_instances(lab)
    assert sorted(map(tuple, inst["Tags"])) == [("a", "9")]


def test_credentials_from_an_aliyun_cli_profile(ecs_lab, tmp_path):
    lab = ecs_lab
    profile_conn = {"endpoint": lab["ecs"]["endpoint"], "profile": "containerops-lab-tests",
                    "shared_credentials_file": os.path.join(REPO, ".lab", "aliyun.json")}
    (made, gone) = run_play(lab, tmp_path, [
        base_params(lab, name="t-ecs-prof", private_ip="10.88.16.131", wait=False),
        {"name": "t-ecs-prof", "state": "absent", "force": True}], defaults=profile_conn)
    assert made["created"] == ["t-ecs-prof"] and made["instances"][0]["region_id"] == REGION
    assert gone["changed"]


# ---------------------------------------------------------------- faults

def test_throttling_and_5xx_storm_still_one_instance_per_name(ecs_lab, tmp_path):
    lab = ecs_lab
    # "after": the action runs but its answer is lost: the worst case for duplicates.
    admin(lab, "/faults", "PUT", {"throttling_rate": 0.2, "error_5xx_rate": 0.2, "error_5xx_phase": "after",
                                  "seed": 7})
    admin(lab, "/stats", "DELETE")
    seq = admin(lab, "/instances")["seq"]
    names = ["t-ecs-s01", "t-ecs-s02", "t-ecs-s03", "t-ecs-sx"]
    want = base_params(lab, instances=[
        {"name": "t-ecs-s01", "private_ip": "10.88.16.141"}, {"name": "t-ecs-s02", "private_ip": "10.88.16.142"},
        {"name": "t-ecs-s03", "private_ip": "10.88.16.143"},
        {"name": "t-ecs-sx", "private_ip": "10.88.17.144", "vswitch_id": VSW_I}])
    (created, again, stopped, gone) = run_play(lab, tmp_path, [
        want, want, {"instances": [{"name": n} for n in names], "state": "stopped"},
        {"instances": [{"name": n} for n in names], "state": "absent"}])
    faults = admin(lab, "/faults")
    stats = admin(lab, "/stats")
    admin(lab, "/faults", "DELETE")
    for result in (created, again, stopped, gone):
        assert not result.get("failed"), result.get("msg")
    assert sorted(created["created"]) == sorted(names) and again["changed"] is False
    assert {r["status"] for r in stopped["instances"]} == {"Stopped"}
    assert faults["injected"]["throttling"] > 0 and faults["injected"]["error_5xx"] > 0
    run_codes = stats["codes"]["RunInstances"]
    assert set(run_codes) - {"200"}, "the storm should have hit RunInstances: %s" % run_codes
    # Exactly one instance per name was ever made, and all of them are gone again.
    assert admin(lab, "/instances")["seq"] - seq == len(names)
    assert emulator_instances(lab) == []
    assert sorted(r["instance_id"] for r in created["instances"]) == sorted(
        r["instance_id"] for r in again["instances"])


# ---------------------------------------------------------------- failures

def test_failures_name_the_parameter_and_create_nothing(ecs_lab, tmp_path):
    lab = ecs_lab
    ok = base_params(lab, wait=False)
    cases = [
        ("vswitch_id", dict(ok, name="t-ecs-f1", vswitch_id="vsw-bp1doesnotexist0000")),
        ("zone_id", dict(ok, name="t-ecs-f2", zone_id="cn-hangzhou-i")),
        ("security_group_ids", dict(ok, name="t-ecs-f3", security_group_ids=["sg-bp1nosuchgroup00000"])),
        ("security_group_ids", dict(ok, name="t-ecs-f4", security_group_ids=[SG_SH])),
        ("image_id", dict(ok, name="t-ecs-f5", image_id="no_such_image.vhd")),
        ("instance_type", dict(ok, name="t-ecs-f6", instance_type="ecs.nosuch.large")),
        ("private_ip", dict(ok, name="t-ecs-f7", private_ip="10.88.99.150")),
        ("private_ip", dict(ok, name="t-ecs-f8", private_ip="10.88.16.254")),
        ("private_ip", dict(ok, name="t-ecs-f9", private_ip="not-an-ip")),
        ("image_id", {"name": "t-ecs-f10", "vswitch_id": VSW_H}),
    ]
    results = run_play(lab, tmp_path, [dict(params, _name=param) for param, params in cases])
    for (param, params), result in zip(cases, results):
        assert result.get("failed"), "%s: expected a failure, got %s" % (params["name"], result)
        assert param in result["msg"], "%s: %r does not name %s" % (params["name"], result["msg"], param)
        assert result["created"] == []
    messages = [r["msg"] for r in results]
    assert "InvalidImageId.NotFound" in messages[4] and "InvalidInstanceType" in messages[5]
    assert "reserved" in messages[7]
    assert emulator_instances(lab) == []


def test_ip_in_use_fails_and_reports_what_was_created(ecs_lab, tmp_path):
    lab = ecs_lab
    (first, mixed) = run_play(lab, tmp_path, [
        base_params(lab, name="t-ecs-u1", private_ip="10.88.16.152", wait=False),
        # u2 creates fine; u3 asks for u1's address (different type: a call of its own).
        base_params(lab, wait=False, instances=[
            {"name": "t-ecs-u2", "private_ip": "10.88.16.151"},
            {"name": "t-ecs-u3", "private_ip": "10.88.16.152", "instance_type": "ecs.c7.large"}])])
    assert first["created"] == ["t-ecs-u1"]
    assert mixed["failed"] and "private_ip" in mixed["msg"] and "Duplicated" in mixed["msg"]
    assert "t-ecs-u3" in mixed["msg"]
    assert mixed["created"] == ["t-ecs-u2"]
    assert sorted(i["InstanceName"] for i in emulator_instances(lab)) == ["t-ecs-u1", "t-ecs-u2"]


def test_wrong_credentials_name_the_option(ecs_lab, tmp_path):
    lab = ecs_lab
    bad_key = connection(lab, access_key="LTAINOSUCHKEY0000000000")
    bad_secret = connection(lab, secret_key="not-the-secret")
    (r1,) = run_play(lab, tmp_path, [{"name": "t-ecs-cred"}], defaults=bad_key)
    (r2,) = run_play(lab, tmp_path, [{"name": "t-ecs-cred"}], defaults=bad_secret)
    assert r1["failed"] and "InvalidAccessKeyId.NotFound" in r1["msg"] and "access_key" in r1["msg"]
    assert r2["failed"] and "secret_key" in r2["msg"]
    assert tests_key(lab)["access_key_secret"] not in json.dumps([r1, r2])


def test_wait_timeout_names_instances_and_reports_created(ecs_lab, tmp_path):
    lab = ecs_lab
    # The lab takes 3 s and more from RunInstances to Running; the wait gives up after 1 s.
    (result,) = run_play(lab, tmp_path, [base_params(lab, name="t-ecs-slow", private_ip="10.88.16.160",
                                                     wait_timeout=1)])
    assert result["failed"] and "timed out" in result["msg"] and "wait_timeout" in result["msg"]
    assert "t-ecs-slow" in result["msg"]
    assert result["created"] == ["t-ecs-slow"]
    assert result["instances"][0]["instance_id"].startswith("i-")
