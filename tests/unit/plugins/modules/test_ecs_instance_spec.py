"""What ecs_instance accepts: every input ECS would reject fails before the first API call, with a
message that names the parameter as the task wrote it and the fix; and how creations are grouped
into RunInstances calls."""
import pathlib
import random
import secrets

import pytest

from ansible_collections.containerops.platform.plugins.module_utils import _ecs_instance_spec as spec
from ansible_collections.containerops.platform.plugins.module_utils import _ecs_provision as prov
from ansible_collections.containerops.platform.plugins.module_utils import ecs
from ansible_collections.containerops.platform.plugins.modules import ecs_instance as mod

REPO = pathlib.Path(__file__).resolve().parents[4]

KEY, SECRET = "LTAI" + secrets.token_hex(8), secrets.token_urlsafe(24)
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"


class FakeModule:
    def __init__(self, params):
        self.params = params
        self.check_mode = False

    def warn(self, text):
        raise AssertionError("unexpected warning: %s" % text)


@pytest.fixture(scope="module")
def emu():
    from ecs_emulator import Emulator
    made = Emulator({"access_keys": {KEY: SECRET}}, time_scale=0.01).start()
    yield made
    made.close()


def task(**params):
    """Module params as AnsibleModule hands them over: argspec defaults, a valid creation, then params."""
    full = dict((k, s.get("default")) for k, s in mod.argument_spec().items())
    full.update(image_id=IMAGE, instance_type="ecs.g7.large", vswitch_id="vsw-bp1lab0hangzhouh00001",
                security_group_ids=["sg-bp1lab0hangzhou00001"], instances=[{"name": "v-01"}, {"name": "v-02"}])
    full.update(params)
    return full


def items(*extra):
    """Three instances; extra[i] is merged into item i."""
    base = [{"name": "v-01"}, {"name": "v-02"}, {"name": "v-03"}]
    for n, more in enumerate(extra):
        base[n] = dict(base[n], **more)
    return base


LONG_USER_DATA = "#!/bin/sh\n" + "x" * 25000  # about 33 KiB once base64-encoded

# (what the task gets wrong, module params, the parameter the message must name, a word of the fix)
BAD = [
    ("one IP on two instances", dict(instances=items({"private_ip": "10.88.16.171"}, {},
                                                     {"private_ip": "10.88.16.171"})),
     "instances[2].private_ip", "its own"),
    ("a top-level IP for several", dict(private_ip="10.88.16.172"), "private_ip 10.88.16.172 (top level)",
     "per item"),
    ("an IP that is not IPv4", dict(instances=items({}, {"private_ip": "10.88.16"})), "instances[1].private_ip",
     "IPv4"),
    ("an IPv6 address", dict(instances=items({"private_ip": "fd00::5"})), "instances[0].private_ip", "IPv4"),
    ("an unknown disk category", dict(system_disk={"category": "ssd", "size": 40}), "system_disk.category",
     "cloud_essd"),
    ("a 0 GiB disk", dict(system_disk={"category": "cloud_essd", "size": 0}), "system_disk.size", "20 to 2048"),
    ("a 100000 GiB disk", dict(instances=items({}, {"system_disk": {"size": 100000}})),
     "instances[1].system_disk.size", "20 to 2048"),
    ("a basic disk over 500 GiB", dict(system_disk={"category": "cloud", "size": 600}), "system_disk.size",
     "20 to 500"),
    ("a negative wait_timeout", dict(wait_timeout=-5), "wait_timeout", "at least 1"),
    ("a list_lag_timeout of 0", dict(list_lag_timeout=0), "list_lag_timeout", "at least 1"),
    ("a one-letter name", dict(instances=items({}, {}, {"name": "v"})), "instances[2].name", "rename"),
    ("a name starting with a digit", dict(instances=None, name="1-web"), "name '1-web'", "start"),
    ("a name with a space", dict(instances=items({"name": "web 01"})), "instances[0].name", "letters"),
    ("a 129-character name", dict(instances=items({"name": "w" * 129})), "instances[0].name", "2-128"),
    ("a name that is no host name", dict(instances=items({"name": "web_01"})), "instances[0].host_name defaults",
     "set instances[0].host_name"),
    ("a host name with a leading hyphen", dict(instances=items({"host_name": "-web"})), "instances[0].host_name",
     "2-64"),
    ("a host name with empty parts", dict(host_name="web..lab", instances=None, name="v-01"), "host_name",
     "dot-separated"),
    ("an aliyun tag key", dict(tags={"aliyun-env": "x"}), "tags key 'aliyun-env'", "rename"),
    ("an acs: tag key", dict(instances=items({}, {"tags": {"acs:role": "x"}})), "instances[1].tags key 'acs:role'",
     "rename"),
    ("an acs: tag value", dict(tags={"role": "acs:x"}), "tags value of 'role'", "acs:"),
    ("21 tags", dict(tags=dict(("k%d" % i, "v") for i in range(21))), "tags has 21 tags", "at most 20"),
    ("user data over 32 KiB once encoded", dict(user_data=LONG_USER_DATA), "user_data is", "32 KiB"),
    ("bandwidth 101", dict(internet_max_bandwidth_out=101), "internet_max_bandwidth_out is 101", "0 to 100"),
    ("negative bandwidth", dict(instances=items({"internet_max_bandwidth_out": -1})),
     "instances[0].internet_max_bandwidth_out is -1", "0 to 100"),
    ("a security group twice", dict(security_group_ids=["sg-bp1lab0hangzhou00001"] * 2), "security_group_ids lists",
     "once"),
]


