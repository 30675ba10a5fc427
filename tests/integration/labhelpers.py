"""Helpers the integration tests share: the lab controller, SSH to nodes, waiting."""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

import yaml

import labctl  # lab/ is on sys.path (pyproject.toml, pytest's pythonpath)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The lab's own salt-master handling, for the tests that stop or look for the master.
salt_master_processes = labctl.salt_master_processes
stop_salt_master = labctl.stop_salt_master

LABCTL = [sys.executable, os.path.join(REPO, "lab", "labctl.py")]
LAB_JSON = os.path.join(REPO, ".lab", "lab.json")

FLEET_IPS = ("10.88.1.11", "10.88.1.12", "10.88.1.13", "10.88.16.11", "10.88.17.11", "10.88.32.11")
SWARM_KEY_DIR = os.path.join(REPO, ".lab", "swarm")    # swarm_unlock_key_dir of the lab inventory
BUSYBOX = "containerops-lab/busybox:latest"
# inventories/lab's network_pinned_instances, for runs that add to them (-e replaces the whole list)
HTTPD = ["httpd", "-f", "-p", "80", "-h", "/etc"]
DEMO_SPECS = [{"application": "demo", "environment": "lab", "slot": "1", "node": "lab-vs-3", "pool": "lab-vsphere",
               "image": BUSYBOX, "command": HTTPD},
              {"application": "demo", "environment": "lab", "slot": "2", "node": "lab-ecs-2",
               "pool": "vsw-bp1lab0hangzhoui00001", "image": BUSYBOX, "command": HTTPD}]

# What this run made and must undo at its end: the fleet (then nothing on it needs undoing, it goes), the
# swarm, and engine settings a test changed while the swarm stood (undone once the swarm is gone, when
# every engine may restart at once).
# What the end of the run must undo (conftest's `swarm`): set by the tests that leave it.
SESSION = {"fleet_made": False, "swarm_formed": False, "engine_settings_changed": False,
           "awx_settings_left": False, "network_made": False}


def labctl(*args, check=True):
    result = subprocess.run([*LABCTL, *args], cwd=REPO, text=True, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"labctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def load_lab():
    with open(LAB_JSON) as f:
        return json.load(f)


def ssh(lab, host, command, timeout=10):
    """Run a command on a lab node over SSH with the lab's key."""
    return subprocess.run(
        ["ssh", "-i", lab["ssh"]["private_key"], "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
         "-o", f"ConnectTimeout={timeout}", f"{lab['ssh']['user']}@{host}", command],
        text=True, capture_output=True, timeout=timeout + 20, check=False)


def wait_for_ssh(lab, host, timeout=60):
    """Poll until the node accepts the lab key; return `hostname` output."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = ssh(lab, host, "hostname", timeout=3)
        if last.returncode == 0:
            return last.stdout.strip()
        time.sleep(1)
    raise AssertionError(f"no SSH to {host} within {timeout}s: {last.stderr if last else ''}")


def docker_state(name):
    """Container state ('running', 'exited', ...) or None when it does not exist."""
    r = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", name],
                       text=True, capture_output=True, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def wait_until(predicate, timeout, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# ---------------------------------------------------------------- vSphere (vcsim)

def vsphere_connect(lab, password=None):
    from pyVim.connect import SmartConnect
    v = lab["vsphere"]
    return SmartConnect(host=v["host"], port=v["port"], user=v["username"],
                        pwd=password if password is not None else v["password"],
                        disableSslCertValidation=True)


def vsphere_objects(si, vimtype):
    """(object, its name) of every object of the type; one destroyed meanwhile (by a test in the other lane)
    is left out."""
    from pyVmomi import vmodl
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vimtype], True)
    try:
        found = []
        for obj in view.view:
            try:
                found.append((obj, obj.name))
            except vmodl.fault.ManagedObjectNotFound:
                continue
        return found
    finally:
        view.Destroy()


def vsphere_find(si, vimtype, name):
    return next((obj for obj, obj_name in vsphere_objects(si, vimtype) if obj_name == name), None)


def vcsim_vms(lab):
    """[{name, ip}] of every VM the lab's vCenter has (templates included)."""
    from pyVim.connect import Disconnect
    from pyVmomi import vim, vmodl
    si = vsphere_connect(lab)
    try:
        found = []
        for vm, name in vsphere_objects(si, vim.VirtualMachine):
            try:
                found.append({"name": name, "ip": vm.guest.ipAddress if vm.guest else None})
            except vmodl.fault.ManagedObjectNotFound:
                continue
        return found
    finally:
        Disconnect(si)


def destroy_vm(si, name):
    """Power off and destroy every VM of that name (there may be more than one after a race)."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim
    vm = vsphere_find(si, vim.VirtualMachine, name)
    while vm is not None:
        if vm.runtime.powerState == "poweredOn":
            WaitForTask(vm.PowerOffVM_Task())
        WaitForTask(vm.Destroy_Task())
        vm = vsphere_find(si, vim.VirtualMachine, name)


def clone_node_vm(si, lab, name, ip):
    """Clone the template into a powered-on VM backed by a node container at `ip`."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim
    v = lab["vsphere"]
    template = vsphere_find(si, vim.VirtualMachine, v["template"])
    datacenter = vsphere_find(si, vim.Datacenter, v["datacenter"])
    cluster = vsphere_find(si, vim.ClusterComputeResource, v["cluster"])
    extra = {
        # A clone does not inherit RUN.container: it must be in the clone spec.
        "RUN.container": json.dumps(lab["node_run_args"] + ["--ip", ip, "--hostname", name, lab["node_image"]]),
        "guestinfo.userdata": lab["user_data_b64"],
        "guestinfo.userdata.encoding": "base64",
    }
    spec = vim.vm.CloneSpec(
        location=vim.vm.RelocateSpec(pool=cluster.resourcePool), powerOn=False, template=False,
        config=vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=k, value=val) for k, val in extra.items()]))
    task = template.CloneVM_Task(folder=datacenter.vmFolder, name=name, spec=spec)
    WaitForTask(task)
    vm = task.info.result
    # The simulator ignores CloneSpec.powerOn, so power on explicitly.
    WaitForTask(vm.PowerOnVM_Task())
    return vm


