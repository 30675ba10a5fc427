"""playbooks/cluster.yml on the lab fleet: a real 6-node Swarm across vSphere and ECS nodes.

The run's swarm (conftest's `swarm`), tests in order: formation + idempotency, bad input (cluster
untouched), a node that left inventory, a killed and re-created manager, engine restarts, autolock.
The swarm stays for later modules; the end of the run takes it down when there was none before.
"""
import json
import os
import shutil
import subprocess
import time

from labhelpers import (
    HIGHSTATE_IDLE,
    SESSION,
    ansible,
    drift_node,
    inventory_without,
    machines,
    node_converged,
    recap,
    salt_master,
    ssh,
    swarm_state,
    wait_until,
)
from labhelpers import SWARM_KEY_DIR as KEY_DIR

MANAGERS = {"lab-vs-1": "10.88.1.11", "lab-vs-2": "10.88.1.12", "lab-ecs-1": "10.88.16.11"}
WORKERS = {"lab-vs-3": "10.88.1.13", "lab-ecs-2": "10.88.17.11", "lab-ecs-3": "10.88.32.11"}
NODES = {**MANAGERS, **WORKERS}
LEADER_IP = MANAGERS["lab-vs-1"]
IMAGE = "containerops-lab/busybox:latest"


def ok(result):
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return result


def failed(result):
    assert result.returncode != 0, result.stdout[-3000:]
    return " ".join((result.stdout + result.stderr).split())


def recap_changed(stdout):
    return {host: counts["changed"] for host, counts in recap(stdout).items()}


def cluster(*args):
    return ansible("ansible-playbook", "playbooks/cluster.yml", *args)


def sh(lab, ip, cmd):
    r = ssh(lab, ip, cmd, timeout=20)
    assert r.returncode == 0, f"{ip}: {cmd}: {r.stderr}"
    return r.stdout.strip()


def nodes(lab, ip=LEADER_IP):
    """[(hostname, status, manager status, labels)] of the swarm, seen from a manager."""
    out = sh(lab, ip, "docker node inspect $(docker node ls -q) --format "
                      "'{{json .Description.Hostname}} {{json .Status.State}} {{json .Spec.Role}}"
                      " {{json .Spec.Labels}}'")
    return sorted(tuple(json.loads(x) for x in line.split(" ", 3)) for line in out.splitlines())


def spec_snapshot(lab, ip=LEADER_IP):
    """What a run must not change: node IDs, roles, availability, labels, and the swarm spec."""
    return sh(lab, ip, "docker node inspect $(docker node ls -q) --format '{{.ID}} {{json .Spec}}' | sort; "
                       "docker info --format '{{json .Swarm.Cluster.Spec}}'")


def assert_healthy(lab, ip=LEADER_IP):
    found = nodes(lab, ip)
    assert [(h, s, r) for h, s, r, _labels in found] == sorted(
        (h, "ready", "manager" if h in MANAGERS else "worker") for h in NODES), found
    providers = {node[3].get("containerops.provider") for node in found}
    assert providers == {"vsphere", "ecs"}
    for host, _state, _role, labels in found:
        assert labels["containerops.managed"] == "true" and labels["containerops.zone"], (host, labels)
        assert labels["containerops.workload-class"] == "general"


def bootstrap(*args):
    """Docker engines on the nodes, from the Salt bootstrap (args: hosts to limit it to, or options)."""
    if args and not args[0].startswith("-"):
        args = ("--limit", ",".join(args))
    return ok(ansible("ansible-playbook", "playbooks/bootstrap.yml", *args, timeout=900))


