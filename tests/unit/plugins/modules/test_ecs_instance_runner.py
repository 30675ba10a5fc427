"""ecs_instance's Runner against an in-process emulator (backend none, fast time scale):
the paths the lab's fixed world cannot reach (a security group of another VPC, a name that
exists twice) and the whole flow at speed."""
import copy
import pathlib
import random
import secrets

import pytest
from fake_module import FakeModule

from ansible_collections.containerops.platform.plugins.module_utils import _ecs_instance_spec as ispec
from ansible_collections.containerops.platform.plugins.module_utils import _ecs_provision as prov
from ansible_collections.containerops.platform.plugins.module_utils import ecs
from ansible_collections.containerops.platform.plugins.modules import ecs_instance as mod
from ecs_emulator import Emulator
from ecs_emulator.state import World

REPO = pathlib.Path(__file__).resolve().parents[4]

KEY, SECRET = "LTAI" + secrets.token_hex(8), secrets.token_urlsafe(24)
VSW_H = "vsw-bp1lab0hangzhouh00001"
SG_HZ = "sg-bp1lab0hangzhou00001"
SG_OTHER_VPC = "sg-bp1otherVpc000000001"


def world_with_a_second_vpc():
    data = copy.deepcopy(World.load().data)
    hz = data["regions"][0]
    hz["vpcs"].append(dict(hz["vpcs"][0], VpcId="vpc-bp1other000000000001", VpcName="other"))
    hz["security_groups"].append(dict(hz["security_groups"][0], SecurityGroupId=SG_OTHER_VPC,
                                      VpcId="vpc-bp1other000000000001"))
    return World(data)


@pytest.fixture
def emu(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    made = Emulator({"access_keys": {KEY: SECRET}}, world=world_with_a_second_vpc(), time_scale=0.01).start()
    yield made
    made.close()


def runner(emu, check=False, **params):
    """A Runner as the module builds it: the argspec's defaults, then the lab world's network, then params."""
    full = dict((k, spec.get("default")) for k, spec in mod.argument_spec().items())
    full.update(wait_timeout=60, image_id="debian_12_x64_20G_alibase_20260101.vhd", instance_type="ecs.g7.large",
                vswitch_id=VSW_H, security_group_ids=[SG_HZ])
    full.update(params)
    client = ecs.EcsClient(ecs.Credentials(KEY, SECRET, None, "cn-hangzhou"), endpoint=emu.endpoint,
                           retry=ecs.RetryPolicy(base=0.001, cap=0.01), rng=random.Random(1))
    return prov.Runner(FakeModule(full, check), client)


def test_security_group_of_another_vpc_is_refused_before_creating(emu):
    r = runner(emu, name="a-1", security_group_ids=[SG_OTHER_VPC])
    with pytest.raises(ispec.Failure) as info:
        r.run()
    text = str(info.value)
    assert "security_group_ids" in text and "vpc-bp1other000000000001" in text and "nothing was created" in text
    assert not emu.state.instances


def test_a_name_that_exists_twice_is_an_error_naming_both(emu):
    r = runner(emu, name="dup")
    client = r.client
    for _attempt in range(2):
        client.call("RunInstances", {"ImageId": "debian_12_x64_20G_alibase_20260101.vhd",
                                     "InstanceType": "ecs.g7.large", "VSwitchId": VSW_H,
                                     "SecurityGroupIds": [SG_HZ], "InstanceName": "dup"})
    with pytest.raises(ispec.Failure) as info:
        r.run()
    assert "dup" in str(info.value) and str(info.value).count("i-") == 2
    gone = runner(emu, name="dup", state="absent", force=True)
    gone.run()
    assert sorted(row["status"] for row in gone.results()) == ["Absent"] and not emu.state.instances


def test_whole_flow_at_speed_batches_and_converges(emu):
    names = [{"name": "w-%02d" % i, "private_ip": "10.88.16.%d" % (100 + i)} for i in range(1, 13)]
    create = runner(emu, instances=names, tags={"containerops.role": "worker"})
    create.run()
    assert sorted(create.created) == [n["name"] for n in names]
    assert create.client.calls["RunInstances"] == 1  # one Amount=12 call
    assert {row["status"] for row in create.results()} == {"Running"}
    again = runner(emu, instances=names)
    again.run()
    assert not again.changed and "RunInstances" not in again.client.calls
    stop = runner(emu, instances=names, state="stopped")
    stop.run()
    assert stop.client.calls["StopInstances"] == 1 and {r["status"] for r in stop.results()} == {"Stopped"}
    restart = runner(emu, instances=names, state="restarted")
    restart.run()
    # Stopped ones are started, not also rebooted.
    assert restart.client.calls["StartInstances"] == 1 and "RebootInstances" not in restart.client.calls
    check = runner(emu, check=True, instances=names + [{"name": "w-99"}], state="stopped")
    check.run()
    assert check.created == ["w-99"] and len(check.changed) == 13
    assert not {"StopInstances", "StartInstances"} & set(check.client.calls)
    assert len(emu.state.instances) == 12


def test_recreating_a_deleted_name_gets_past_the_remembered_token(emu):
    first = runner(emu, name="again-1", private_ip="10.88.16.120")
    first.run()
    old_id = first.results()[0]["instance_id"]
    runner(emu, name="again-1", state="absent", force=True).run()
    emu.state.wait_backend_idle(5)  # the address is free once the (no-op) backend removal ran
    second = runner(emu, name="again-1", private_ip="10.88.16.120", list_lag_timeout=2)
    second.run()
    # The same token now answers with the deleted id: not listed for list_lag_timeout, the name not
    # listed either, so it is dead: asked again, once, with a token derived from the dead id.
    assert second.client.calls["RunInstances"] == 2
    new = second.results()[0]
    assert new["instance_id"] != old_id and new["status"] == "Running" and len(emu.state.instances) == 1
    assert second.created == ["again-1"]


def test_idempotent_parameter_mismatch_names_the_instance_and_the_fix(emu):
    r = runner(emu, name="clash-1")
    d = ispec.desired_instances(r.params)[0]
    request = ispec.batch_request([{"name": "clash-1", "host_name": "clash-1", "private_ip": None,
                                    "shared": ispec.shared_request_params(d, "cn-hangzhou-h")}])
    token = ecs.client_token("cn-hangzhou", request)
    # Someone used this token before with other settings (here: another instance type).
    made = r.client.call("RunInstances", dict(request, InstanceType="ecs.c7.large", ClientToken=token))
    ids = made["InstanceIdSets"]["InstanceIdSet"]
    r.client.wait_for(ids, ["Running"], 30, initial=0.05)  # a Pending instance cannot be deleted yet
    r.client.delete(ids, force=True)
    r.client.wait_for(ids, [ecs.ABSENT], 30, initial=0.05)
    with pytest.raises(ispec.Failure) as info:
        r.run()
    text = str(info.value)
    assert "clash-1" in text and "IdempotentParameterMismatch" in text and "different settings" in text
