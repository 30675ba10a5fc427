"""module_utils/ecs.py: option resolution, ClientToken, batching, retry policy (pure), and the
client's retry, paging, waiting and STS signing against an in-process emulator (backend none)."""
import json
import os
import pathlib
import random
import secrets
import socket
import time
from urllib.parse import quote

import pytest

from ansible_collections.containerops.platform.plugins.module_utils import ecs
from ecs_emulator import Emulator

REPO = pathlib.Path(__file__).resolve().parents[4]

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


AK_PROFILE = {"name": "lab", "mode": "AK", "access_key_id": "AKP", "access_key_secret": "SKP",
              "region_id": "cn-shanghai"}
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
    ("https://127.0.0.1:8991", "cn-hangzhou", "https://127.0.0.1:8991"),
    ("http://[::1]:8990", "cn-hangzhou", "http://[::1]:8990"),
    ("ecs.example.internal", "cn-hangzhou", "https://ecs.example.internal"),
    ("https://ecs.{region}.example.com", "cn-shanghai", "https://ecs.cn-shanghai.example.com"),
    ({"cn-shanghai": "127.0.0.1:1"}, "cn-shanghai", "http://127.0.0.1:1"),
    ({"cn-shanghai": "127.0.0.1:1", "*": "ecs-{region}.example.internal"}, "cn-hangzhou",
     "https://ecs-cn-hangzhou.example.internal"),
    ({"cn-shanghai": "127.0.0.1:1", "*": "public"}, "cn-hangzhou", None),
    ({"cn-beijing": "public"}, "cn-beijing", None),
])
def test_endpoint_urls(endpoint, region, url):
    assert ecs.endpoint_url(endpoint, region) == url


@pytest.mark.parametrize("endpoint, region, words", [
    # Plain http beyond this host: the STS token and every answer in clear.
    ("http://10.1.2.3:80/", "cn-hangzhou", ["http://10.1.2.3:80", "https://", "allow_http: true"]),
    ({"cn-hangzhou": "http://ecs.example.internal"}, "cn-hangzhou", ["allow_http"]),
    # A region the map forgot would silently go to the public endpoint.
    ({"cn-shanghai": "127.0.0.1:1"}, "cn-hangzhou", ["cn-hangzhou", "cn-shanghai", '"*"', "public"]),
    ({"cn-hangzhou": ""}, "cn-hangzhou", ["cn-hangzhou", "empty"]),
    ("ftp://ecs.example.internal", "cn-hangzhou", ["http or https"]),
])
def test_untrusted_endpoints_are_errors_that_name_the_fix(endpoint, region, words):
    with pytest.raises(ecs.EcsConfigError) as info:
        ecs.endpoint_url(endpoint, region)
    for word in words:
        assert word in str(info.value)


def test_allow_http_lets_a_trusted_plain_endpoint_through():
    assert ecs.endpoint_url("http://10.1.2.3:80/", "cn-hangzhou", allow_http=True) == "http://10.1.2.3:80"


def test_build_client_refuses_an_untrusted_endpoint_before_any_call():
    options = {"access_key": "a", "secret_key": "b", "region": "cn-hangzhou", "endpoint": {"cn-beijing": "public"}}
    with pytest.raises(ecs.EcsConfigError) as info:
        ecs.build_client(options, environ={})
    assert "no entry for region cn-hangzhou" in str(info.value)
    assert ecs.build_client(dict(options, endpoint={"cn-beijing": "public", "*": "127.0.0.1:1"}), environ={})


@pytest.mark.parametrize("options, words", [
    ({"ca_bundle": "missing.pem"}, ["ca_bundle", "missing.pem", "PEM"]),
    ({"ca_bundle": "ca.pem", "validate_certs": False}, ["ca_bundle", "validate_certs"]),
    ({"ca_bundle": "ca.pem", "endpoint": "127.0.0.1:8991"}, ["plain http", "https://"]),
])
def test_tls_options_that_would_verify_nothing_are_errors(tmp_path, options, words):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    options = dict({"access_key": "a", "secret_key": "b", "region": "cn-hangzhou",
                    "endpoint": "https://127.0.0.1:8991"}, **options)
    with pytest.raises(ecs.EcsConfigError) as info:
        ecs.build_client(options, environ={}, base_dir=str(tmp_path))
    for word in words:
        assert word in str(info.value)


def test_ca_bundle_is_relative_to_base_dir_and_falls_back_to_the_environment(tmp_path):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert ecs.tls_verify({"ca_bundle": "ca.pem"}, {}, str(tmp_path)) == str(tmp_path / "ca.pem")
    assert ecs.tls_verify({}, {"ALICLOUD_CA_BUNDLE": str(tmp_path / "ca.pem")}) == str(tmp_path / "ca.pem")
    assert ecs.tls_verify({}, {}) is True and ecs.tls_verify({"validate_certs": False}, {}) is False


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


# ---------------------------------------------------------------- retry policy

