"""module_utils/ecs.py: option resolution, ClientToken, batching, retry policy (pure), and the
client's retry, paging, waiting and STS signing against an in-process emulator (backend none)."""
import json
import os
import pathlib
import random
import secrets
import socket
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "lab"))

from ansible_collections.containerops.platform.plugins.module_utils import ecs  # noqa: E402
from ecs_emulator import Emulator  # noqa: E402

KEY_ID = "LTAI" + secrets.token_hex(8)
SECRET = secrets.token_urlsafe(24)
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
VSW_H = "vsw-bp1lab0hangzhouh00001"
VSW_I = "vsw-bp1lab0hangzhoui00001"
SG_HZ = "sg-bp1lab0hangzhou00001"


# ---------------------------------------------------------------- credentials and endpoint

def write_cli_config(path, *profiles, current=None):
    path.write_text(json.dumps({"current": current or profiles[0]["name"], "profiles": list(profiles)}))
    return str(path)


AK_PROFILE = {"name": "lab", "mode": "AK", "access_key_id": "AKP", "access_key_secret": "SKP", "region_id": "cn-shanghai"}
STS_PROFILE = {"name": "sts", "mode": "StsToken", "access_key_id": "STS.AK", "access_key_secret": "S",
               "sts_token": "TOKEN", "region_id": "cn-hangzhou"}


def test_options_beat_profile_and_environment(tmp_path):
    cfg = write_cli_config(tmp_path / "c.json", AK_PROFILE)
    env = {"ALICLOUD_ACCESS_KEY": "ENVK", "ALICLOUD_SECRET_KEY": "ENVS", "ALICLOUD_REGION": "cn-beijing"}
    creds = ecs.resolve_credentials({"access_key": "OPT", "secret_key": "OPTS", "profile": "lab",
                                     "shared_credentials_file": cfg}, environ=env)
    assert (creds.access_key, creds.secret_key, creds.region) == ("OPT", "OPTS", "cn-beijing")


def test_explicit_profile_beats_environment_keys_and_gives_its_region(tmp_path):
    cfg = write_cli_config(tmp_path / "c.json", AK_PROFILE)
    env = {"ALICLOUD_ACCESS_KEY_ID": "ENVK", "ALICLOUD_SECRET_ACCESS_KEY": "ENVS"}
    creds = ecs.resolve_credentials({"profile": "lab", "shared_credentials_file": cfg}, environ=env)
    assert (creds.access_key, creds.secret_key, creds.region) == ("AKP", "SKP", "cn-shanghai")
    assert "profile lab" in creds.source and "SKP" not in repr(creds)


def test_environment_keys_with_security_token_and_region():
    env = {"ALICLOUD_ACCESS_KEY": "ENVK", "ALICLOUD_SECRET_KEY": "ENVS", "ALICLOUD_SECURITY_TOKEN": "TOK",
           "ALICLOUD_REGION_ID": "cn-hangzhou", "HOME": "/nonexistent"}
    creds = ecs.resolve_credentials({}, environ=env)
    assert (creds.access_key, creds.secret_key, creds.security_token, creds.region) == (
        "ENVK", "ENVS", "TOK", "cn-hangzhou")


def test_env_profile_and_current_profile_and_sts_mode(tmp_path):
    cfg = write_cli_config(tmp_path / "c.json", AK_PROFILE, STS_PROFILE, current="sts")
    current = ecs.resolve_credentials({"shared_credentials_file": cfg}, environ={})
    assert (current.access_key, current.security_token) == ("STS.AK", "TOKEN")
    named = ecs.resolve_credentials({}, environ={"ALICLOUD_PROFILE": "lab", "ALICLOUD_SHARED_CREDENTIALS_FILE": cfg})
    assert named.access_key == "AKP" and named.security_token is None


def test_relative_credentials_file_resolves_against_base_dir(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "inv" / "lab").mkdir(parents=True)
    write_cli_config(tmp_path / "lab" / "aliyun.json", AK_PROFILE)
    creds = ecs.resolve_credentials({"profile": "lab", "shared_credentials_file": "../../lab/aliyun.json"},
                                    environ={}, base_dir=str(tmp_path / "inv" / "lab"))
    assert creds.access_key == "AKP"


