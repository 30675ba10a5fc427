"""One lab per test run: brought up once (idempotent), left as it was found."""
import pytest

from labhelpers import labctl, load_lab


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

