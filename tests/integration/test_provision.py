"""provision.yml makes the inventory's fleet exist; afterwards Ansible reaches all six nodes through the plugins."""
import json
import os
import re
import subprocess
import sys

from labhelpers import REPO, ansible, inventory_copy, inventory_list, machines, recap, unwrap_unsafe, vcsim_vms
from test_ecs_instance import admin


def test_second_run_changes_nothing(fleet):
    again = ansible("ansible-playbook", "playbooks/provision.yml")
    assert again.returncode == 0, again.stdout[-3000:]
    counts = recap(again.stdout)
    assert set(counts) >= {"localhost", "lab-vs-1", "lab-ecs-3"}
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), counts


def test_plugins_list_the_fleet_by_provider_zone_and_role(fleet):
    inv = inventory_list()
    assert set(inv["provider_vsphere"]["hosts"]) >= {"lab-vs-1", "lab-vs-2", "lab-vs-3"}
    assert set(inv["provider_ecs"]["hosts"]) >= {"lab-ecs-1", "lab-ecs-2", "lab-ecs-3"}
    assert {"lab-vs-1", "lab-vs-2", "lab-ecs-1"} <= set(inv["role_manager"]["hosts"])
    assert "lab-ecs-3" in inv["zone_cn_shanghai_b"]["hosts"]
    hostvars = inv["_meta"]["hostvars"]
    # The address the cloud reports is the one inventory asked for.
    assert hostvars["lab-vs-2"]["ansible_host"] == hostvars["lab-vs-2"]["platform_observed_ip"] == "10.88.1.12"
    assert hostvars["lab-ecs-2"]["ansible_host"] == hostvars["lab-ecs-2"]["platform_observed_ip"] == "10.88.17.11"
    assert hostvars["lab-vs-1"]["platform_provider"] == "vsphere"
    assert hostvars["lab-ecs-1"]["platform_zone"] == "cn-hangzhou-h"


def test_ansible_pings_all_six_nodes_over_ssh(fleet):
    ping = ansible("ansible", "fleet", "-m", "ansible.builtin.ping", "-o")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    for host in ("lab-vs-1", "lab-vs-2", "lab-vs-3", "lab-ecs-1", "lab-ecs-2", "lab-ecs-3"):
        assert re.search(rf"^{host} \| SUCCESS .*pong", ping.stdout, re.M), ping.stdout


def test_secrets_are_not_printed_even_at_vvv(lab, fleet):
    verbose = ansible("ansible-playbook", "-vvv", "playbooks/provision.yml")
    assert verbose.returncode == 0, verbose.stdout[-3000:]
    output = verbose.stdout + verbose.stderr
    assert "vsphere_vm" in output and "ecs_instance" in output  # the module invocations were logged
    for secret in (lab["vsphere"]["password"], lab["ecs"]["access_key_secret"]):
        assert secret not in output


def test_desired_settings_in_inventory_win_over_what_the_clouds_report(fleet, tmp_path):
    """fleet.yml makes lab-vs-3 a manager and asks lab-ecs-2 for another instance type. The plugins (read
    after fleet.yml for vSphere, before it for ECS) report what the machines have under observed names, so
    the desired values reach the modules: the role is set, and ecs_instance warns about the type (on the old
    plugins the observed values won and nothing was reported)."""
    def change(fleet):
        fleet["fleet"]["children"]["fleet_vsphere"]["hosts"]["lab-vs-3"]["platform_role"] = "manager"
        fleet["fleet"]["children"]["fleet_ecs"]["hosts"]["lab-ecs-2"]["ecs_instance_type"] = "ecs.g7.xlarge"
    inv = inventory_copy(tmp_path, change)
    listed = ansible("ansible-inventory", "--list", inventory=inv)
    assert listed.returncode == 0, listed.stderr
    hosts = unwrap_unsafe(json.loads(listed.stdout))["_meta"]["hostvars"]
    assert (hosts["lab-vs-3"]["platform_role"], hosts["lab-vs-3"]["platform_observed_role"]) == ("manager", "worker")
    assert hosts["lab-vs-3"]["ansible_host"] == "10.88.1.13"
    assert (hosts["lab-ecs-2"]["ecs_instance_type"], hosts["lab-ecs-2"]["ecs_observed_instance_type"]) == \
        ("ecs.g7.xlarge", "ecs.g7.large")
    assert hosts["lab-ecs-1"]["ecs_instance_type"] == "ecs.g7.large"     # group_vars beat nothing the cloud said

    preview = ansible("ansible-playbook", "--check", "--diff", "playbooks/provision.yml", inventory=inv)
    assert preview.returncode == 0, preview.stdout[-4000:]
    out = " ".join((preview.stdout + preview.stderr).split())
    assert "lab-ecs-2" in out and "has instance_type ecs.g7.large, the task asks for ecs.g7.xlarge" in out, out[-4000:]
    assert "containerops.role" in out and "manager" in out       # the attribute change for lab-vs-3, previewed
    assert recap(preview.stdout)["localhost"]["changed"] > 0


