"""containerops.platform.ecs inventory plugin against the lab's ECS emulator.

Instances are made with ecs_instance (t-ecs-i*, last octets 170-179) and removed afterwards;
the plugin's sources live in tmp dirs, with the credentials file given relative to them.
"""
import json
import os
import subprocess
import sys

import pytest
import yaml

from labhelpers import REPO, unwrap_unsafe
from test_ecs_instance import IMAGE, SG_HZ, TYPE, VSW_H, VSW_I, admin, connection, run_play, tests_key

BIN = os.path.dirname(sys.executable)
SG_SH = "sg-uf6lab0shanghai00001"
VSW_SH_B = "vsw-uf6lab0shanghaib00001"
OURS = "ecs_instance_name.startswith('t-ecs-i')"

pytestmark = pytest.mark.beside_fleet   # the tests' own ECS key and instances (t-ecs-i*), not the fleet


def inventory(tmp_path, config, env=None, subdir="inv/ecs"):
    """ansible-inventory --list on a source file written at tmp_path/subdir/test.ecs.yml."""
    directory = tmp_path / subdir
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "test.ecs.yml"
    source.write_text(yaml.safe_dump(dict({"plugin": "containerops.platform.ecs"}, **config)))
    run_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), **(env or {}))
    for name in ("ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY", "ALICLOUD_ECS_ENDPOINT", "ALICLOUD_PROFILE",
                 "HTTP_PROXY", "http_proxy"):
        if name not in (env or {}):
            run_env.pop(name, None)
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(source), "--list"],
                          cwd=str(tmp_path), env=run_env, text=True, capture_output=True, timeout=120, check=False)
    return proc, (unwrap_unsafe(json.loads(proc.stdout)) if proc.returncode == 0 and proc.stdout.strip() else None)


def members(inv, group):
    return set(inv.get(group, {}).get("hosts", []))


def lab_source(tmp_path, **extra):
    """A source like inventories/lab's: profile + credentials file relative to the source's directory."""
    creds = os.path.relpath(os.path.join(REPO, ".lab", "aliyun.json"), str(tmp_path / "inv" / "ecs"))
    config = {"shared_credentials_file": creds, "profile": "containerops-lab-tests", "endpoint": "127.0.0.1:8990",
              "regions": ["cn-hangzhou", "cn-shanghai"], "filters": [OURS]}
    config.update(extra)
    return config


@pytest.fixture(scope="module")
def fleet(lab, tmp_path_factory):
    """t-ecs-i1 (manager, hangzhou-h, running), i2 (worker, hangzhou-i, stopped), i3 (worker, shanghai-b)."""
    from test_ecs_instance import force_delete
    tmp = tmp_path_factory.mktemp("fleet")
    admin(lab, "/faults", "DELETE")
    force_delete(lab, "t-ecs-i")
    common = {"security_group_ids": [SG_HZ], "image_id": IMAGE, "instance_type": TYPE, "user_data": lab["user_data"]}
    hz = run_play(lab, tmp, [
        dict(common, vswitch_id=VSW_H, name="t-ecs-i1", private_ip="10.88.16.170",
             tags={"containerops.role": "manager", "fqdn": "i1.lab.example"}),
        dict(common, vswitch_id=VSW_I, name="t-ecs-i2", private_ip="10.88.17.171",
             tags={"containerops.role": "worker"}, state="stopped")])
    sh = run_play(lab, tmp, [dict(common, vswitch_id=VSW_SH_B, security_group_ids=[SG_SH], name="t-ecs-i3",
                                  private_ip="10.88.32.172", tags={"containerops.role": "worker"})],
                  defaults=connection(lab, region="cn-shanghai"))
    for result in hz + sh:
        assert not result.get("failed"), result.get("msg")
    yield {r["instances"][0]["name"]: r["instances"][0] for r in hz + sh}
    force_delete(lab, "t-ecs-i")


