"""ecs_eni_info against an in-process ECS emulator: the primary ENI of real instances (RunInstances), with the
secondary IPs ecs_private_ip assigned, as DescribeNetworkInterfaces lists them; unknown instances are missing."""
import secrets

import pytest

from ansible_collections.containerops.platform.plugins.module_utils import ecs
from ansible_collections.containerops.platform.plugins.module_utils._ecs_eni import run_ecs_eni_info, run_ecs_private_ip
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError
from ansible_collections.containerops.platform.plugins.modules import ecs_private_ip

KEY, SECRET = "LTAI" + secrets.token_hex(8), secrets.token_urlsafe(24)
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
VSW_H = "vsw-bp1lab0hangzhouh00001"  # 10.88.16.0/24
SG_HZ = "sg-bp1lab0hangzhou00001"


def connection(emu, **more):
    return dict(dict((k, spec.get("default")) for k, spec in ecs.CONNECTION_ARGSPEC.items()),
                access_key=KEY, secret_key=SECRET, region="cn-hangzhou", endpoint=emu.endpoint, **more)


def running_instances(emu, count):
    c = ecs.EcsClient(ecs.Credentials(KEY, SECRET, None, "cn-hangzhou"), endpoint=emu.endpoint)
    ids = c.call("RunInstances", {"ImageId": IMAGE, "InstanceType": "ecs.g7.large", "VSwitchId": VSW_H,
                                  "SecurityGroupIds": [SG_HZ], "Amount": count})["InstanceIdSets"]["InstanceIdSet"]
    found = c.wait_for(ids, ["Running"], 30, initial=0.02)
    return [(i, ecs.private_ip(found[i])) for i in ids]


def test_lists_each_instance_s_primary_eni_with_its_secondary_ips(emu):
    (one, one_ip), (two, two_ip) = running_instances(emu, 2)
    spec = dict((k, v.get("default")) for k, v in ecs_private_ip.argument_spec().items())
    spec.update(connection(emu), instance_id=one, private_ips=["10.88.16.220", "10.88.16.210"], wait_timeout=30)
    run_ecs_private_ip(spec)
    got = run_ecs_eni_info(connection(emu, instance_ids=[one, two, "i-bp1doesnotexist0000"]))
    assert got["changed"] is False and got["missing"] == ["i-bp1doesnotexist0000"]
    assert [(i["instance_id"], i["primary_ip"], i["private_ips"]) for i in got["interfaces"]] == [
        (one, one_ip, ["10.88.16.210", "10.88.16.220"]), (two, two_ip, [])]
    assert got["interfaces"][0]["network_interface_id"].startswith("eni-")
    assert got["interfaces"][0]["vswitch_id"] == VSW_H and got["interfaces"][0]["mac_address"]


def test_a_refused_key_is_a_clear_failure_without_the_secret(emu):
    with pytest.raises(ProvisionError) as exc:
        run_ecs_eni_info(dict(connection(emu, instance_ids=["i-bp1abc"]), secret_key="wrong-" + SECRET))
    assert "InvalidAccessKeySecret" in str(exc.value) and "check secret_key" in str(exc.value)
    assert SECRET not in str(exc.value)
