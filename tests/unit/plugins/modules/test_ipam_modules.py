"""ipam_pool, ipam_address and the ipam lookup run by ansible-playbook against a private etcd
(conftest's etcd_url): a first run changes, a second changes nothing, --check reports and writes nothing."""
import json
import os
import pathlib
import subprocess
import sys

import yaml

from ansible_collections.containerops.platform.plugins.module_utils.ipam import Ipam, Store

REPO = pathlib.Path(__file__).resolve().parents[4]


def play(owners, extra_tasks=()):
    tasks = [
        {"name": "pool", "containerops.platform.ipam_pool": {
            "name": "apps", "subnet": "10.66.0.0/24", "gateway": "10.66.0.1", "ranges": ["10.66.0.10-10.66.0.50"],
            "reserved": ["10.66.0.20"], "vlan": 66, "provider": "vsphere", "zone": "cluster-a", "hold_down": 60}},
    ]
    for owner, extra in owners:
        tasks.append({"name": "address %s" % json.dumps(owner, sort_keys=True),
                      "containerops.platform.ipam_address": dict({"pool": "apps", "owner": owner}, **extra)})
    tasks += list(extra_tasks)
    # The connection comes from the environment; the prefix from the etcd action group's defaults.
    return [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/containerops.platform.etcd": {"prefix": "{{ ipam_prefix }}"}},
             "tasks": tasks}]


OWNERS = [
    ({"application": "web", "environment": "test", "slot": 0}, {}),
    ("web:test:1", {"state": "bound", "holder": "lab-vs-1/web-1"}),
    ("dns:test:0", {"ip": "10.66.0.42"}),
]
LOOKUP = {"name": "lookup", "ansible.builtin.debug": {"msg": "{{ query('containerops.platform.ipam', 'web:test:1', "
                                                             "'dns:test:0', pool='apps', prefix=ipam_prefix) }}"}}
HOLDERS = {"name": "holders", "ansible.builtin.debug": {
    "msg": "{{ query('containerops.platform.ipam', 'web:test:1', 'dns:test:0', 'api:test:9', pool='apps', "
           "field='holder', default='no address', prefix=ipam_prefix) }}"}}


def run(tmp_path, etcd_url, prefix, plays, *args):
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "CONTAINEROPS_ETCD_ENDPOINTS": etcd_url}
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                             "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                             "-e", "ipam_prefix=" + prefix, *args, str(tmp_path / "play.yml")],
                            cwd=REPO, env=env, text=True, capture_output=True, timeout=180, check=False)
    out = result.stdout
    # The JSON document, then profile_tasks' timing lines.
    doc = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for t in doc["plays"][0]["tasks"]}
    return result.returncode, tasks, doc["stats"]["localhost"]


def test_modules_allocate_once_then_change_nothing_and_check_mode_writes_nothing(tmp_path, etcd_url, ipam_prefix):
    rc, tasks, stats = run(tmp_path, etcd_url, ipam_prefix, play(OWNERS, [LOOKUP, HOLDERS]))
    assert rc == 0, tasks
    assert stats["changed"] == 4
    assert tasks["holders"]["msg"] == ["lab-vs-1/web-1", None, "no address"]
    first = {name: r.get("ip") for name, r in tasks.items() if name.startswith("address")}
    assert first['address "dns:test:0"'] == "10.66.0.42"
    assert tasks['address "web:test:1"']["address"]["holder"] == "lab-vs-1/web-1"
    assert tasks["lookup"]["msg"] == [first['address "web:test:1"'], "10.66.0.42"]
    assert len(set(first.values())) == 3

    rc, tasks, stats = run(tmp_path, etcd_url, ipam_prefix, play(OWNERS, [LOOKUP]))
    assert rc == 0 and stats["changed"] == 0, tasks
    assert {name: r.get("ip") for name, r in tasks.items() if name.startswith("address")} == first

    changes = OWNERS + [("api:test:0", {}), ("web:test:0", {"state": "released"})]
    rc, tasks, stats = run(tmp_path, etcd_url, ipam_prefix, play(changes), "--check", "--diff")
    assert rc == 0 and stats["changed"] == 2, tasks
    new = tasks['address "api:test:0"']
    assert new["changed"] and new["ip"] not in first.values()
    assert new["diff"][0]["before"] == {"state": "absent"} and new["diff"][0]["after"]["state"] == "allocated"
    gone = tasks['address "web:test:0"']["diff"][0]
    assert gone["before"]["state"] == "allocated" and gone["after"]["state"] == "held-down"

    # Nothing was written.
    ipam = Ipam(Store([etcd_url]), ipam_prefix)
    assert ipam.lookup("apps", "api:test:0") is None
    web0 = 'address {"application": "web", "environment": "test", "slot": 0}'
    assert ipam.lookup("apps", "web:test:0") == first[web0]


