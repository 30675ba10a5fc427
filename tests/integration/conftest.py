"""One lab per test run: brought up once (idempotent), left as it was found.

The expensive states are shared by every module that needs them, and undone once at the end of the run:
the lab (`lab`), the fleet of inventories/lab (`fleet`), its engines from bootstrap.yml (`engines`) and the
swarm of cluster.yml (`swarm`). A module that changes one of them puts it back before it ends, or says in
SESSION what the end of the run must put back.
"""
import os
import time

import pytest

from labhelpers import (
    FLEET_IPS,
    SESSION,
    SWARM_KEY_DIR,
    ansible,
    destroy_vm,
    fleet_exists,
    labctl,
    load_lab,
    machines,
    network_down,
    ssh,
    swarm_state,
    vsphere_connect,
)


@pytest.fixture(scope="session")
def lab():
    if os.environ.get("CONTAINEROPS_LAB_SHARED"):
        # `make integration` runs two lanes on one lab: it brings the lab up before them and down after.
        # Two `labctl up` at once would both write lab.json.
        assert labctl("status", check=False).returncode == 0, "CONTAINEROPS_LAB_SHARED is set but the lab is not up"
        yield load_lab()
        return
    was_up = labctl("status", check=False).returncode == 0
    if not was_up:
        # Leftovers of a lab that died with its machine (containers, network)
        # would hold IPs the tests need: start from a clean slate.
        labctl("down")
    labctl("up")
    yield load_lab()
    if not was_up:
        labctl("down")


@pytest.fixture(scope="session")
def fleet(lab):
    """The lab fleet of inventories/lab provisioned once; removed at the end if it was not there before."""
    existed = fleet_exists()
    SESSION["fleet_made"] = not existed
    first = ansible("ansible-playbook", "playbooks/provision.yml")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    yield first
    if not existed:
        removed = machines("absent")
        assert removed.returncode == 0, removed.stdout[-4000:] + removed.stderr[-2000:]


@pytest.fixture(scope="session")
def engines(lab, fleet):
    """bootstrap.yml once on the lab fleet: Salt and a running Docker engine on all six nodes. The result
    (its output, and `elapsed` in seconds) is the first run's of this test run. What network.yml made on
    the engines (site.yml runs it too) goes at the end, unless the fleet itself goes then."""
    started = time.monotonic()
    result = ansible("ansible-playbook", "playbooks/bootstrap.yml", timeout=900)
    result.elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    print(f"\nbootstrap.yml on the fleet: {result.elapsed:.0f}s")
    yield result
    if SESSION["network_made"] and not SESSION["fleet_made"]:
        network_down(lab)


@pytest.fixture(scope="session")
def swarm(lab, engines):
    """The lab fleet's swarm as cluster.yml forms it, shared by the modules after the first that asks for it
    (test_cluster.py forms it and asserts how). At the end of the run the nodes leave it again, unless the
    fleet itself goes then; engine settings a test left changed are put back once the swarm is gone."""
    SESSION["swarm_formed"] = swarm_state(lab, FLEET_IPS[0]) != "active"
    yield lab
    if SESSION["awx_settings_left"] and not SESSION["fleet_made"]:
        # test_site_playbook's AWX run left autolock on and a remote API on lab-ecs-3.
        for args in (["playbooks/cluster.yml"], ["playbooks/bootstrap.yml", "--limit", "lab-ecs-3"]):
            done = ansible("ansible-playbook", *args, timeout=900)
            assert done.returncode == 0, done.stdout[-3000:]
    if not SESSION["swarm_formed"]:
        return
    for name in os.listdir(SWARM_KEY_DIR) if os.path.isdir(SWARM_KEY_DIR) else ():
        os.remove(os.path.join(SWARM_KEY_DIR, name))
    if SESSION["fleet_made"]:
        return      # the machines go with the fleet
    for ip in FLEET_IPS:
        ssh(lab, ip, "docker swarm leave --force >/dev/null 2>&1")
    if SESSION["engine_settings_changed"]:
        # Outside a swarm the engines restart at once, all together.
        done = ansible("ansible-playbook", "playbooks/bootstrap.yml", timeout=900)
        assert done.returncode == 0, done.stdout[-4000:]


@pytest.fixture
def si(lab):
    """A pyVmomi session with the lab's vCenter (vcsim)."""
    from pyVim.connect import Disconnect
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


@pytest.fixture
def ecs_lab(lab):
    """The lab with no t-ecs-* instances and no ECS emulator faults, before and after the test."""
    from test_ecs_instance import admin, force_delete
    admin(lab, "/faults", "DELETE")
    force_delete(lab)
    yield lab
    admin(lab, "/faults", "DELETE")
    force_delete(lab)
