"""The ECS emulator, driven through the official SDK request classes.

Each test starts its own emulator in-process on an ephemeral 127.0.0.1 port with
backend "none", a small time scale and freshly generated credentials.
"""

import base64
import datetime
import json
import pathlib
import secrets
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from ecs_emulator import DockerBackend
from ecs_emulator.faults import Faults

REPO = pathlib.Path(__file__).resolve().parents[3]

# The SDK imports below come after these skips on purpose (E402): without the SDK the module is skipped.
aliyunsdkcore = pytest.importorskip("aliyunsdkcore")
pytest.importorskip("aliyunsdkecs")

from aliyunsdkcore.acs_exception.exceptions import ServerException  # noqa: E402
from aliyunsdkcore.auth.composer import rpc_signature_composer as composer  # noqa: E402
from aliyunsdkcore.client import AcsClient  # noqa: E402
from aliyunsdkecs.request.v20140526 import (  # noqa: E402
    DeleteInstanceRequest,
    DescribeImagesRequest,
    DescribeInstancesRequest,
    DescribeInstanceStatusRequest,
    DescribeInstanceTypesRequest,
    DescribeRegionsRequest,
    DescribeSecurityGroupsRequest,
    DescribeUserDataRequest,
    DescribeVpcsRequest,
    DescribeVSwitchesRequest,
    DescribeZonesRequest,
    ModifyInstanceAttributeRequest,
    RebootInstanceRequest,
    RunInstancesRequest,
    StartInstanceRequest,
    StartInstancesRequest,
    StopInstanceRequest,
    StopInstancesRequest,
    TagResourcesRequest,
    UntagResourcesRequest,
)

KEY_ID = "LTAI" + secrets.token_hex(8)
SECRET = secrets.token_urlsafe(24)

IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
VSW_H = "vsw-bp1lab0hangzhouh00001"  # cn-hangzhou-h, 10.88.16.0/24
VSW_I = "vsw-bp1lab0hangzhoui00001"  # cn-hangzhou-i, 10.88.17.0/24
SG_HZ = "sg-bp1lab0hangzhou00001"
SG_SH = "sg-uf6lab0shanghai00001"


def client(emu, key=KEY_ID, secret=SECRET, region="cn-hangzhou", retry=False):
    c = AcsClient(key, secret, region, auto_retry=retry)
    c.add_endpoint(region, "Ecs", emu.endpoint)
    return c


def call(c, req):
    return json.loads(c.do_action_with_exception(req))


def error(c, req):
    with pytest.raises(ServerException) as info:
        c.do_action_with_exception(req)
    return info.value


def run_req(amount=1, vswitch=VSW_H, sg=SG_HZ, **extra):
    req = RunInstancesRequest.RunInstancesRequest()
    req.set_ImageId(IMAGE)
    req.set_InstanceType("ecs.g7.large")
    req.set_VSwitchId(vswitch)
    req.set_SecurityGroupId(sg)
    req.set_Amount(amount)
    for name, value in extra.items():
        getattr(req, "set_" + name)(value)
    return req


def run(c, amount=1, **extra):
    return call(c, run_req(amount, **extra))["InstanceIdSets"]["InstanceIdSet"]


def describe(c, **params):
    req = DescribeInstancesRequest.DescribeInstancesRequest()
    for name, value in params.items():
        getattr(req, "set_" + name)(value)
    return call(c, req)


def by_ids(c, ids):
    return describe(c, InstanceIds=json.dumps(ids), PageSize=100)["Instances"]["Instance"]


def status_of(c, iid):
    req = DescribeInstanceStatusRequest.DescribeInstanceStatusRequest()
    req.set_InstanceIds([iid])
    statuses = call(c, req)["InstanceStatuses"]["InstanceStatus"]
    return statuses[0]["Status"] if statuses else None


