"""containerops.platform.vsphere_vm against the lab's vcsim, run the way users run it: ansible-playbook.

Each test removes the VMs (and folders, IP pools) it made. VM names start with t-vs- (IPs
10.88.1.100-150) or t-vm (IPs 10.88.1.160-199). The helpers here (start_play, play, ...) serve
the test_vsphere_vm_*.py files too.
"""
import base64
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest
from pyVim.task import WaitForTask
from pyVmomi import vim

from labhelpers import (
    LAB_JSON,
    REPO,
    destroy_vm,
    docker_state,
    vm_container,
    vsphere_find,
    wait_for_ssh,
    wait_until,
)

pytestmark = pytest.mark.beside_fleet   # the lab's vCenter, not its fleet: runs beside the fleet's tests

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


class Play:
    """An ansible-playbook run of vsphere_vm tasks; wait() gives {task name: registered result}."""

    def __init__(self, proc, out):
        self.proc, self.out, self.stdout = proc, out, ""

    def wait(self, timeout=600):
        try:
            self.stdout, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.stdout, stderr = self.proc.communicate()
        assert self.out.exists(), "playbook did not finish:\n%s\n%s" % (self.stdout[-4000:], stderr[-4000:])
        return json.loads(self.out.read_text())


def start_play(tmp_path, tasks, check=False, diff=False, connection=None, env=None,
               module="containerops.platform.vsphere_vm"):
    """Start vsphere_vm tasks (or another vSphere module's) in one ansible-playbook (several may run at once).

    ``tasks``: [(name, module args)] or [(name, module args, extra task keywords)]. Every
    task continues on error so that one playbook can check several failures.
    ``connection``: module defaults instead of the shared lab's; ``env``: more environment.
    """
    work = pathlib.Path(tempfile.mkdtemp(dir=str(tmp_path)))
    body, names = [], []
    for i, task in enumerate(tasks):
        name, args = task[0], task[1]
        extra = task[2] if len(task) > 2 else {}
        body.append(dict({"name": name, module: args,
                          "register": "r%d" % i, "ignore_errors": True}, **extra))
        names.append(name)
    out = work / "results.json"
    results = "{%s}" % ", ".join("%s: r%d" % (json.dumps(n), i) for i, n in enumerate(names))
    body.append({"name": "save results", "ansible.builtin.copy": {
        "content": "{{ %s | to_json }}" % results, "dest": str(out)}, "check_mode": False})
    playbook = [{"hosts": "localhost", "gather_facts": False,
                 "module_defaults": {"group/containerops.platform.vsphere": connection or CONNECTION},
                 "tasks": body}]
    path = work / "play.yml"
    path.write_text(json.dumps(playbook, indent=1))
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable, str(path)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    run_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), **(env or {}))
    proc = subprocess.Popen(cmd, cwd=REPO, env=run_env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return Play(proc, out)


def play(tmp_path, tasks, timeout=600, **kw):
    """Run vsphere_vm tasks in one ansible-playbook; return {task name: registered result}."""
    return start_play(tmp_path, tasks, **kw).wait(timeout)


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
    (vm_result,) = created["instances"]
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
    assert extra["containerops.ip"] == ip, "the IP claim is part of the clone"
    # The guest showed its customization, so it is recorded and later runs take it as done.
    assert vm_result["customization"] == "confirmed"
    assert attributes(si, vm)["containerops.customized"] == "ip=%s" % ip

    again = run(tmp_path, args)
    assert not again["changed"] and again["created"] == [] and again["changed_instances"] == [], again

    modified = dict(args, cpus=2, memory_mb=2048, attributes={"containerops.role": "worker"})
    changed = run(tmp_path, modified, diff=True)
    assert changed["changed"] and changed["changed_instances"] == [name] and changed["created"] == []
    assert (changed["vms"], changed["changed_vms"]) == (changed["instances"], changed["changed_instances"]), \
        "the deprecated keys (removed in 1.0.0) say what the new ones say"
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
    assert [v["ip"] for v in created["instances"]] == ["10.88.1.111", "10.88.1.112", "10.88.1.113"]
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


# ---------------------------------------------------------------- failures


FAILURES = [
    # (task name, module args, words the message must contain)
    ("unknown template", {"name": "t-vs-f1", "template": "no-such-template"}, ["template", "no-such-template"]),
    ("no template to create from", {"name": "t-vs-f1"}, ["template: required", "t-vs-f1"]),
    ("unknown folder", {"name": "t-vs-f1", "template": TEMPLATE, "folder": "no/such"}, ["folder", "no/such"]),
    ("unknown cluster", {"name": "t-vs-f1", "template": TEMPLATE, "cluster": "NoCluster"},
     ["cluster", "NoCluster", "DC0_C0"]),
    ("unknown resource pool", {"name": "t-vs-f1", "template": TEMPLATE, "resource_pool": "no-pool"},
     ["resource_pool", "no-pool"]),
    ("unknown datastore", {"name": "t-vs-f1", "template": TEMPLATE, "datastore": "NoDS"},
     ["datastore", "NoDS", "LocalDS_0"]),
    ("unknown port group", {"name": "t-vs-f1", "template": TEMPLATE, "networks": [{"name": "No Net"}]},
     ["networks[0].name", "No Net", "VM Network"]),
    ("gateway outside the subnet",
     {"name": "t-vs-f1", "template": TEMPLATE,
      "networks": [{"name": "VM Network", "ip": "10.88.1.150", "prefix": 24, "gateway": "10.88.0.1"}]},
     ["networks[0].gateway", "10.88.1.0/24"]),
    ("ip without netmask", {"name": "t-vs-f1", "template": TEMPLATE,
                            "networks": [{"name": "VM Network", "ip": "10.88.1.150"}]},
     ["networks[0].ip", "netmask", "prefix"]),
    ("zero cpus", {"name": "t-vs-f1", "template": TEMPLATE, "cpus": 0}, ["cpus", "1 to 768"]),
    ("memory not a multiple of 4", {"name": "t-vs-f1", "template": TEMPLATE, "memory_mb": 1023},
     ["memory_mb", "multiple of 4"]),
    ("problems of several vms[] entries at once",
     {"template": TEMPLATE, "vms": [{"name": "t-vs-f1", "memory_mb": 1023}, {"name": "t-vs-f2", "cpus": -1}]},
     ["vms[0].memory_mb", "vms[1].cpus"]),
    ("disk smaller than the template's", {"name": "t-vs-f1", "template": TEMPLATE, "disks": [{"size_gb": 1}]},
     ["disks[0].size_gb", "cannot shrink"]),
    ("wrong password", {"name": "t-vs-f1", "template": TEMPLATE, "password": "not-the-password"},
     ["password", "rejected the login"]),
    ("certificate not trusted", {"name": "t-vs-f1", "template": TEMPLATE, "validate_certs": True},
     ["validate_certs", "certificate"]),
    ("unknown datacenter", {"name": "t-vs-f1", "template": TEMPLATE, "datacenter": "NoDC"}, ["datacenter", "NoDC"]),
    # Input a new user types: refused before anything is created (the valid entries too).
    ("a petabyte disk", {"name": "t-vm-bad1", "template": TEMPLATE, "disks": [{"size_gb": 1024 * 1024}]},
     ["disks[0].size_gb", "62 TB"]),
    ("absurd memory", {"name": "t-vm-bad1", "template": TEMPLATE, "memory_mb": 64 * 1024 * 1024},
     ["memory_mb", "24 TB"]),
    ("a MAC outside VMware's manual range",
     {"name": "t-vm-bad1", "template": TEMPLATE, "networks": [{"name": "VM Network", "mac": "00:50:56:80:00:01"}]},
     ["networks[0].mac", "00:50:56:3f:ff:ff"]),
    ("a VM name vCenter rejects", {"template": TEMPLATE, "vms": [{"name": "t-vm-bad1"}, {"name": "t-vm/bad2"}]},
     ["vms[1].name", "'/'"]),
    ("a negative wait_timeout", {"name": "t-vm-bad1", "template": TEMPLATE, "wait_timeout": -1},
     ["wait_timeout", "1 to 86400"]),
    ("one ip for two VMs", {"template": TEMPLATE, "vms": [
        {"name": "t-vm-bad1", "networks": [dict(LAB_NET, ip="10.88.1.190")]},
        {"name": "t-vm-bad2", "networks": [dict(LAB_NET, ip="10.88.1.190")]}]},
     ["vms[1].networks[0].ip", "10.88.1.190", "also requested for VM 't-vm-bad1'"]),
]
FAILURE_VMS = ["t-vs-f1", "t-vs-f2", "t-vm-bad1", "t-vm-bad2", "t-vm/bad2"]


@pytest.fixture(scope="module")
def failure_results(lab, tmp_path_factory):
    """All failure cases in one playbook (each task continues on error)."""
    return play(tmp_path_factory.mktemp("failures"), [(name, args) for name, args, _words in FAILURES])


@pytest.mark.parametrize("name, args, words", FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_names_the_parameter_and_creates_nothing(failure_results, si, name, args, words):
    result = failure_results[name]
    assert_failed_naming(result, *words)
    assert result.get("created") == [] and not result["changed"]
    assert [n for n in FAILURE_VMS if vsphere_find(si, vim.VirtualMachine, n)] == []


def test_a_name_used_in_another_folder_is_an_error(lab, si, tmp_path, cleanup):
    name = "t-vs-infolder"
    datacenter = vsphere_find(si, vim.Datacenter, lab["vsphere"]["datacenter"])
    folder = datacenter.vmFolder.CreateFolder("t-vs-folder")
    try:
        cleanup.append(name)
        made = run(tmp_path, {"name": name, "template": TEMPLATE, "folder": "t-vs-folder", "state": "present"})
        assert made["created"] == [name] and vsphere_find(si, vim.VirtualMachine, name).parent == folder
        again = run(tmp_path, {"name": name, "template": TEMPLATE, "folder": "/DC0/vm/t-vs-folder",
                               "state": "present"})
        assert not again["changed"], "the same folder written as a full path is the same VM"
        elsewhere = run(tmp_path, {"name": name, "template": TEMPLATE, "state": "present"})
        assert_failed_naming(elsewhere, "folder", "/DC0/vm/t-vs-folder", name)
        assert elsewhere["created"] == []
    finally:
        destroy_vm(si, name)
        WaitForTask(folder.Destroy_Task())


def test_an_ip_in_use_is_refused(lab, si, tmp_path, cleanup):
    """In use = another VM's guest IP, or the IP recorded on a VM that is not running yet."""
    cleanup.extend(["t-vs-ipa", "t-vs-ipb", "t-vs-ipc"])

    def vm(name, ip, state):
        return {"name": name, "template": TEMPLATE, "state": state, "networks": [dict(LAB_NET, ip=ip)]}

    running = run(tmp_path, dict(vm("t-vs-ipa", "10.88.1.120", "poweredon"), wait_for_ip=True, wait_timeout=60))
    assert running["vm"]["ip"] == "10.88.1.120"
    stopped = run(tmp_path, vm("t-vs-ipb", "10.88.1.121", "present"))
    assert stopped["vm"]["ip"] is None

    results = play(tmp_path, [("guest ip", vm("t-vs-ipc", "10.88.1.120", "present")),
                              ("recorded ip", vm("t-vs-ipc", "10.88.1.121", "present"))])
    assert_failed_naming(results["guest ip"], "networks[0].ip", "10.88.1.120", "t-vs-ipa", "guest IP")
    assert_failed_naming(results["recorded ip"], "networks[0].ip", "10.88.1.121", "t-vs-ipb", "containerops.ip")
    assert vsphere_find(si, vim.VirtualMachine, "t-vs-ipc") is None
    # The VM that has the IP may of course be run again with it.
    assert not run(tmp_path, vm("t-vs-ipb", "10.88.1.121", "present"))["changed"]


def test_an_ip_outside_the_port_groups_ip_pool_is_refused(lab, si, tmp_path):
    """When vSphere knows the port group's subnet (an IP pool associated with it), the ip must be in it."""
    content = si.RetrieveContent()
    datacenter = vsphere_find(si, vim.Datacenter, lab["vsphere"]["datacenter"])
    portgroup = next(n for n in datacenter.network if n.name == "DC0_DVPG0")
    pool = vim.vApp.IpPool(
        name="t-vs-pool",
        ipv4Config=vim.vApp.IpPool.IpPoolConfigInfo(subnetAddress="10.99.0.0", netmask="255.255.255.0",
                                                    gateway="10.99.0.1", range="10.99.0.10#10", ipPoolEnabled=False),
        networkAssociation=[vim.vApp.IpPool.Association(network=portgroup, networkName=portgroup.name)])
    pool_id = content.ipPoolManager.CreateIpPool(dc=datacenter, pool=pool)
    try:
        result = run(tmp_path, {"name": "t-vs-f3", "template": TEMPLATE, "state": "present",
                                "networks": [{"name": "DC0_DVPG0", "ip": "10.88.1.130", "prefix": 16}]})
        assert_failed_naming(result, "networks[0].ip", "10.88.1.130", "10.99.0.0/24", "DC0_DVPG0", "t-vs-pool")
        assert vsphere_find(si, vim.VirtualMachine, "t-vs-f3") is None
    finally:
        content.ipPoolManager.DestroyIpPool(dc=datacenter, id=pool_id, force=True)


def test_no_ip_in_time_fails_naming_the_vm_and_reports_what_was_created(lab, si, tmp_path, cleanup):
    name = "t-vs-noip"  # a plain clone: no container, no customization, so no guest IP ever
    cleanup.append(name)
    result = run(tmp_path, {"name": name, "template": TEMPLATE, "wait_for_ip": True, "wait_timeout": 2})
    assert_failed_naming(result, "wait_timeout", name, "2 s")
    assert result["created"] == [name] and result["changed"]
    assert vsphere_find(si, vim.VirtualMachine, name).runtime.powerState == "poweredOn"


def test_the_ip_of_an_existing_vm_is_not_changed_behind_the_users_back(lab, si, tmp_path, cleanup):
    """A VM created with one static IP is not reported fine when the task asks for another."""
    name = "t-vm-ipchange"
    cleanup.append(name)
    args = {"name": name, "template": TEMPLATE, "state": "present", "networks": [dict(LAB_NET, ip="10.88.1.180")]}
    assert run(tmp_path, args)["created"] == [name]
    moved = run(tmp_path, dict(args, networks=[dict(LAB_NET, ip="10.88.1.181")]))
    assert_failed_naming(moved, "networks[0].ip", name, "10.88.1.180", "10.88.1.181", "re-create")
    assert not moved["changed"]
    vm = vsphere_find(si, vim.VirtualMachine, name)
    assert attributes(si, vm)["containerops.ip"] == "10.88.1.180"


def test_user_data_is_never_shown(lab, si, tmp_path, cleanup):
    """Not in the diff, the results or anything ansible-playbook prints: a diff says only that it changes."""
    name = "t-vm-userdata"
    cleanup.append(name)
    first, second = "#cloud-config\n# first-s3cret\n", "#cloud-config\n# second-s3cret\n"
    secrets = [first, second] + [base64.b64encode(s.encode()).decode() for s in (first, second)] + ["s3cret"]
    args = {"name": name, "template": TEMPLATE, "state": "present", "user_data": first}
    runs = [start_play(tmp_path, [("vm", args)], diff=True)]
    created = runs[0].wait()["vm"]
    runs.append(start_play(tmp_path, [("vm", dict(args, user_data=second))], diff=True))
    changed = runs[1].wait()["vm"]
    assert created["created"] == [name] and changed["changed"], changed
    (entry,) = changed["diff"]
    assert entry["after"]["extra_config"]["guestinfo.userdata"] == "(user data, not shown; changed)"
    assert entry["before"]["extra_config"]["guestinfo.userdata"] == "(user data, not shown)"
    for shown in [json.dumps(created), json.dumps(changed)] + [r.stdout for r in runs]:
        assert not [s for s in secrets if s in shown], shown
    # ... while the VM has it, for cloud-init to read.
    extra = dict((o.key, o.value) for o in vsphere_find(si, vim.VirtualMachine, name).config.extraConfig)
    assert base64.b64decode(extra["guestinfo.userdata"]).decode() == second
