"""Fixtures of the ECS emulator tests: an in-process emulator (backend none, fast time scale)
that knows test_ecs_emulator's throw-away keys, and no proxy in the way."""
import pytest


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # The SDK honours HTTP_PROXY but not NO_PROXY: a stray proxy would divert requests meant for 127.0.0.1.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_emu():
    from ecs_emulator import Emulator
    from test_ecs_emulator import KEY_ID, SECRET
    made = []

    def make(**kwargs):
        kwargs.setdefault("time_scale", 0.02)
        kwargs.setdefault("credentials", {"access_keys": {KEY_ID: SECRET}})
        emu = Emulator(**kwargs).start()
        made.append(emu)
        return emu

    yield make
    for emu in made:
        emu.close()


@pytest.fixture
def emu(make_emu):
    return make_emu()