def wait_status(c, iid, wanted, timeout=5.0):
    """Poll until the status is `wanted`; return the distinct statuses seen on the way."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        current = status_of(c, iid)
        if not seen or seen[-1] != current:
            seen.append(current)
        if current == wanted:
            return seen
        time.sleep(0.005)
    raise AssertionError("%s never reached %s; saw %s" % (iid, wanted, seen))


def admin(emu, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s%s" % (emu.endpoint, path), data=data, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as resp:
        return json.loads(resp.read())


def raw_call(emu, params, secret=SECRET, timestamp=None, nonce=None, method="POST"):
    """A request signed with the SDK's own string-to-sign code, but with our choice of nonce/timestamp."""
    full = {
        "Format": "JSON", "Version": "2014-05-26", "AccessKeyId": KEY_ID, "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0", "SignatureType": "", "RegionId": "cn-hangzhou",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": timestamp or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    full.update(params)
    string_to_sign = getattr(composer, "__compose_string_to_sign")(method, full)
    full["Signature"] = getattr(composer, "__get_signature")(string_to_sign, secret)
    url = "http://%s/?%s" % (emu.endpoint, urllib.parse.urlencode(full))
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ---------------------------------------------------------------------- auth and protocol

def test_signed_requests_are_accepted_and_describe_the_world(emu):
    c = client(emu)
    body = call(c, DescribeRegionsRequest.DescribeRegionsRequest())
    assert uuid.UUID(body["RequestId"]) and body["RequestId"] == body["RequestId"].upper()
    regions = {r["RegionId"]: r for r in body["Regions"]["Region"]}
    assert set(regions) == {"cn-hangzhou", "cn-shanghai"}
    assert regions["cn-hangzhou"]["RegionEndpoint"] == "ecs-cn-hangzhou.aliyuncs.com"

    zones = call(c, DescribeZonesRequest.DescribeZonesRequest())["Zones"]["Zone"]
    assert [z["ZoneId"] for z in zones] == ["cn-hangzhou-h", "cn-hangzhou-i"]
    assert "ecs.g7.large" in zones[0]["AvailableInstanceTypes"]["InstanceTypes"]

    vpcs = call(c, DescribeVpcsRequest.DescribeVpcsRequest())["Vpcs"]["Vpc"]
    assert [(v["VpcId"], v["CidrBlock"]) for v in vpcs] == [("vpc-bp1lab0hangzhou000001", "10.88.0.0/16")]

    vsws = call(c, DescribeVSwitchesRequest.DescribeVSwitchesRequest())["VSwitches"]["VSwitch"]
    assert {(s["VSwitchId"], s["ZoneId"], s["CidrBlock"]) for s in vsws} == {
        (VSW_H, "cn-hangzhou-h", "10.88.16.0/24"), (VSW_I, "cn-hangzhou-i", "10.88.17.0/24")}
    assert all(s["AvailableIpAddressCount"] == 252 for s in vsws)  # 256 minus first and last three

    sh = client(emu, region="cn-shanghai")
    sh_vsws = call(sh, DescribeVSwitchesRequest.DescribeVSwitchesRequest())["VSwitches"]["VSwitch"]
    assert {(s["ZoneId"], s["CidrBlock"]) for s in sh_vsws} == {
        ("cn-shanghai-b", "10.88.32.0/24"), ("cn-shanghai-e", "10.88.33.0/24")}

    sgs = call(c, DescribeSecurityGroupsRequest.DescribeSecurityGroupsRequest())["SecurityGroups"]["SecurityGroup"]
    assert [g["SecurityGroupId"] for g in sgs] == [SG_HZ]
    images = call(c, DescribeImagesRequest.DescribeImagesRequest())["Images"]["Image"]
    assert IMAGE in [i["ImageId"] for i in images]
    types_req = DescribeInstanceTypesRequest.DescribeInstanceTypesRequest()
    types_req.set_InstanceTypess(["ecs.g7.large"])
    types = call(c, types_req)["InstanceTypes"]["InstanceType"]
    assert [(t["InstanceTypeId"], t["CpuCoreCount"], t["MemorySize"]) for t in types] == [("ecs.g7.large", 2, 8.0)]


def test_wrong_secret_is_reported_as_invalid_secret_by_the_sdk(emu):
    # The SDK rewrites SignatureDoesNotMatch to InvalidAccessKeySecret only when the server's
    # string-to-sign equals its own: this proves the emulator signs exactly like the SDK.
    exc = error(client(emu, secret="not-the-secret"), DescribeRegionsRequest.DescribeRegionsRequest())
    assert exc.get_error_code() == "InvalidAccessKeySecret"
    assert exc.get_http_status() == 400
    assert exc.get_request_id()


def test_unknown_access_key_id(emu):
    exc = error(client(emu, key="LTAInobody"), DescribeRegionsRequest.DescribeRegionsRequest())
    assert exc.get_error_code() == "InvalidAccessKeyId.NotFound"
    assert exc.get_http_status() == 404


def test_nonce_reuse_stale_timestamp_version_and_action(emu):
    status, body = raw_call(emu, {"Action": "DescribeRegions"}, nonce="fixed-nonce-1")
    assert status == 200 and "Regions" in body
    status, body = raw_call(emu, {"Action": "DescribeRegions"}, nonce="fixed-nonce-1")
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}

    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = raw_call(emu, {"Action": "DescribeRegions"}, timestamp=old)
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")

    status, body = raw_call(emu, {"Action": "DescribeRegions", "Version": "2016-04-28"})
    assert (status, body["Code"]) == (400, "InvalidVersion")
    status, body = raw_call(emu, {"Action": "CreateTeapot"})
    assert (status, body["Code"]) == (404, "InvalidAction.NotFound")
    # GET works as well as POST, and unknown parameters (footmark sends on=<Action>) are ignored.
    status, body = raw_call(emu, {"Action": "DescribeZones", "on": "DescribeZones"}, method="GET")
    assert status == 200 and body["Zones"]["Zone"]


