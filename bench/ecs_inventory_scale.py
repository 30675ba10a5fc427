#!/usr/bin/env python
"""How long `ansible-inventory --list` with containerops.platform.ecs takes for 2000 instances.

Starts its own ECS emulator in this process (backend none, fast time scale) on a free
loopback port, with the lab world's ids but /22 vSwitches (2000 instances do not fit the
lab's /24s), creates 1000 instances in each of cn-hangzhou and cn-shanghai with
RunInstances Amount=100, then times our inventory plugin (target: under 3 s).

Anchor, timed side by side against the same emulator: footmark's describe_instances loop
over both regions (PageNumber paging, PageSize 10 by default; what alibaba.alicloud's
inventory plugin runs). footmark comes from FOOTMARK_PYTHON, this interpreter, or a venv the
benchmark makes under .lab/bench-venvs from PyPI on first run. Only if that cannot be had,
the plainest SDK loop (PageNumber, PageSize 10, one region after the other) runs instead,
and the output says which anchor ran.

Both sides are timed as whole processes (interpreter start included). The plugin's figure
includes all of ansible-inventory (start-up, building 2000 hosts, dumping JSON); the
anchor only lists. So the plugin's API side (our client, same process shape) is timed too.
The last line of the output is one JSON object.

    .venv/bin/python bench/ecs_inventory_scale.py [--instances 2000] [--repeat 3]
"""

import argparse
import copy
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "lab"))
sys.path.insert(0, os.path.join(REPO, "collections"))

# A script, not a test: the lab and the collection are found through the sys.path entries above.
from ansible_collections.containerops.platform.plugins.module_utils import ecs  # noqa: E402
from ecs_emulator import Emulator  # noqa: E402
from ecs_emulator.state import World  # noqa: E402

TARGET_SECONDS = 3.0
REGIONS = ("cn-hangzhou", "cn-shanghai")
IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"
# vSwitch -> a /22 of its own (1020 usable addresses).
WIDE_CIDRS = {
    "vsw-bp1lab0hangzhouh00001": "10.100.0.0/22", "vsw-bp1lab0hangzhoui00001": "10.100.4.0/22",
    "vsw-uf6lab0shanghaib00001": "10.101.0.0/22", "vsw-uf6lab0shanghaie00001": "10.101.4.0/22",
}

FOOTMARK_ANCHOR = r"""
import json, sys, time
from aliyunsdkcore.profile import region_provider
import footmark.ecs
cfg = json.loads(sys.argv[1])
started = time.monotonic()
total = 0
for region in cfg["regions"]:
    # footmark has no endpoint option; this process-global SDK table is the way in.
    region_provider.add_endpoint("Ecs", region, cfg["endpoint"])
    conn = footmark.ecs.connect_to_region(region, acs_access_key_id=cfg["key"], acs_secret_access_key=cfg["secret"])
    total += len(conn.describe_instances())
print(json.dumps({"instances": total, "seconds": time.monotonic() - started}))
"""

SDK_ANCHOR = r"""
import json, sys, time
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest
cfg = json.loads(sys.argv[1])
started = time.monotonic()
total = 0
for region in cfg["regions"]:
    client = AcsClient(cfg["key"], cfg["secret"], region)
    client.add_endpoint(region, "Ecs", cfg["endpoint"])
    page = 1
    while True:
        req = DescribeInstancesRequest()
        req.set_PageNumber(page)
        req.set_PageSize(10)
        body = json.loads(client.do_action_with_exception(req))
        got = body["Instances"]["Instance"]
        total += len(got)
        if len(got) < 10:
            break
        page += 1
print(json.dumps({"instances": total, "seconds": time.monotonic() - started}))
"""


OUR_FETCH = r"""
import concurrent.futures, json, sys, time
sys.path.insert(0, sys.argv[2])
from ansible_collections.containerops.platform.plugins.module_utils import ecs
cfg = json.loads(sys.argv[1])
started = time.monotonic()
client = ecs.EcsClient(ecs.Credentials(cfg["key"], cfg["secret"], None, cfg["regions"][0]), endpoint=cfg["endpoint"])
with concurrent.futures.ThreadPoolExecutor(len(cfg["regions"])) as pool:
    total = sum(len(found) for found in pool.map(client.describe_instances, cfg["regions"]))
print(json.dumps({"instances": total, "seconds": time.monotonic() - started}))
"""