def vm_container(vm_name):
    """The container vcsim runs for a VM (named vcsim-<vm>-<uid>), or None."""
    r = subprocess.run(["docker", "ps", "-a", "--filter", f"name=vcsim-{vm_name}-", "--format", "{{.Names}}"],
                       text=True, capture_output=True, check=True)
    names = r.stdout.split()
    return names[0] if names else None


# ---------------------------------------------------------------- ECS (emulator)

def ecs_caller(lab, region="cn-hangzhou"):
    """call(RequestClass, Param=value, ...) -> parsed JSON, through the official SDK."""
    from aliyunsdkcore.client import AcsClient
    client = AcsClient(lab["ecs"]["access_key_id"], lab["ecs"]["access_key_secret"], region)
    client.add_endpoint(region, "Ecs", lab["ecs"]["endpoint"])

    def call(request_class, **params):
        request = request_class()
        for key, value in params.items():
            getattr(request, f"set_{key}")(value)
        return json.loads(client.do_action_with_exception(request))
    return call


def run_node_instance(lab, call, name, host_octet):
    """RunInstances one node in the first vSwitch at <vswitch prefix>.<host_octet>; returns (id, ip)."""
    import uuid

    from aliyunsdkecs.request.v20140526.DescribeImagesRequest import DescribeImagesRequest
    from aliyunsdkecs.request.v20140526.DescribeSecurityGroupsRequest import DescribeSecurityGroupsRequest
    from aliyunsdkecs.request.v20140526.DescribeVSwitchesRequest import DescribeVSwitchesRequest
    from aliyunsdkecs.request.v20140526.RunInstancesRequest import RunInstancesRequest
    vswitch = call(DescribeVSwitchesRequest)["VSwitches"]["VSwitch"][0]
    group = call(DescribeSecurityGroupsRequest, VpcId=vswitch["VpcId"])["SecurityGroups"]["SecurityGroup"][0]
    image = call(DescribeImagesRequest)["Images"]["Image"][0]
    ip = vswitch["CidrBlock"].rsplit(".", 1)[0] + f".{host_octet}"
    created = call(RunInstancesRequest, ImageId=image["ImageId"], InstanceType="ecs.g7.large",
                   VSwitchId=vswitch["VSwitchId"], SecurityGroupId=group["SecurityGroupId"],
                   PrivateIpAddress=ip, HostName=name, InstanceName=name,
                   UserData=lab["user_data_b64"], ClientToken=str(uuid.uuid4()))
    return created["InstanceIdSets"]["InstanceIdSet"][0], ip


