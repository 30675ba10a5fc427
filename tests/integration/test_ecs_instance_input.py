"""containerops.platform.ecs_instance through ansible-playbook: input ECS would reject fails before
any API call, naming the parameter and the fix; a private https endpoint is verified with ca_bundle.

Names t-ecs-v*, IPs with last octets 170-199; each test deletes what it made and resets faults.
"""
import json

import pytest

from ecs_proxy import EcsProxy, tls_files
from test_ecs_instance import (
    base_params,
    connection,
    emulator_instances,
    run_play,
    tests_key,
)

pytestmark = pytest.mark.beside_fleet   # the tests' own ECS key and instances, not the fleet: beside its tests


def test_bad_input_fails_before_any_api_call(ecs_lab, tmp_path):
    lab = ecs_lab
    cases = [
        ("instances[1].private_ip", base_params(lab, instances=[
            {"name": "t-ecs-v1", "private_ip": "10.88.16.195"}, {"name": "t-ecs-v2", "private_ip": "10.88.16.195"}])),
        ("system_disk.size", base_params(lab, name="t-ecs-v3", private_ip="10.88.16.196",
                                         system_disk={"category": "cloud_essd", "size": 0})),
        ("tags key 'acs:owner'", base_params(lab, name="t-ecs-v4", private_ip="10.88.16.197",
                                             tags={"acs:owner": "me"})),
        ("host_name defaults to the name 't-ecs-v_5'", base_params(lab, name="t-ecs-v_5", private_ip="10.88.16.198")),
        ("wait_timeout", base_params(lab, name="t-ecs-v6", private_ip="10.88.16.199", wait_timeout=-1)),
    ]
    results = run_play(lab, tmp_path, [dict(params, _name=param) for param, params in cases])
    for (param, _params), result in zip(cases, results):
        assert result.get("failed"), "%s: expected a failure, got %s" % (param, result)
        assert result["msg"].startswith("nothing was changed: ") and param in result["msg"], result["msg"]
        # Not one API call was made for it, and it says so.
        assert result["api_calls"] == {} and result["created"] == [] and result["changed"] is False
    assert emulator_instances(lab, "t-ecs-v") == []


def test_a_private_https_endpoint_is_verified_with_ca_bundle(ecs_lab, tmp_path):
    lab = ecs_lab
    ca, cert, key = tls_files(tmp_path)
    absent = {"name": "t-ecs-v7", "state": "absent"}  # one DescribeInstances, nothing to change
    with EcsProxy(lab["ecs"]["endpoint"], tls=(cert, key)) as proxy:
        https = connection(lab, endpoint=proxy.url)
        (trusted, untrusted, unchecked) = run_play(lab, tmp_path, [
            dict(absent, ca_bundle=ca), absent, dict(absent, validate_certs=False)], defaults=https)
    assert not trusted.get("failed"), trusted.get("msg")
    assert trusted["changed"] is False and trusted["api_calls"] == {"DescribeInstances": 1}
    assert untrusted["failed"] and "SDK.HttpError" in untrusted["msg"] and "ca_bundle" in untrusted["msg"]
    assert not unchecked.get("failed") and any("validate_certs" in w for w in unchecked.get("warnings", []))
    assert tests_key(lab)["access_key_secret"] not in json.dumps([trusted, untrusted, unchecked])


def test_the_labs_own_https_listener_with_the_lab_ca(ecs_lab, tmp_path):
    lab = ecs_lab
    https = connection(lab, endpoint=lab["ecs"]["https_endpoint"], ca_bundle=lab["ecs"]["ca_file"])
    (result,) = run_play(lab, tmp_path, [{"name": "t-ecs-v8", "state": "absent"}], defaults=https)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False and result["api_calls"] == {"DescribeInstances": 1}
