"""vsphere_vm against what real vCenter does and the shared lab's simulator does not: tasks that
never finish, guests that fail their customization, DuplicateName, clones that take seconds,
disks with capacityInBytes.

Each test talks to a private vcsim built from lab/vcsim (this checkout's sources, so it has the
vCenter behaviours of vcenter.go and the fault injection of faults.go) on a free loopback port,
with a random password given to Ansible only through VMWARE_* variables. Clones take 2 s there
(-method-delay), as on a vCenter: two runs started together are both inside their clones at
once. The VMs the tests make (t-vm*, 10.88.1.160-199) go away with that vcsim at the end.
"""
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile

import pytest
from pyVim.connect import Disconnect, SmartConnect

from test_vsphere_vm import BIN, LAB_NET, REPO, TEMPLATE, assert_failed_naming, play
from test_vsphere_vm_concurrency import all_vms, check_one_ip_race, check_same_fleet_race, race

pytestmark = pytest.mark.own_servers   # its own vcsim (and etcd); no lab


class OwnVcsim:
    """vcsim built from lab/vcsim into a temporary directory; started, and always stopped."""

    def __init__(self, workdir, method_delay, extra_args=()):
        self.workdir, self.method_delay, self.extra_args = workdir, method_delay, list(extra_args)
        self.password = secrets.token_urlsafe(18)
        self.username = "t-vm-tests@vsphere.local"

    def __enter__(self):
        binary = os.path.join(self.workdir, "vcsim")
        # A build cache kept between test runs: a cold build of govmomi takes a minute.
        cache = os.path.join(tempfile.gettempdir(), "containerops-test-vcsim-gocache")
        built = subprocess.run(["bash", os.path.join(REPO, "lab", "vcsim", "build.sh"), binary],
                               env=dict(os.environ, GOCACHE=cache), text=True, capture_output=True, check=False)
        assert built.returncode == 0, built.stdout + built.stderr
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(os.path.join(self.workdir, "vcsim.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "-listen", "127.0.0.1:%d" % self.port, "-method-delay", self.method_delay] + self.extra_args,
            env=dict(os.environ, VCSIM_USERNAME=self.username, VCSIM_PASSWORD=self.password),
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()  # printed once it serves
        if "listening" not in line:
            self.__exit__()
            raise AssertionError("vcsim did not start: %s (see %s)" % (line, self.log.name))
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: vcsim removes its datastore directories and VMs
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def env(self):
        return {"VMWARE_HOST": "127.0.0.1", "VMWARE_PORT": str(self.port), "VMWARE_USER": self.username,
                "VMWARE_PASSWORD": self.password, "VMWARE_VALIDATE_CERTS": "false"}

    def play_options(self):
        """start_play/play keywords that aim vsphere_vm at this vcsim."""
        return {"connection": {"datacenter": "DC0"}, "env": self.env()}

    def connect(self):
        return SmartConnect(host="127.0.0.1", port=self.port, user=self.username, pwd=self.password,
                            disableSslCertValidation=True)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with OwnVcsim(str(tmp_path_factory.mktemp("vcsim")), method_delay="CloneVM_Task:2000") as own:
        yield own


@pytest.fixture
def si(sim):
    si = sim.connect()
    yield si
    Disconnect(si)


def run(sim, tmp_path, args, timeout=300):
    return play(tmp_path, [("vm", args)], timeout=timeout, **sim.play_options())["vm"]


def vm_named(si, name):
    (vm,) = [v for v in all_vms(si) if v.name == name]
    return vm


# ---------------------------------------------------------------- deadlines


def test_a_clone_vcenter_never_finishes_fails_at_task_timeout(sim, si, tmp_path):
    result = run(sim, tmp_path, {"name": "t-vm-stall1", "template": TEMPLATE, "task_timeout": 3,
                                 "extra_config": {"lab.stall": "CloneVM_Task"}}, timeout=120)
    assert_failed_naming(result, "CloneVM_Task", "t-vm-stall1", "still running after 3 s", "task_timeout", "task-")
    assert result["created"] == []
    assert "t-vm-stall1" not in [v.name for v in all_vms(si)]


def test_a_power_on_that_never_finishes_names_the_vm_and_what_was_created(sim, si, tmp_path):
    result = run(sim, tmp_path, {"template": TEMPLATE, "task_timeout": 3, "vms": [
        {"name": "t-vm-stall2"}, {"name": "t-vm-stall3", "extra_config": {"lab.stall": "PowerOnVM_Task"}}]},
        timeout=120)
    assert_failed_naming(result, "power operation", "t-vm-stall3", "task_timeout")
    assert "t-vm-stall2:" not in result["msg"]
    assert result["created"] == ["t-vm-stall2", "t-vm-stall3"] and result["changed"]
    assert vm_named(si, "t-vm-stall2").runtime.powerState == "poweredOn"
    assert vm_named(si, "t-vm-stall3").runtime.powerState == "poweredOff"


# ---------------------------------------------------------------- guest customization


def test_a_failed_guest_customization_is_not_reported_fine_by_a_rerun(sim, si, tmp_path):
    """The guest fails its Linux prep (vCenter posts CustomizationFailed; it keeps no IP)."""
    name, ip = "t-vm-custom1", "10.88.1.170"
    args = {"name": name, "template": TEMPLATE, "networks": [dict(LAB_NET, ip=ip)], "wait_for_ip": True,
            "wait_timeout": 5, "extra_config": {"lab.customization": "fail"}}

    first = run(sim, tmp_path, args)
    assert_failed_naming(first, "wait_timeout", name, ip, "CustomizationFailed")
    assert first["created"] == [name] and first["vm"]["customization"] == "pending"

    again = run(sim, tmp_path, args)
    assert_failed_naming(again, name, "CustomizationFailed", "state: poweredoff", "state: poweredon")
    assert not again["changed"]

    off = run(sim, tmp_path, dict(args, state="poweredoff"))
    assert off["changed"] and off["vm"]["power_state"] == "poweredOff" and off["vm"]["customization"] == "pending"

    fixed = dict(args, extra_config={"lab.customization": "ok"})
    on = run(sim, tmp_path, fixed)
    assert not on.get("failed"), on["msg"]
    assert on["vm"]["ip"] == ip and on["vm"]["customization"] == "confirmed"
    vm = vm_named(si, name)
    fields = dict((f.key, f.name) for f in si.RetrieveContent().customFieldsManager.field)
    assert dict((fields[v.key], v.value) for v in vm.customValue)["containerops.customized"] == "ip=" + ip
    assert not run(sim, tmp_path, fixed)["changed"]


# ---------------------------------------------------------------- two runs at once


def test_two_runs_for_the_same_fleet_create_each_vm_once(sim, si, tmp_path):
    """vCenter refuses the second clone of a name (DuplicateName): that run uses the first run's VM."""
    names = ["t-vm-race5", "t-vm-race6"]
    args = {"template": TEMPLATE, "wait_for_ip": True, "wait_timeout": 30,
            "vms": [{"name": n, "networks": [dict(LAB_NET, ip="10.88.1.%d" % (175 + i))]} for i, n in enumerate(names)]}
    results = race(tmp_path, args, args, **sim.play_options())
    check_same_fleet_race(si, results, names, 175)
    loser = [r for r in results if not r["created"]]
    assert loser and any("at the same time by another run" in w for w in loser[0].get("warnings", []))


def test_two_runs_for_one_ip_leave_it_to_one_vm(sim, si, tmp_path):
    names = ["t-vm-race7", "t-vm-race8"]
    args = [{"name": n, "template": TEMPLATE, "networks": [dict(LAB_NET, ip="10.88.1.178")],
             "wait_for_ip": True, "wait_timeout": 30} for n in names]
    check_one_ip_race(si, race(tmp_path, *args, **sim.play_options()), names, "10.88.1.178")


# ---------------------------------------------------------------- community.vmware on the lab's disks


def test_community_vmware_vm_info_reads_the_disk_sizes(sim, tmp_path):
    """vmware_vm_info adds up capacityInBytes, which vCenter sets on every disk."""
    grown = run(sim, tmp_path, {"name": "t-vm-disk1", "template": TEMPLATE, "state": "present",
                                "disks": [{"size_gb": 20}]})
    assert grown["created"] == ["t-vm-disk1"], grown
    out = tmp_path / "info.json"
    playbook = tmp_path / "info.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"community.vmware.vmware_vm_info": {"show_allocated": True}, "register": "info"},
        {"ansible.builtin.copy": {"content": "{{ info | to_json }}", "dest": str(out)}}]}]))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          cwd=REPO, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), **sim.env()),
                          text=True, capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    storage = {vm["guest_name"]: vm["allocated"]["storage"] for vm in json.loads(out.read_text())["virtual_machines"]}
    assert storage[TEMPLATE] == 10 * 1024 ** 3 and storage["t-vm-disk1"] == 20 * 1024 ** 3