def test_fresh_engines_to_healthy_swarm_and_rerun_changes_nothing(swarm):
    lab = swarm
    if not any(swarm_state(lab, ip) == "active" for ip in NODES.values()):
        # --check on engines without a swarm (every fresh lab, so every CI run) reports and forms nothing.
        checked = ok(cluster("--check"))
        assert sum(recap_changed(checked.stdout).values()) > 0, checked.stdout[-3000:]   # the init it would do
        assert {swarm_state(lab, ip) for ip in NODES.values()} == {"inactive"}
    t0 = time.monotonic()
    first = ok(cluster())
    formed = time.monotonic() - t0
    assert_healthy(lab)
    # every manager answers for the cluster
    for ip in MANAGERS.values():
        assert len(sh(lab, ip, "docker node ls -q").split()) == 6
    t0 = time.monotonic()
    second = ok(cluster())
    rerun = time.monotonic() - t0
    assert set(recap_changed(second.stdout).values()) == {0}, second.stdout[-4000:]
    check = ok(cluster("--check"))
    assert set(recap_changed(check.stdout).values()) == {0}, check.stdout[-4000:]
    # A label taken off by hand is put back, on that node alone (the run reads every node's labels once).
    sh(lab, LEADER_IP, "docker node update --label-rm containerops.zone lab-ecs-2 >/dev/null")
    relabelled = ok(cluster())
    assert {h for h, n in recap_changed(relabelled.stdout).items() if n} == {"lab-ecs-2"}, relabelled.stdout[-4000:]
    assert_healthy(lab)
    # join tokens never show up
    tokens = sh(lab, LEADER_IP, "docker swarm join-token -q worker; docker swarm join-token -q manager").split()
    for token in tokens:
        assert token not in first.stdout + second.stdout
    print(f"\ncluster.yml: first run {formed:.1f}s, idempotent re-run {rerun:.1f}s")


def load_test_image(lab, *ips):
    """The lab's busybox image on nodes (they pull from nowhere): docker save | ssh docker load."""
    for ip in ips:
        subprocess.run(f"docker save {IMAGE} | ssh -i {lab['ssh']['private_key']} -o StrictHostKeyChecking=no "
                       f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@{ip} docker load",
                       shell=True, check=True, capture_output=True)


def test_salt_restores_drift_on_swarm_members_and_the_swarm_is_healthy_after(swarm):
    """Hand-made drift on a manager in Salt master mode (lab-vs-2) and a masterless worker (lab-ecs-2):
    daemon.json edited, engine stopped, ip_forward off. Salt alone puts both right (the master's highstate
    schedule, the timer's service), and then the swarm is whole: every node ready, the manager reachable,
    a task running on each of the two, and cluster.yml finds nothing to change."""
    lab = swarm
    manager, worker = "lab-vs-2", "lab-ecs-2"
    assert salt_master(manager, "test.ping") == {manager: True}
    for host in (manager, worker):
        drift_node(lab, NODES[host], live_restore=False)

    def seen_as(host):
        return next(n[1] for n in nodes(lab) if n[0] == host)
    # The swarm notices: both nodes go down (node heartbeats stop with the engine).
    wait_until(lambda: seen_as(manager) == "down" and seen_as(worker) == "down", 90, interval=2,
               what=f"{manager} and {worker} down in the swarm")

    # No Ansible from here on: the master runs its highstate schedule job on the manager, the worker's
    # timer service runs (what the timer starts, started now rather than within 15 minutes).
    started = salt_master(manager, "schedule.run_job", "containerops-highstate")
    assert started[manager]["result"] is True, started
    run = ssh(lab, NODES[worker], "systemctl start containerops-salt-highstate.service", timeout=240)
    assert run.returncode == 0, run.stderr
    for host in (manager, worker):
        wait_until(lambda host=host: node_converged(lab, NODES[host], live_restore=False), 180, interval=2,
                   what=f"Salt to restore {host}")

    wait_until(lambda: seen_as(manager) == "ready" and seen_as(worker) == "ready", 90, interval=2,
               what="both nodes ready again")
    assert_healthy(lab)
    assert sh(lab, LEADER_IP, f"docker node inspect {manager} --format '{{{{.ManagerStatus.Reachability}}}}'") \
        == "reachable"
    assert_healthy(lab, NODES[manager])    # and the manager itself answers for the cluster again

    load_test_image(lab, NODES[manager], NODES[worker])
    sh(lab, LEADER_IP, f"docker node update --label-add drifttest=yes {manager} >/dev/null && "
                       f"docker node update --label-add drifttest=yes {worker} >/dev/null && "
                       f"docker service create -d --name drifttest --mode global --no-resolve-image "
                       f"--constraint node.labels.drifttest==yes {IMAGE} sleep 3600 >/dev/null")
    try:
        def running():
            return sorted(sh(lab, LEADER_IP, "docker service ps drifttest --filter desired-state=running "
                                             "--format '{{.Node}} {{.CurrentState}}'").splitlines())
        wait_until(lambda: [r.split()[:2] for r in running()] == sorted([[manager, "Running"], [worker, "Running"]]),
                   60, what="a drifttest task running on both restored nodes")
    finally:
        sh(lab, LEADER_IP, f"docker service rm drifttest >/dev/null; docker node update --label-rm drifttest "
                           f"{manager} >/dev/null; docker node update --label-rm drifttest {worker} >/dev/null")
    again = ok(cluster())
    assert set(recap_changed(again.stdout).values()) == {0}, again.stdout[-4000:]


