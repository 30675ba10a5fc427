"""The primary ENI of each instance and its secondary private IPs, as unkind as the real API:
AssignPrivateIpAddresses, UnassignPrivateIpAddresses and DescribeNetworkInterfaces through the
official V1 SDK (and once through the current SDK, whose models parse the answers), with the error
codes of the reference, ClientToken idempotency, the busy window (Operation.Conflict), the listing
lag and fault injection. API state only: nothing moves on a backend (the tests run the none backend).
"""
import copy
import time
import uuid

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi.exceptions import ClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkecs.request.v20140526 import (
    AssignPrivateIpAddressesRequest,
    DeleteInstanceRequest,
    DescribeNetworkInterfacesRequest,
    StopInstanceRequest,
    UnassignPrivateIpAddressesRequest,
)

from ecs_emulator import World
from test_ecs_emulator import VSW_H, VSW_I, admin, by_ids, call, client, describe, error, run, wait_status
from test_ecs_emulator_clients import sdk
from test_ecs_emulator_consistency import on, wait_until
from test_ecs_emulator_lab import load_labctl

ENI_ATTR = ["NETWORK_PRIMARY_ENI_IP"]


@pytest.fixture
def make_emu(make_emu):
    """conftest's, without the ENI busy window unless a test gives one: most tests here make calls on
    one ENI back to back to prove something else, and the SDK client here does not retry."""
    def make(**kwargs):
        kwargs["delays"] = dict({"eni_busy": 0}, **(kwargs.get("delays") or {}))
        return make_emu(**kwargs)
    return make


@pytest.fixture
def emu(make_emu):
    return make_emu()


def assign(c, eni, ips=None, count=None, token=None):
    req = AssignPrivateIpAddressesRequest.AssignPrivateIpAddressesRequest()
    req.set_NetworkInterfaceId(eni)
    if ips is not None:
        req.set_PrivateIpAddresss(ips)
    if count is not None:
        req.set_SecondaryPrivateIpAddressCount(count)
    if token is not None:
        req.set_ClientToken(token)
    return req


def unassign(eni, ips):
    req = UnassignPrivateIpAddressesRequest.UnassignPrivateIpAddressesRequest()
    req.set_NetworkInterfaceId(eni)
    req.set_PrivateIpAddresss(ips)
    return req


def enis(c, **params):
    req = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    for name, value in params.items():
        getattr(req, "set_" + name)(value)
    return call(c, req)


def secondaries(c, eni):
    sets = enis(c, NetworkInterfaceIds=[eni])["NetworkInterfaceSets"]["NetworkInterfaceSet"]
    return [s["PrivateIpAddress"] for s in sets[0]["PrivateIpSets"]["PrivateIpSet"] if not s["Primary"]]


def assigned(c, eni, **kwargs):
    body = call(c, assign(c, eni, **kwargs))["AssignedPrivateIpAddressesSet"]
    assert body["NetworkInterfaceId"] == eni
    return body["PrivateIpSet"]["PrivateIpAddress"]


def code_of(c, req):
    exc = error(c, req)
    return exc.get_error_code(), exc.get_http_status()


def running(c, amount=1, **extra):
    """Instances that are Running, and their primary ENI ids and private IPs."""
    ids = run(c, amount, **extra)
    for iid in ids:
        wait_status(c, iid, "Running")
    insts = by_ids(c, ids)
    return [(i["InstanceId"], i["NetworkInterfaces"]["NetworkInterface"][0]["NetworkInterfaceId"],
             i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0]) for i in insts]


def world_with(cidr):
    data = copy.deepcopy(World.load().data)
    for region in data["regions"]:
        for vsw in region["vswitches"]:
            if vsw["VSwitchId"] == VSW_H:
                vsw["CidrBlock"] = cidr
    return World(data)


def ids(body):
    return [n["NetworkInterfaceId"] for n in body["NetworkInterfaceSets"]["NetworkInterfaceSet"]]


# ---------------------------------------------------------------------- the primary ENI

