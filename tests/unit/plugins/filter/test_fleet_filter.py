"""The desired fleet in inventory becomes exactly the module arguments provision.yml passes on;
hosts_where picks hosts by a host variable as a play sees them."""

import json
import os
import pathlib
import subprocess
import sys

import jinja2
import pytest
import yaml

from ansible_collections.containerops.platform.plugins.filter.fleet import (
    ecs_instance_specs,
    hosts_where,
    vsphere_vm_specs,
)

REPO = pathlib.Path(__file__).resolve().parents[4]


def test_vsphere_host_becomes_a_vm_entry_with_static_nic_and_role():
    host = {"inventory_hostname": "vs-1", "ansible_host": "10.1.2.3", "platform_role": "manager",
            "vsphere_template": "tpl", "vsphere_cpus": 2, "vsphere_network": "VM Network",
            "vsphere_netmask": "255.255.255.0", "vsphere_gateway": "10.1.2.1",
            "vsphere_extra_config": {"k": "v"}, "unrelated": "x"}
    assert vsphere_vm_specs([host]) == [{
        "name": "vs-1", "template": "tpl", "cpus": 2, "extra_config": {"k": "v"},
        "networks": [{"name": "VM Network", "ip": "10.1.2.3", "netmask": "255.255.255.0", "gateway": "10.1.2.1"}],
        "attributes": {"containerops.role": "manager"},
    }]


def test_vsphere_host_without_network_or_role_keeps_template_nic():
    (spec,) = vsphere_vm_specs([{"inventory_hostname": "vs-2", "vsphere_template": "tpl"}])
    assert spec == {"name": "vs-2", "template": "tpl"}


def test_ecs_hosts_are_grouped_by_region_with_ip_and_role_tag():
    hosts = [
        {"inventory_hostname": "e1", "ansible_host": "10.0.16.5", "ecs_region": "cn-hangzhou",
         "ecs_vswitch_id": "vsw-1", "platform_role": "worker", "ecs_tags": {"team": "ops"}},
        {"inventory_hostname": "e2", "ecs_region": "cn-shanghai", "ecs_image_id": "img"},
        {"inventory_hostname": "e3", "ecs_region": "cn-hangzhou", "ecs_vswitch_id": "vsw-2"},
    ]
    specs = ecs_instance_specs(hosts)
    assert list(specs) == ["cn-hangzhou", "cn-shanghai"]
    assert specs["cn-hangzhou"][0] == {"name": "e1", "host_name": "e1", "vswitch_id": "vsw-1",
                                       "private_ip": "10.0.16.5",
                                       "tags": {"team": "ops", "containerops.role": "worker"}}
    assert [s["name"] for s in specs["cn-hangzhou"]] == ["e1", "e3"]
    assert specs["cn-shanghai"] == [{"name": "e2", "host_name": "e2", "image_id": "img"}]


def test_ecs_host_without_region_is_a_clear_error():
    with pytest.raises(ValueError, match="e9 has no ecs_region"):
        ecs_instance_specs([{"inventory_hostname": "e9"}])


# hosts_where: the hosts whose host variable is true or passes a Jinja test, in their order.
HOSTVARS = {
    "m1": {"_state": "active", "_manager": True, "platform_role": "manager", "_probe": {"swarm": {"Ctl": True}}},
    "w1": {"_state": "inactive", "_manager": False, "_probe": {"swarm": {}}},
    "m2": {"_state": "locked", "_manager": False, "platform_role": "manager", "_probe": {"swarm": {"Ctl": False}}},
    "w2": {"_state": "active", "_manager": False, "platform_role": None, "_probe": "not a mapping"},
}


def where(hosts, var, *test):
    return hosts_where(jinja2.Environment(), hosts, HOSTVARS, var, *test)


def test_hosts_where_keeps_the_hosts_whose_variable_is_true_in_their_order():
    assert where(["m2", "w1", "m1", "w2"], "_manager") == ["m1"]
    assert where(["w2", "m1"], "_state") == ["w2", "m1"]


def test_hosts_where_passes_the_value_and_arguments_to_the_jinja_test():
    hosts = list(HOSTVARS)
    assert where(hosts, "_state", "eq", "locked") == ["m2"]
    assert where(hosts, "_state", "ne", "inactive") == ["m1", "m2", "w2"]
    assert where(hosts, "_state", "in", ["locked", "inactive"]) == ["w1", "m2"]


def test_hosts_where_follows_a_dotted_path_into_mappings():
    assert where(list(HOSTVARS), "_probe.swarm.Ctl") == ["m1"]
    assert where(list(HOSTVARS), "_probe.swarm.Ctl", "eq", False) == ["m2"]


def test_hosts_where_keeps_a_host_without_the_variable_only_for_the_undefined_test():
    hosts = list(HOSTVARS)
    assert where(hosts, "platform_role", "ne", "manager") == ["w2"]        # None is a value; w1 has none
    assert where(hosts, "platform_role", "undefined") == ["w1"]
    assert where(hosts, "_probe.swarm.Ctl", "undefined") == ["w1", "w2"]   # key absent, or not a mapping
    assert where(hosts, "_nowhere") == []


def test_hosts_where_names_a_host_the_inventory_does_not_have():
    with pytest.raises(ValueError, match="stray is not a host of the inventory"):
        where(["m1", "stray"], "_state")


HOSTS_WHERE_PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.set_fact:
        _state: "{{ {'a': 'active', 'b': 'locked', 'c': 'inactive'}[inventory_hostname] }}"
        _manager: "{{ inventory_hostname == 'a' }}"
    - ansible.builtin.debug:
        msg: a registered result
      register: _ran
      changed_when: inventory_hostname != 'b'
    - ansible.builtin.debug:
        msg: >-
          {{ [ansible_play_hosts_all | containerops.platform.hosts_where(hostvars, '_manager'),
              ansible_play_hosts_all | containerops.platform.hosts_where(hostvars, '_state', 'ne', 'inactive'),
              ansible_play_hosts_all | containerops.platform.hosts_where(hostvars, '_ran.changed'),
              ansible_play_hosts_all | containerops.platform.hosts_where(hostvars, 'role', 'eq', 'manager'),
              ansible_play_hosts_all | containerops.platform.hosts_where(hostvars, 'role', 'undefined')] | to_json }}
      run_once: true
"""


def test_hosts_where_reads_real_hostvars_in_a_play(tmp_path):
    """Facts, registered results and inventory variables, as ansible-playbook templates them."""
    (tmp_path / "inv.yml").write_text(yaml.safe_dump({"all": {"hosts": {
        "a": {"ansible_connection": "local", "role": "manager"},
        "b": {"ansible_connection": "local", "role": "worker"},
        "c": {"ansible_connection": "local"}}}}))
    (tmp_path / "play.yml").write_text(HOSTS_WHERE_PLAY)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                          "-i", str(tmp_path / "inv.yml"), str(tmp_path / "play.yml")],
                         cwd=REPO, env=env, text=True, capture_output=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    tasks = json.loads(out[out.index("{"):out.rindex("}") + 1])["plays"][0]["tasks"]
    (shown,) = [json.loads(r["msg"]) for r in tasks[-1]["hosts"].values() if "msg" in r]
    assert shown == [["a"], ["a", "b"], ["a", "c"], ["a"], ["c"]]