def test_module_errors_are_clear_and_write_nothing(tmp_path, etcd_url, ipam_prefix):
    bad = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "overlap", "containerops.platform.ipam_pool": {
            "name": "x", "subnet": "10.67.0.0/24", "gateway": "10.67.0.15", "ranges": ["10.67.0.10-10.67.0.20"],
            "provider": "ecs", "prefix": "{{ ipam_prefix }}"}, "ignore_errors": True},
        {"name": "no pool", "containerops.platform.ipam_address": {
            "pool": "x", "owner": "web:test:0", "prefix": "{{ ipam_prefix }}"}, "ignore_errors": True},
        {"name": "no owner", "ansible.builtin.debug": {
            "msg": "{{ lookup('containerops.platform.ipam', pool='x', owner='web:test:0', prefix=ipam_prefix,"
                   " default='none yet') }}"}, "ignore_errors": True},
    ]}]
    rc, tasks, stats = run(tmp_path, etcd_url, ipam_prefix, bad)
    assert "gateway 10.67.0.15 is inside the range" in tasks["overlap"]["msg"]
    assert "pool x does not exist" in tasks["no pool"]["msg"]
    assert "pool x does not exist" in tasks["no owner"]["msg"]
    assert stats["changed"] == 0


def test_audit_reads_every_record_and_reports_what_the_machines_do_not_match(tmp_path, etcd_url, ipam_prefix):
    audit = {"name": "audit", "containerops.platform.ipam_audit": {
        "observed": [{"ip": "10.66.0.42", "holder": "node-2/dns-test-0", "source": "container"},
                     {"ip": "10.66.0.49", "holder": "node-1/stray", "source": "container", "running": False}],
        "checked": ["lab-vs-1", "node-2", "node-1"]}}
    unknown = {"name": "unknown pool", "containerops.platform.ipam_audit": {"pools": ["apps", "nope"]},
               "ignore_errors": True}
    rc, tasks, stats = run(tmp_path, etcd_url, ipam_prefix, play(OWNERS, [audit, unknown]))
    assert rc == 0 and tasks["audit"]["changed"] is False, tasks
    found = [(d["kind"], d["ip"]) for d in tasks["audit"]["differences"]]
    web1 = tasks['address "web:test:1"']["ip"]
    # web:test:1 is bound to lab-vs-1/web-1, which lab-vs-1 does not run; dns:test:0 has no holder but runs on
    # node-2; 10.66.0.49 was never handed out.
    assert sorted(found) == sorted([("not_found", web1), ("other_holder", "10.66.0.42"), ("not_in_ipam", "10.66.0.49")])
    assert tasks["audit"]["audited"] == {"pools": 1, "addresses": 3, "observed": 2}
    assert "pools nope do not exist (the IPAM has: apps)" in tasks["unknown pool"]["msg"]


def test_lock_module_refuses_a_second_holder_and_lets_go_with_the_token(tmp_path, etcd_url, ipam_prefix):
    def task(name, **args):
        return {"name": name, "containerops.platform.ipam_lock": dict(owner="orders:test:1", **args),
                "register": name.replace(" ", "_"), "ignore_errors": True}
    plays = [{"hosts": "localhost", "gather_facts": False,
              "module_defaults": {"group/containerops.platform.etcd": {"prefix": "{{ ipam_prefix }}"}},
              "tasks": [task("take", operation="migrate to vm", by="job 1", ttl=60),
                        task("again", operation="migrate to container", by="job 2"),
                        task("wrong token", state="unlocked", token="nope"),
                        task("let go", state="unlocked", token="{{ take.token }}"),
                        task("let go again", state="unlocked", token="{{ take.token }}")]}]
    rc, tasks, stats = run(tmp_path, etcd_url, ipam_prefix, plays, "--diff")
    assert tasks["take"]["changed"] and tasks["take"]["lock"]["by"] == "job 1" and tasks["take"]["token"]
    assert tasks["again"]["failed"] and "orders:test:1 is locked: migrate to vm by job 1" in tasks["again"]["msg"]
    assert tasks["wrong token"]["failed"] and "not by the token given" in tasks["wrong token"]["msg"]
    assert tasks["let go"]["changed"] and tasks["let go"]["diff"]["before"]["by"] == "job 1"
    assert not tasks["let go again"]["changed"] and not tasks["let go again"].get("failed")
    # In check mode nothing is taken.
    rc, tasks, stats = run(tmp_path, etcd_url, ipam_prefix, plays, "--check")
    assert tasks["take"]["changed"] and tasks["take"]["token"] is None and not tasks["again"].get("failed")