def test_every_instance_has_a_primary_eni_described_both_ways(emu):
    c = client(emu)
    (iid, eni, ip), = running(c)
    inst = by_ids(c, [iid])[0]
    assert eni == "eni-" + iid[2:]
    sets = enis(c, InstanceId=iid, Type="Primary")["NetworkInterfaceSets"]["NetworkInterfaceSet"]
    assert len(sets) == 1
    nic = sets[0]
    assert (nic["NetworkInterfaceId"], nic["Type"], nic["Status"], nic["InstanceId"]) == (eni, "Primary", "InUse", iid)
    assert nic["MacAddress"] == inst["NetworkInterfaces"]["NetworkInterface"][0]["MacAddress"]
    assert (nic["PrivateIpAddress"], nic["VSwitchId"], nic["VpcId"], nic["ZoneId"]) == (
        ip, inst["VpcAttributes"]["VSwitchId"], inst["VpcAttributes"]["VpcId"], inst["ZoneId"])
    assert nic["PrivateIpSets"]["PrivateIpSet"] == [{"PrivateIpAddress": ip, "Primary": True}]
    assert enis(c, InstanceId=iid, Type="Secondary")["NetworkInterfaceSets"]["NetworkInterfaceSet"] == []


def test_filters_and_token_paging_of_describe_network_interfaces(emu):
    c = client(emu)
    made = running(c, 12)
    other = running(c, 1, VSwitchId=VSW_I)
    walked, token = [], None
    while True:
        params = {"MaxResults": 10}
        if token:
            params["NextToken"] = token
        page = enis(c, **params)
        walked += [n["NetworkInterfaceId"] for n in page["NetworkInterfaceSets"]["NetworkInterfaceSet"]]
        token = page["NextToken"]
        if not token:
            break
    assert walked == [eni for _iid, eni, _ip in made + other]
    assert ids(enis(c, VSwitchId=VSW_I)) == [other[0][1]]
    assert ids(enis(c, NetworkInterfaceIds=[made[3][1], made[5][1]])) == [made[3][1], made[5][1]]
    assert ids(enis(c, PrivateIpAddresss=[made[7][2]])) == [made[7][1]]
    assert len(ids(enis(c, VpcId=by_ids(c, [made[0][0]])[0]["VpcAttributes"]["VpcId"], MaxResults=100))) == 13
    extra = assigned(c, made[2][1], count=1)
    wait_until(lambda: ids(enis(c, PrivateIpAddresss=extra)) == [made[2][1]], what="secondary IP filter")


# ---------------------------------------------------------------------- assign and unassign

def test_assign_by_list_and_by_count_and_unassign(emu):
    c = client(emu)
    (iid, eni, ip), = running(c)
    base = int(ip.split(".")[-1])
    wanted = ["10.88.16.%d" % (base + 100), "10.88.16.%d" % (base + 101)]
    assert assigned(c, eni, ips=wanted) == wanted
    by_count = assigned(c, eni, count=2)
    assert len(by_count) == 2 and not set(by_count) & set(wanted + [ip])
    assert secondaries(c, eni) == wanted + by_count
    # DescribeInstances shows them only when asked for.
    nic = describe(c, InstanceIds='["%s"]' % iid)["Instances"]["Instance"][0]["NetworkInterfaces"]["NetworkInterface"]
    assert [s["PrivateIpAddress"] for s in nic[0]["PrivateIpSets"]["PrivateIpSet"]] == [ip]
    asked = describe(c, InstanceIds='["%s"]' % iid, AdditionalAttributess=ENI_ATTR)["Instances"]["Instance"][0]
    nic = asked["NetworkInterfaces"]["NetworkInterface"][0]
    assert [(s["PrivateIpAddress"], s["Primary"]) for s in nic["PrivateIpSets"]["PrivateIpSet"]] == (
        [(ip, True)] + [(s, False) for s in wanted + by_count])
    assert call(c, unassign(eni, [wanted[0], by_count[1]])) is not None
    assert secondaries(c, eni) == [wanted[1], by_count[0]]


