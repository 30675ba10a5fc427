"""Pure parts of the ECS inventory plugin and of ecs_instance: groups, host vars,
hostnames, server-side query combinations, desired-instance merging."""
import pathlib

import pytest

from ansible_collections.containerops.platform.plugins.inventory import ecs as inv
from ansible_collections.containerops.platform.plugins.module_utils import _ecs_instance_spec as spec
from ansible_collections.containerops.platform.plugins.module_utils import _ecs_provision as prov
from ansible_collections.containerops.platform.plugins.module_utils.fleet import fleet_groups

REPO = pathlib.Path(__file__).resolve().parents[4]

INSTANCE = {
    "InstanceId": "i-bp1abc", "InstanceName": "web-01", "HostName": "web-01.lab", "Status": "Stopped",
    "RegionId": "cn-hangzhou", "ZoneId": "cn-hangzhou-h", "InstanceType": "ecs.g7.large", "ImageId": "img",
    "Cpu": 2, "Memory": 8192, "OSType": "linux", "CreationTime": "2026-01-01T00:00Z",
    "VpcAttributes": {"VpcId": "vpc-1", "VSwitchId": "vsw-1", "PrivateIpAddress": {"IpAddress": ["10.88.16.5"]}},
    "SecurityGroupIds": {"SecurityGroupId": ["sg-1"]},
    "EipAddress": {"IpAddress": ""}, "PublicIpAddress": {"IpAddress": []},
    "Tags": {"Tag": [{"TagKey": "containerops.role", "TagValue": "Manager"}, {"TagKey": "fqdn", "TagValue": "w.x"}]},
}


def test_host_vars_follow_fleet_md():
    hv = inv.host_vars(INSTANCE)
    assert hv["platform_observed_ip"] == "10.88.16.5"
    assert (hv["platform_provider"], hv["platform_region"], hv["platform_zone"]) == (
        "ecs", "cn-hangzhou", "cn-hangzhou-h")
    assert hv["platform_observed_role"] == "Manager" and hv["platform_power_state"] == "stopped"
    assert hv["ecs_instance_id"] == "i-bp1abc" and hv["ecs_observed_instance_type"] == "ecs.g7.large"
    assert hv["ecs_observed_tags"] == {"containerops.role": "Manager", "fqdn": "w.x"}
    assert hv["ecs_observed_security_group_ids"] == ["sg-1"] and "ecs_public_ip" not in hv
    assert fleet_groups(hv) == ["provider_ecs", "zone_cn_hangzhou_h", "role_manager"]


def test_no_role_tag_no_role_var_or_group():
    hv = inv.host_vars(dict(INSTANCE, Tags={"Tag": []}, Status="Starting"))
    assert "platform_observed_role" not in hv and hv["platform_power_state"] == "starting"
    assert fleet_groups(hv) == ["provider_ecs", "zone_cn_hangzhou_h"]


@pytest.mark.parametrize("prefs, name", [
    (["InstanceName", "InstanceId"], "web-01"),
    (["tag:fqdn", "InstanceId"], "w.x"),
    (["tag:missing", "InstanceId"], "i-bp1abc"),
    (["PrivateIpAddress"], "10.88.16.5"),
    (["HostName"], "web-01.lab"),
])
def test_hostname_preferences(prefs, name):
    assert inv.preferred_hostname(INSTANCE, prefs) == name


def test_query_combinations():
    assert inv.query_params([], [], [], {}) == [{}]
    combos = inv.query_params(["vpc-1", "vpc-2"], [], ["Running"], {"role": "worker", "any": None})
    assert combos == [
        {"VpcId": "vpc-1", "Status": "Running",
         "Tag": [{"Key": "any", "Value": None}, {"Key": "role", "Value": "worker"}]},
        {"VpcId": "vpc-2", "Status": "Running",
         "Tag": [{"Key": "any", "Value": None}, {"Key": "role", "Value": "worker"}]},
    ]


# ---------------------------------------------------------------- ecs_instance planning

def params(**kw):
    base = dict((k, None) for k in spec.PER_INSTANCE)
    base.update(name=None, instances=None)
    base.update(kw)
    return base


def test_items_override_top_level_defaults_and_host_name_defaults_to_name():
    desired = spec.desired_instances(params(image_id="img", tags={"a": "1"}, instances=[
        {"name": "a-1"}, {"name": "a-2", "image_id": "other", "host_name": "h2", "tags": {"b": "2"}}]))
    assert [d["image_id"] for d in desired] == ["img", "other"]
    assert [d["host_name"] for d in desired] == ["a-1", "h2"]
    assert desired[1]["tags"] == {"b": "2"}


@pytest.mark.parametrize("items, words", [
    ([{"name": "a"}, {"name": "a"}], "twice"),
    ([{"name": "a", "imageid": "x"}], "imageid"),
    ([{"image_id": "x"}], "name is required"),
])
def test_bad_instances_lists(items, words):
    with pytest.raises(spec.Failure) as info:
        spec.desired_instances(params(instances=items))
    assert words in str(info.value)


def test_shared_request_params_encode_user_data_and_sort_tags():
    (d,) = spec.desired_instances(params(name="n", image_id="img", instance_type="t", vswitch_id="vsw",
                                         security_group_ids=["sg"], user_data="#cloud-config\n",
                                         tags={"b": 2, "a": None}, system_disk={"category": "cloud_essd", "size": 40}))
    shared = spec.shared_request_params(d, "zone-h")
    assert shared["UserData"] == "I2Nsb3VkLWNvbmZpZwo="
    assert shared["Tag"] == [{"Key": "a", "Value": ""}, {"Key": "b", "Value": "2"}]
    assert shared["ZoneId"] == "zone-h" and shared["SystemDisk.Size"] == 40
    assert "InstanceName" not in shared and "PrivateIpAddress" not in shared


def test_common_prefix_for_the_name_lookup():
    assert prov._common_prefix(["t-ecs-a1", "t-ecs-a2", "t-ecs-b"]) == "t-ecs-"
    assert prov._common_prefix(["x", "y"]) == ""