def wide_world():
    world = copy.deepcopy(World.load().data)
    for region in world["regions"]:
        for vsw in region["vswitches"]:
            vsw["CidrBlock"] = WIDE_CIDRS[vsw["VSwitchId"]]
    return World(world)


def populate(emu, key, secret, count):
    """count instances, half per region, over both vSwitches of each, 100 per RunInstances."""
    client = ecs.EcsClient(ecs.Credentials(key, secret, None, REGIONS[0]), endpoint=emu.endpoint)
    per_region = count // len(REGIONS)
    made = []
    for region in REGIONS:
        vswitches = [v for v in emu.world.vswitches.values() if v["RegionId"] == region]
        groups = [g for g in emu.world.security_groups.values() if g["RegionId"] == region]
        left, batch = per_region, 0
        while left > 0:
            amount = min(100, left)
            vsw = vswitches[batch % len(vswitches)]
            body = client.call("RunInstances", {
                "ImageId": IMAGE, "InstanceType": "ecs.g7.large", "VSwitchId": vsw["VSwitchId"],
                "SecurityGroupIds": [groups[0]["SecurityGroupId"]], "Amount": amount,
                "InstanceName": "bench-%s-%02d-[1,3]" % (region.split("-")[1][:2], batch),
                "Tag": [{"Key": "containerops.role", "Value": "manager" if batch % 5 == 0 else "worker"}],
            }, region=region)
            made.extend((region, i) for i in body["InstanceIdSets"]["InstanceIdSet"])
            left -= amount
            batch += 1
    for region in REGIONS:
        client.wait_for([i for r, i in made if r == region], ["Running"], 120, region=region, initial=0.2)
    return len(made)


def time_process(cmd, env=None):
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=600, check=False)
    return time.monotonic() - started, proc


def run_plugin(tmp, emu, key, secret):
    source = os.path.join(tmp, "bench.ecs.yml")
    with open(source, "w") as fh:
        json.dump({"plugin": "containerops.platform.ecs", "access_key": key, "secret_key": secret,
                   "endpoint": emu.endpoint, "regions": list(REGIONS)}, fh)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", source, "--list"]
    seconds, proc = time_process(cmd, env)
    if proc.returncode != 0:
        raise SystemExit("ansible-inventory failed:\n" + proc.stderr[-3000:])
    inventory = json.loads(proc.stdout)
    return seconds, len(inventory["_meta"]["hostvars"]), len(inventory.get("provider_ecs", {}).get("hosts", []))


FOOTMARK_VENV = os.path.join(REPO, ".lab", "bench-venvs", "footmark")
# footmark is what alibaba.alicloud runs on; its setup.py forgets PyYAML.
FOOTMARK_REQUIREMENTS = ["footmark==1.26.0", "PyYAML==6.0.3"]


def footmark_python():
    """An interpreter that imports footmark: FOOTMARK_PYTHON, this one, or a venv made here from PyPI."""
    candidates = [os.environ.get("FOOTMARK_PYTHON"), sys.executable, os.path.join(FOOTMARK_VENV, "bin", "python")]
    for python in filter(None, candidates):
        if os.path.exists(python) and subprocess.run([python, "-c", "import footmark.ecs, yaml"],
                                                     capture_output=True, check=False).returncode == 0:
            return python
    print(f"setting up the anchor: footmark in {FOOTMARK_VENV} ...", flush=True)
    made = subprocess.run([sys.executable, "-m", "venv", FOOTMARK_VENV],
                          capture_output=True, check=False).returncode == 0 and \
        subprocess.run([os.path.join(FOOTMARK_VENV, "bin", "pip"), "install", "-q", *FOOTMARK_REQUIREMENTS],
                       capture_output=True, check=False).returncode == 0
    return os.path.join(FOOTMARK_VENV, "bin", "python") if made else None