def test_a_retry_with_the_same_client_token_answers_the_same_and_assigns_once(emu):
    c = client(emu)
    (_iid, eni, _ip), = running(c)
    token = "eni-" + uuid.uuid4().hex
    first = assigned(c, eni, count=2, token=token)
    assert assigned(c, eni, count=2, token=token) == first
    assert secondaries(c, eni) == first
    assert code_of(c, assign(c, eni, count=3, token=token)) == ("IdempotentParameterMismatch", 400)
    assert len(secondaries(c, eni)) == 2


def test_assigned_and_unassigned_ips_show_in_the_listings_only_after_the_lag(make_emu):
    emu = make_emu()
    c = client(emu)
    (iid, eni, _ip), = running(c)
    admin(emu, "PUT", "/_emulator/faults", {"list_lag": 0.5})
    ips = assigned(c, eni, count=1)
    assert secondaries(c, eni) == []
    nic = describe(c, InstanceIds='["%s"]' % iid, AdditionalAttributess=ENI_ATTR)["Instances"]["Instance"][0]
    assert len(nic["NetworkInterfaces"]["NetworkInterface"][0]["PrivateIpSets"]["PrivateIpSet"]) == 1
    # The address is taken at once, though: a second ENI cannot have it during the lag.
    (_iid2, eni2, _ip2), = running(c)
    wait_until(lambda: describe(c)["TotalCount"] == 2, what="second instance listed")
    assert code_of(c, assign(c, eni2, ips=ips)) == ("InvalidIp.IpAssigned", 403)
    wait_until(lambda: secondaries(c, eni) == ips, what="assigned IP listed")
    call(c, unassign(eni, ips))
    assert secondaries(c, eni) == ips
    wait_until(lambda: secondaries(c, eni) == [], what="unassigned IP gone")


# ---------------------------------------------------------------------- errors

def test_unknown_eni_and_an_instance_in_transition(make_emu):
    emu = make_emu(time_scale=100)  # Pending for 100 s
    c = client(emu)
    assert code_of(c, assign(c, "eni-bp1doesnotexist0000", count=1)) == ("InvalidEniId.NotFound", 404)
    assert code_of(c, unassign("eni-bp1doesnotexist0000", ["10.88.16.50"])) == ("InvalidEniId.NotFound", 404)
    iid = run(c)[0]
    eni = "eni-" + iid[2:]
    assert code_of(c, assign(c, eni, count=1)) == ("InvalidOperation.InvalidEcsState", 400)


def test_addresses_outside_reserved_held_or_repeated_are_refused(emu):
    c = client(emu)
    (_a, eni_a, ip_a), (_b, eni_b, _ip_b) = running(c, 2)
    for bad in ("10.88.17.20", "10.88.16.0", "10.88.16.253", "10.88.16.255"):
        assert code_of(c, assign(c, eni_a, ips=[bad])) == ("InvalidVSwitchId.IpInvalid", 403), bad
    assert code_of(c, assign(c, eni_b, ips=[ip_a])) == ("InvalidIp.IpAssigned", 403)
    held = assigned(c, eni_a, ips=["10.88.16.200"])
    assert code_of(c, assign(c, eni_b, ips=held)) == ("InvalidIp.IpAssigned", 403)
    assert code_of(c, assign(c, eni_a, ips=held)) == ("InvalidIp.IpAssigned", 403)
    assert code_of(c, assign(c, eni_b, ips=["10.88.16.210", "10.88.16.210"])) == ("InvalidIp.IpRepeated", 403)
    assert code_of(c, assign(c, eni_b, ips=["10.88.16.300"])) == ("InvalidPrivateIpAddress.Malformed", 400)
    assert code_of(c, assign(c, eni_b, ips=["10.88.16.211"], count=1)) == ("InvalidParameter.Conflict", 400)
    assert code_of(c, assign(c, eni_b)) == ("MissingParameter", 400)
    # Nothing was assigned by the refused calls.
    assert secondaries(c, eni_a) == held and secondaries(c, eni_b) == []