def test_proxy_form_request_line_is_routed(emu):
    # With HTTP_PROXY pointing at the emulator, clients send "POST http://ecs-cn-hangzhou.aliyuncs.com/?..."
    # (sent here with http.client straight to 127.0.0.1, so nothing can leave the machine).
    import http.client
    params = {
        "Action": "DescribeRegions", "Format": "JSON", "Version": "2014-05-26", "AccessKeyId": KEY_ID,
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureType": "", "RegionId": "cn-hangzhou",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    params["Signature"] = getattr(composer, "__get_signature")(
        getattr(composer, "__compose_string_to_sign")("POST", params), SECRET)
    host, port = emu.address
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("POST", "http://ecs-cn-hangzhou.aliyuncs.com/?" + urllib.parse.urlencode(params), body=b"",
                 headers={"Host": "ecs-cn-hangzhou.aliyuncs.com"})
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["Regions"]["Region"]
    conn.close()


def test_sts_keys_require_their_security_token(make_emu):
    from aliyunsdkcore.auth.credentials import StsTokenCredential
    emu = make_emu(credentials={"access_keys": {"STS.lab": {"secret": "sts-secret", "security_token": "tok"}}})
    good = AcsClient(region_id="cn-hangzhou", credential=StsTokenCredential("STS.lab", "sts-secret", "tok"),
                     auto_retry=False)
    good.add_endpoint("cn-hangzhou", "Ecs", emu.endpoint)
    assert call(good, DescribeRegionsRequest.DescribeRegionsRequest())["Regions"]
    bad = AcsClient(region_id="cn-hangzhou", credential=StsTokenCredential("STS.lab", "sts-secret", "nope"),
                    auto_retry=False)
    bad.add_endpoint("cn-hangzhou", "Ecs", emu.endpoint)
    assert error(bad, DescribeRegionsRequest.DescribeRegionsRequest()).get_error_code().startswith(
        "InvalidSecurityToken.")
    plain = AcsClient("STS.lab", "sts-secret", "cn-hangzhou", auto_retry=False)
    plain.add_endpoint("cn-hangzhou", "Ecs", emu.endpoint)
    assert error(plain, DescribeRegionsRequest.DescribeRegionsRequest()).get_error_code() == "MissingSecurityToken"


def test_unknown_region(emu):
    c = client(emu, region="cn-beijing")
    # DescribeRegions answers from any region (the inventory plugin asks cn-beijing) ...
    assert len(call(c, DescribeRegionsRequest.DescribeRegionsRequest())["Regions"]["Region"]) == 2
    # ... everything else needs a region of the world.
    exc = error(c, DescribeInstancesRequest.DescribeInstancesRequest())
    assert (exc.get_error_code(), exc.get_http_status()) == ("InvalidRegionId.NotFound", 404)


# ---------------------------------------------------------------------- RunInstances

def test_run_instances_consecutive_ips_tags_names(emu):
    c = client(emu)
    ids = run(c, 3, PrivateIpAddress="10.88.16.10", InstanceName="web-[1,2]", HostName="web",
              UniqueSuffix=True, Tags=[{"Key": "role", "Value": "web"}, {"Key": "env", "Value": "lab"}],
              UserData=base64.b64encode(b"#!/bin/sh\necho hi\n").decode())
    assert len(ids) == 3 and len(set(ids)) == 3
    for iid in ids:
        assert iid.startswith("i-") and len(iid) == 22 and iid[2:].isalnum() and iid[2:].islower()
    insts = by_ids(c, ids)
    assert [i["InstanceId"] for i in insts] == ids  # creation order
    assert [i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"] for i in insts] == [
        ["10.88.16.10"], ["10.88.16.11"], ["10.88.16.12"]]
    assert [i["InstanceName"] for i in insts] == ["web-01", "web-02", "web-03"]
    assert [i["HostName"] for i in insts] == ["web001", "web002", "web003"]
    for inst in insts:
        assert inst["ZoneId"] == "cn-hangzhou-h"  # derived from the vSwitch
        assert inst["VpcAttributes"]["VpcId"] == "vpc-bp1lab0hangzhou000001"
        assert inst["SecurityGroupIds"]["SecurityGroupId"] == [SG_HZ]
        assert inst["Tags"]["Tag"] == [{"TagKey": "role", "TagValue": "web"}, {"TagKey": "env", "TagValue": "lab"}]
        keys = list(inst)
        assert keys.index("EipAddress") < keys.index("PublicIpAddress")  # footmark needs this order
    ud = DescribeUserDataRequest.DescribeUserDataRequest()
    ud.set_InstanceId(ids[0])
    assert base64.b64decode(call(c, ud)["UserData"]) == b"#!/bin/sh\necho hi\n"

    # Without PrivateIpAddress the next free addresses of the vSwitch are used.
    auto = by_ids(c, run(c, 2, vswitch=VSW_I, ZoneId="cn-hangzhou-i"))
    assert [i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0] for i in auto] == ["10.88.17.1", "10.88.17.2"]
    vsw = DescribeVSwitchesRequest.DescribeVSwitchesRequest()
    vsw.set_VSwitchId(VSW_H)
    assert call(c, vsw)["VSwitches"]["VSwitch"][0]["AvailableIpAddressCount"] == 249


