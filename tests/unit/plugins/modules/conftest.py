"""ECS emulators of a test's own for the module tests: in this process, backend none, time 100 times faster,
on free loopback ports, closed after the test. Each knows one access key, the test module's KEY/SECRET."""
import pytest

from ecs_emulator import Emulator


@pytest.fixture
def make_emu(request, monkeypatch):
    # The SDK would send loopback requests through a proxy of the environment.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    made = []

    def make(**kwargs):
        kwargs.setdefault("time_scale", 0.01)
        emu = Emulator({"access_keys": {request.module.KEY: request.module.SECRET}}, **kwargs).start()
        made.append(emu)
        return emu

    yield make
    for emu in made:
        emu.close()


@pytest.fixture
def emu(make_emu):
    return make_emu()
