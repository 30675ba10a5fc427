"""The ECS emulator validates like the real API: system disk category and size, instance and
host names, and which actions need RegionId. Every refusal names the parameter and changes nothing.
"""

import datetime
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from aliyunsdkecs.request.v20140526 import DescribeDisksRequest, ModifyInstanceAttributeRequest

from test_ecs_emulator import (
    IMAGE,
    KEY_ID,
    SECRET,
    admin,
    by_ids,
    call,
    client,
    composer,
    describe,
    error,
    run,
    run_req,
    wait_status,
)

IMAGE_40G = "aliyun_3_x64_20G_alibase_20260101.vhd"  # the lab world's image of 40 GiB


def signed(emu, params):
    """A V1 request with exactly these parameters besides the common ones: no RegionId unless given."""
    full = {
        "Format": "JSON", "Version": "2014-05-26", "AccessKeyId": KEY_ID, "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0", "SignatureType": "", "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    full.update(params)
    full["Signature"] = getattr(composer, "__get_signature")(
        getattr(composer, "__compose_string_to_sign")("POST", full), SECRET)
    req = urllib.request.Request("http://%s/?%s" % (emu.endpoint, urllib.parse.urlencode(full)), data=b"",
                                 method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def disks(c, iid):
    req = DescribeDisksRequest.DescribeDisksRequest()
    req.set_InstanceId(iid)
    return call(c, req)["Disks"]["Disk"]


# ---------------------------------------------------------------------- system disk

@pytest.mark.parametrize("params, code, status", [
    ({"SystemDiskCategory": "ephemeral_ssd"}, "InvalidSystemDiskCategory.ValueNotSupported", 400),
    ({"SystemDiskCategory": "cloud_essd_pl9"}, "InvalidSystemDiskCategory.ValueNotSupported", 400),
    ({"SystemDiskSize": 19}, "InvalidSystemDiskSize.LessThanMinSize", 404),
    ({"SystemDiskSize": 0}, "InvalidSystemDiskSize.LessThanMinSize", 404),
    ({"SystemDiskSize": 30, "ImageId": IMAGE_40G}, "InvalidSystemDiskSize.LessThanImageSize", 404),
    ({"SystemDiskSize": 2049}, "InvalidDisk.SystemDiskSize", 403),
    ({"SystemDiskSize": 100000, "SystemDiskCategory": "cloud_essd"}, "InvalidDisk.SystemDiskSize", 403),
    ({"SystemDiskSize": 501, "SystemDiskCategory": "cloud"}, "InvalidDisk.SystemDiskSize", 403),
    ({"SystemDiskSize": "forty"}, "InvalidSystemDiskSize.ValueNotSupported", 400),
    ({"SystemDiskCategory": "cloud_essd", "SystemDiskPerformanceLevel": "PL9"}, "InvalidParameter", 400),
])
def test_a_bad_system_disk_is_refused_with_the_real_code(emu, params, code, status):
    c = client(emu)
    req = run_req(1)
    for name, value in params.items():
        getattr(req, "set_" + name)(value)
    exc = error(c, req)
    assert (exc.get_error_code(), exc.get_http_status()) == (code, status)
    assert "SystemDisk." in exc.get_error_msg()
    assert admin(emu, "GET", "/_emulator/instances")["instances"] == []


@pytest.mark.parametrize("category, size, image, level", [
    ("cloud", 500, IMAGE, ""),
    ("cloud_efficiency", 20, IMAGE, ""),
    ("cloud_ssd", 2048, IMAGE, ""),
    ("cloud_essd", 40, IMAGE_40G, "PL1"),
    ("cloud_auto", 100, IMAGE, ""),
    ("cloud_essd_entry", 64, IMAGE, ""),
])
def test_the_system_disk_is_stored_and_reported_by_describe_disks(emu, category, size, image, level):
    c = client(emu)
    req = run_req(1, SystemDiskCategory=category, SystemDiskSize=size)
    req.set_ImageId(image)
    iid = call(c, req)["InstanceIdSets"]["InstanceIdSet"][0]
    [disk] = disks(c, iid)
    assert (disk["Category"], disk["Size"], disk["PerformanceLevel"], disk["Type"]) == (category, size, level, "system")
    assert (disk["InstanceId"], disk["ImageId"], disk["Status"], disk["Device"]) == (iid, image, "In_use", "/dev/xvda")
    by_category = DescribeDisksRequest.DescribeDisksRequest()
    by_category.set_Category(category)
    assert [d["DiskId"] for d in call(c, by_category)["Disks"]["Disk"]] == [disk["DiskId"]]


def test_system_disk_defaults_are_the_documented_ones(emu):
    c = client(emu)
    small, large = run(c, 1)[0], call(c, run_req(1, ImageId=IMAGE_40G))["InstanceIdSets"]["InstanceIdSet"][0]
    # Default category cloud_efficiency; default size 40 GiB or the image size, whichever is larger.
    assert [(d["Category"], d["Size"]) for d in disks(c, small)] == [("cloud_efficiency", 40)]
    assert [(d["Category"], d["Size"]) for d in disks(c, large)] == [("cloud_efficiency", 40)]
    essd = call(c, run_req(1, SystemDiskCategory="cloud_essd", SystemDiskPerformanceLevel="PL0"))
    assert disks(c, essd["InstanceIdSets"]["InstanceIdSet"][0])[0]["PerformanceLevel"] == "PL0"


# ---------------------------------------------------------------------- names

BAD_INSTANCE_NAMES = ["a", "x" * 129, "1-starts-with-digit", "-dash-first", "has space", "semi;colon",
                      "http://example", "https-ok-but-slash/"]
GOOD_INSTANCE_NAMES = ["ab", "x" * 128, "web-01.lab_a:b", "中文名称", "节点-1"]
BAD_HOST_NAMES = ["a", "h" * 65, "-web", "web-", ".web", "web.", "web..lab", "web--1", "web_1", "web.-lab",
                  "web-.lab", "web lab"]
GOOD_HOST_NAMES = ["ab", "h" * 64, "web-01", "web-01.lab.example", "1web", "w.e.b"]


@pytest.mark.parametrize("name", BAD_INSTANCE_NAMES)
def test_run_instances_refuses_a_bad_instance_name(emu, name):
    exc = error(client(emu), run_req(1, InstanceName=name))
    assert (exc.get_error_code(), exc.get_http_status()) == ("InvalidInstanceName.Malformed", 400)
    assert '"InstanceName"' in exc.get_error_msg() and "2-128 characters" in exc.get_error_msg()
    assert admin(emu, "GET", "/_emulator/instances")["instances"] == []


@pytest.mark.parametrize("name", BAD_HOST_NAMES)
def test_run_instances_refuses_a_bad_host_name(emu, name):
    exc = error(client(emu), run_req(1, HostName=name))
    assert (exc.get_error_code(), exc.get_http_status()) == ("InvalidHostName.Malformed", 400)
    assert '"HostName"' in exc.get_error_msg() and "2-64 characters" in exc.get_error_msg()
    assert admin(emu, "GET", "/_emulator/instances")["instances"] == []


def test_good_names_are_accepted_and_kept(emu):
    c = client(emu)
    for name, host in zip(GOOD_INSTANCE_NAMES, GOOD_HOST_NAMES):
        iid = run(c, 1, InstanceName=name, HostName=host)[0]
        inst = by_ids(c, [iid])[0]
        assert (inst["InstanceName"], inst["HostName"]) == (name, host)


def test_modify_instance_attribute_applies_the_same_name_rules(emu):
    c = client(emu)
    iid = run(c, 1, InstanceName="keep", HostName="keep-host")[0]
    for field, value, code in (("InstanceName", BAD_INSTANCE_NAMES[2], "InvalidInstanceName.Malformed"),
                               ("HostName", BAD_HOST_NAMES[6], "InvalidHostName.Malformed")):
        req = ModifyInstanceAttributeRequest.ModifyInstanceAttributeRequest()
        req.set_InstanceId(iid)
        getattr(req, "set_" + field)(value)
        assert error(c, req).get_error_code() == code
    inst = by_ids(c, [iid])[0]
    assert (inst["InstanceName"], inst["HostName"]) == ("keep", "keep-host")


def test_unique_suffix_needs_room_for_three_digits(emu):
    c = client(emu)
    exc = error(c, run_req(2, InstanceName="n" * 127, UniqueSuffix=True))
    assert (exc.get_error_code(), exc.get_http_status()) == ("InvalidParams.InstanceNameExceed", 403)
    ids = run(c, 2, InstanceName="n" * 125, HostName="h" * 61, UniqueSuffix=True)
    assert [i["InstanceName"][-3:] + i["HostName"][-3:] for i in by_ids(c, ids)] == ["001001", "002002"]


# ---------------------------------------------------------------------- RegionId

def test_actions_on_one_instance_id_need_no_region_id(make_emu):
    # The reference gives StartInstance & co. no RegionId parameter; the current SDK sends none.
    emu = make_emu(time_scale=0.02)
    iid = run(client(emu), 1)[0]
    wait_status(client(emu), iid, "Running")

    def without_region(action, **params):
        return signed(emu, dict(params, Action=action))

    status, body = without_region("DescribeInstanceAttribute", InstanceId=iid)
    assert status == 200 and body["RegionId"] == "cn-hangzhou"
    assert without_region("ModifyInstanceAttribute", InstanceId=iid, InstanceName="no-region")[0] == 200
    assert without_region("StopInstance", InstanceId=iid)[0] == 200
    wait_status(client(emu), iid, "Stopped")
    assert without_region("StartInstance", InstanceId=iid)[0] == 200
    wait_status(client(emu), iid, "Running")
    assert without_region("RebootInstance", InstanceId=iid)[0] == 200
    wait_status(client(emu), iid, "Running")
    status, body = without_region("DeleteInstance", InstanceId="i-bp1doesnotexist00000", Force="true")
    assert (status, body["Code"]) == (404, "InvalidInstanceId.NotFound")
    assert without_region("DeleteInstance", InstanceId=iid, Force="true")[0] == 200
    assert describe(client(emu))["TotalCount"] == 0


@pytest.mark.parametrize("action, params", [
    ("RunInstances", {"ImageId": IMAGE}),
    ("DescribeInstances", {}),
    ("DescribeInstanceStatus", {}),
    ("DescribeDisks", {}),
    ("StopInstances", {"InstanceId.1": "i-bp1doesnotexist00000"}),
    ("DescribeUserData", {"InstanceId": "i-bp1doesnotexist00000"}),
])
def test_listing_creating_and_plural_actions_require_region_id(emu, action, params):
    status, body = signed(emu, dict(params, Action=action))
    assert (status, body["Code"]) == (400, "MissingParameter") and '"RegionId"' in body["Message"]


def test_an_unknown_region_is_refused_even_where_region_id_is_optional(emu):
    iid = run(client(emu), 1)[0]
    status, body = signed(emu, {"Action": "StopInstance", "InstanceId": iid, "RegionId": "cn-nowhere"})
    assert (status, body["Code"]) == (404, "InvalidRegionId.NotFound")
    # ... and a known region that is not the instance's does not find it.
    status, body = signed(emu, {"Action": "DescribeInstanceAttribute", "InstanceId": iid, "RegionId": "cn-shanghai"})
    assert (status, body["Code"]) == (404, "InvalidInstanceId.NotFound")
    assert json.dumps(by_ids(client(emu), [iid]))  # still there