def test_client_token_replay_and_mismatch(emu):
    c = client(emu)
    first = run(c, 2, ClientToken="tok-1")
    again = run(c, 2, ClientToken="tok-1")
    assert again == first
    assert describe(c)["TotalCount"] == 2
    exc = error(c, run_req(3, ClientToken="tok-1"))
    assert exc.get_error_code() == "IdempotentParameterMismatch"
    assert describe(c)["TotalCount"] == 2
    assert run(c, 1, ClientToken="tok-2") != first
    assert describe(c)["TotalCount"] == 3


def test_dry_run_creates_nothing(emu):
    c = client(emu)
    exc = error(c, run_req(2, DryRun=True))
    assert (exc.get_error_code(), exc.get_http_status()) == ("DryRunOperation", 400)
    assert exc.get_error_msg() == "Request validation has been passed with DryRun flag set."
    # A dry run still validates.
    assert error(c, run_req(1, DryRun=True, PrivateIpAddress="10.99.0.5")).get_error_code() == "InvalidPrivateIpAddress"
    assert describe(c)["TotalCount"] == 0


def test_missing_and_invalid_parameters_name_the_parameter(emu):
    c = client(emu)
    for missing in ("ImageId", "InstanceType", "VSwitchId"):
        req = run_req()
        req.get_query_params().pop(missing)
        exc = error(c, req)
        assert exc.get_error_code() == "MissingParameter" and '"%s"' % missing in exc.get_error_msg()
    cases = [
        (dict(amount=0), "InvalidParameter", "Amount"),
        (dict(amount=101), "InvalidParameter", "Amount"),
        (dict(MinAmount=5, amount=2), "InvalidMinAmount.Malformed", "MinAmount"),
        (dict(UserData="not base64!"), "InvalidUserData.Base64FormatInvalid", "UserData"),
        (dict(UserData=base64.b64encode(b"x" * (32 * 1024 + 1)).decode()), "InvalidUserData.SizeExceeded", "UserData"),
        (dict(InstanceName="1-starts-with-digit"), "InvalidInstanceName.Malformed", "InstanceName"),
        (dict(HostName="-bad-"), "InvalidHostName.Malformed", "HostName"),
        (dict(DryRun="maybe"), "InvalidParameter", "DryRun"),
    ]
    for kwargs, code, name in cases:
        amount = kwargs.pop("amount", 1)
        exc = error(c, run_req(amount, **kwargs))
        assert exc.get_error_code() == code, (kwargs, exc)
        assert name in exc.get_error_msg(), (kwargs, exc)
    req = run_req()
    req.set_ImageId("no_such_image.vhd")
    assert error(c, req).get_error_code() == "InvalidImageId.NotFound"
    req = run_req()
    req.set_InstanceType("ecs.nope.large")
    assert error(c, req).get_error_code() == "InvalidInstanceType.ValueNotSupported"
    assert error(c, run_req(vswitch="vsw-nope")).get_error_code() == "InvalidVSwitchId.NotFound"
    assert error(c, run_req(ZoneId="cn-hangzhou-i")).get_error_code() == "InvalidParameter.Mismatch"
    assert error(c, run_req(sg=SG_SH)).get_error_code() == "InvalidSecurityGroupId.NotFound"  # other region
    assert describe(c)["TotalCount"] == 0