CONCURRENT = {
    "fleet_vsphere": {"t-cc-vs-1": {"ansible_host": "10.88.1.220", "platform_role": "worker"},
                      "t-cc-vs-2": {"ansible_host": "10.88.1.221", "platform_role": "worker"}},
    "fleet_ecs": {"t-cc-ecs-1": {"ansible_host": "10.88.16.220", "platform_role": "worker", "ecs_region": "cn-hangzhou",
                                 "ecs_vswitch_id": "vsw-bp1lab0hangzhouh00001",
                                 "ecs_security_group_ids": ["sg-bp1lab0hangzhou00001"]},
                  "t-cc-ecs-2": {"ansible_host": "10.88.16.221", "platform_role": "worker", "ecs_region": "cn-hangzhou",
                                 "ecs_vswitch_id": "vsw-bp1lab0hangzhouh00001",
                                 "ecs_security_group_ids": ["sg-bp1lab0hangzhou00001"]}},
}


def test_two_provision_runs_at_once_make_each_machine_once_and_no_ip_twice(lab, tmp_path):
    """Two operators (or an AWX schedule and a person) run provision.yml for the same fleet at the same
    time, while new ECS instances show in the listings seconds late (the lab's emulator lags like ECS):
    every machine exists exactly once, with its own address, and both runs end cleanly."""
    def only_these(fleet):
        fleet["fleet"]["children"] = {group: {"hosts": hosts} for group, hosts in CONCURRENT.items()}
    inv = inventory_copy(tmp_path, only_these)
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    try:
        runs = [subprocess.Popen([playbook, "-i", inv, "playbooks/provision.yml"], cwd=REPO, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _run in range(2)]
        outputs = [r.communicate(timeout=900)[0] for r in runs]
        for run, out in zip(runs, outputs):
            assert run.returncode == 0, out[-4000:]
        names = [h for hosts in CONCURRENT.values() for h in hosts]
        listed = unwrap_unsafe(json.loads(ansible("ansible-inventory", "--list", inventory=inv).stdout))
        vms = [v for v in vcsim_vms(lab) if v["name"] in names]
        instances = [i for i in admin(lab, "/instances", key=lab["ecs"])["instances"] if i["InstanceName"] in names]
        assert sorted(v["name"] for v in vms) == ["t-cc-vs-1", "t-cc-vs-2"], vms
        assert sorted(i["InstanceName"] for i in instances) == ["t-cc-ecs-1", "t-cc-ecs-2"], instances
        seen = {h: listed["_meta"]["hostvars"][h]["platform_observed_ip"] for h in names}
        assert seen == {h: hv["ansible_host"] for hosts in CONCURRENT.values() for h, hv in hosts.items()}
    finally:
        gone = machines("absent", [h for hosts in CONCURRENT.values() for h in hosts], inventory=("-i", inv))
        assert gone.returncode == 0, gone.stdout[-3000:]