@pytest.mark.parametrize("options, environ, words", [
    ({}, {"HOME": "/nonexistent"}, ["access_key", "profile", "ALICLOUD_ACCESS_KEY"]),
    ({"access_key": "only-the-id"}, {}, ["secret_key"]),
    ({"profile": "nope"}, {}, ["profile", "nope", "lab"]),
])
def test_missing_credentials_say_what_to_set(tmp_path, options, environ, words):
    if options.get("profile"):
        options = dict(options, shared_credentials_file=write_cli_config(tmp_path / "c.json", AK_PROFILE))
    with pytest.raises(ecs.EcsConfigError) as info:
        ecs.resolve_credentials(options, environ=environ)
    for word in words:
        assert word in str(info.value)


def test_unsupported_profile_mode_is_named(tmp_path):
    cfg = write_cli_config(tmp_path / "c.json", {"name": "role", "mode": "RamRoleArn", "access_key_id": "a",
                                                 "access_key_secret": "b"})
    with pytest.raises(ecs.EcsConfigError) as info:
        ecs.resolve_credentials({"profile": "role", "shared_credentials_file": cfg}, environ={})
    assert "RamRoleArn" in str(info.value) and "AK" in str(info.value)


@pytest.mark.parametrize("endpoint, region, url", [
    (None, "cn-hangzhou", None),
    ("127.0.0.1:8990", "cn-hangzhou", "http://127.0.0.1:8990"),
    ("localhost:8990", "cn-hangzhou", "http://localhost:8990"),
    ("ecs.example.internal", "cn-hangzhou", "https://ecs.example.internal"),
    ("http://10.1.2.3:80/", "cn-hangzhou", "http://10.1.2.3:80"),
    ("https://ecs.{region}.example.com", "cn-shanghai", "https://ecs.cn-shanghai.example.com"),
    ({"cn-shanghai": "127.0.0.1:1"}, "cn-shanghai", "http://127.0.0.1:1"),
    ({"cn-shanghai": "127.0.0.1:1"}, "cn-hangzhou", None),
])
def test_endpoint_urls(endpoint, region, url):
    assert ecs.endpoint_url(endpoint, region) == url


def test_endpoint_falls_back_to_environment():
    assert ecs.endpoint_option({}, {"ALICLOUD_ECS_ENDPOINT": "127.0.0.1:9"}) == "127.0.0.1:9"
    assert ecs.endpoint_option({"endpoint": "a:1"}, {"ALICLOUD_ECS_ENDPOINT": "b:2"}) == "a:1"


# ---------------------------------------------------------------- ClientToken and parameters

BASE = {"ImageId": IMAGE, "InstanceType": "ecs.g7.large", "VSwitchId": VSW_H, "SecurityGroupIds": [SG_HZ],
        "InstanceName": "web-01", "HostName": "web-01", "PrivateIpAddress": "10.88.16.10",
        "UserData": "I2Nsb3VkLWNvbmZpZwo=", "Tag": [{"Key": "containerops.role", "Value": "worker"}]}


def test_client_token_is_stable_short_and_ascii():
    token = ecs.client_token("cn-hangzhou", BASE)
    assert token == ecs.client_token("cn-hangzhou", dict(reversed(list(BASE.items()))))
    assert len(token) <= 64 and token.isascii()


@pytest.mark.parametrize("change", [
    {"ImageId": "other.vhd"}, {"InstanceType": "ecs.c7.large"}, {"InstanceName": "web-02"},
    {"PrivateIpAddress": "10.88.16.11"}, {"UserData": "eA=="}, {"SecurityGroupIds": ["sg-2"]},
    {"Tag": [{"Key": "containerops.role", "Value": "manager"}]}, {"Amount": 2}, {"HostName": "x"},
])
def test_client_token_changes_with_every_creation_parameter(change):
    assert ecs.client_token("cn-hangzhou", dict(BASE, **change)) != ecs.client_token("cn-hangzhou", BASE)


def test_client_token_depends_on_region_and_salt():
    token = ecs.client_token("cn-hangzhou", BASE)
    assert ecs.client_token("cn-shanghai", BASE) != token
    assert ecs.client_token("cn-hangzhou", BASE, salt="x") != token


def test_flatten_params():
    flat = ecs.flatten_params({"InstanceId": ["i-1", "i-2"], "Tag": [{"Key": "k", "Value": None}],
                               "Force": True, "DryRun": False, "Amount": 3, "Skip": None})
    assert flat == {"InstanceId.1": "i-1", "InstanceId.2": "i-2", "Tag.1.Key": "k", "Force": "true",
                    "DryRun": "false", "Amount": "3"}