def delete_ecs_instances(call, ids, timeout=180):
    """DeleteInstances Force=true, as an operator's cleanup must on ECS: an instance that is still
    Pending, Starting or Stopping is refused (IncorrectInstanceStatus*) until it settles, so retry."""
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkecs.request.v20140526.DeleteInstancesRequest import DeleteInstancesRequest
    deadline = time.monotonic() + timeout
    for start in range(0, len(ids), 100):
        while True:
            try:
                call(DeleteInstancesRequest, InstanceIds=ids[start:start + 100], Force=True)
                break
            except ServerException as exc:
                if not exc.get_error_code().startswith("IncorrectInstanceStatus") or time.monotonic() > deadline:
                    raise
                time.sleep(1)


def ecs_instance(call, instance_id):
    from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest
    found = call(DescribeInstancesRequest, InstanceIds=json.dumps([instance_id]))["Instances"]["Instance"]
    return found[0] if found else None


# ---------------------------------------------------------------- Salt on lab nodes

# The lab's salt-master (inventories/lab/group_vars/fleet/salt.yml: salt_bootstrap_master_state_dir,
# salt_bootstrap_master_venv).
SALT_MASTER_CONF = os.path.join(REPO, ".lab", "salt", "master", "etc", "salt")
SALT_MASTER_BIN = os.path.join(REPO, ".lab", "salt", "master-venv", "bin")

# A shell line that returns once no run of the masterless highstate service is going. The service is a
# oneshot: "activating" while it runs, which `systemctl is-active` does not count as active.
HIGHSTATE_IDLE = ("while [ \"$(systemctl show -p ActiveState --value containerops-salt-highstate.service)\" "
                  "= activating ]; do sleep 1; done")

# Hand-made drift of what the containerops formula manages: daemon.json edited, the engine stopped
# (socket too, so nothing starts it on demand), ip_forward off at runtime and in its file.
NODE_DRIFT = ("sed -i 's/\"10m\"/\"500m\"/' /etc/docker/daemon.json"
              " && systemctl stop docker.service docker.socket"
              " && mount -o remount,rw /proc/sys && sysctl -q -w net.ipv4.ip_forward=0"
              " && echo 'net.ipv4.ip_forward = 0' > /etc/sysctl.d/90-containerops.conf")


def salt_master(*args, tool="salt", conf=SALT_MASTER_CONF):
    """Run a salt-master CLI (salt, salt-key) of the lab master (or the one whose config dir is conf); its
    JSON output."""
    static = ["--static"] if tool == "salt" else []    # one JSON document for all minions
    result = subprocess.run([os.path.join(SALT_MASTER_BIN, tool), "-c", conf, "--out", "json",
                             *static, *args], text=True, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def node_converged(lab, host, live_restore):
    """The node is as the formula wants it (lab settings): engine up, daemon.json and ip_forward restored."""
    state = ssh(lab, host, "systemctl is-active docker; grep -c '\"10m\"' /etc/docker/daemon.json;"
                           " sysctl -n net.ipv4.ip_forward;"
                           " grep -c 'ip_forward = 1' /etc/sysctl.d/90-containerops.conf;"
                           " docker info --format '{{.LiveRestoreEnabled}}'").stdout.split()
    return state == ["active", "1", "1", "1", str(live_restore).lower()]


def drift_node(lab, host, live_restore):
    made = ssh(lab, host, NODE_DRIFT, timeout=30)
    assert made.returncode == 0, made.stderr
    assert not node_converged(lab, host, live_restore)


# ---------------------------------------------------------------- ansible on the lab inventory

def ansible(tool, *args, timeout=600, inventory="inventories/lab"):
    """Run an Ansible command-line tool from the venv against the lab inventory (or another one)."""
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), tool), "-i", inventory, *args],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=timeout, check=False)


def recap(output):
    """{host: {'ok': n, 'changed': n, 'failed': n, ...}} from a PLAY RECAP."""
    rows = re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M)
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)} for host, counts in rows}


