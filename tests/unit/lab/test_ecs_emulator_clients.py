"""Other people's ECS clients against the emulator, each the way its users run it:
the current official SDK (alibabacloud_ecs20140526 on alibabacloud_tea_openapi) with its default
settings (signature V3, HTTPS) trusting the lab CA, and community.general.ali_instance_info,
which lists disks through footmark like alibaba.alicloud's ali_instance.
"""

import hashlib
import http.client
import inspect
import json
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils as OpenApiUtils
from aliyunsdkecs.request.v20140526 import DescribeDisksRequest
from darabonba.request import DaraRequest

from ecs_emulator import signature
from test_ecs_emulator import (
    IMAGE,
    KEY_ID,
    SECRET,
    SG_HZ,
    VSW_H,
    admin,
    call,
    client,
    run,
)
from test_ecs_emulator_lab import load_labctl

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@pytest.fixture(scope="module")
def lab_tls(tmp_path_factory):
    """The lab CA and the emulator certificate, made by labctl as `labctl up` makes them."""
    return load_labctl().ensure_tls(str(tmp_path_factory.mktemp("lab") / "tls"))


@pytest.fixture
def https_emu(make_emu, lab_tls):
    return make_emu(time_scale=0.02, tls_listen=("127.0.0.1", 0), tls_cert=lab_tls["ecs.pem"],
                    tls_key=lab_tls["ecs.key"])


def sdk(emu, ca, key=KEY_ID, secret=SECRET, **config):
    """The official client, default settings except where it is and whom to trust."""
    return EcsClient(openapi_models.Config(access_key_id=key, access_key_secret=secret, endpoint=emu.tls_endpoint,
                                           ca=ca, **config))


def sdk_error(fn, *args):
    with pytest.raises(ClientException) as info:
        fn(*args)
    return info.value


