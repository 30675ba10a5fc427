"""containerops.platform.ecs_instance through ansible-playbook when DescribeInstances lags behind
RunInstances, as real ECS does: one paid instance per name, however slowly ECS lists them.

The lag comes from EcsProxy (tests/support/ecs_proxy.py), a small HTTP proxy on loopback
in front of the lab's emulator that hides instances younger than N seconds from DescribeInstances
and DescribeInstanceStatus, and from the emulator's own listing lag (its list_lag fault).
Names t-ecs-l*, IPs with last octets 170-199; each test deletes what it made and resets faults.
"""

import pytest

from ecs_proxy import EcsProxy
from test_ecs_instance import (
    admin,
    base_params,
    connection,
    emulator_instances,
    run_play,
)

pytestmark = pytest.mark.beside_fleet   # the tests' own ECS key and instances, not the fleet: beside its tests


def made_since(lab, seq):
    return admin(lab, "/instances")["seq"] - seq


def ids(result):
    return sorted(r["instance_id"] for r in result["instances"])


def test_six_instances_behind_a_six_second_listing_lag_are_made_once(ecs_lab, tmp_path):
    lab = ecs_lab
    six = [{"name": "t-ecs-l%02d" % i, "private_ip": "10.88.16.%d" % (170 + i)} for i in range(1, 7)]
    seq = admin(lab, "/instances")["seq"]
    with EcsProxy(lab["ecs"]["endpoint"], lag=6) as proxy:
        (first, second) = run_play(lab, tmp_path, [base_params(lab, instances=six)] * 2,
                                   defaults=connection(lab, endpoint=proxy.endpoint))
    assert proxy.hidden > 0, "the proxy should have hidden the new instances for a while"
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] and sorted(first["created"]) == [i["name"] for i in six]
    assert {r["status"] for r in first["instances"]} == {"Running"}
    assert made_since(lab, seq) == 6, "exactly one instance per name was made"
    assert ids(first) == sorted(i["InstanceId"] for i in emulator_instances(lab, "t-ecs-l0"))
    assert not second.get("failed"), second.get("msg")
    assert second["changed"] is False and second["created"] == [] and ids(second) == ids(first)


def test_a_run_cut_short_reports_its_ids_and_a_rerun_makes_nothing_new(ecs_lab, tmp_path):
    lab = ecs_lab
    two = [{"name": "t-ecs-l11", "private_ip": "10.88.16.181"}, {"name": "t-ecs-l12", "private_ip": "10.88.16.182"}]
    seq = admin(lab, "/instances")["seq"]
    with EcsProxy(lab["ecs"]["endpoint"], lag=10) as proxy:
        (cut, rerun) = run_play(lab, tmp_path, [base_params(lab, instances=two, wait_timeout=2),
                                                base_params(lab, instances=two)],
                                defaults=connection(lab, endpoint=proxy.endpoint))
    # The first run gave up before ECS listed them, but says what it made: names and ids.
    assert cut["failed"] and "DescribeInstances" in cut["msg"] and "run the task again" in cut["msg"]
    assert cut["changed"] and sorted(cut["created"]) == ["t-ecs-l11", "t-ecs-l12"]
    made = sorted(i["InstanceId"] for i in emulator_instances(lab, "t-ecs-l1"))
    assert ids(cut) == made
    # The re-run, while they were still unlisted, got the same instances from the same ClientToken.
    assert not rerun.get("failed"), rerun.get("msg")
    assert ids(rerun) == made and {r["status"] for r in rerun["instances"]} == {"Running"}
    assert made_since(lab, seq) == 2


def test_the_emulators_own_listing_lag(ecs_lab, tmp_path):
    lab = ecs_lab
    admin(lab, "/faults", "PUT", {"list_lag": 6})
    assert admin(lab, "/faults")["list_lag"] == 6
    two = [{"name": "t-ecs-l21", "private_ip": "10.88.16.191"}, {"name": "t-ecs-l22", "private_ip": "10.88.16.192"}]
    seq = admin(lab, "/instances")["seq"]
    # wait: false still waits for the listing: a later task of the play finds them by name.
    (first, tagged) = run_play(lab, tmp_path, [base_params(lab, instances=two, wait=False),
                                               {"instances": two, "tags": {"lag": "seen"}, "wait": False}])
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] and sorted(first["created"]) == ["t-ecs-l21", "t-ecs-l22"]
    assert not tagged.get("failed"), tagged.get("msg")
    assert tagged["created"] == [] and ids(tagged) == ids(first)
    assert {r["tags"]["lag"] for r in tagged["instances"]} == {"seen"}
    assert made_since(lab, seq) == 2
