"""One lab per test run: brought up once (idempotent), left as it was found."""
import pytest

from labhelpers import ansible, fleet_exists, labctl, load_lab, machines


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