def test_private_ip_outside_in_use_reserved_malformed(emu):
    c = client(emu)
    run(c, 1, PrivateIpAddress="10.88.16.20")
    cases = [
        ("10.88.17.20", "InvalidPrivateIpAddress"),               # other vSwitch's CIDR
        ("10.88.16.20", "InvalidPrivateIpAddress.Duplicated"),    # in use
        ("10.88.16.0", "InvalidVSwitchId.IpInvalid"),             # first address: reserved
        ("10.88.16.253", "InvalidVSwitchId.IpInvalid"),           # last three: reserved
        ("10.88.16.255", "InvalidVSwitchId.IpInvalid"),
        ("10.88.16.300", "InvalidPrivateIpAddress.Malformed"),
    ]
    for ip, code in cases:
        exc = error(c, run_req(1, PrivateIpAddress=ip))
        assert exc.get_error_code() == code, (ip, exc)
    # A batch that would run into the reserved tail or an address in use fails as a whole.
    assert error(c, run_req(2, PrivateIpAddress="10.88.16.252")).get_error_code() == "InvalidVSwitchId.IpInvalid"
    assert error(c, run_req(3, PrivateIpAddress="10.88.16.18")).get_error_code() == "InvalidPrivateIpAddress.Duplicated"
    assert describe(c)["TotalCount"] == 1


# ---------------------------------------------------------------------- DescribeInstances

def test_paging_both_styles(emu):
    c = client(emu)
    ids = run(c, 25)
    pages = [describe(c, PageNumber=n) for n in (1, 2, 3)]
    assert [len(p["Instances"]["Instance"]) for p in pages] == [10, 10, 5]
    assert all(p["TotalCount"] == 25 and p["PageSize"] == 10 for p in pages)
    assert [i["InstanceId"] for p in pages for i in p["Instances"]["Instance"]] == ids
    assert describe(c, PageNumber=4)["Instances"]["Instance"] == []
    assert len(describe(c, PageSize=100)["Instances"]["Instance"]) == 25
    with pytest.raises(ServerException) as info:
        describe(c, PageSize=101)
    assert "PageSize" in info.value.get_error_msg()

    walked, token, calls = [], None, 0
    while True:
        # PageNumber/PageSize are ignored once MaxResults/NextToken are used.
        params = dict(MaxResults=10, PageNumber=3, PageSize=1)
        if token:
            params["NextToken"] = token
        body = describe(c, **params)
        walked += [i["InstanceId"] for i in body["Instances"]["Instance"]]
        token = body["NextToken"]
        calls += 1
        if not token:
            break
    assert walked == ids and calls == 3
    with pytest.raises(ServerException) as info:
        describe(c, NextToken="garbage")
    assert "NextToken" in info.value.get_error_msg()

    status_req = DescribeInstanceStatusRequest.DescribeInstanceStatusRequest()
    status_req.set_PageSize(50)
    assert len(call(c, status_req)["InstanceStatuses"]["InstanceStatus"]) == 25
    status_req.set_PageSize(51)
    assert error(c, status_req).get_error_code() == "InvalidParameter"


def test_filters(make_emu):
    emu = make_emu(time_scale=100)  # everything stays Pending
    c = client(emu)
    web = run(c, 2, InstanceName="web-[1,2]", Tags=[{"Key": "role", "Value": "web"}, {"Key": "env", "Value": "lab"}])
    db = run(c, 1, InstanceName="db-01", vswitch=VSW_I,
             Tags=[{"Key": "role", "Value": "db"}, {"Key": "env", "Value": "lab"}])
    other = run(c, 1, InstanceName="webby", Tags=[{"Key": "role", "Value": "web"}, {"Key": "env", "Value": "prod"}])

    def ids(**params):
        return [i["InstanceId"] for i in describe(c, PageSize=100, **params)["Instances"]["Instance"]]

    assert ids(InstanceName="web-*") == web
    assert ids(InstanceName="web*") == web + other
    assert ids(InstanceName="db-01") == db
    assert ids(Tags=[{"Key": "role", "Value": "web"}, {"Key": "env", "Value": "lab"}]) == web
    assert ids(Tags=[{"Key": "env", "Value": "lab"}]) == web + db
    assert ids(Tags=[{"Key": "role"}]) == web + db + other  # key only
    assert ids(InstanceIds=json.dumps([db[0], web[1]])) == [web[1], db[0]]
    assert ids(InstanceIds="[]") == []
    assert ids(VSwitchId=VSW_I) == db and ids(ZoneId="cn-hangzhou-h") == web + other
    assert ids(PrivateIpAddresses=json.dumps(["10.88.17.1"])) == db
    assert ids(SecurityGroupId=SG_HZ) == web + db + other
    assert ids(ImageId=IMAGE, InstanceType="ecs.g7.large") == web + db + other
    assert ids(Status="Running") == []
    assert ids(Status="Pending") == web + db + other
    with pytest.raises(ServerException) as info:
        describe(c, InstanceIds="i-notjson")
    assert info.value.get_error_code() == "InvalidInstanceIds.Malformed"
    # Instances are per region.
    assert describe(client(emu, region="cn-shanghai"))["TotalCount"] == 0


# ---------------------------------------------------------------------- state machine

