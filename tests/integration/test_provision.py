"""provision.yml makes the inventory's fleet exist; afterwards Ansible reaches all six nodes through the plugins."""
import re

from labhelpers import ansible, inventory_list, recap


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
    assert hostvars["lab-vs-2"]["ansible_host"] == "10.88.1.12"
    assert hostvars["lab-ecs-2"]["ansible_host"] == "10.88.17.11"
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
