"""The ECS emulator is as unkind as the real API: listing lag, a finite ClientToken window,
IncorrectInstanceStatus in transitions, OperationConflict, answers lost after the action ran,
and the cap on tag-filtered listings. Driven through the official V1 SDK, like test_ecs_emulator.py.
"""

import copy
import json
import threading
import time
import urllib.error
import uuid

import pytest
from aliyunsdkecs.request.v20140526 import (
    DeleteInstanceRequest,
    DeleteInstancesRequest,
    DescribeInstanceAttributeRequest,
    DescribeInstancesRequest,
    DescribeInstanceStatusRequest,
    JoinSecurityGroupRequest,
    ModifyInstanceAttributeRequest,
    RebootInstanceRequest,
    StartInstanceRequest,
    StopInstanceRequest,
)

from ecs_emulator import World
from test_ecs_emulator import (
    IMAGE,
    KEY_ID,
    SECRET,
    SG_HZ,
    VSW_H,
    _seed_for,
    admin,
    by_ids,
    call,
    client,
    describe,
    error,
    run,
    run_req,
    status_of,
    wait_status,
)

HOUR = 3600.0


def on(cls, iid, **params):
    req = cls()
    req.set_InstanceId(iid)
    for name, value in params.items():
        getattr(req, "set_" + name)(value)
    return req


def attribute_status(c, iid):
    """Status by id, which works during the listing lag (DescribeInstanceAttribute is not a listing)."""
    return call(c, on(DescribeInstanceAttributeRequest.DescribeInstanceAttributeRequest, iid))["Status"]


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


# ---------------------------------------------------------------------- listing lag

def test_new_instances_are_listed_only_after_the_lag_but_their_ids_work_at_once(make_emu):
    emu = make_emu(time_scale=0.02, faults={"list_lag": HOUR})
    c = client(emu)
    ids = run(c, 2, InstanceName="lagging-[1,1]", Tags=[{"Key": "role", "Value": "web"}])

    # Every listing filter misses them, InstanceIds included, and so does DescribeInstanceStatus.
    assert by_ids(c, ids) == []
    for filters in ({}, {"InstanceName": "lagging-*"}, {"Tags": [{"Key": "role", "Value": "web"}]},
                    {"VSwitchId": VSW_H}, {"Status": "Pending"}, {"MaxResults": 10}):
        assert describe(c, **filters)["Instances"]["Instance"] == [], filters
        assert describe(c, **filters)["TotalCount"] == 0
    assert status_of(c, ids[0]) is None
    status_req = DescribeInstanceStatusRequest.DescribeInstanceStatusRequest()
    assert call(c, status_req)["InstanceStatuses"]["InstanceStatus"] == []

    # Operations on the id work meanwhile, as on the real API.
    wait_until(lambda: attribute_status(c, ids[0]) == "Running", what="Running")
    call(c, on(StopInstanceRequest.StopInstanceRequest, ids[0]))
    wait_until(lambda: attribute_status(c, ids[0]) == "Stopped", what="Stopped")
    call(c, on(DeleteInstanceRequest.DeleteInstanceRequest, ids[0]))
    assert [i["InstanceId"] for i in admin(emu, "GET", "/_emulator/instances")["instances"]] == ids[1:]

    # A lag is fixed when the instance is made: lowering it later lists new instances at once,
    # but does not reveal the ones made under the long lag.
    admin(emu, "PUT", "/_emulator/faults", {"list_lag": 0})
    fresh = run(c, 1)
    assert [i["InstanceId"] for i in describe(c)["Instances"]["Instance"]] == fresh


def test_a_short_lag_passes_and_the_instance_is_listed_everywhere(make_emu):
    emu = make_emu(time_scale=0.02, faults={"list_lag": 0.3})
    c = client(emu)
    iid = run(c, 1, InstanceName="soon")[0]
    wait_until(lambda: by_ids(c, [iid]), what="the instance to be listed")
    assert [i["InstanceId"] for i in describe(c, InstanceName="soon")["Instances"]["Instance"]] == [iid]
    assert status_of(c, iid) in ("Pending", "Starting", "Running")


