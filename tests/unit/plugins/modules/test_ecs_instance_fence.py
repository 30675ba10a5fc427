"""ecs_instance_fence against an in-process ECS emulator (backend none, fast time scale): instances made
with RunInstances, fenced through the module's entry point, and what that did read back by another
client. Fencing never creates, starts or deletes, and says "fenced" only once ECS lists the instance
Stopped or says it does not exist."""
import secrets

import pytest

from ansible_collections.containerops.platform.plugins.module_utils import ecs
from ansible_collections.containerops.platform.plugins.module_utils.fence import FenceError, run_instance_fence

KEY, SECRET = "LTAI" + secrets.token_hex(8), secrets.token_urlsafe(24)
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
VSW_H = "vsw-bp1lab0hangzhouh00001"
SG_HZ = "sg-bp1lab0hangzhou00001"


def client(emu, **kwargs):
    return ecs.EcsClient(ecs.Credentials(KEY, SECRET, None, "cn-hangzhou"), endpoint=emu.endpoint, **kwargs)


def running(emu, name):
    c = client(emu)
    ids = c.call("RunInstances", {"ImageId": IMAGE, "InstanceType": "ecs.g7.large", "VSwitchId": VSW_H,
                                  "SecurityGroupIds": [SG_HZ], "InstanceName": name})["InstanceIdSets"]["InstanceIdSet"]
    c.wait_for(ids, ["Running"], 30, initial=0.02)
    return ids[0]


def status(emu, iid):
    found = client(emu).describe_instances_by_ids([iid])
    return found[iid]["Status"] if iid in found else None


def fence(emu, check=False, with_client=None, **given):
    params = dict(access_key=KEY, secret_key=SECRET, region="cn-hangzhou", endpoint=emu.endpoint, timeout=30,
                  instance_id=None, name=None)
    params.update(given)
    return run_instance_fence(params, check_mode=check, client=with_client)


def test_a_running_instance_is_stopped_hard_and_reported_fenced_once_listed_stopped(emu):
    iid = running(emu, "node-ecs-7")
    would = fence(emu, check=True, name="node-ecs-7", instance_id=iid)
    assert would["changed"] and not would["fenced"] and "StopInstances" not in would["api_calls"]
    assert status(emu, iid) == "Running"

    done = fence(emu, name="node-ecs-7", instance_id=iid)
    assert done["changed"] and done["fenced"] and done["how"] == "powered_off"
    assert (done["power_state_before"], done["power_state"]) == ("Running", "Stopped")
    assert done["api_calls"]["StopInstances"] == 1
    assert status(emu, iid) == "Stopped"
    assert done["diff"]["after"] == {"name": "node-ecs-7", "power_state": "Stopped"}

    again = fence(emu, name="node-ecs-7", instance_id=iid)
    assert not again["changed"] and again["fenced"] and again["how"] == "was_off"
    assert "StopInstances" not in again["api_calls"]


def test_by_name_alone_it_must_be_listed_and_unique(emu):
    iid = running(emu, "node-ecs-8")
    done = fence(emu, name="node-ecs-8")
    assert done["how"] == "powered_off" and done["id"] == iid and status(emu, iid) == "Stopped"
    with pytest.raises(FenceError, match="does not prove it is gone: give its instance_id"):
        fence(emu, name="node-ecs-none")
    running(emu, "node-ecs-9")
    running(emu, "node-ecs-9")
    with pytest.raises(FenceError, match="2 instances are called 'node-ecs-9'"):
        fence(emu, name="node-ecs-9")


def test_an_id_ecs_does_not_know_is_gone_and_a_wrong_name_is_refused(emu):
    iid = running(emu, "node-ecs-10")
    with pytest.raises(FenceError, match="instance_id: %s is 'node-ecs-10', not 'node-ecs-11'" % iid):
        fence(emu, name="node-ecs-11", instance_id=iid)
    assert status(emu, iid) == "Running"
    client(emu).delete([iid], force=True)
    gone = fence(emu, name="node-ecs-10", instance_id=iid)
    assert gone["fenced"] and gone["how"] == "gone" and not gone["changed"]
    assert "RunInstances" not in gone["api_calls"] and "StartInstances" not in gone["api_calls"]


def test_an_instance_too_new_to_be_listed_is_stopped_by_its_id_not_called_gone(make_emu):
    emu = make_emu(faults={"list_lag": 3.0})
    c = client(emu)
    iid = c.call("RunInstances", {"ImageId": IMAGE, "InstanceType": "ecs.g7.large", "VSwitchId": VSW_H,
                                  "SecurityGroupIds": [SG_HZ], "InstanceName": "node-ecs-12"}
                 )["InstanceIdSets"]["InstanceIdSet"][0]
    assert status(emu, iid) is None     # not listed yet
    done = fence(emu, name="node-ecs-12", instance_id=iid, timeout=60)
    assert done["fenced"] and done["how"] == "powered_off" and done["power_state"] == "Stopped"
    assert status(emu, iid) == "Stopped"


def test_a_stop_ecs_refuses_is_not_a_fence(make_emu):
    emu = make_emu(faults={"throttling_rate": 1.0, "actions": ["StopInstances"]})
    iid = running(emu, "node-ecs-13")
    impatient = client(emu, retry=ecs.RetryPolicy(max_attempts=2, base=0.01))
    with pytest.raises(FenceError, match="StopInstances for node-ecs-13 .* Throttling.* It is NOT fenced"):
        fence(emu, name="node-ecs-13", instance_id=iid, with_client=impatient)
    assert status(emu, iid) == "Running"