def test_the_quota_of_the_instance_type_bounds_the_secondary_ips(emu):
    c = client(emu)
    (_iid, eni, _ip), = running(c, InstanceType="ecs.t6-c1m1.large")
    assert len(assigned(c, eni, count=2)) == 2
    assert code_of(c, assign(c, eni, count=2)) == ("QuotaExceeded.PrivateIpAddress", 403)
    assert code_of(c, assign(c, eni, ips=["10.88.16.150", "10.88.16.151"])) == ("QuotaExceeded.PrivateIpAddress", 403)
    assert len(assigned(c, eni, ips=["10.88.16.150"])) == 1  # the third and last
    call(c, unassign(eni, ["10.88.16.150"]))
    assert assigned(c, eni, count=1)


def test_a_count_larger_than_the_free_addresses_of_the_vswitch_is_ip_not_enough(make_emu):
    emu = make_emu(world=world_with("10.88.16.0/28"))  # 12 usable addresses
    c = client(emu)
    (_a, eni_a, _ip_a), = running(c, InstanceType="ecs.c7.xlarge")
    assert len(assigned(c, eni_a, count=9)) == 9
    (_b, eni_b, _ip_b), = running(c, InstanceType="ecs.c7.xlarge")
    assert code_of(c, assign(c, eni_b, count=2)) == ("InvalidVSwitchId.IpNotEnough", 403)
    assert len(assigned(c, eni_b, count=1)) == 1


def test_unassign_of_an_address_not_on_the_eni_is_ip_unassigned(emu):
    c = client(emu)
    (_a, eni_a, ip_a), (_b, eni_b, _ip_b) = running(c, 2)
    held = assigned(c, eni_b, count=1)
    for ip in (held[0], ip_a, "10.88.16.222"):
        assert code_of(c, unassign(eni_a, [ip])) == ("InvalidIp.IpUnassigned", 403), ip
    assert code_of(c, unassign(eni_b, held + ["10.88.16.222"])) == ("InvalidIp.IpUnassigned", 403)
    assert secondaries(c, eni_b) == held  # all or nothing


def test_a_deleted_instance_releases_its_secondary_ips(emu):
    c = client(emu)
    (iid, eni, _ip), (_b, eni_b, _ip_b) = running(c, 2)
    held = assigned(c, eni, count=2)
    call(c, on(StopInstanceRequest.StopInstanceRequest, iid))
    wait_status(c, iid, "Stopped")
    assert assigned(c, eni, count=1)  # Stopped instances take addresses too
    call(c, on(DeleteInstanceRequest.DeleteInstanceRequest, iid))
    assert code_of(c, assign(c, eni, count=1)) == ("InvalidEniId.NotFound", 404)
    wait_until(lambda: not emu.state.releasing, what="backend removal")
    assert assigned(c, eni_b, ips=held) == held


# ---------------------------------------------------------------------- busy window

def test_an_eni_busy_with_the_previous_assign_or_unassign_answers_operation_conflict(make_emu):
    emu = make_emu(delays={"eni_busy": 25})  # 0.5 s at the tests' time scale of 0.02
    c = client(emu)
    (_a, eni, _ip), (_b, other, _ip_b) = running(c, 2)
    token = "busy-" + uuid.uuid4().hex
    first = assigned(c, eni, count=1, token=token)
    assert code_of(c, assign(c, eni, count=1)) == ("Operation.Conflict", 403)
    assert code_of(c, unassign(eni, first)) == ("Operation.Conflict", 403)
    # The retry of the request that made it busy is answered from the ClientToken's memory.
    assert assigned(c, eni, count=1, token=token) == first
    assert len(assigned(c, other, count=1)) == 1  # another ENI is not held up
    assert secondaries(c, eni) == first  # the refused calls changed nothing
    time.sleep(0.6)
    call(c, unassign(eni, first))
    assert code_of(c, assign(c, eni, count=1)) == ("Operation.Conflict", 403)  # busy again, after the Unassign
    time.sleep(0.6)
    assert len(assigned(c, eni, count=1)) == 1


