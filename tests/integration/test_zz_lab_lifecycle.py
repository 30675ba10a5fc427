"""`make lab-up` is idempotent and `make lab-down` leaves nothing behind. Runs last: it takes the lab down."""
import json
import os
import subprocess

import pytest

from labhelpers import (
    REPO,
    clone_node_vm,
    docker_state,
    ecs_caller,
    labctl,
    load_lab,
    run_node_instance,
    vm_container,
    vsphere_connect,
    wait_until,
)

pytestmark = pytest.mark.lab_lifecycle   # takes the lab down: after both lanes, alone


def pids():
    run_dir = os.path.join(REPO, ".lab", "run")
    return {f: open(os.path.join(run_dir, f)).read() for f in sorted(os.listdir(run_dir))}


def docker_lines(*args):
    r = subprocess.run(["docker", *args], text=True, capture_output=True, check=True)
    return [line for line in r.stdout.splitlines() if line.strip()]


def lab_processes():
    """Processes of this checkout's lab, found by their command lines."""
    state = os.path.join(REPO, ".lab")
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if state in cmd or "ecs_emulator" in cmd and "--state-file" in cmd:
            found.append(cmd)
    return found


def test_up_twice_changes_nothing_and_down_leaves_nothing(lab):
    before = pids()
    network_id = docker_lines("network", "inspect", "-f", "{{.Id}}", lab["network"]["name"])
    second = labctl("up")
    assert "already running" in second.stdout
    assert pids() == before, "a second `up` must not restart the lab's servers"
    assert docker_lines("network", "inspect", "-f", "{{.Id}}", lab["network"]["name"]) == network_id
    assert labctl("status", check=False).returncode == 0

    # A node of each cloud exists, so `down` has real nodes to clean up.
    si = vsphere_connect(lab)
    vm_node = clone_node_vm(si, lab, "lab-test-down-vm", "10.88.1.250")
    call = ecs_caller(lab)
    instance_id = run_node_instance(lab, call, "lab-test-down-ecs", 250)[0]
    wait_until(lambda: vm_container(vm_node.name) and
               docker_state(lab["ecs"]["container_prefix"] + instance_id) == "running", 60, what="both nodes")
    containers = docker_lines("ps", "-aq", "--filter", "label=containerops.lab=true")
    inspected = json.loads(subprocess.run(["docker", "inspect", *containers], text=True,
                                          capture_output=True, check=True).stdout)
    volumes = {m["Name"] for c in inspected for m in c["Mounts"] if m["Type"] == "volume"}
    assert volumes, "the node container has its /var/lib/docker volume"
    try:
        labctl("down")
        assert docker_lines("ps", "-aq", "--filter", "label=containerops.lab=true") == []
        assert volumes.isdisjoint(docker_lines("volume", "ls", "-q")), "volumes of lab containers remain"
        assert subprocess.run(["docker", "network", "inspect", lab["network"]["name"]],
                              capture_output=True, check=False).returncode != 0
        assert lab_processes() == []
        assert labctl("status", check=False).returncode == 1
    finally:
        # Leave the lab as it was found: up.
        labctl("up")
    assert load_lab()["vsphere"]["password"] == lab["vsphere"]["password"]