def test_state_machine(make_emu):
    emu = make_emu(time_scale=0.1)  # Pending 0.1 s, Starting 0.2 s, Stopping 0.2 s
    c = client(emu)
    iid = run(c, 1)[0]
    assert wait_status(c, iid, "Running") == ["Pending", "Starting", "Running"]
    assert by_ids(c, [iid])[0]["StartTime"]

    def req(cls, **params):
        r = cls()
        r.set_InstanceId(iid)
        for name, value in params.items():
            getattr(r, "set_" + name)(value)
        return r

    exc = error(c, req(StartInstanceRequest.StartInstanceRequest))
    assert (exc.get_error_code(), exc.get_http_status()) == ("IncorrectInstanceStatus", 403)
    assert "Running" in exc.get_error_msg()

    call(c, req(StopInstanceRequest.StopInstanceRequest))
    assert wait_status(c, iid, "Stopped") == ["Stopping", "Stopped"]
    assert error(c, req(RebootInstanceRequest.RebootInstanceRequest)).get_error_code() == "IncorrectInstanceStatus"
    call(c, req(StartInstanceRequest.StartInstanceRequest))
    assert wait_status(c, iid, "Running") == ["Starting", "Running"]
    call(c, req(RebootInstanceRequest.RebootInstanceRequest))
    assert wait_status(c, iid, "Running") == ["Starting", "Running"]

    exc = error(c, req(DeleteInstanceRequest.DeleteInstanceRequest))
    assert (exc.get_error_code(), exc.get_http_status()) == ("IncorrectInstanceStatus", 403)
    call(c, req(DeleteInstanceRequest.DeleteInstanceRequest, Force=True))
    assert by_ids(c, [iid]) == []
    for cls in (StartInstanceRequest.StartInstanceRequest, DescribeUserDataRequest.DescribeUserDataRequest):
        exc = error(c, req(cls))
        assert (exc.get_error_code(), exc.get_http_status()) == ("InvalidInstanceId.NotFound", 404)


def test_plural_actions_and_their_dry_run(make_emu):
    emu = make_emu(time_scale=0.05)
    c = client(emu)
    ids = run(c, 2)
    for iid in ids:
        wait_status(c, iid, "Running")
    stop = StopInstancesRequest.StopInstancesRequest()
    stop.set_InstanceIds(ids)
    stop.set_DryRun(True)
    exc = error(c, stop)
    assert (exc.get_error_code(), exc.get_http_status()) == ("DRYRUN.SUCCESS", 400)
    assert all(status_of(c, iid) == "Running" for iid in ids)
    stop.set_DryRun(False)
    responses = call(c, stop)["InstanceResponses"]["InstanceResponse"]
    assert [(r["InstanceId"], r["Code"], r["PreviousStatus"], r["CurrentStatus"]) for r in responses] == [
        (iid, "200", "Running", "Stopping") for iid in ids]
    for iid in ids:
        wait_status(c, iid, "Stopped")
    start = StartInstancesRequest.StartInstancesRequest()
    start.set_InstanceIds(ids + ["i-bp1doesnotexist00000"])
    assert error(c, start).get_error_code() == "InvalidInstanceId.NotFound"  # AllTogether: all or nothing
    assert all(status_of(c, iid) == "Stopped" for iid in ids)
    start.set_BatchOptimization("SuccessFirst")
    codes = [r["Code"] for r in call(c, start)["InstanceResponses"]["InstanceResponse"]]
    assert codes == ["200", "200", "InvalidInstanceId.NotFound"]


def test_modify_attributes_and_tags(emu):
    c = client(emu)
    iid = run(c, 1, Tags=[{"Key": "role", "Value": "web"}])[0]
    mod = ModifyInstanceAttributeRequest.ModifyInstanceAttributeRequest()
    mod.set_InstanceId(iid)
    mod.set_InstanceName("renamed")
    mod.set_HostName("renamed-host")
    mod.set_Description("a lab node")
    call(c, mod)
    inst = by_ids(c, [iid])[0]
    assert (inst["InstanceName"], inst["HostName"], inst["Description"]) == ("renamed", "renamed-host", "a lab node")

    tag = TagResourcesRequest.TagResourcesRequest()
    tag.set_ResourceType("instance")
    tag.set_ResourceIds([iid])
    tag.set_Tags([{"Key": "role", "Value": "db"}, {"Key": "team", "Value": "ops"}])
    call(c, tag)
    assert by_ids(c, [iid])[0]["Tags"]["Tag"] == [
        {"TagKey": "role", "TagValue": "db"}, {"TagKey": "team", "TagValue": "ops"}]
    untag = UntagResourcesRequest.UntagResourcesRequest()
    untag.set_ResourceType("instance")
    untag.set_ResourceIds([iid])
    untag.set_TagKeys(["role"])
    call(c, untag)
    assert by_ids(c, [iid])[0]["Tags"]["Tag"] == [{"TagKey": "team", "TagValue": "ops"}]