def test_bad_input_fails_clearly_and_leaves_the_cluster_untouched(swarm, tmp_path):
    lab = swarm
    before = spec_snapshot(lab)
    even = tmp_path / "even.yml"
    even.write_text("all:\n  hosts:\n    lab-ecs-2: {platform_role: manager}\n")
    msg = failed(cluster("-i", str(even)))
    assert "4 managers" in msg and "platform_role" in msg and "swarm_manager_counts" in msg
    badkey = tmp_path / "badkey.yml"
    badkey.write_text("all:\n  hosts:\n    lab-vs-3:\n      swarm_node_labels: {Bad_Key: x}\n")
    msg = failed(cluster("-i", str(badkey)))
    assert "lab-vs-3: swarm_node_labels has invalid key(s) Bad_Key" in msg and "Fix:" in msg
    unreachable = tmp_path / "unreachable.yml"
    unreachable.write_text("all:\n  hosts:\n    lab-ecs-3: {ansible_port: 1}\n")
    msg = failed(cluster("-i", str(unreachable)))
    assert "unreachable over SSH: lab-ecs-3" in msg and "The swarm was not touched" in msg
    assert spec_snapshot(lab) == before


def test_a_run_on_part_of_the_fleet_removes_nobody(swarm):
    """Membership comes from the inventory's fleet, not from the play: a run on the ECS hosts alone
    must not take the vSphere nodes for departed (on the old code it drained and removed all three)."""
    lab = swarm
    before = spec_snapshot(lab)
    ecs_only = ok(cluster("-e", "swarm_hosts=fleet_ecs"))
    assert set(recap_changed(ecs_only.stdout)) == {"lab-ecs-1", "lab-ecs-2", "lab-ecs-3"}
    assert spec_snapshot(lab) == before
    assert_healthy(lab)
    # A play without any manager of the inventory cannot work through one: refused, nothing changed.
    msg = failed(cluster("-e", "swarm_hosts=lab-vs-3,lab-ecs-3"))
    assert "none of the swarm's managers from inventory" in msg
    assert spec_snapshot(lab) == before