def run_our_fetch(emu, key, secret):
    """The plugin's API side alone (same process shape as the anchor): both regions, MaxResults=100."""
    cfg = json.dumps({"regions": list(REGIONS), "endpoint": emu.endpoint, "key": key, "secret": secret})
    seconds, proc = time_process([sys.executable, "-c", OUR_FETCH, cfg, os.path.join(REPO, "collections")])
    if proc.returncode != 0:
        raise SystemExit("fetch failed:\n" + proc.stderr[-3000:])
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def run_anchor(emu, key, secret):
    cfg = json.dumps({"regions": list(REGIONS), "endpoint": emu.endpoint, "key": key, "secret": secret})
    python = footmark_python()
    name = "footmark describe_instances (PageNumber, PageSize 10)" if python else \
        "plain SDK loop (PageNumber, PageSize 10, regions one after the other; footmark not installed)"
    env = dict(os.environ)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(var, None)
    seconds, proc = time_process([python or sys.executable, "-c", FOOTMARK_ANCHOR if python else SDK_ANCHOR, cfg],
                                 env)
    if proc.returncode != 0:
        raise SystemExit("anchor failed:\n" + proc.stderr[-3000:])
    return name, seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side; the median is reported")
    args = parser.parse_args()

    key, secret = "LTAI" + secrets.token_hex(10), secrets.token_urlsafe(24)
    emu = Emulator({"access_keys": {key: secret}}, world=wide_world(), time_scale=0.001).start()
    tmp = tempfile.mkdtemp(prefix="ecs-bench-")
    try:
        started = time.monotonic()
        made = populate(emu, key, secret, args.instances)
        print("emulator %s: %d instances in %s made in %.1fs"
              % (emu.endpoint, made, ", ".join(REGIONS), time.monotonic() - started))
        ours, anchors, fetches = [], [], []
        for n in range(args.repeat):
            emu.stats.reset()
            seconds, hosts, grouped = run_plugin(tmp, emu, key, secret)
            calls = emu.stats.describe()["calls"].get("DescribeInstances", 0)
            ours.append(seconds)
            print("run %d: containerops.platform.ecs  ansible-inventory --list  %.2fs  hosts=%d provider_ecs=%d "
                  "DescribeInstances=%d" % (n + 1, seconds, hosts, grouped, calls))
            assert hosts == made and grouped == made, "the plugin listed %d of %d instances" % (hosts, made)
            emu.stats.reset()
            anchor_name, anchor_seconds, anchor_out = run_anchor(emu, key, secret)
            anchor_calls = emu.stats.describe()["calls"].get("DescribeInstances", 0)
            anchors.append(anchor_seconds)
            fetch_seconds, fetch_out = run_our_fetch(emu, key, secret)
            fetches.append(fetch_seconds)
            print("run %d: our API side alone (EcsClient, both regions concurrently, MaxResults=100)  %.2fs  "
                  "instances=%d (loop alone %.2fs)" % (n + 1, fetch_seconds, fetch_out["instances"],
                                                       fetch_out["seconds"]))
            print("run %d: anchor: %s  %.2fs  instances=%d DescribeInstances=%d (loop alone %.2fs)" % (
                n + 1, anchor_name, anchor_seconds, anchor_out["instances"], anchor_calls, anchor_out["seconds"]))
        ours_s, anchor_s, fetch_s = statistics.median(ours), statistics.median(anchors), statistics.median(fetches)
        print("median: ours %.2fs (target < %.1fs: %s), anchor %.2fs, anchor/ours = %.2fx; API side alone: ours "
              "%.2fs, anchor/ours-API = %.2fx (ansible-inventory itself costs the difference)" % (
                  ours_s, TARGET_SECONDS, "met" if ours_s < TARGET_SECONDS else "MISSED", anchor_s, anchor_s / ours_s,
                  fetch_s, anchor_s / fetch_s))
        print(json.dumps({
            "benchmark": "ecs_inventory_scale", "instances": made, "regions": list(REGIONS),
            "ours_seconds": round(ours_s, 3), "ours_runs": [round(s, 3) for s in ours],
            "target_seconds": TARGET_SECONDS, "target_met": ours_s < TARGET_SECONDS,
            "anchor": anchor_name, "anchor_seconds": round(anchor_s, 3), "anchor_runs": [round(s, 3) for s in anchors],
            "ratio_anchor_over_ours": round(anchor_s / ours_s, 2),
            "ours_api_side_seconds": round(fetch_s, 3), "ratio_anchor_over_ours_api_side": round(anchor_s / fetch_s, 2),
        }))
    finally:
        emu.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