# ---------------------------------------------------------------------- faults

def test_throttling_without_retry_and_stats(emu):
    c = client(emu)
    admin(emu, "DELETE", "/_emulator/stats")
    admin(emu, "PUT", "/_emulator/faults", {"throttling_rate": 1.0, "actions": ["DescribeInstances"]})
    exc = error(c, DescribeInstancesRequest.DescribeInstancesRequest())
    assert (exc.get_error_code(), exc.get_http_status()) == ("Throttling", 400)
    assert exc.get_error_msg() == "Request was denied due to request throttling."
    assert call(c, DescribeRegionsRequest.DescribeRegionsRequest())  # other actions are not affected
    stats = admin(emu, "GET", "/_emulator/stats")
    assert stats["calls"] == {"DescribeInstances": 1, "DescribeRegions": 1}
    assert stats["codes"]["DescribeInstances"] == {"Throttling": 1}
    assert admin(emu, "GET", "/_emulator/faults")["injected"]["throttling"] == 1
    admin(emu, "DELETE", "/_emulator/faults")
    assert call(c, DescribeInstancesRequest.DescribeInstancesRequest())["TotalCount"] == 0


def _seed_for(config, pattern):
    """A seed whose first fault decisions for RunInstances follow pattern (True = fault)."""
    for seed in range(1000):
        faults = Faults(dict(config, seed=seed))
        if [faults.decide("RunInstances")[1] is not None for _step in pattern] == list(pattern):
            return seed
    raise AssertionError("no seed found")


@pytest.mark.parametrize("config", [
    {"throttling_rate": 0.5},
    # "after": RunInstances takes effect but the answer is lost; only the ClientToken prevents a second set.
    {"error_5xx_rate": 0.5, "error_5xx_phase": "after"},
])
def test_sdk_retry_with_client_token_yields_one_set(emu, config):
    config = dict(config, actions=["RunInstances"])
    seed = _seed_for(config, (True, False))
    admin(emu, "PUT", "/_emulator/faults", dict(config, seed=seed))
    c = client(emu, retry=True)  # the SDK's default retry policy (3 retries for RunInstances)
    ids = run(c, 3, ClientToken="retry-" + uuid.uuid4().hex)
    assert len(ids) == 3
    assert [i["InstanceId"] for i in describe(c)["Instances"]["Instance"]] == ids
    stats = admin(emu, "GET", "/_emulator/stats")
    assert stats["calls"]["RunInstances"] == 2
    assert stats["codes"]["RunInstances"]["200"] == 1


def test_5xx_without_retry(emu):
    c = client(emu)
    admin(emu, "PUT", "/_emulator/faults", {"error_5xx_rate": 1.0, "error_5xx_phase": "before"})
    seen = set()
    for _attempt in range(6):
        exc = error(c, DescribeRegionsRequest.DescribeRegionsRequest())
        seen.add((exc.get_error_code(), exc.get_http_status()))
    assert seen <= {("ServiceUnavailable", 503), ("InternalError", 500)} and seen
    admin(emu, "PUT", "/_emulator/faults", {"error_5xx_rate": 1.0, "error_5xx_codes": ["InternalError"],
                                            "error_5xx_phase": "before", "actions": ["RunInstances"]})
    assert error(c, run_req(1)).get_error_code() == "InternalError"
    assert describe(c)["TotalCount"] == 0  # "before": nothing happened


def test_latency(emu):
    c = client(emu)
    admin(emu, "PUT", "/_emulator/faults", {"latency_ms": 300})
    started = time.monotonic()
    call(c, DescribeRegionsRequest.DescribeRegionsRequest())
    assert time.monotonic() - started >= 0.3
    admin(emu, "DELETE", "/_emulator/faults")
    started = time.monotonic()
    call(c, DescribeRegionsRequest.DescribeRegionsRequest())
    assert time.monotonic() - started < 0.3


def test_admin_dump(emu):
    c = client(emu)
    ids = run(c, 2)
    dump = admin(emu, "GET", "/_emulator/instances")
    assert [i["InstanceId"] for i in dump["instances"]] == ids
    assert admin(emu, "GET", "/_emulator/health")["ok"] is True


# ---------------------------------------------------------------------- persistence and backends