def test_node_removed_from_inventory_is_drained_and_removed(swarm, tmp_path):
    lab = swarm
    load_test_image(lab, WORKERS["lab-ecs-3"], WORKERS["lab-vs-3"])
    sh(lab, LEADER_IP, "docker node update --label-add swarmtest=yes lab-ecs-3 >/dev/null && "
                       f"docker service create -d --name swarmtest --no-resolve-image --endpoint-mode dnsrr "
                       f"--constraint node.labels.swarmtest==yes {IMAGE} sleep 3600 >/dev/null")

    def running_on():
        return sh(lab, LEADER_IP, "docker service ps swarmtest --filter desired-state=running "
                                  "--format '{{.Node}} {{.CurrentState}}'")
    wait_until(lambda: running_on().startswith("lab-ecs-3 Running"), 60, what="test task on lab-ecs-3")
    sh(lab, LEADER_IP, "docker node update --label-add swarmtest=yes lab-vs-3")

    # Two machines gone from the fleet at once (a typo in fleet.yml looks just like that): more than
    # swarm_remove_max (1), so nothing is removed unless both are confirmed by name.
    before = spec_snapshot(lab)
    two_gone = inventory_without(tmp_path / "two", "lab-ecs-2", "lab-ecs-3")
    msg = failed(ansible("ansible-playbook", "playbooks/cluster.yml", inventory=two_gone))
    assert "2 nodes left the inventory's fleet" in msg and "lab-ecs-2, lab-ecs-3" in msg
    assert "swarm_remove_confirm" in msg and "nothing was changed" in msg
    assert spec_snapshot(lab) == before

    without = inventory_without(tmp_path, "lab-ecs-3")

    def cluster_without(*args):
        return ansible("ansible-playbook", "playbooks/cluster.yml", *args, inventory=without)
    # A --limit run sees only part of inventory: it must not take the rest for departed nodes.
    ok(cluster_without("--limit", ",".join(h for h in NODES if h != "lab-ecs-3")))
    assert ("lab-ecs-3", "ready") in [n[:2] for n in nodes(lab)]
    assert running_on().startswith("lab-ecs-3 Running"), running_on()
    # Opting out from the command line (the string 'false', as AWX surveys pass it too) keeps it as well.
    ok(cluster_without("-e", "swarm_remove_departed=false"))
    assert ("lab-ecs-3", "ready") in [n[:2] for n in nodes(lab)]

    ok(cluster_without())
    assert "lab-ecs-3" not in [n[0] for n in nodes(lab)]
    assert running_on().startswith("lab-vs-3 Running"), running_on()
    sh(lab, LEADER_IP, "docker service rm swarmtest >/dev/null")
    # back in inventory: it leaves its old swarm state and joins again
    ok(cluster())
    assert_healthy(lab)


def test_killed_manager_keeps_quorum_and_recreated_node_heals(swarm):
    lab = swarm
    ok(machines("poweredoff", ["lab-vs-2"]))
    wait_until(lambda: ("lab-vs-2", "down", "manager") in [n[:3] for n in nodes(lab)], 60, interval=2,
               what="lab-vs-2 down")
    # quorum: both other managers still run the cluster
    assert "lab-vs-2" in sh(lab, MANAGERS["lab-ecs-1"], "docker node ls --format '{{.Hostname}}'")
    sh(lab, LEADER_IP, "docker service create -d --name quorumcheck --no-resolve-image --replicas 0 "
                       f"{IMAGE} true >/dev/null && docker service rm quorumcheck >/dev/null")
    before = spec_snapshot(lab)
    msg = failed(cluster())
    assert "unreachable over SSH: lab-vs-2" in msg
    assert spec_snapshot(lab) == before

    ok(machines("absent", ["lab-vs-2"]))
    ok(ansible("ansible-playbook", "playbooks/provision.yml"))
    bootstrap("lab-vs-2")
    ok(cluster())
    assert_healthy(lab)
    assert_healthy(lab, MANAGERS["lab-vs-2"])


def engine_windows(lab):
    """{host: (stopped, active)}: when each node's engine last stopped and last became active, in
    CLOCK_MONOTONIC microseconds - the nodes are containers on one kernel, so their clocks agree."""
    windows = {}
    for host, ip in NODES.items():
        props = dict(line.split("=", 1) for line in sh(lab, ip, "systemctl show docker -p ActiveExitTimestampMonotonic "
                                                                "-p ActiveEnterTimestampMonotonic").splitlines())
        windows[host] = (int(props["ActiveExitTimestampMonotonic"]), int(props["ActiveEnterTimestampMonotonic"]))
    return windows