def task_results(output, title):
    """{host: (status, what ansible-playbook printed for it)} for the tasks whose title matches the regular
    expression `title` (of several such tasks, the one that ran on the host)."""
    found = {}
    for chunk in output.split("\nTASK [")[1:]:
        if not re.search(title, chunk.split("]", 1)[0]):
            continue
        for status, host, text in re.findall(r"^(ok|changed|failed|fatal|skipping): \[([^\]]+)\](.*?)(?=^\S|\Z)",
                                             chunk, re.M | re.S):
            if status != "skipping" or host not in found:
                found[host] = (status, text)
    return found


def machines(state, names=None, inventory=()):
    """Set lab machines of the desired fleet (all when names is None) to absent/poweredoff/poweredon,
    whichever cloud they are in (tests/integration/playbooks/machines.yml)."""
    extra = {"state": state, **({"machines": list(names)} if names is not None else {})}
    return ansible("ansible-playbook", *inventory, "tests/integration/playbooks/machines.yml", "-e", json.dumps(extra))


def unwrap_unsafe(obj):
    # ansible-inventory writes values the plugins fetched (untrusted data) as
    # {"__ansible_unsafe": "..."}; its consumers (AWX, scripts) decode them so.
    if isinstance(obj, dict):
        if set(obj) == {"__ansible_unsafe"}:
            return obj["__ansible_unsafe"]
        return {k: unwrap_unsafe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unwrap_unsafe(v) for v in obj]
    return obj


def inventory_list():
    """`ansible-inventory --list` of the lab inventory, as plain data."""
    result = ansible("ansible-inventory", "--list")
    assert result.returncode == 0, result.stderr
    return unwrap_unsafe(json.loads(result.stdout))


def fleet_exists():
    """True when every desired fleet host is also listed by a cloud's inventory plugin."""
    inv = inventory_list()
    desired = set(inv.get("fleet_vsphere", {}).get("hosts", [])) | set(inv.get("fleet_ecs", {}).get("hosts", []))
    listed = set(inv.get("provider_vsphere", {}).get("hosts", [])) | set(inv.get("provider_ecs", {}).get("hosts", []))
    return bool(desired) and desired <= listed


def inventory_copy(tmp_path, change):
    """A copy of inventories/lab whose desired fleet (fleet.yml, a dict) change(fleet) edits in place."""
    src = os.path.join(REPO, "inventories", "lab")
    dst = tmp_path / "inventories" / "lab"
    dst.mkdir(parents=True)
    os.symlink(os.path.join(REPO, ".lab"), tmp_path / ".lab")
    for name in os.listdir(src):
        if name != "fleet.yml":
            os.symlink(os.path.join(src, name), dst / name)
    with open(os.path.join(src, "fleet.yml")) as f:
        fleet = yaml.safe_load(f)
    change(fleet)
    (dst / "fleet.yml").write_text(yaml.safe_dump(fleet))
    return str(dst)


def inventory_without(tmp_path, *hosts):
    """A copy of inventories/lab whose desired fleet omits `hosts` (the machines themselves still exist)."""
    def drop(fleet):
        for group in fleet["fleet"]["children"].values():
            for host in hosts:
                group["hosts"].pop(host, None)
    return inventory_copy(tmp_path, drop)


def make_pki(directory, name, ip=None, ca=None, usage="serverAuth"):
    """A key and a certificate signed by `ca` (a (cert, key) pair), or a self-signed CA when ca is None."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    if ca is None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", f"/CN={name}"], check=True, capture_output=True)
        return cert, key
    csr, ext = directory / f"{name}.csr", directory / f"{name}.ext"
    ext.write_text((f"subjectAltName=IP:{ip}\n" if ip else "") + f"extendedKeyUsage={usage}\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", f"/CN={name}"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
                    "-out", cert, "-days", "2", "-extfile", ext], check=True, capture_output=True)
    return cert, key


def swarm_state(lab, ip):
    return ssh(lab, ip, "docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null").stdout.strip()


def network_down(lab):
    """Take away what playbooks/network.yml made on the lab fleet: the pinned instances through the playbook
    itself (containers, holders, ENI addresses), then each node's shim and data network, and the pools."""
    for step in (("playbooks/network.yml", "-e", "network_pinned_state=absent"),
                 ("tests/integration/playbooks/network_down.yml",)):
        done = ansible("ansible-playbook", *step)
        assert done.returncode == 0, f"{' '.join(step)}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"


# ---------------------------------------------------------------- who answers for an address on the L2