def test_state_survives_restart(make_emu, tmp_path):
    state_file = str(tmp_path / "ecs-state.json")
    first = make_emu(state_file=state_file, time_scale=0.02)
    c = client(first)
    ids = run(c, 2, PrivateIpAddress="10.88.16.50", ClientToken="persist-1", Tags=[{"Key": "k", "Value": "v"}])
    wait_status(c, ids[0], "Running")
    stop = StopInstanceRequest.StopInstanceRequest()
    stop.set_InstanceId(ids[1])
    wait_status(c, ids[1], "Running")
    call(c, stop)
    wait_status(c, ids[1], "Stopped")
    first.close()

    second = make_emu(state_file=state_file, time_scale=0.02)
    c = client(second)
    insts = by_ids(c, ids)
    assert [(i["InstanceId"], i["Status"], i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0]) for i in insts] == [
        (ids[0], "Running", "10.88.16.50"), (ids[1], "Stopped", "10.88.16.51")]
    assert insts[0]["Tags"]["Tag"] == [{"TagKey": "k", "TagValue": "v"}]
    assert run(c, 2, PrivateIpAddress="10.88.16.50", ClientToken="persist-1", Tags=[{"Key": "k", "Value": "v"}]) == ids
    assert error(c, run_req(1, PrivateIpAddress="10.88.16.51")).get_error_code() == "InvalidPrivateIpAddress.Duplicated"
    assert describe(c)["TotalCount"] == 2


FAKE_DOCKER = r'''#!/usr/bin/env python3
# Stand-in for the docker CLI: records calls, keeps container state in files.
import json, os, sys
root = os.environ["FAKE_DOCKER_DIR"]
args = sys.argv[1:]
with open(os.path.join(root, "calls.log"), "a") as fh:
    fh.write(json.dumps(args) + "\n")
def path(name): return os.path.join(root, "c-" + name)
def exists(name): return os.path.exists(path(name))
def put(name, running):
    with open(path(name), "w") as fh: fh.write("true" if running else "false")
if args[:2] == ["container", "inspect"]:
    name = args[-1]
    if not exists(name):
        sys.stderr.write("Error: No such container: %s\n" % name); sys.exit(1)
    print(open(path(name)).read())
elif args[0] == "run":
    name = args[args.index("--name") + 1]
    put(name, os.environ.get("FAKE_DOCKER_FAIL_RUN") is None); print("cid")
elif args[0] in ("start", "restart"):
    put(args[-1], True)
elif args[0] == "stop":
    put(args[-1], False)
elif args[0] == "rm":
    name = args[-1]
    if exists(name): os.unlink(path(name))
elif args[0] == "logs":
    print("fake logs")
'''


def test_docker_backend_drives_the_cli(make_emu, tmp_path, monkeypatch):
    fake = tmp_path / "docker"
    fake.write_text(FAKE_DOCKER)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FAKE_DOCKER_DIR", str(tmp_path))
    backend = DockerBackend("lab/node:1", ["--network", "lab", "--label", "lab=1"], prefix="t-",
                            docker_bin=str(fake))
    emu = make_emu(backend=backend, time_scale=0.02)
    c = client(emu)
    user_data = base64.b64encode(b"hello").decode()
    iid = run(c, 1, PrivateIpAddress="10.88.16.77", HostName="node-a", UserData=user_data)[0]
    wait_status(c, iid, "Running")
    stop = StopInstanceRequest.StopInstanceRequest()
    stop.set_InstanceId(iid)
    call(c, stop)
    wait_status(c, iid, "Stopped")
    start = StartInstanceRequest.StartInstanceRequest()
    start.set_InstanceId(iid)
    call(c, start)
    wait_status(c, iid, "Running")
    delete = DeleteInstanceRequest.DeleteInstanceRequest()
    delete.set_InstanceId(iid)
    delete.set_Force(True)
    call(c, delete)
    assert emu.state.wait_backend_idle(5)

    calls = [json.loads(line) for line in (tmp_path / "calls.log").read_text().splitlines()]
    verbs = [a[0] for a in calls if a[0] != "container"]
    assert verbs == ["run", "stop", "start", "rm"]
    run_args = next(a for a in calls if a[0] == "run")
    assert run_args == [
        "run", "-d", "--name", "t-" + iid, "--hostname", "node-a", "--ip", "10.88.16.77",
        "-e", "ECS_INSTANCE_ID=" + iid, "-e", "ECS_REGION_ID=cn-hangzhou", "-e", "ECS_ZONE_ID=cn-hangzhou-h",
        "-e", "ECS_USERDATA=" + user_data, "--network", "lab", "--label", "lab=1", "lab/node:1"]
    assert ["stop", "-t", "10", "t-" + iid] in calls and ["rm", "-f", "-v", "t-" + iid] in calls
    assert not (tmp_path / ("c-t-" + iid)).exists()

    # A container that does not stay up leaves the instance Stopped, like a failed start would.
    monkeypatch.setenv("FAKE_DOCKER_FAIL_RUN", "1")
    bad = run(c, 1)[0]
    wait_status(c, bad, "Stopped")