def test_chunks():
    assert [len(c) for c in ecs.chunks(range(250), 100)] == [100, 100, 50]


@pytest.mark.parametrize("ip, words", [
    ("10.88.16.10", None), ("10.88.16.0", "reserved"), ("10.88.16.253", "reserved"),
    ("10.88.16.255", "reserved"), ("10.88.16.252", None), ("10.88.17.5", "outside"), ("nope", "IPv4"),
])
def test_reserved_reason(ip, words):
    reason = ecs.reserved_reason(ip, "10.88.16.0/24")
    assert (reason is None) if words is None else (words in reason)


# ---------------------------------------------------------------- batching

def item(name, ip=None, shared=None, host=None):
    return {"name": name, "host_name": host or name, "private_ip": ip, "shared": shared or {"ImageId": IMAGE}}


def names(batches):
    return [[i["name"] for i in b] for b in batches]


def test_consecutive_names_and_ips_make_one_batch():
    batches = ecs.plan_batches([item("web-03", "10.0.0.12"), item("web-01", "10.0.0.10"), item("web-02", "10.0.0.11")])
    assert names(batches) == [["web-01", "web-02", "web-03"]]
    request = ecs.batch_request(batches[0])
    assert request["Amount"] == 3 and request["InstanceName"] == "web-[1,2]"
    assert request["HostNames"] == ["web-01", "web-02", "web-03"] and request["PrivateIpAddress"] == "10.0.0.10"


def test_gaps_params_widths_and_names_without_numbers_split_batches():
    other = {"ImageId": "other"}
    batches = ecs.plan_batches([
        item("a-1", "10.0.0.1"), item("a-2", "10.0.0.2"), item("a-4", "10.0.0.4"),   # number gap
        item("b-1", "10.0.0.20"), item("b-2", "10.0.0.22"),                           # IP gap
        item("c-1", shared=other), item("c-2"),                                        # different params
        item("d-9"), item("d-10"),                                                     # width changes
        item("manager"), item("e-1"), item("e-2"),                                     # no number; no IPs
    ])
    assert sorted(names(batches)) == sorted([
        ["a-1", "a-2"], ["a-4"], ["b-1"], ["b-2"], ["c-1"], ["c-2"], ["d-9"], ["d-10"], ["manager"], ["e-1", "e-2"]])


def test_batches_hold_at_most_100():
    batches = ecs.plan_batches([item("n%03d" % i) for i in range(250)])
    assert [len(b) for b in batches] == [100, 100, 50]
    assert ecs.batch_request(batches[1])["InstanceName"] == "n[100,3]"


def test_single_instance_request_has_plain_name_and_host():
    (batch,) = ecs.plan_batches([item("solo", "10.0.0.5", host="solo.lab")])
    assert ecs.batch_request(batch) == {"ImageId": IMAGE, "InstanceName": "solo", "HostName": "solo.lab",
                                        "PrivateIpAddress": "10.0.0.5"}


# ---------------------------------------------------------------- retry policy