def test_clearing_faults_keeps_the_list_lag_the_emulator_started_with(make_emu):
    emu = make_emu(faults={"list_lag": HOUR})
    assert admin(emu, "GET", "/_emulator/health")["list_lag"] == HOUR
    assert admin(emu, "PUT", "/_emulator/faults", {"throttling_rate": 0.5})["list_lag"] == HOUR
    assert admin(emu, "PUT", "/_emulator/faults", {"list_lag": 6})["list_lag"] == 6
    assert admin(emu, "GET", "/_emulator/health")["list_lag"] == 6
    cleared = admin(emu, "DELETE", "/_emulator/faults")
    assert (cleared["list_lag"], cleared["throttling_rate"]) == (HOUR, 0.0)
    with pytest.raises(urllib.error.HTTPError) as info:
        admin(emu, "PUT", "/_emulator/faults", {"list_lag": -1})
    assert info.value.code == 400 and "list_lag" in json.loads(info.value.read())["error"]


# ---------------------------------------------------------------------- faults of one caller

OTHER_KEY, OTHER_SECRET = "LTAIemulatorother000001", "other-secret-not-a-real-one"


def test_faults_statistics_and_counts_of_one_access_key_leave_other_callers_alone(make_emu):
    """Two runs on one emulator (the lab's tests beside a fleet's playbooks): what one key sets - throttling,
    its listing lag - only its calls meet, and its statistics and count of instances made are its own."""
    emu = make_emu(credentials={"access_keys": {KEY_ID: SECRET, OTHER_KEY: OTHER_SECRET}})
    mine, other = client(emu), client(emu, key=OTHER_KEY, secret=OTHER_SECRET)
    scoped = "/_emulator/faults?access_key=" + OTHER_KEY
    assert admin(emu, "PUT", scoped, {"throttling_rate": 1.0, "actions": ["DescribeInstances"], "list_lag": HOUR}
                 )["throttling_rate"] == 1.0
    assert admin(emu, "GET", "/_emulator/faults")["throttling_rate"] == 0.0      # the shared settings
    assert error(other, DescribeInstancesRequest.DescribeInstancesRequest()).error_code == "Throttling"
    iid = run(mine, 1, InstanceName="mine")[0]
    wait_until(lambda: by_ids(mine, [iid]), what="the instance of the key without faults to be listed")
    theirs = run(other, 2, InstanceName="theirs")
    assert not describe(mine, InstanceName="theirs")["Instances"]["Instance"]   # made under the key's lag
    assert {i["InstanceId"] for i in by_ids(mine, [iid] + theirs)} == {iid}

    stats = admin(emu, "GET", "/_emulator/stats?access_key=" + OTHER_KEY)
    assert stats["codes"]["DescribeInstances"] == {"Throttling": 1} and stats["calls"]["RunInstances"] == 1
    assert admin(emu, "GET", "/_emulator/stats")["calls"]["RunInstances"] == 2   # every caller's
    counted = admin(emu, "GET", "/_emulator/instances?access_key=" + OTHER_KEY)
    assert counted["seq"] == 2 and {i["InstanceId"] for i in counted["instances"]} == set(theirs)
    assert admin(emu, "GET", "/_emulator/instances")["seq"] == 3

    # DELETE with the key: back to the shared settings, which never had the faults.
    assert admin(emu, "DELETE", scoped)["throttling_rate"] == 0.0
    assert describe(other, InstanceName="mine")["Instances"]["Instance"][0]["InstanceId"] == iid
    admin(emu, "DELETE", "/_emulator/stats?access_key=" + OTHER_KEY)
    assert admin(emu, "GET", "/_emulator/stats?access_key=" + OTHER_KEY)["calls"] == {}
    assert admin(emu, "GET", "/_emulator/stats")["calls"]["RunInstances"] == 2
    with pytest.raises(urllib.error.HTTPError) as info:
        admin(emu, "PUT", "/_emulator/faults?access_key=LTAInosuchkey", {"throttling_rate": 1.0})
    assert info.value.code == 400 and "LTAInosuchkey" in json.loads(info.value.read())["error"]


# ---------------------------------------------------------------------- ClientToken window

