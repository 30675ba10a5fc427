"""One lab per test run: brought up once (idempotent), left as it was found."""
import pytest

from labhelpers import labctl, load_lab


@pytest.fixture(scope="session")
def lab():
    was_up = labctl("status", check=False).returncode == 0
    labctl("up")
    yield load_lab()
    if not was_up:
        labctl("down")

