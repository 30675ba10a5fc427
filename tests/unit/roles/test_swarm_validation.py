"""roles/swarm refuses bad inventory before it touches a host: the checks run on the
controller (ansible-playbook against a local inventory of unreachable names; no network)."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
BIN = os.path.dirname(sys.executable)

PLAY = """
- hosts: "{{ play_hosts_pattern | default('fleet') }}"
  gather_facts: false
  tasks:
    - ansible.builtin.import_role:
        name: containerops.platform.swarm
        tasks_from: validate.yml
    - ansible.builtin.debug:
        msg: "MANAGERS={{ _swarm_managers | join(',') }} LABELS[{{ inventory_hostname }}]={{ _swarm_labels | to_json }}"
"""


def run(tmp_path, hosts, extra=(), env=None):
    inv = {"fleet": {"hosts": {name: {"ansible_connection": "local", **hv} for name, hv in hosts.items()}},
           "outsiders": {"hosts": {"stray": {"ansible_connection": "local"}}}}
    (tmp_path / "inv.yml").write_text(yaml.safe_dump(inv))
    (tmp_path / "play.yml").write_text(PLAY)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", **(env or {})}
    r = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "inv.yml"),
                        str(tmp_path / "play.yml"), *extra],
                       cwd=REPO, env=env, text=True, capture_output=True, check=False)
    return r.returncode, r.stdout + r.stderr


def shown(out):
    """The debug task's message per host: (managers, {host: labels})."""
    tasks = json.loads(out[out.index("{"):out.rindex("}") + 1])["plays"][0]["tasks"]
    msgs = {h: res["msg"] for h, res in tasks[-1]["hosts"].items()}
    managers = next(iter(msgs.values())).split(" ")[0].split("=", 1)[1]
    return managers.split(","), {h: json.loads(m.split("=", 2)[2]) for h, m in msgs.items()}


def fleet(**overrides):
    hosts = {
        "vs1": {"platform_role": "manager", "platform_provider": "vsphere", "platform_zone": "DC0_C0",
                "platform_region": "DC0", "platform_workload_class": "jvm"},
        "vs2": {"platform_role": "manager", "platform_provider": "vsphere"},
        "ecs1": {"platform_role": "manager", "platform_provider": "ecs", "platform_zone": "cn-hangzhou-h"},
        "ecs2": {"platform_role": "worker"},
        "ecs3": {},
    }
    for name, hv in overrides.items():
        hosts[name] = {**hosts[name], **hv}
    return hosts


def test_three_managers_and_labels_from_inventory(tmp_path):
    rc, out = run(tmp_path, fleet())
    assert rc == 0, out
    managers, labels = shown(out)
    assert sorted(managers) == ["ecs1", "vs1", "vs2"]
    assert labels["vs1"] == {"containerops.managed": "true", "containerops.provider": "vsphere",
                             "containerops.region": "DC0", "containerops.zone": "DC0_C0",
                             "containerops.workload-class": "jvm"}
    assert labels["ecs3"] == {"containerops.managed": "true"}


@pytest.mark.parametrize("managers", [["vs1", "vs2", "ecs1", "ecs2"], []])
def test_even_or_zero_manager_count_fails_naming_the_variable(tmp_path, managers):
    hosts = fleet(**{h: {"platform_role": "manager" if h in managers else "worker"}
                     for h in ("vs1", "vs2", "ecs1", "ecs2", "ecs3")})
    rc, out = run(tmp_path, hosts)
    assert rc != 0
    assert f"{len(managers)} managers" in out and "platform_role" in out and "swarm_manager_counts" in out
    assert "Nothing was changed" in out


def test_five_managers_need_swarm_manager_counts(tmp_path):
    hosts = fleet(ecs2={"platform_role": "manager"}, ecs3={"platform_role": "manager"})
    rc, out = run(tmp_path, hosts)
    assert rc != 0 and "5 managers" in out and "swarm_manager_counts" in out
    rc, out = run(tmp_path, hosts, ["-e", '{"swarm_manager_counts": [1, 3, 5]}'])
    assert rc == 0, out


def test_swarm_managers_list_wins_over_platform_role(tmp_path):
    rc, out = run(tmp_path, fleet(), ["-e", '{"swarm_managers": ["ecs3"]}'])
    assert rc == 0 and shown(out)[0] == ["ecs3"], out
    rc, out = run(tmp_path, fleet(), ["-e", '{"swarm_managers": ["nope"]}'])
    assert rc != 0 and "swarm_managers names nope" in out


@pytest.mark.parametrize("key,why", [("Bad_Key", "invalid key"), ("rack..a", "invalid key"),
                                     ("containerops.zone", "reserved key")])
def test_bad_label_keys_fail_naming_host_key_and_fix(tmp_path, key, why):
    rc, out = run(tmp_path, fleet(ecs2={"swarm_node_labels": {key: "x"}}))
    assert rc != 0
    assert "ecs2: swarm_node_labels has" in out and why in out and key in out and "Fix:" in out


def test_good_custom_labels_are_merged(tmp_path):
    rc, out = run(tmp_path, fleet(ecs2={"swarm_node_labels": {"rack": "r1", "com.example.tier": "db"}}))
    assert rc == 0, out
    assert shown(out)[1]["ecs2"] == {"containerops.managed": "true", "rack": "r1", "com.example.tier": "db"}


def test_unknown_platform_role_fails(tmp_path):
    rc, out = run(tmp_path, fleet(ecs2={"platform_role": "db"}))
    assert rc != 0 and "platform_role is 'db'" in out