def test_a_client_token_is_remembered_within_its_window_and_creates_anew_after_it(make_emu):
    emu = make_emu(client_token_window=1.5)
    c = client(emu)
    token = "window-" + uuid.uuid4().hex
    first = run(c, 1, ClientToken=token)
    assert run(c, 1, ClientToken=token) == first  # within the window: the same answer
    time.sleep(1.6)
    second = run(c, 1, ClientToken=token)
    assert second != first and describe(c)["TotalCount"] == 2
    # After the window other parameters are no IdempotentParameterMismatch either: the token is new.
    time.sleep(1.6)
    assert len(run(c, 2, ClientToken=token)) == 2
    assert admin(emu, "GET", "/_emulator/health")["client_token_window"] == 1.5


# ---------------------------------------------------------------------- transitions and conflicts

def emulator_in(make_emu, status):
    """An emulator and an instance that stays in `status` (delays of an hour where it should stop)."""
    delays = {"Pending": {"pending": HOUR},
              "Starting": {"pending": 0.0, "starting": HOUR},
              "Stopping": {"pending": 0.0, "starting": 0.0, "stopping": HOUR}}[status]
    emu = make_emu(time_scale=1.0, delays=delays)
    c = client(emu)
    iid = run(c, 1)[0]
    if status == "Stopping":
        wait_status(c, iid, "Running")
        call(c, on(StopInstanceRequest.StopInstanceRequest, iid))
    wait_status(c, iid, status)
    return c, iid


@pytest.mark.parametrize("status", ["Pending", "Starting", "Stopping"])
def test_an_instance_in_transition_refuses_changes_with_incorrect_instance_status(make_emu, status):
    c, iid = emulator_in(make_emu, status)
    for cls in (StartInstanceRequest.StartInstanceRequest, StopInstanceRequest.StopInstanceRequest,
                RebootInstanceRequest.RebootInstanceRequest):
        exc = error(c, on(cls, iid))
        assert (exc.get_error_code(), exc.get_http_status()) == ("IncorrectInstanceStatus", 403), cls
        assert status in exc.get_error_msg()
    # Release: Force releases Running instances only; a Pending one is still being initialised.
    wanted = "IncorrectInstanceStatus.Initializing" if status == "Pending" else "IncorrectInstanceStatus"
    exc = error(c, on(DeleteInstanceRequest.DeleteInstanceRequest, iid, Force=True))
    assert (exc.get_error_code(), exc.get_http_status()) == (wanted, 403)
    plural = DeleteInstancesRequest.DeleteInstancesRequest()
    plural.set_InstanceIds([iid])
    plural.set_Force(True)
    assert error(c, plural).get_error_code() == wanted
    join = on(JoinSecurityGroupRequest.JoinSecurityGroupRequest, iid, SecurityGroupId=SG_HZ)
    assert error(c, join).get_error_code() == "IncorrectInstanceStatus"
    assert status_of(c, iid) == status  # nothing changed


def test_force_releases_a_running_instance(make_emu):
    emu = make_emu(time_scale=0.02)
    c = client(emu)
    iid = run(c, 1)[0]
    wait_status(c, iid, "Running")
    assert error(c, on(DeleteInstanceRequest.DeleteInstanceRequest, iid)).get_error_code() == "IncorrectInstanceStatus"
    call(c, on(DeleteInstanceRequest.DeleteInstanceRequest, iid, Force=True))
    assert by_ids(c, [iid]) == []


def test_a_second_changing_call_on_a_busy_instance_gets_operation_conflict(make_emu):
    emu = make_emu(time_scale=0.02)
    c = client(emu)
    busy, other = run(c, 2)
    wait_status(c, busy, "Running")
    wait_status(c, other, "Running")
    # The first StopInstance takes 3 s to process (injected latency), holding its instance.
    admin(emu, "PUT", "/_emulator/faults", {"latency_ms": 3000, "actions": ["StopInstance"]})
    outcome = {}

    def first_stop():
        outcome["body"] = call(client(emu), on(StopInstanceRequest.StopInstanceRequest, busy))

    thread = threading.Thread(target=first_stop)
    thread.start()
    try:
        wait_until(lambda: busy in admin(emu, "GET", "/_emulator/instances")["busy"], what="the first call")
        for req in (on(ModifyInstanceAttributeRequest.ModifyInstanceAttributeRequest, busy, InstanceName="renamed"),
                    on(StopInstanceRequest.StopInstanceRequest, busy)):
            exc = error(c, req)
            assert (exc.get_error_code(), exc.get_http_status()) == ("OperationConflict", 409)
            assert busy in exc.get_error_msg()
        # Reads and other instances are not held up.
        assert attribute_status(c, busy) == "Running"
        call(c, on(ModifyInstanceAttributeRequest.ModifyInstanceAttributeRequest, other, InstanceName="free"))
    finally:
        thread.join(30)
    assert "RequestId" in outcome["body"]
    assert admin(emu, "GET", "/_emulator/instances")["busy"] == {}
    assert by_ids(c, [busy])[0]["InstanceName"] != "renamed"
    wait_status(c, busy, "Stopped")