def test_lists_instances_of_both_regions_with_fleet_groups_and_vars(lab, fleet, tmp_path):
    admin(lab, "/stats", "DELETE")
    proc, inv = inventory(tmp_path, lab_source(tmp_path))
    assert inv is not None, proc.stderr
    hosts = inv["_meta"]["hostvars"]
    assert set(hosts) == {"t-ecs-i1", "t-ecs-i2", "t-ecs-i3"}
    assert {"t-ecs-i1", "t-ecs-i2", "t-ecs-i3"} <= members(inv, "provider_ecs")
    assert members(inv, "zone_cn_hangzhou_h") == {"t-ecs-i1"}
    assert members(inv, "zone_cn_hangzhou_i") == {"t-ecs-i2"}
    assert members(inv, "zone_cn_shanghai_b") == {"t-ecs-i3"}
    assert members(inv, "role_manager") == {"t-ecs-i1"}
    assert members(inv, "role_worker") == {"t-ecs-i2", "t-ecs-i3"}
    i1, i2, i3 = hosts["t-ecs-i1"], hosts["t-ecs-i2"], hosts["t-ecs-i3"]
    assert (i1["ansible_host"], i2["ansible_host"], i3["ansible_host"]) == (
        "10.88.16.170", "10.88.17.171", "10.88.32.172")
    assert i1["platform_provider"] == "ecs" and i1["platform_region"] == "cn-hangzhou"
    assert i3["platform_region"] == "cn-shanghai" and i3["platform_zone"] == "cn-shanghai-b"
    assert i1["platform_observed_role"] == "manager" and i1["platform_power_state"] == "running"
    assert i1["platform_observed_ip"] == "10.88.16.170"
    assert i2["platform_power_state"] == "stopped"
    assert i1["ecs_instance_id"] == fleet["t-ecs-i1"]["instance_id"] and i1["ecs_observed_instance_type"] == TYPE
    assert i1["ecs_observed_tags"] == {"containerops.role": "manager", "fqdn": "i1.lab.example"}
    assert i1["ecs_observed_vswitch_id"] == VSW_H and i1["ecs_observed_security_group_ids"] == [SG_HZ]
    for desired in ("platform_role", "ecs_instance_type", "ecs_image_id", "ecs_tags", "ecs_vswitch_id",
                    "ecs_security_group_ids", "ecs_region", "ecs_zone_id"):
        assert desired not in i1, "%s names a desired setting (docs/fleet.md); not set from facts" % desired
    calls = admin(lab, "/stats")["calls"]
    assert calls["DescribeInstances"] >= 2  # one paged listing per region


def test_server_side_filters(lab, fleet, tmp_path):
    # inventory() answers (the process, the listing): only the listing matters here.
    stopped = inventory(tmp_path, lab_source(tmp_path, statuses=["Stopped"]))[1]
    in_vsw = inventory(tmp_path, lab_source(tmp_path, vswitch_ids=[VSW_I, VSW_SH_B]))[1]
    managers = inventory(tmp_path, lab_source(tmp_path, tags={"containerops.role": "manager"}))[1]
    in_vpc = inventory(tmp_path, lab_source(tmp_path, regions=["cn-shanghai"],
                                            vpc_ids=["vpc-uf6lab0shanghai000001"]))[1]
    assert set(stopped["_meta"]["hostvars"]) == {"t-ecs-i2"}
    assert set(in_vsw["_meta"]["hostvars"]) == {"t-ecs-i2", "t-ecs-i3"}
    assert set(managers["_meta"]["hostvars"]) == {"t-ecs-i1"}
    assert set(in_vpc["_meta"]["hostvars"]) == {"t-ecs-i3"}


def test_templated_credentials_constructed_hostnames_and_cache(lab, fleet, tmp_path):
    config = {
        # Jinja in the source is rendered by the plugin's templar (the source file is trusted).
        "access_key": "{{ lookup('ansible.builtin.env', 'T_ECS_KEY') }}",
        "secret_key": "{{ lookup('ansible.builtin.env', 'T_ECS_SECRET') }}",
        "endpoint": "{{ 'http://127.0.0.1:' ~ 8990 }}",
        "region": "cn-hangzhou",
        "filters": [OURS],
        "hostnames": ["tag:fqdn", "InstanceId"],
        "keyed_groups": [{"key": "ecs_observed_instance_type", "prefix": "type"}],
        "groups": {"stopped_ones": "platform_power_state == 'stopped'"},
        "compose": {"node_label": "'node-' ~ platform_zone"},
        "cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache"),
        "cache_timeout": 600,
    }
    env = {"T_ECS_KEY": tests_key(lab)["access_key_id"], "T_ECS_SECRET": tests_key(lab)["access_key_secret"]}
    proc, inv = inventory(tmp_path, config, env=env)
    assert inv is not None, proc.stderr
    i2_id = fleet["t-ecs-i2"]["instance_id"]
    assert set(inv["_meta"]["hostvars"]) == {"i1.lab.example", i2_id}
    assert members(inv, "type_ecs_g7_large") == {"i1.lab.example", i2_id}
    assert members(inv, "stopped_ones") == {i2_id}
    assert inv["_meta"]["hostvars"]["i1.lab.example"]["node_label"] == "node-cn-hangzhou-h"

    # Second run: served from the cache, no DescribeInstances at all.
    admin(lab, "/stats", "DELETE")
    proc, cached = inventory(tmp_path, config, env=env)
    assert cached == inv
    assert "DescribeInstances" not in admin(lab, "/stats")["calls"]


def test_wrong_credentials_fail_with_a_message_naming_the_option(lab, tmp_path):
    config = {"access_key": "LTAINOSUCHKEY0000000000", "secret_key": "x" * 30, "endpoint": "127.0.0.1:8990",
              "regions": ["cn-hangzhou"]}
    proc, inv = inventory(tmp_path, config)
    assert "InvalidAccessKeyId.NotFound" in proc.stderr and "access_key" in proc.stderr
    assert not (inv or {}).get("_meta", {}).get("hostvars")
