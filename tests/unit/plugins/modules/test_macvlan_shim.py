"""macvlan_shim run by ansible-playbook inside a network namespace of the test's own (a veth link as the
parent), so the kernel's real links, addresses and routes are made and read back: created whole, a second
run changes nothing, check mode changes nothing, a moved instance loses its route, absent deletes it."""
import json
import os
import pathlib
import sys

import yaml
from private_netns import in_netns, private_netns

REPO = pathlib.Path(__file__).resolve().parents[4]


def task(name, check=False, **args):
    shim = dict({"parent": "d0", "address": "10.199.7.2", "routes": ["10.199.7.100", "10.199.7.101"]}, **args)
    return {"name": name, "containerops.platform.macvlan_shim": shim, "check_mode": check}


def run_play(pid, tmp_path, tasks):
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                                        "tasks": tasks}]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    out = in_netns(pid, os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                   "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, "--diff",
                   str(tmp_path / "play.yml"), cwd=REPO, env=env, timeout=180)
    doc = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]  # then profile_tasks' timing lines
    return {t["task"]["name"]: t["hosts"]["localhost"] for t in doc["plays"][0]["tasks"]}


def test_the_shim_is_made_once_kept_and_taken_away(tmp_path):
    with private_netns("10.199.7.5/24") as pid:
        results = run_play(pid, tmp_path, [
            task("create"), task("again"),
            task("check a moved instance", check=True, routes=["10.199.7.100"]),
            task("an instance moved away", routes=["10.199.7.100"]),
        ])
        link = json.loads(in_netns(pid, "ip", "-json", "-details", "link", "show", "dev", "mv-shim"))[0]
        addrs = in_netns(pid, "ip", "-4", "-o", "addr", "show", "dev", "mv-shim")
        routes = in_netns(pid, "ip", "-4", "route", "show", "dev", "mv-shim")
        gone = run_play(pid, tmp_path, [{"name": "absent", "containerops.platform.macvlan_shim": {"state": "absent"}},
                                        {"name": "absent again",
                                         "containerops.platform.macvlan_shim": {"state": "absent"}}])
        left = in_netns(pid, "ip", "-o", "link", "show")
    create = results["create"]
    assert create["changed"] and create["steps"] == [
        "add-link d0", "up", "add-address 10.199.7.2/32", "add-route 10.199.7.100/32", "add-route 10.199.7.101/32"]
    assert create["shim"] == {"kind": "macvlan", "parent": "d0", "mode": "bridge", "mac": "02:42:0a:c7:07:02",
                              "up": True, "addresses": ["10.199.7.2/32"],
                              "routes": ["10.199.7.100/32", "10.199.7.101/32"]}
    assert not results["again"]["changed"] and results["again"]["steps"] == []
    assert results["check a moved instance"]["changed"]
    assert results["check a moved instance"]["steps"] == ["delete-route 10.199.7.101/32"]
    assert results["an instance moved away"]["steps"] == ["delete-route 10.199.7.101/32"]
    # what the kernel has now
    assert link["linkinfo"]["info_kind"] == "macvlan" and link["linkinfo"]["info_data"]["mode"] == "bridge"
    assert link["link"] == "d0" and link["address"] == "02:42:0a:c7:07:02"
    assert "10.199.7.2/32" in addrs
    assert routes.split()[:1] == ["10.199.7.100"] and "10.199.7.101" not in routes
    assert gone["absent"]["changed"] and not gone["absent again"]["changed"]
    assert "mv-shim" not in left