@pytest.mark.parametrize("extra, why", [
    ({}, "swarm_autolock is false"),
    ({"swarm_autolock": True, "swarm_unlock_key": "SWMKEY-1-from-a-vault"}, "swarm_unlock_key is set"),
])
def test_key_rotation_without_a_key_the_role_keeps_fails(tmp_path, extra, why):
    rc, out = run(tmp_path, fleet(), ["-e", json.dumps({"swarm_unlock_key_rotate": True, **extra})])
    assert rc != 0 and "swarm_unlock_key_rotate=true needs swarm_autolock=true" in out and why in out, out
    assert "SWMKEY-1-from-a-vault" not in out


def test_key_rotation_with_autolock_and_the_key_file_passes(tmp_path):
    rc, out = run(tmp_path, fleet(), ["-e", json.dumps({"swarm_unlock_key_rotate": True, "swarm_autolock": True})])
    assert rc == 0, out


def test_a_play_on_part_of_the_fleet_counts_managers_of_the_whole_fleet(tmp_path):
    # hosts: ecs1,ecs2 - the vSphere managers are outside the play, still members.
    rc, out = run(tmp_path, fleet(), ["-e", "play_hosts_pattern=ecs1,ecs2"])
    assert rc == 0, out
    assert sorted(shown(out)[0]) == ["ecs1", "vs1", "vs2"]


def test_a_play_without_any_manager_is_refused(tmp_path):
    rc, out = run(tmp_path, fleet(), ["-e", "play_hosts_pattern=ecs2,ecs3"])
    assert rc != 0 and "none of the swarm's managers from inventory" in out and "swarm_hosts" in out, out


def test_a_play_host_outside_the_fleet_group_is_refused(tmp_path):
    rc, out = run(tmp_path, fleet(), ["-e", "play_hosts_pattern=fleet:outsiders"])
    assert rc != 0 and "stray in the play but not in the inventory group 'fleet'" in out and "swarm_fleet_group" in out


def test_a_manager_listed_twice_is_refused(tmp_path):
    rc, out = run(tmp_path, fleet(), ["-e", '{"swarm_managers": ["vs1", "vs1", "ecs1"]}'])
    assert rc != 0 and "swarm_managers lists vs1 more than once" in out, out


@pytest.mark.parametrize("job_var", ["awx_job_id", "tower_job_id"])
def test_an_awx_job_may_not_keep_the_unlock_key_in_its_home(tmp_path, job_var):
    rc, out = run(tmp_path, fleet(), ["-e", json.dumps({"swarm_autolock": True, job_var: 42})])
    assert rc != 0 and "AWX job" in out and "swarm_unlock_key_dir" in out and "Nothing was changed" in out, out
    # A persistent directory given explicitly, or the key from a vault, is fine.
    rc, out = run(tmp_path, fleet(), ["-e", json.dumps({"swarm_autolock": True, job_var: 42,
                                                        "swarm_unlock_key_dir": str(tmp_path / "keys")})])
    assert rc == 0, out
    rc, out = run(tmp_path, fleet(), ["-e", json.dumps({"swarm_autolock": True, job_var: 42,
                                                        "swarm_unlock_key": "SWMKEY-1-vaulted"})])
    assert rc == 0 and "SWMKEY-1-vaulted" not in out, out


def test_a_runner_home_under_tmp_is_refused_without_awx_variables(tmp_path):
    home = tempfile.mkdtemp(prefix="runner-home-", dir="/tmp")   # a throwaway home, like a CI runner's
    try:
        rc, out = run(tmp_path, fleet(), ["-e", json.dumps({"swarm_autolock": True})], env={"HOME": home})
    finally:
        shutil.rmtree(home)
    assert rc != 0 and "temporary runner" in out, out


@pytest.mark.parametrize("extra, words", [
    ({"swarm_port": 70000}, "swarm_port is '70000': set a whole number from 1 to 65535"),
    ({"swarm_drain_timeout": -1}, "swarm_drain_timeout is '-1'"),
    ({"swarm_remove_max": -2}, "swarm_remove_max is '-2'"),
    ({"swarm_engine_restart_batch": 0}, "swarm_engine_restart_batch is '0'"),
    ({"swarm_advertise_addr": "10.88.1.11:2377"}, "swarm_advertise_addr is '10.88.1.11:2377'"),
])
def test_numbers_and_addresses_out_of_range_are_refused(tmp_path, extra, words):
    rc, out = run(tmp_path, fleet(), ["-e", json.dumps(extra)])
    assert rc != 0 and words in out and "Nothing was changed" in out, out


def test_a_key_dir_written_with_a_tilde_is_recognised_as_the_jobs_home(tmp_path):
    rc, out = run(tmp_path, fleet(), ["-e", json.dumps({"swarm_autolock": True, "awx_job_id": 3,
                                                        "swarm_unlock_key_dir": "~/.containerops/swarm"})])
    assert rc != 0 and "AWX job" in out, out


def test_every_mistake_is_named_by_its_check(tmp_path):
    # One check task for a host and one for the fleet: each names all the mistakes it finds.
    hosts = fleet(ecs2={"swarm_node_labels": {"Bad_Key": "x"}, "swarm_advertise_addr": "10.88.1.11:2377"})
    rc, out = run(tmp_path, hosts, ["-e", json.dumps({"swarm_port": 70000, "swarm_remove_max": -2})])
    assert rc != 0
    for words in ("ecs2: swarm_node_labels has invalid key(s) Bad_Key", "swarm_advertise_addr is '10.88.1.11:2377'",
                  "swarm_port is '70000'", "swarm_remove_max is '-2'"):
        assert words in out, out
