"""containerops.platform.vsphere_vm against the lab's vcsim, run the way users run it: ansible-playbook.

Each test removes the VMs (and folders, IP pools) it made. VM names start with t-vs-, IPs are
10.88.1.100-199.
"""
import json
import os
import subprocess
import sys

import pytest
from pyVim.connect import Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from labhelpers import (LAB_JSON, REPO, docker_state, vm_container, vsphere_connect, vsphere_find,
                        wait_for_ssh, wait_until)

BIN = os.path.dirname(sys.executable)
TEMPLATE = "debian12-template"
LAB_NET = {"name": "VM Network", "prefix": 16, "gateway": "10.88.0.1"}

# Connection options for every task, read from .lab/lab.json at run time (no secret in the
# playbook files the tests write).
LAB = "(lookup('ansible.builtin.file', '%s') | from_json).vsphere" % LAB_JSON
CONNECTION = {
    "hostname": "{{ %s.host }}" % LAB,
    "port": "{{ %s.port }}" % LAB,
    "username": "{{ %s.username }}" % LAB,
    "password": "{{ %s.password }}" % LAB,
    "validate_certs": False,
    "datacenter": "{{ %s.datacenter }}" % LAB,
}


def play(tmp_path, tasks, check=False, diff=False):
    """Run vsphere_vm tasks in one ansible-playbook; return {task name: registered result}.

    ``tasks``: [(name, module args)] or [(name, module args, extra task keywords)]. Every
    task continues on error so that one playbook can check several failures.
    """
    body, names = [], []
    for i, task in enumerate(tasks):
        name, args = task[0], task[1]
        extra = task[2] if len(task) > 2 else {}
        body.append(dict({"name": name, "containerops.platform.vsphere_vm": args,
                          "register": "r%d" % i, "ignore_errors": True}, **extra))
        names.append(name)
    out = tmp_path / "results.json"
    results = "{%s}" % ", ".join("%s: r%d" % (json.dumps(n), i) for i, n in enumerate(names))
    body.append({"name": "save results", "ansible.builtin.copy": {
        "content": "{{ %s | to_json }}" % results, "dest": str(out)}, "check_mode": False})
    playbook = [{"hosts": "localhost", "gather_facts": False,
                 "module_defaults": {"group/containerops.platform.vsphere": CONNECTION},
                 "tasks": body}]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(playbook, indent=1))
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable, str(path)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    proc = subprocess.run(cmd, cwd=REPO, env=env, text=True, capture_output=True, timeout=600)
    assert out.exists(), "playbook did not finish:\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-4000:])
    return json.loads(out.read_text())


def run(tmp_path, args, **kw):
    """One vsphere_vm task; returns its result."""
    return play(tmp_path, [("vm", args)], **kw)["vm"]


def node_args(lab, name, ip, **more):
    """Options that make a VM a real lab node: RUN.container + cloud-init user data with the SSH key."""
    run_args = lab["node_run_args"] + ["--ip", ip, "--hostname", name, lab["node_image"]]
    args = {"name": name, "template": TEMPLATE, "networks": [dict(LAB_NET, ip=ip)],
            "extra_config": {"RUN.container": json.dumps(run_args)}, "user_data": lab["user_data"],
            "wait_for_ip": True, "wait_timeout": 120}
    args.update(more)
    return args


@pytest.fixture
def si(lab):
    si = vsphere_connect(lab)
    yield si
    Disconnect(si)


@pytest.fixture
def cleanup(si):
    """Names of VMs to remove after the test, whatever happened."""
    names = []
    yield names
    for name in names:
        destroy_vm(si, name)


def destroy_vm(si, name):
    vm = vsphere_find(si, vim.VirtualMachine, name)
    while vm is not None:
        if vm.runtime.powerState == "poweredOn":
            WaitForTask(vm.PowerOffVM_Task())
        WaitForTask(vm.Destroy_Task())
        vm = vsphere_find(si, vim.VirtualMachine, name)


def attributes(si, vm):
    names = dict((f.key, f.name) for f in si.RetrieveContent().customFieldsManager.field or [])
    return dict((names.get(v.key), v.value) for v in vm.customValue)


def assert_failed_naming(result, *words):
    assert result.get("failed"), result
    for word in words:
        assert word in result["msg"], "%r not in the message: %s" % (word, result["msg"])


# ---------------------------------------------------------------- lifecycle