def wait_for(c, ids, status, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = c.describe_instance_status(ecs_models.DescribeInstanceStatusRequest(
            region_id="cn-hangzhou", instance_id=ids)).body
        if sorted(s.status for s in body.instance_statuses.instance_status) == [status] * len(ids):
            return
        time.sleep(0.02)
    raise AssertionError("%s never all %s" % (ids, status))


# ---------------------------------------------------------------------- signature V3

@pytest.mark.parametrize("date, nonce, digest, expected", [
    # aliyun.md 4.1 vectors A and B (the V3 signature document's fixed-value samples).
    ("2023-10-26T10:22:32Z", "3156853299f313e23d1673dc12e1703d",
     "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259",
     "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"),
    ("2023-10-26T09:01:01Z", "d410180a5abf7fe235dd9b74aca91fc0",
     "29622f5feb1e9fcaaa2e276a72889c975f7b16f00e02be1ca34965b18cd85015",
     "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"),
])
def test_v3_signature_matches_the_documented_vectors(date, nonce, digest, expected):
    headers = {"host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances",
               "x-acs-content-sha256": EMPTY_SHA256, "x-acs-date": date, "x-acs-signature-nonce": nonce,
               "x-acs-version": "2014-05-26"}
    pairs = [("RegionId", "cn-shanghai"), ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd")]
    text = signature.v3_string_to_sign("POST", "/", pairs, lambda name: [headers[name]], sorted(headers),
                                       EMPTY_SHA256)
    assert text == "ACS3-HMAC-SHA256\n" + digest
    assert signature.v3_sign(text, "YourAccessKeySecret") == expected


def test_v3_signature_merges_repeated_headers_and_keeps_empty_values():
    # aliyun.md 4.1 vector C (the SDK's own unit test).
    payload = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23"
    text = signature.v3_string_to_sign("GET", "", [("test", "ok"), ("empty", "")], lambda name: ["https", "http"],
                                       ["x-acs-test"], payload)
    assert signature.v3_sign(text, "secret") == "d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1"


# ---------------------------------------------------------------------- the official SDK

def test_the_official_sdk_with_default_settings_drives_an_instance_through_its_life(https_emu, lab_tls):
    c = sdk(https_emu, lab_tls["ca.pem"])
    made = c.run_instances(ecs_models.RunInstancesRequest(
        region_id="cn-hangzhou", image_id=IMAGE, instance_type="ecs.g7.large", v_switch_id=VSW_H,
        security_group_id=SG_HZ, amount=2, instance_name="sdk-v3-[1,1]", host_name="sdk-v3", unique_suffix=True,
        tag=[ecs_models.RunInstancesRequestTag(key="owner", value="team a")],
        system_disk=ecs_models.RunInstancesRequestSystemDisk(category="cloud_essd", size=80),
        client_token="sdk-" + uuid.uuid4().hex)).body
    ids = made.instance_id_sets.instance_id_set
    assert len(ids) == 2

    listed = c.describe_instances(ecs_models.DescribeInstancesRequest(
        region_id="cn-hangzhou", instance_ids=json.dumps(ids))).body.instances.instance
    assert [(i.instance_name, i.host_name) for i in listed] == [("sdk-v3-1", "sdk-v3001"), ("sdk-v3-2", "sdk-v3002")]
    by_tag = c.describe_instances(ecs_models.DescribeInstancesRequest(
        region_id="cn-hangzhou", tag=[ecs_models.DescribeInstancesRequestTag(key="owner", value="team a")])).body
    assert by_tag.total_count == 2
    disk = c.describe_disks(ecs_models.DescribeDisksRequest(region_id="cn-hangzhou", instance_id=ids[0])).body
    assert [(d.category, d.size, d.performance_level) for d in disk.disks.disk] == [("cloud_essd", 80, "PL1")]

    # Start/Stop/Delete carry no RegionId in this SDK.
    wait_for(c, ids, "Running")
    c.stop_instance(ecs_models.StopInstanceRequest(instance_id=ids[0]))
    wait_for(c, ids[:1], "Stopped")
    c.start_instance(ecs_models.StartInstanceRequest(instance_id=ids[0]))
    wait_for(c, ids[:1], "Running")
    c.reboot_instance(ecs_models.RebootInstanceRequest(instance_id=ids[0]))
    wait_for(c, ids[:1], "Running")
    exc = sdk_error(c.delete_instance, ecs_models.DeleteInstanceRequest(instance_id=ids[0]))
    assert (exc.code, exc.status_code) == ("IncorrectInstanceStatus", 403)
    for iid in ids:
        c.delete_instance(ecs_models.DeleteInstanceRequest(instance_id=iid, force=True))
    assert c.describe_instances(ecs_models.DescribeInstancesRequest(region_id="cn-hangzhou")).body.total_count == 0

    stats = admin(https_emu, "GET", "/_emulator/stats")
    assert set(stats["signatures"]) == {"v3"} and stats["codes"]["DeleteInstance"]["200"] == 2


def test_the_official_sdk_sees_the_real_auth_errors(make_emu, lab_tls):
    emu = make_emu(credentials={"access_keys": {KEY_ID: SECRET, "STS.lab": {"secret": "sts-secret",
                                                                            "security_token": "tok"}}},
                   tls_listen=("127.0.0.1", 0), tls_cert=lab_tls["ecs.pem"], tls_key=lab_tls["ecs.key"])
    regions = ecs_models.DescribeRegionsRequest()
    exc = sdk_error(sdk(emu, lab_tls["ca.pem"], secret="not-the-secret").describe_regions, regions)
    assert (exc.code, exc.status_code) == ("SignatureDoesNotMatch", 400)
    exc = sdk_error(sdk(emu, lab_tls["ca.pem"], key="LTAInobody").describe_regions, regions)
    assert (exc.code, exc.status_code) == ("InvalidAccessKeyId.NotFound", 404)
    good = sdk(emu, lab_tls["ca.pem"], key="STS.lab", secret="sts-secret", security_token="tok")
    assert good.describe_regions(regions).body.regions.region
    wrong_token = sdk(emu, lab_tls["ca.pem"], key="STS.lab", secret="sts-secret", security_token="x")
    exc = sdk_error(wrong_token.describe_regions, regions)
    assert exc.code == "InvalidSecurityToken.MismatchWithAccessKey"
    exc = sdk_error(sdk(emu, lab_tls["ca.pem"], key="STS.lab", secret="sts-secret").describe_regions, regions)
    assert exc.code == "MissingSecurityToken"


def test_v1_and_v3_clients_share_one_emulator(https_emu, lab_tls):
    iid = run(client(https_emu), 1)[0]  # V1 over HTTP
    body = sdk(https_emu, lab_tls["ca.pem"]).describe_instance_attribute(
        ecs_models.DescribeInstanceAttributeRequest(instance_id=iid)).body
    assert body.instance_id == iid
    assert admin(https_emu, "GET", "/_emulator/stats")["signatures"] == {"v1": 1, "v3": 1}


# ---------------------------------------------------------------------- V3 requests by hand

def v3_send(emu, query, extra_headers=None, unsigned=None, secret=SECRET, body=b"", date=None, nonce=None,
            content_type=None, sent_body=None):
    """A V3 request signed by the SDK's own signer (not the emulator's), sent over plain HTTP
    (with sent_body instead of the signed body, if given)."""
    req = DaraRequest()
    req.method, req.pathname, req.query = "POST", "/", dict(query)
    req.headers = {
        "host": emu.endpoint, "x-acs-action": "DescribeRegions", "x-acs-version": "2014-05-26",
        "x-acs-date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex, "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(), **(extra_headers or {}),
    }
    if content_type:
        req.headers["content-type"] = content_type
    req.headers["Authorization"] = OpenApiUtils.get_authorization(
        req, "ACS3-HMAC-SHA256", hashlib.sha256(body).hexdigest(), KEY_ID, secret)
    req.headers.update(unsigned or {})
    conn = http.client.HTTPConnection(*emu.address, timeout=5)
    conn.request("POST", "/?" + "&".join("%s=%s" % (k, OpenApiUtils.get_encode_param(v)) for k, v in query.items()),
                 body=body if sent_body is None else sent_body, headers=req.headers)
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read())
    conn.close()
    return out


def test_v3_requests_are_checked_like_the_real_gateway(make_emu):
    emu = make_emu()
    assert v3_send(emu, {"AcceptLanguage": "en-US"})[0] == 200
    status, body = v3_send(emu, {}, unsigned={"x-acs-extra": "slipped in"})
    assert (status, body["Code"]) == (400, "IncompleteSignature") and "x-acs-extra" in body["Message"]
    status, body = v3_send(emu, {}, unsigned={"Authorization": "ACS3-HMAC-SHA256 Signature=abc"})
    assert (status, body["Code"]) == (400, "IncompleteSignature")
    assert v3_send(emu, {}, nonce="fixed-nonce-v3")[0] == 200
    assert v3_send(emu, {}, nonce="fixed-nonce-v3")[1]["Code"] == "SignatureNonceUsed"
    assert v3_send(emu, {}, date="2020-01-01T00:00:00Z")[1]["Code"] == "InvalidTimeStamp.Expired"
    assert v3_send(emu, {}, date="yesterday")[1]["Code"] == "InvalidTimeStamp.Format"
    # A body other than the one signed: its x-acs-content-sha256 claim is not trusted.
    status, body = v3_send(emu, {}, body=b"RegionId=cn-hangzhou", sent_body=b"RegionId=cn-shanghai",
                           content_type="application/x-www-form-urlencoded")
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    # Parameters in a signed form body count like query parameters.
    status, body = v3_send(emu, {}, body=b"RegionId=cn-hangzhou", extra_headers={"x-acs-action": "DescribeZones"},
                           content_type="application/x-www-form-urlencoded")
    assert status == 200 and [z["ZoneId"] for z in body["Zones"]["Zone"]] == ["cn-hangzhou-h", "cn-hangzhou-i"]
    status, body = v3_send(emu, {}, extra_headers={"x-acs-version": "2016-04-28"})
    assert (status, body["Code"]) == (400, "InvalidVersion")


def test_describe_disks_answers_every_field_of_the_official_response_model(make_emu):
    emu = make_emu()
    c = client(emu)
    iid = run(c, 1)[0]
    req = DescribeDisksRequest.DescribeDisksRequest()
    req.set_InstanceId(iid)
    disk = call(c, req)["Disks"]["Disk"][0]
    model = ecs_models.DescribeDisksResponseBodyDisksDisk
    wanted = set(re.findall(r"m\.get\('(\w+)'\)", inspect.getsource(model.from_map)))
    # Fields of resources the lab does not have (dedicated block storage, KMS keys, ...) are empty, not absent.
    assert wanted - set(disk) == set()
    parsed = model().from_map(disk)
    assert (parsed.disk_id, parsed.instance_id, parsed.attachments.attachment[0].instance_id) == (
        disk["DiskId"], iid, iid)


# ---------------------------------------------------------------------- footmark / ali_instance

ALI_INSTANCE_INFO = [{"hosts": "localhost", "gather_facts": False, "tasks": [
    {"community.general.ali_instance_info": {"alicloud_region": "cn-hangzhou", "name_prefix": "fm-"},
     "register": "info"}]}]


def test_ali_instance_info_lists_instances_with_their_disks_through_footmark(make_emu, tmp_path):
    emu = make_emu(time_scale=0.02)
    c = client(emu)
    made = run(c, 2, InstanceName="fm-[1,1]", SystemDiskCategory="cloud_ssd", SystemDiskSize=60)
    (tmp_path / "play.yml").write_text(json.dumps(ALI_INSTANCE_INFO))
    # footmark has no endpoint option: its users reach a private endpoint through HTTP_PROXY,
    # which the emulator serves (proxy-form request lines), so nothing leaves loopback.
    env = dict(os.environ, HTTP_PROXY="http://" + emu.endpoint, ALICLOUD_ACCESS_KEY=KEY_ID,
               ALICLOUD_SECRET_KEY=SECRET, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCALHOST_WARNING="false")
    for name in ("HTTPS_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy", "ANSIBLE_CONFIG"):
        env.pop(name, None)
    bindir = os.path.dirname(sys.executable)
    proc = subprocess.run([os.path.join(bindir, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=" + sys.executable, "play.yml"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["ids"] == made
    for iid, inst in zip(made, result["instances"]):
        [volume] = inst["block_device_mappings"]
        assert (volume["volume_id"], volume["device_name"], volume["status"]) == ("d-" + iid[2:], "/dev/xvda", "in_use")
        assert volume["attach_time"] and volume["delete_on_termination"] is True
    assert admin(emu, "GET", "/_emulator/stats")["calls"]["DescribeDisks"] == 2