def test_backoff_is_full_jitter_under_an_exponential_cap():
    policy = ecs.RetryPolicy(max_attempts=10, base=0.5, cap=4.0, budget=1000)
    rng = random.Random(1)
    for retry in range(1, 9):
        ceiling = min(4.0, 0.5 * 2 ** (retry - 1))
        delays = [policy.delay(retry, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # spread over the whole range


def test_retry_decisions():
    policy = ecs.RetryPolicy(max_attempts=3, base=1, cap=1, budget=10)
    rng = random.Random(0)
    for code, status in [("Throttling", 400), ("Throttling.User", 400), ("ServiceUnavailable", 503),
                         ("InternalError", 500), ("SDK.HttpError", None), ("Whatever", 502)]:
        assert policy.next_delay(1, 0, code, status, rng) is not None, code
    for code, status in [("InvalidParameter", 400), ("IdempotentParameterMismatch", 400),
                         ("InvalidAccessKeyId.NotFound", 404), ("IncorrectInstanceStatus", 403)]:
        assert policy.next_delay(1, 0, code, status, rng) is None, code
    assert policy.next_delay(3, 0, "Throttling", 400, rng) is None          # attempts used up


class FixedRng:
    def uniform(self, lo, hi):
        return lo + (hi - lo) * 0.9


def test_no_retry_starts_that_would_end_beyond_the_budget():
    policy = ecs.RetryPolicy(max_attempts=10, base=1.0, cap=1.0, budget=5.0)
    assert policy.next_delay(2, 4.0, "Throttling", 400, FixedRng()) == pytest.approx(0.9)
    assert policy.next_delay(2, 4.2, "Throttling", 400, FixedRng()) is None


def test_error_messages_name_code_and_fix():
    err = ecs.EcsError("RunInstances", "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist.",
                       request_id="RID", attempts=1)
    text = str(err)
    assert "RunInstances" in text and "InvalidVSwitchId.NotFound" in text and "vswitch_id" in text and "RID" in text
    mismatch = str(ecs.EcsError("RunInstances", "IdempotentParameterMismatch", "token reused"))
    assert "ClientToken" in mismatch and "name" in mismatch
    storm = str(ecs.EcsError("DescribeInstances", "Throttling.User", "slow down", attempts=10, elapsed=61))
    assert "10 attempts" in storm and "fewer" in storm


# ---------------------------------------------------------------- against an in-process emulator

@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALIYUN_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu():
    made = Emulator({"access_keys": {KEY_ID: SECRET, "STS.KEY": {"secret": "stssecret", "security_token": "TOK"}}},
                    time_scale=0.02).start()
    yield made
    made.close()


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def make_client(emu, retry=None, key=KEY_ID, secret=SECRET, token=None, sleep=None):
    creds = ecs.Credentials(key, secret, token, "cn-hangzhou")
    return ecs.EcsClient(creds, endpoint=emu.endpoint, retry=retry or ecs.RetryPolicy(base=0.001, cap=0.002),
                         sleep=sleep if sleep is not None else Sleeps(), rng=random.Random(3))


def run_instances(client, amount, vswitch=VSW_H, **extra):
    params = dict({"ImageId": IMAGE, "InstanceType": "ecs.g7.large", "VSwitchId": vswitch,
                   "SecurityGroupIds": [SG_HZ], "Amount": amount, "InstanceName": "u[1,3]"}, **extra)
    return client.call("RunInstances", params)["InstanceIdSets"]["InstanceIdSet"]


def test_every_attempt_is_one_signed_call_with_a_fresh_nonce(emu):
    emu.faults.configure({"throttling_rate": 1.0, "actions": ["DescribeRegions"]})
    sleeps = Sleeps()
    client = make_client(emu, retry=ecs.RetryPolicy(max_attempts=4, base=0.001, cap=0.002, budget=60), sleep=sleeps)
    with pytest.raises(ecs.EcsError) as info:
        client.call("DescribeRegions")
    assert info.value.code == "Throttling" and info.value.attempts == 4 and len(sleeps) == 3
    # The SDK's own retries are off: the server saw exactly our 4 attempts, none reusing a nonce.
    stats = emu.stats.describe()
    assert stats["calls"]["DescribeRegions"] == 4 == client.calls["DescribeRegions"]
    assert stats["codes"]["DescribeRegions"] == {"Throttling": 4}


def test_storm_of_throttling_and_lost_answers_still_one_creation(emu):
    # Seed 7: the first attempt runs but its answer is lost (5xx "after"), then more faults follow.
    emu.faults.configure({"throttling_rate": 0.3, "error_5xx_rate": 0.4, "error_5xx_phase": "after", "seed": 7,
                          "actions": ["RunInstances"]})
    client = make_client(emu, retry=ecs.RetryPolicy(max_attempts=30, base=0.001, cap=0.002, budget=60))
    request = {"ImageId": IMAGE, "InstanceType": "ecs.g7.large", "VSwitchId": VSW_H, "SecurityGroupIds": [SG_HZ],
               "Amount": 5, "InstanceName": "s[1,2]"}
    ids = client.call("RunInstances", dict(request, ClientToken=ecs.client_token("cn-hangzhou", request)))
    assert len(ids["InstanceIdSets"]["InstanceIdSet"]) == 5
    assert len(emu.state.instances) == 5
    codes = emu.stats.describe()["codes"]["RunInstances"]
    assert codes.get("ServiceUnavailable", 0) + codes.get("InternalError", 0) >= 1 and codes["200"] == 1


def test_connection_errors_are_retried_then_named(emu):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    client = ecs.EcsClient(ecs.Credentials(KEY_ID, SECRET, None, "cn-hangzhou"), endpoint="127.0.0.1:%d" % port,
                           retry=ecs.RetryPolicy(max_attempts=3, base=0.001, cap=0.002), sleep=Sleeps())
    with pytest.raises(ecs.EcsError) as info:
        client.call("DescribeRegions")
    assert info.value.code == "SDK.HttpError" and info.value.attempts == 3 and "endpoint" in str(info.value)


def test_describe_instances_pages_with_next_token(emu):
    client = make_client(emu)
    made = run_instances(client, 100) + run_instances(client, 100, InstanceName="v[1,3]") + \
        run_instances(client, 30, vswitch=VSW_I, InstanceName="w[1,3]")
    emu.stats.reset()
    found = client.describe_instances()
    assert sorted(i["InstanceId"] for i in found) == sorted(made)
    assert emu.stats.describe()["calls"]["DescribeInstances"] == 3
    by_ids = client.describe_instances_by_ids(made[:150])
    assert len(by_ids) == 150
    statuses = client.describe_instance_status(made[:120])
    assert len(statuses) == 120


def test_wait_for_many_instances_one_describe_per_round(emu):
    ids = run_instances(make_client(emu), 40)
    emu.stats.reset()
    sleeps = []

    def sleep(seconds):
        # Recorded, and slept for real but briefly: the emulator moves on in (scaled) real time.
        sleeps.append(seconds)
        time.sleep(0.05)
    last = make_client(emu, sleep=sleep).wait_for(ids, ["Running"], timeout=30, initial=0.05, factor=2.0, cap=0.4)
    assert all(inst["Status"] == "Running" for inst in last.values())
    assert emu.stats.describe()["calls"]["DescribeInstances"] == len(sleeps) + 1  # one call per round
    # Growing delays (jittered +-20%), never a busy loop.
    assert all(s > 0 for s in sleeps) and (len(sleeps) < 3 or sleeps[2] > sleeps[0])


def test_wait_timeout_names_instances_and_status(emu):
    emu.state.delays["pending"] = 1000  # they stay Pending
    client = make_client(emu)
    ids = run_instances(client, 2)
    with pytest.raises(ecs.WaitTimeout) as info:
        client.wait_for(ids, ["Running"], timeout=0.2, names={ids[0]: "u001"}, initial=0.05)
    text = str(info.value)
    assert "u001 (%s) is Pending" % ids[0] in text and ids[1] in text and "wait_timeout" in text
    assert info.value.last == {ids[0]: "Pending", ids[1]: "Pending"}


def test_power_and_delete_in_batches(emu):
    client = make_client(emu)
    ids = run_instances(client, 100) + run_instances(client, 20, vswitch=VSW_I, InstanceName="z[1,3]")
    client.wait_for(ids, ["Running"], timeout=30, initial=0.05)
    emu.stats.reset()
    responses = client.power("StopInstances", ids)
    assert len(responses) == 120 and {r["Code"] for r in responses.values()} == {"200"}
    # Asked again (as after a lost answer): per-instance refusals, not a failed call.
    again = client.power("StopInstances", ids)
    assert {r["CurrentStatus"] for r in again.values()} <= {"Stopping", "Stopped"}
    client.wait_for(ids, ["Stopped"], timeout=30, initial=0.05)
    client.delete(ids)
    client.delete(ids[:5])  # already gone: fine
    assert client.wait_for(ids, [ecs.ABSENT], timeout=30, initial=0.05) == {i: None for i in ids}
    assert emu.stats.describe()["calls"]["StopInstances"] == 4


def test_sts_token_is_sent_and_required(emu):
    ok = make_client(emu, key="STS.KEY", secret="stssecret", token="TOK")
    assert ok.call("DescribeRegions")["Regions"]["Region"]
    missing = make_client(emu, key="STS.KEY", secret="stssecret")
    with pytest.raises(ecs.EcsError) as info:
        missing.call("DescribeRegions")
    assert info.value.code == "MissingSecurityToken" and "security_token" in str(info.value)


def test_sts_signer_is_not_displaced_by_sdk_environment_keys(emu, monkeypatch):
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", SECRET)
    client = make_client(emu, key="STS.KEY", secret="stssecret", token="TOK")
    client.call("DescribeRegions")


def test_wrong_secret_is_reported_as_the_secret(emu):
    client = make_client(emu, secret="wrong")
    with pytest.raises(ecs.EcsError) as info:
        client.call("DescribeRegions")
    assert "secret_key" in str(info.value)
    assert os.environ.get("ALIYUN_ACCESS_KEY_ID") is None