# ---------------------------------------------------------------- fencing (vsphere_vm_fence)


def fence(sim, tmp_path, name, check=False, diff=False, **more):
    return play(tmp_path, [("fence", dict({"datacenter": "DC0", "name": name}, **more))], check=check, diff=diff,
                module="containerops.platform.vsphere_vm_fence", timeout=120, **sim.play_options())["fence"]


def test_a_lost_vm_is_fenced_only_when_vcenter_says_it_is_off(sim, si, tmp_path):
    """Off hard and read back; off already or gone is fenced too; a power-off that never ends is not."""
    made = play(tmp_path, [("vm", {"template": TEMPLATE, "vms": [
        {"name": "t-vm-fence1"}, {"name": "t-vm-fence2", "extra_config": {"lab.stall": "PowerOffVM_Task"}}]})],
        **sim.play_options())["vm"]
    assert made["created"] == ["t-vm-fence1", "t-vm-fence2"], made

    would = fence(sim, tmp_path, "t-vm-fence1", check=True)
    assert would["changed"] and not would["fenced"] and would["how"] == "powered_off", would
    assert vm_named(si, "t-vm-fence1").runtime.powerState == "poweredOn"

    done = fence(sim, tmp_path, "t-vm-fence1", diff=True)
    assert done["changed"] and done["fenced"] and done["how"] == "powered_off", done
    assert (done["power_state_before"], done["power_state"]) == ("poweredOn", "poweredOff")
    assert done["diff"]["after"]["power_state"] == "poweredOff"
    assert vm_named(si, "t-vm-fence1").runtime.powerState == "poweredOff"

    again = fence(sim, tmp_path, "t-vm-fence1")
    assert not again["changed"] and again["fenced"] and again["how"] == "was_off", again
    gone = fence(sim, tmp_path, "t-vm-nosuch")
    assert not gone["changed"] and gone["fenced"] and gone["how"] == "gone" and gone["id"] is None, gone

    stuck = fence(sim, tmp_path, "t-vm-fence2", timeout=3)
    assert_failed_naming(stuck, "t-vm-fence2", "NOT fenced", "poweredOn")
    assert stuck["fenced"] is False
    assert vm_named(si, "t-vm-fence2").runtime.powerState == "poweredOn"