@pytest.mark.parametrize("what, params, parameter, fix", BAD, ids=[b[0] for b in BAD])
def test_bad_input_fails_before_any_api_call_naming_parameter_and_fix(emu, what, params, parameter, fix):
    emu.stats.reset()
    client = ecs.EcsClient(ecs.Credentials(KEY, SECRET, None, "cn-hangzhou"), endpoint=emu.endpoint,
                           retry=ecs.RetryPolicy(base=0.001, cap=0.01), rng=random.Random(1))
    with pytest.raises(spec.Failure) as info:
        prov.Runner(FakeModule(task(**params)), client).run()
    text = str(info.value)
    assert text.startswith("nothing was changed: ") and parameter in text and fix in text, text
    assert emu.stats.describe()["calls"] == {} and not emu.state.instances


def test_every_problem_is_named_at_once_and_a_bad_top_level_value_once():
    params = task(tags={"acs:x": "1"}, instances=items({"private_ip": "nope"}, {"name": "x"}))
    with pytest.raises(spec.Failure) as info:
        spec.check_task(params, spec.desired_instances(params))
    text = str(info.value)
    assert "instances[0].private_ip" in text and "instances[1].name" in text
    assert text.count("tags key 'acs:x'") == 1


def test_valid_tasks_pass():
    good = [
        task(),
        task(instances=[{"name": "web-%02d" % i, "private_ip": "10.88.16.%d" % (170 + i)} for i in range(1, 7)],
             tags=dict(("k%d" % i, "v") for i in range(20)), system_disk={"category": "cloud_auto", "size": 1},
             internet_max_bandwidth_out=100, user_data="#cloud-config\n" + "y" * 20000),
        task(instances=None, name="\u8282\u70b9-01", host_name="node-01.lab"),
        task(instances=[{"name": "db:primary", "host_name": "db-primary"}], state="absent"),
    ]
    for params in good:
        spec.check_task(params, spec.desired_instances(params))


@pytest.mark.parametrize("name, ok", [
    ("ab", True), ("a" * 64, True), ("a" * 65, False), ("a", False), ("web-01.lab", True), ("web-.lab", False),
    ("web..lab", False), (".web", False), ("web_01", False), ("WEB01", True), ("9web", True),
])
def test_host_name_rules(name, ok):
    assert spec.valid_host_name(name) is ok


# ---------------------------------------------------------------- batching

def item(name, ip=None, shared=None, host=None):
    return {"name": name, "host_name": host or name, "private_ip": ip, "shared": shared or {"ImageId": IMAGE}}


def names(batches):
    return [[i["name"] for i in b] for b in batches]


def test_consecutive_names_and_ips_make_one_batch():
    batches = spec.plan_batches([item("web-03", "10.0.0.12"), item("web-01", "10.0.0.10"),
                                 item("web-02", "10.0.0.11")])
    assert names(batches) == [["web-01", "web-02", "web-03"]]
    request = spec.batch_request(batches[0])
    assert request["Amount"] == 3 and request["InstanceName"] == "web-[1,2]"
    assert request["HostNames"] == ["web-01", "web-02", "web-03"] and request["PrivateIpAddress"] == "10.0.0.10"


def test_gaps_params_widths_and_names_without_numbers_split_batches():
    other = {"ImageId": "other"}
    batches = spec.plan_batches([
        item("a-1", "10.0.0.1"), item("a-2", "10.0.0.2"), item("a-4", "10.0.0.4"),   # number gap
        item("b-1", "10.0.0.20"), item("b-2", "10.0.0.22"),                           # IP gap
        item("c-1", shared=other), item("c-2"),                                        # different params
        item("d-9"), item("d-10"),                                                     # width changes
        item("manager"), item("e-1"), item("e-2"),                                     # no number; no IPs
    ])
    assert sorted(names(batches)) == sorted([
        ["a-1", "a-2"], ["a-4"], ["b-1"], ["b-2"], ["c-1"], ["c-2"], ["d-9"], ["d-10"], ["manager"], ["e-1", "e-2"]])


def test_batches_hold_at_most_100():
    batches = spec.plan_batches([item("n%03d" % i) for i in range(250)])
    assert [len(b) for b in batches] == [100, 100, 50]
    assert spec.batch_request(batches[1])["InstanceName"] == "n[100,3]"


def test_single_instance_request_has_plain_name_and_host():
    (batch,) = spec.plan_batches([item("solo", "10.0.0.5", host="solo.lab")])
    assert spec.batch_request(batch) == {"ImageId": IMAGE, "InstanceName": "solo", "HostName": "solo.lab",
                                         "PrivateIpAddress": "10.0.0.5"}