# Needs an engine restart.
POOLS = json.dumps({"salt_bootstrap_docker_default_address_pools": [{"base": "172.31.0.0/16", "size": 24}]})


def test_engine_restarts_never_hit_two_swarm_nodes_at_once(swarm):
    """A pillar change dockerd cannot reload (default-address-pools) reaches every node. Salt - the
    masterless timers all at once, bootstrap.yml's highstate on all six - restarts no engine of a Swarm
    node; engine_restart.yml (run by bootstrap.yml) restarts them one at a time, workers first, with
    the autolocked managers unlocked, and the swarm is whole after. On the old states every engine
    restarted together, and the managers stayed locked."""
    lab = swarm
    ok(cluster("-e", "swarm_autolock=true"))
    before = engine_windows(lab)
    try:
        # The timers of the three masterless nodes fire together on a changed pillar. The pillar is changed
        # once no highstate runs: `systemctl start` on a run the timer already began (with the old pillar)
        # only waits for it.
        for host in ("lab-ecs-1", "lab-ecs-2", "lab-ecs-3"):
            edited = ssh(lab, NODES[host], f"{HIGHSTATE_IDLE}; "
                         "sed -i 's/172.30.0.0/172.31.0.0/' /srv/containerops/salt/pillar/hosts/*.sls", timeout=300)
            assert edited.returncode == 0, edited.stderr
        timers = [subprocess.Popen(["ssh", "-i", lab["ssh"]["private_key"], "-o", "StrictHostKeyChecking=no",
                                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{NODES[h]}",
                                    "systemctl start containerops-salt-highstate.service"])
                  for h in ("lab-ecs-1", "lab-ecs-2", "lab-ecs-3")]
        assert [t.wait(timeout=300) for t in timers] == [0, 0, 0]
        for host in ("lab-ecs-1", "lab-ecs-2", "lab-ecs-3"):
            assert sh(lab, NODES[host], "/usr/local/sbin/containerops-docker-restart status") == "pending"
            assert "172.31.0.0" in sh(lab, NODES[host], "cat /etc/docker/daemon.json")
        assert engine_windows(lab) == before, "Salt restarted a Swarm node's engine by itself"

        rolled = bootstrap("-e", POOLS)
        assert "restart pending" in rolled.stdout           # the highstate left it to the roll
        after = engine_windows(lab)
        assert all(after[h][0] > before[h][1] for h in NODES), (before, after)   # each engine restarted
        down = sorted(after.items(), key=lambda item: item[1])
        for (host, (_stop, up)), (next_host, (stop, _up)) in zip(down, down[1:]):
            assert up < stop, f"{next_host}'s engine stopped before {host}'s was up again"
        assert {h for h, _window in down[:3]} == set(WORKERS)   # workers first, then the managers
        assert {swarm_state(lab, ip) for ip in NODES.values()} == {"active"}   # managers unlocked
        # The roll ends when the manager it worked through knows every node's state; the leader (elected
        # anew while the managers restarted) learns them from the next heartbeats, within seconds.
        wait_until(lambda: all(n[1] == "ready" for n in nodes(lab)), 30, interval=1, what="every node ready")
        assert_healthy(lab)
        for host in MANAGERS:
            assert sh(lab, LEADER_IP, f"docker node inspect {host} --format "
                                      "'{{.ManagerStatus.Reachability}} {{.Spec.Availability}}'") == "reachable active"
        again = ok(ansible("ansible-playbook", "playbooks/engine_restart.yml"))
        assert "no engine restart pending" in again.stdout and sum(recap_changed(again.stdout).values()) == 0
    finally:
        # Back to the inventory's pools: when this run formed the swarm, once it is gone again (all engines
        # restart together then: conftest's swarm, or test_site_playbook.py's run from no swarm); else now,
        # with a roll of three workers at once. Autolock off.
        if SESSION["swarm_formed"]:
            SESSION["engine_settings_changed"] = True
        else:
            bootstrap("-e", "swarm_engine_restart_batch=3")
        ok(cluster())
        assert_healthy(lab)