class ArpWatch:
    """Asks the lab's L2 who has `ip` every `interval` seconds, from the lab bridge (the host's side of
    the lab network), and keeps the answers of each round: the source MACs of the ARP replies that came
    in before the next question. One address answered by two machines shows as a round with two
    replies, even when both use the same MAC (a moved pinned instance keeps its MAC). Used as a context
    manager around a move; only ARP frames on the lab network are sent."""

    def __init__(self, lab, ip, interval=0.2):
        network = subprocess.run(["docker", "network", "inspect", "-f", "{{.Id}}", lab["network"]["name"]],
                                 text=True, capture_output=True, check=True).stdout.strip()
        self.iface = "br-" + network[:12]
        with open(f"/sys/class/net/{self.iface}/address") as f:
            self.mac = bytes.fromhex(f.read().strip().replace(":", ""))
        self.src = socket.inet_aton(lab["network"]["gateway"])
        self.ip, self.interval, self.rounds = ip, interval, []
        self._stop = None

    def _frame(self):
        arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + self.mac + self.src + b"\x00" * 6 + socket.inet_aton(self.ip)
        frame = b"\xff" * 6 + self.mac + struct.pack("!H", 0x0806) + arp
        return frame + b"\x00" * (60 - len(frame))

    def _run(self, sock):
        target = socket.inet_aton(self.ip)
        while not self._stop.is_set():
            sock.send(self._frame())
            replies, end = [], time.monotonic() + self.interval
            while (left := end - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data = sock.recv(2048)
                except socket.timeout:
                    break
                # ARP reply (op 2) from ip, to the bridge: the Ethernet source is who answered.
                if len(data) >= 42 and data[20:22] == b"\x00\x02" and data[28:32] == target and data[32:38] == self.mac:
                    replies.append(data[6:12].hex(":"))
            self.rounds.append(replies)

    def __enter__(self):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        sock.bind((self.iface, 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
        self._sock = sock
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        self._sock.close()

    def most_answers(self):
        return max((len(r) for r in self.rounds), default=0)

    def macs(self):
        return sorted({mac for r in self.rounds for mac in r})


def put_back_after_failover(lab):
    """After playbooks/failover.yml moved demo:lab:1 from lab-vs-3 (10.88.1.13) to lab-vs-1 (10.88.1.11): lab-vs-3
    powered on again while lab-vs-1 still runs the instance, then back to inventory's placement - demo-lab-1 off
    lab-vs-1 (container, holder, shim route), and network.yml on lab-vs-3 binds the address to it again and starts
    its container there. Returns what lab-vs-3 showed of its old demo-lab-1 before that (running, restart policy)
    and what its boot guard held, as one line of words."""
    lost, taker = "10.88.1.13", "10.88.1.11"

    def done(result, what):
        assert result.returncode == 0, f"{what}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"

    done(machines("poweredoff", ["lab-vs-3"]), "power off lab-vs-3")    # fenced already, unless a run failed first
    done(machines("poweredon", ["lab-vs-3"]), "power on lab-vs-3")
    wait_for_ssh(lab, lost, timeout=180)
    wait_until(lambda: ssh(lab, lost, "systemctl is-active docker").stdout.strip() == "active", 60, interval=1,
               what="lab-vs-3's engine")
    held = ssh(lab, lost, "docker inspect -f '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' demo-lab-1; "
                          "cat /run/containerops/pinned-boot-guard").stdout
    away = [dict(i, node="lab-vs-1", state="absent") if i["slot"] == "1" else i for i in DEMO_SPECS]
    done(ansible("ansible-playbook", "playbooks/network.yml", "--limit", "control,lab-vs-1", "-e",
                 json.dumps({"network_pinned_instances": away}), timeout=900), "network.yml (demo:lab:1 off lab-vs-1)")
    done(ansible("ansible-playbook", "playbooks/network.yml", "--limit", "control,lab-vs-3", timeout=900),
         "network.yml (demo:lab:1 on lab-vs-3 again)")
    if swarm_state(lab, taker) == "active":     # a worker again, as the swarm had it
        wait_until(lambda: "lab-vs-3 Ready" in ssh(lab, taker, "docker node ls --format '{{.Hostname}} {{.Status}}'")
                   .stdout, 180, interval=1, what="lab-vs-3 Ready in the swarm")
    return " ".join(held.split())