def test_backoff_is_full_jitter_under_an_exponential_cap():
    policy = ecs.RetryPolicy(max_attempts=10, base=0.5, cap=4.0, budget=1000)
    rng = random.Random(1)
    for retry in range(1, 9):
        ceiling = min(4.0, 0.5 * 2 ** (retry - 1))
        delays = [policy.delay(retry, rng) for _sample in range(200)]
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


# ---------------------------------------------------------------- TLS to a private endpoint

def test_https_endpoint_signed_by_a_private_ca_is_verified_with_ca_bundle(emu, tmp_path):
    from ecs_proxy import EcsProxy, tls_files
    ca, cert, key = tls_files(tmp_path)
    options = {"access_key": KEY_ID, "secret_key": SECRET, "region": "cn-hangzhou"}
    with EcsProxy(emu.endpoint, tls=(cert, key)) as proxy:
        trusted = ecs.build_client(dict(options, endpoint=proxy.url, ca_bundle=ca), environ={})
        assert trusted.verify == ca and trusted.call("DescribeRegions")["Regions"]["Region"]
        # Without the CA the certificate is refused, and the message says which option fixes it.
        untrusted = ecs.build_client(dict(options, endpoint=proxy.url), environ={}, sleep=Sleeps())
        with pytest.raises(ecs.EcsError) as info:
            untrusted.call("DescribeRegions")
        # Not retried: no retry makes a certificate trusted.
        assert info.value.code == "SDK.HttpError" and info.value.attempts == 1 and "ca_bundle" in str(info.value)
        unchecked = ecs.build_client(dict(options, endpoint=proxy.url, validate_certs=False), environ={})
        assert unchecked.verify is False and unchecked.call("DescribeRegions")["Regions"]["Region"]


# ---------------------------------------------------------------- secrets never in an error

TOKEN = "CAIS" + secrets.token_urlsafe(30) + "+/=="  # STS tokens are base64: '+', '/' and '=' get percent-encoded


@pytest.fixture
def sts_emu():
    made = Emulator({"access_keys": {"STS.KEY": {"secret": "stssecret-" + SECRET, "security_token": TOKEN}}},
                    time_scale=0.02).start()
    yield made
    made.close()


def assert_no_secret(text, *secrets_):
    for value in secrets_:
        for form in (value, quote(value, safe=""), quote(quote(value, safe=""), safe="")):
            assert form not in text, "a secret leaked into: %s" % text


def test_signature_mismatch_keeps_code_request_id_and_hint_but_not_the_string_to_sign(sts_emu):
    from ecs_proxy import EcsProxy
    # A middlebox that adds a parameter: ECS's StringToSign (holding SecurityToken) differs from ours,
    # so the SDK passes the server's message through.
    with EcsProxy(sts_emu.endpoint, extra_query="&Tampered=1") as proxy:
        client = make_client(proxy, key="STS.KEY", secret="stssecret-" + SECRET, token=TOKEN)
        with pytest.raises(ecs.EcsError) as info:
            client.call("DescribeRegions")
    err = info.value
    text = str(err)
    assert err.code == "SignatureDoesNotMatch" and err.request_id and err.request_id in text
    assert "secret_key" in text and "server string to sign is:" in text
    assert_no_secret(text, TOKEN, "stssecret-" + SECRET)
    assert "SecurityToken" not in text and "Signature%3D" not in text


def test_connection_errors_do_not_echo_the_signed_request_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ecs.EcsClient(ecs.Credentials(KEY_ID, SECRET, TOKEN, "cn-hangzhou"), endpoint="127.0.0.1:%d" % port,
                           retry=ecs.RetryPolicy(max_attempts=1), sleep=Sleeps())
    with pytest.raises(ecs.EcsError) as info:
        client.call("DescribeRegions")
    text = str(info.value)
    assert info.value.code == "SDK.HttpError" and "Connection refused" in text
    assert_no_secret(text, TOKEN, SECRET)
    assert "SecurityToken" not in text and "Signature=" not in text


@pytest.mark.parametrize("message", [
    "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId"
    "%3DSTS.x%26SecurityToken%3D{q2}%26Timestamp%3D2026",
    "The request signature does not conform to Aliyun standards. server string to sign is:GET&%2F&x%3D1",
    "HTTPConnectionPool(host='h', port=1): Max retries exceeded with url: /?RegionId=x&SecurityToken={q}&Sign=y "
    "(Caused by NewConnectionError('refused'))",
    "token {raw} echoed",
])
def test_scrub_message_takes_out_what_can_carry_a_secret(message):
    text = message.format(raw=TOKEN, q=quote(TOKEN, safe=""), q2=quote(quote(TOKEN, safe=""), safe=""))
    scrubbed = ecs.scrub_message(text, (TOKEN, SECRET))
    assert_no_secret(scrubbed, TOKEN)
    assert "SecurityToken" not in scrubbed and "%26" not in scrubbed
    assert scrubbed.split(" ")[0] == text.split(" ")[0]  # the server's words before it stay
