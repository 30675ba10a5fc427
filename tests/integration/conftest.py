"""One lab per test run: brought up once (idempotent), left as it was found."""
import pytest

from labhelpers import ansible, destroy_vm, fleet_exists, labctl, load_lab, machines, vsphere_connect


@pytest.fixture(scope="session")
def lab():
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
    first = ansible("ansible-playbook", "playbooks/provision.yml")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    yield first
    if not existed:
        removed = machines("absent")
        assert removed.returncode == 0, removed.stdout[-4000:] + removed.stderr[-2000:]


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