def test_node_vm_lifecycle(lab, si, tmp_path, cleanup):
    """create -> SSH -> same again (no change) -> modify -> power off/on/restart -> delete."""
    name, ip = "t-vs-node1", "10.88.1.101"
    cleanup.append(name)
    args = node_args(lab, name, ip, attributes={"containerops.role": "manager"})

    created = run(tmp_path, args)
    assert created["changed"] and created["created"] == [name], created
    (vm_result,) = created["vms"]
    assert vm_result["ip"] == ip and vm_result["power_state"] == "poweredOn" and vm_result["created"]
    assert vm_result["moid"].startswith("vm-") and vm_result["uuid"]
    assert created["vm"] == vm_result
    # A real node: cloud-init user data put the lab key in, the container has the VM's name.
    assert wait_for_ssh(lab, ip, timeout=90) == name
    vm = vsphere_find(si, vim.VirtualMachine, name)
    assert attributes(si, vm)["containerops.role"] == "manager"
    assert attributes(si, vm)["containerops.ip"] == ip
    extra = dict((o.key, o.value) for o in vm.config.extraConfig)
    assert extra["guestinfo.userdata.encoding"] == "base64"

    again = run(tmp_path, args)
    assert not again["changed"] and again["created"] == [] and again["changed_vms"] == [], again

    modified = dict(args, cpus=2, memory_mb=2048, attributes={"containerops.role": "worker"})
    changed = run(tmp_path, modified, diff=True)
    assert changed["changed"] and changed["changed_vms"] == [name] and changed["created"] == []
    assert (vm.config.hardware.numCPU, vm.config.hardware.memoryMB) == (2, 2048)
    assert attributes(si, vm)["containerops.role"] == "worker"
    assert not run(tmp_path, modified)["changed"]

    container = vm_container(name)
    off = run(tmp_path, dict(modified, state="poweredoff"))
    assert off["changed"] and off["vm"]["power_state"] == "poweredOff", off
    wait_until(lambda: docker_state(container) == "exited", 30, what="container stops with the VM")
    assert not run(tmp_path, dict(modified, state="poweredoff"))["changed"]

    on = run(tmp_path, modified)
    assert on["changed"] and on["vm"]["power_state"] == "poweredOn" and on["vm"]["ip"] == ip
    assert wait_for_ssh(lab, ip, timeout=90) == name

    restarted = run(tmp_path, dict(modified, state="restarted"))
    assert restarted["changed"] and restarted["vm"]["power_state"] == "poweredOn"

    refused = run(tmp_path, {"name": name, "state": "absent"})
    assert_failed_naming(refused, "force", name)
    assert vsphere_find(si, vim.VirtualMachine, name) is not None

    deleted = run(tmp_path, {"name": name, "state": "absent", "force": True})
    assert deleted["changed"] and deleted["deleted"] == [name]
    assert vsphere_find(si, vim.VirtualMachine, name) is None
    assert vm_container(name) is None
    assert not run(tmp_path, {"name": name, "state": "absent"})["changed"]


def test_many_vms_in_one_task_check_mode_then_create(lab, si, tmp_path, cleanup):
    names = ["t-vs-many1", "t-vs-many2", "t-vs-many3"]
    cleanup.extend(names)
    args = {"template": TEMPLATE, "memory_mb": 512, "wait_for_ip": True, "wait_timeout": 60,
            "attributes": {"containerops.role": "worker"},
            "vms": [{"name": n, "networks": [dict(LAB_NET, ip="10.88.1.%d" % (111 + i))]}
                    for i, n in enumerate(names)]}
    args["vms"][0]["cpus"] = 2  # a vms[] entry overrides the top-level default
    args["vms"][2]["attributes"] = {"containerops.role": "manager"}

    check = run(tmp_path, args, check=True, diff=True)
    assert check["changed"] and check["created"] == names, check
    assert all(vsphere_find(si, vim.VirtualMachine, n) is None for n in names), "check mode created a VM"

    created = run(tmp_path, args)
    assert created["created"] == names
    assert [v["ip"] for v in created["vms"]] == ["10.88.1.111", "10.88.1.112", "10.88.1.113"]
    vms = [vsphere_find(si, vim.VirtualMachine, n) for n in names]
    assert [v.config.hardware.numCPU for v in vms] == [2, 1, 1]
    assert {v.config.hardware.memoryMB for v in vms} == {512}
    assert [attributes(si, v)["containerops.role"] for v in vms] == ["worker", "worker", "manager"]
    assert {v.runtime.powerState for v in vms} == {"poweredOn"}

    assert not run(tmp_path, args)["changed"]
    check_delete = run(tmp_path, {"vms": [{"name": n} for n in names], "state": "absent", "force": True},
                       check=True)
    assert check_delete["changed"] and all(vsphere_find(si, vim.VirtualMachine, n) for n in names)
    deleted = run(tmp_path, {"vms": [{"name": n} for n in names], "state": "absent", "force": True})
    assert sorted(deleted["deleted"]) == names
    assert all(vsphere_find(si, vim.VirtualMachine, n) is None for n in names)


def test_present_leaves_a_new_vm_off_and_diff_shows_changes(lab, si, tmp_path, cleanup):
    name = "t-vs-present1"
    cleanup.append(name)
    created = run(tmp_path, {"name": name, "template": TEMPLATE, "state": "present",
                             "extra_config": {"containerops.test": "a"}}, diff=True)
    assert created["created"] == [name] and created["vm"]["power_state"] == "poweredOff"
    assert created["diff"][0]["before"] == {"state": "absent"}
    changed = run(tmp_path, {"name": name, "state": "present", "extra_config": {"containerops.test": "b"}},
                  diff=True)
    assert changed["changed"]
    (entry,) = changed["diff"]
    assert entry["before"]["extra_config"] == {"containerops.test": "a"}
    assert entry["after"]["extra_config"] == {"containerops.test": "b"}
    assert entry["after"]["power_state"] == "poweredOff"