# ---------------------------------------------------------------------- answers lost after the action

@pytest.mark.parametrize("fault", [
    {"throttling_rate": 0.5, "throttling_phase": "after"},
    {"error_5xx_rate": 0.5, "error_5xx_phase": "after", "error_5xx_codes": ["ServiceUnavailable"]},
    {"drop_rate": 0.5, "drop_phase": "after"},
])
@pytest.mark.parametrize("with_token", [False, True])
def test_an_answer_lost_after_the_action_makes_the_retry_arrive_twice(make_emu, fault, with_token):
    emu = make_emu()
    config = dict(fault, actions=["RunInstances"])
    admin(emu, "PUT", "/_emulator/faults", dict(config, seed=_seed_for(config, (True, False))))
    c = client(emu, retry=True)  # the SDK's own retry policy: RunInstances is retried
    extra = {"ClientToken": "lost-" + uuid.uuid4().hex} if with_token else {}
    ids = run(c, 2, **extra)
    stats = admin(emu, "GET", "/_emulator/stats")
    assert stats["calls"]["RunInstances"] == 2 and stats["codes"]["RunInstances"]["200"] == 1
    made = [i["InstanceId"] for i in admin(emu, "GET", "/_emulator/instances")["instances"]]
    if with_token:
        assert made == ids  # the token turns the second arrival into a replay
    else:
        assert len(made) == 4 and made[2:] == ids  # the first set was made, and the client never heard of it


def test_throttling_before_the_action_changes_nothing(make_emu):
    emu = make_emu()
    admin(emu, "PUT", "/_emulator/faults", {"throttling_rate": 1.0, "actions": ["RunInstances"]})
    assert error(client(emu), run_req(1)).get_error_code() == "Throttling"
    assert admin(emu, "GET", "/_emulator/instances")["instances"] == []


# ---------------------------------------------------------------------- tag filter cap

def wide_world():
    """The lab world with a /22 vSwitch, room for more than 1000 instances."""
    data = copy.deepcopy(World.load().data)
    for region in data["regions"]:
        for vsw in region["vswitches"]:
            if vsw["VSwitchId"] == VSW_H:
                vsw["CidrBlock"] = "10.100.0.0/22"
    return World(data)


def test_tag_filters_answer_at_most_1000_instances(make_emu):
    emu = make_emu(world=wide_world(), time_scale=0.001)
    c = client(emu)
    made = []
    for amount in (100,) * 10 + (5,):
        made += run(c, amount, Tags=[{"Key": "fleet", "Value": "big"}])
    tagged = describe(c, Tags=[{"Key": "fleet", "Value": "big"}], PageSize=100)
    assert tagged["TotalCount"] == 1000
    walked, token = [], None
    while True:
        params = dict(Tags=[{"Key": "fleet"}], MaxResults=100)
        if token:
            params["NextToken"] = token
        page = describe(c, **params)
        walked += [i["InstanceId"] for i in page["Instances"]["Instance"]]
        token = page["NextToken"]
        if not token:
            break
    assert walked == made[:1000]
    assert describe(c, PageSize=100)["TotalCount"] == 1005  # without a tag filter there is no cap


def test_the_tag_filter_cap_is_configurable(make_emu):
    emu = make_emu(tag_filter_max=3)
    c = client(emu)
    made = run(c, 5, Tags=[{"Key": "k", "Value": "v"}])
    assert [i["InstanceId"] for i in describe(c, Tags=[{"Key": "k"}])["Instances"]["Instance"]] == made[:3]
    assert admin(emu, "GET", "/_emulator/health")["tag_filter_max"] == 3
    # IMAGE and the other filters still narrow within the cap.
    assert describe(c, Tags=[{"Key": "k"}], ImageId=IMAGE)["TotalCount"] == 3