def cluster_id(lab):
    return sh(lab, LEADER_IP, "docker info --format '{{.Swarm.Cluster.ID}}'")


def read_key(path):
    with open(path) as f:
        return f.read().strip()


def test_autolock_key_kept_per_cluster_rotated_safely_and_used_after_restart(swarm):
    lab = swarm
    key_file = os.path.join(KEY_DIR, cluster_id(lab) + ".key")
    other_cluster = os.path.join(KEY_DIR, "some-other-swarm.key")   # another swarm run from this controller

    def history_limit():
        return sh(lab, LEADER_IP,
                  "docker info --format '{{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}'")
    default_limit = history_limit()
    sh(lab, LEADER_IP, "docker swarm update --task-history-limit 7 >/dev/null")   # a setting made by hand
    try:
        locked = ok(cluster("-e", "swarm_autolock=true"))
        assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"
        key = read_key(key_file)
        assert key.startswith("SWMKEY-1-") and key not in locked.stdout
        assert sh(lab, LEADER_IP, "docker swarm unlock-key -q") == key
        with open(other_cluster, "w") as f:
            f.write("SWMKEY-1-of-another-swarm\n")

        rotated = ok(cluster("-e", "swarm_autolock=true", "-e", "swarm_unlock_key_rotate=true"))
        new_key = read_key(key_file)
        assert new_key != key and new_key == sh(lab, LEADER_IP, "docker swarm unlock-key -q")
        assert read_key(key_file + ".previous") == key      # the old key stays until the next rotation
        assert new_key not in rotated.stdout and key not in rotated.stdout

        # A failure between the rotation and the store (here: the new file cannot be written) loses
        # nothing: the stored key is untouched, and the next run stores the key the swarm has.
        os.mkdir(key_file + ".new")
        try:
            failed(cluster("-e", "swarm_autolock=true", "-e", "swarm_unlock_key_rotate=true"))
            assert read_key(key_file) == new_key
        finally:
            shutil.rmtree(key_file + ".new")
        newest = sh(lab, LEADER_IP, "docker swarm unlock-key -q")
        assert newest != new_key
        healed = ok(cluster("-e", "swarm_autolock=true"))
        assert read_key(key_file) == newest and read_key(key_file + ".previous") == new_key
        assert newest not in healed.stdout

        # A manager restarted after the rotations comes back locked; the role unlocks it with the stored key.
        ip = MANAGERS["lab-ecs-1"]
        sh(lab, ip, "systemctl restart docker")
        wait_until(lambda: swarm_state(lab, ip) == "locked", 60, what="lab-ecs-1 locked after restart")
        unlocked = ok(cluster("-e", "swarm_autolock=true"))
        assert newest not in unlocked.stdout
        assert swarm_state(lab, ip) == "active"
        assert_healthy(lab, ip)

        ok(cluster())
        assert sh(lab, LEADER_IP, "docker info --format '{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}'") \
            == "false"
        assert not os.path.exists(key_file) and not os.path.exists(key_file + ".previous")
        assert read_key(other_cluster) == "SWMKEY-1-of-another-swarm"   # only this swarm's key went
        # Turning autolock on and off, and rotating, kept what was set by hand.
        assert history_limit() == "7"
    finally:
        sh(lab, LEADER_IP, f"docker swarm update --task-history-limit {default_limit} >/dev/null")
        if os.path.exists(other_cluster):
            os.remove(other_cluster)