def test_the_busy_window_scales_with_the_time_scale_and_refused_calls_do_not_extend_it(make_emu):
    emu = make_emu(time_scale=0.2, delays={"eni_busy": 1.0})  # 0.2 s
    c = client(emu)
    (_iid, eni, _ip), = running(c)
    assigned(c, eni, count=1)
    started, refused = time.monotonic(), []
    while time.monotonic() - started < 2.0:
        try:
            call(c, assign(c, eni, count=1))
            break
        except ServerException as exc:
            refused.append((exc.get_error_code(), exc.get_http_status()))
            time.sleep(0.02)
    waited = time.monotonic() - started
    # Refused every 20 ms, yet through after the 0.2 s window: a refusal does not make the ENI busy again.
    assert len(refused) >= 3 and set(refused) == {("Operation.Conflict", 403)}
    assert 0.1 <= waited < 0.5, waited
    assert len(secondaries(c, eni)) == 2


# ---------------------------------------------------------------------- faults

def test_throttling_applies_to_the_eni_actions(emu):
    c = client(emu)
    (_iid, eni, _ip), = running(c)
    admin(emu, "PUT", "/_emulator/faults", {"throttling_rate": 1.0, "actions": [
        "AssignPrivateIpAddresses", "UnassignPrivateIpAddresses", "DescribeNetworkInterfaces"]})
    assert code_of(c, assign(c, eni, count=1)) == ("Throttling", 400)
    assert code_of(c, unassign(eni, ["10.88.16.99"])) == ("Throttling", 400)
    assert code_of(c, DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()) == ("Throttling", 400)
    admin(emu, "DELETE", "/_emulator/faults")
    assert secondaries(c, eni) == []  # "before": nothing happened


@pytest.mark.parametrize("code", ["ServiceUnavailable", "InternalError"])
def test_an_answer_lost_after_assign_is_made_good_by_the_client_token(emu, code):
    c = client(emu)
    (_iid, eni, _ip), = running(c)
    faults = {"error_5xx_rate": 1.0, "error_5xx_phase": "after", "error_5xx_codes": [code],
              "actions": ["AssignPrivateIpAddresses"]}
    admin(emu, "PUT", "/_emulator/faults", faults)
    token = "lost-" + uuid.uuid4().hex
    assert code_of(c, assign(c, eni, count=1, token=token))[0] == code
    admin(emu, "DELETE", "/_emulator/faults")
    again = assigned(c, eni, count=1, token=token)
    assert secondaries(c, eni) == again and len(again) == 1


# ---------------------------------------------------------------------- the current SDK

def test_the_current_sdk_assigns_describes_and_unassigns(make_emu, tmp_path):
    tls = load_labctl().ensure_tls(str(tmp_path / "tls"))
    emu = make_emu(tls_listen=("127.0.0.1", 0), tls_cert=tls["ecs.pem"], tls_key=tls["ecs.key"])
    (iid, eni, ip), = running(client(emu))
    c = sdk(emu, tls["ca.pem"])
    body = c.assign_private_ip_addresses(ecs_models.AssignPrivateIpAddressesRequest(
        region_id="cn-hangzhou", network_interface_id=eni, secondary_private_ip_address_count=2,
        client_token="tea-" + uuid.uuid4().hex)).body
    got = body.assigned_private_ip_addresses_set.private_ip_set.private_ip_address
    assert len(got) == 2
    sets = c.describe_network_interfaces(ecs_models.DescribeNetworkInterfacesRequest(
        region_id="cn-hangzhou", instance_id=iid, type="Primary", max_results=10)).body
    nic = sets.network_interface_sets.network_interface_set[0]
    assert (nic.network_interface_id, nic.private_ip_address, nic.type) == (eni, ip, "Primary")
    assert [(s.private_ip_address, s.primary) for s in nic.private_ip_sets.private_ip_set] == (
        [(ip, True)] + [(g, False) for g in got])
    c.unassign_private_ip_addresses(ecs_models.UnassignPrivateIpAddressesRequest(
        region_id="cn-hangzhou", network_interface_id=eni, private_ip_address=got[:1]))
    with pytest.raises(ClientException) as info:
        c.unassign_private_ip_addresses(ecs_models.UnassignPrivateIpAddressesRequest(
            region_id="cn-hangzhou", network_interface_id=eni, private_ip_address=got[:1]))
    assert (info.value.code, info.value.status_code) == ("InvalidIp.IpUnassigned", 403)
