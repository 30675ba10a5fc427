"""ecs_instance when DescribeInstances lags behind RunInstances, as real ECS does: the instances
RunInstances made are reported (ids included) and never made twice, by this run or a re-run.

The lag comes from EcsProxy, a small HTTP proxy on loopback in front of an emulator (backend
none, in-process) that hides instances younger than N seconds from DescribeInstances and
DescribeInstanceStatus (tests/support/ecs_proxy.py).
"""
import random
import secrets

import pytest
from fake_module import FakeModule

from ansible_collections.containerops.platform.plugins.module_utils import _ecs_instance_spec as ispec
from ansible_collections.containerops.platform.plugins.module_utils import _ecs_provision as prov
from ansible_collections.containerops.platform.plugins.module_utils import ecs
from ansible_collections.containerops.platform.plugins.modules import ecs_instance as mod
from ecs_proxy import EcsProxy

KEY, SECRET = "LTAI" + secrets.token_hex(8), secrets.token_urlsafe(24)
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
VSW_H = "vsw-bp1lab0hangzhouh00001"
SG_HZ = "sg-bp1lab0hangzhou00001"


# ---------------------------------------------------------------- the Runner behind a lagging proxy

@pytest.fixture
def emu(monkeypatch):
    from ecs_emulator import Emulator
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    made = Emulator({"access_keys": {KEY: SECRET}}, time_scale=0.01).start()
    yield made
    made.close()


def runner(endpoint, **params):
    """A Runner as the module builds it (argspec defaults), for the lab world's network."""
    full = dict((k, spec.get("default")) for k, spec in mod.argument_spec().items())
    full.update(wait_timeout=60, image_id=IMAGE, instance_type="ecs.g7.large", vswitch_id=VSW_H,
                security_group_ids=[SG_HZ])
    full.update(params)
    client = ecs.EcsClient(ecs.Credentials(KEY, SECRET, None, "cn-hangzhou"), endpoint=endpoint,
                           retry=ecs.RetryPolicy(base=0.001, cap=0.01), rng=random.Random(1))
    return prov.Runner(FakeModule(full), client)


# No fixed IPs: ECS picks them, so nothing but the module stops a second instance of a name.
SIX = [{"name": "lag-%02d" % i} for i in range(1, 7)]


def test_six_instances_behind_a_lagging_listing_are_made_once_and_reported(emu):
    with EcsProxy(emu.endpoint, lag=3) as proxy:
        first = runner(proxy.endpoint, instances=SIX)
        first.run()
        rows = first.results()
        assert len(emu.state.instances) == 6 and first.client.calls["RunInstances"] == 1
        assert sorted(first.created) == [i["name"] for i in SIX] and first.changed
        assert {r["status"] for r in rows} == {"Running"}
        assert sorted(r["instance_id"] for r in rows) == sorted(emu.state.instances)
        assert proxy.hidden > 0, "the listing should have lagged"
        # A second identical run sees them by name: nothing to do.
        again = runner(proxy.endpoint, instances=SIX)
        again.run()
        assert not again.changed and "RunInstances" not in again.client.calls and len(emu.state.instances) == 6


def test_a_deadline_before_the_listing_reports_the_ids_and_a_rerun_gets_the_same_ones(emu):
    with EcsProxy(emu.endpoint, lag=4) as proxy:
        cut = runner(proxy.endpoint, instances=SIX[:2], wait_timeout=1)
        with pytest.raises(ispec.Failure) as info:
            cut.run()
        made = dict((r["name"], r["instance_id"]) for r in cut.results())
        assert sorted(cut.created) == ["lag-01", "lag-02"] and sorted(made.values()) == sorted(emu.state.instances)
        text = str(info.value)
        assert "waiting for DescribeInstances to list them" in text and "run the task again" in text
        # Re-run at once, while they are still hidden: the same ClientToken answers the same ids.
        rerun = runner(proxy.endpoint, instances=SIX[:2])
        rerun.run()
        assert dict((r["name"], r["instance_id"]) for r in rerun.results()) == made
        assert {r["status"] for r in rerun.results()} == {"Running"} and len(emu.state.instances) == 2


def test_after_the_token_is_forgotten_the_names_still_prevent_a_second_instance(emu):
    with EcsProxy(emu.endpoint, lag=1) as proxy:
        runner(proxy.endpoint, instances=SIX[:2]).run()
        emu.state.tokens.clear()  # ECS's token window has passed; the instances are listed by now
        later = runner(proxy.endpoint, instances=SIX[:2])
        later.run()
        assert not later.changed and "RunInstances" not in later.client.calls and len(emu.state.instances) == 2


def test_no_new_token_while_the_name_turns_up_listed_meanwhile(emu):
    with EcsProxy(emu.endpoint, lag=3) as proxy:
        runner(emu.endpoint, name="lag-taken").run()
        runner(emu.endpoint, name="lag-taken", state="absent", force=True).run()
        emu.state.wait_backend_idle(5)
        # Someone else makes the name anew (other settings, through the lagging listing).
        other = runner(proxy.endpoint, name="lag-taken").client.call("RunInstances", {
            "ImageId": IMAGE, "InstanceType": "ecs.c7.large", "VSwitchId": VSW_H, "SecurityGroupIds": [SG_HZ],
            "InstanceName": "lag-taken"})["InstanceIdSets"]["InstanceIdSet"]
        mine = runner(proxy.endpoint, name="lag-taken", list_lag_timeout=5)
        with pytest.raises(ispec.Failure) as info:
            mine.run()
    # The remembered token answered the dead id; by the end of list_lag_timeout the name was listed
    # (someone else's instance), so no second token was sent.
    assert mine.client.calls["RunInstances"] == 1 and list(emu.state.instances) == other
    assert "names are listed now: lag-taken (%s)" % other[0] in str(info.value)


def test_a_list_lag_timeout_shorter_than_the_real_lag_costs_at_most_one_more_instance(emu):
    with EcsProxy(emu.endpoint, lag=5) as proxy:
        hasty = runner(proxy.endpoint, name="lag-hasty", list_lag_timeout=1)
        with pytest.raises(ispec.Failure) as info:
            hasty.run()
    assert hasty.client.calls["RunInstances"] == 2 and len(emu.state.instances) == 2
    assert "raise list_lag_timeout" in str(info.value)
