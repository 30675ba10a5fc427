"""Salt keeps nodes converged without Ansible: drift on two nodes of our own (t-salt-1 masterless on vSphere,
t-salt-2 with a salt-master on ECS) is put right by the masterless timer's service and by the master's highstate
schedule. The master accepts exactly the minions of inventory and forgets one that left it. Destructive, so it
runs on nodes and a salt-master of its own, from an inventory of its own (a copy of inventories/lab whose fleet
is the two nodes): it never touches the shared fleet or its master, and runs beside the fleet's tests. The nodes
are removed afterwards, and the master stopped and its directory removed. Drift on Swarm members: test_cluster.py;
the fleet's master refusing to forget two minions at once: test_bootstrap.py."""
import json
import os
import shutil
import subprocess
import time

import pytest

from labhelpers import (
    HIGHSTATE_IDLE,
    REPO,
    ansible,
    drift_node,
    inventory_copy,
    machines,
    make_pki,
    node_converged,
    recap,
    salt_master,
    salt_master_processes,
    ssh,
    stop_salt_master,
    task_results,
    wait_until,
)

pytestmark = pytest.mark.beside_fleet   # its own nodes, inventory and salt-master: beside the fleet's tests

MASTER = "master-drift"                 # .lab/salt/<MASTER>, beside the fleet's .lab/salt/master
MASTER_DIR = os.path.join(REPO, ".lab", "salt", MASTER)
MASTER_CONF = os.path.join(MASTER_DIR, "etc", "salt")
PIDFILE = os.path.join(MASTER_DIR, "var", "run", "salt-master.pid")
NODES = {"t-salt-1": "10.88.1.245", "t-salt-2": "10.88.16.150"}
OPS_KEY_COMMENT = "ops@containerops-test"
PLAIN_ECS_IMAGE = "debian_12_x64_20G_alibase_20260101.vhd"


def drift_fleet(lab, hosts):
    """The fleet.yml of this module's inventory: `hosts` of the two nodes. Standalone engines (never Swarm
    members): live-restore on, which swarm mode would refuse. Host variables, so they win over the lab's
    group_vars (which put vSphere VMs in master mode). Both start from the plain image, not the lab fleet's
    golden one: bootstrap installs Salt and the engine here. The salt-master is this module's own: its
    directory and port pair (the wheelhouse and the master's virtualenv are the lab's cache, shared)."""
    master = {"salt_bootstrap_master_state_dir": "{{ salt_bootstrap_controller_cache_dir }}/" + MASTER,
              "salt_bootstrap_master_publish_port": 24505, "salt_bootstrap_master_ret_port": 24506}
    vsphere = {"t-salt-1": {
        **master, "lab_vm_image": lab["node_image"],
        "ansible_host": NODES["t-salt-1"], "platform_role": "worker", "salt_bootstrap_docker_live_restore": True,
        "salt_bootstrap_mode": "masterless",
        "salt_bootstrap_platform_users": [{
            "name": "ops", "groups": ["docker"],
            "ssh_keys": [lab["ssh"]["public_key"].rsplit(" ", 1)[0] + " " + OPS_KEY_COMMENT]}]}}
    ecs = {"t-salt-2": {
        **master, "ecs_image_id": PLAIN_ECS_IMAGE,
        "ansible_host": NODES["t-salt-2"], "platform_role": "worker", "salt_bootstrap_mode": "master",
        "salt_bootstrap_docker_live_restore": True,
        "ecs_region": "cn-hangzhou", "ecs_vswitch_id": "vsw-bp1lab0hangzhouh00001",
        "ecs_security_group_ids": ["sg-bp1lab0hangzhou00001"]}}
    return {"fleet": {"children": {
        "fleet_vsphere": {"hosts": {h: v for h, v in vsphere.items() if h in hosts}},
        "fleet_ecs": {"hosts": {h: v for h, v in ecs.items() if h in hosts}}}}}


def drift_inventory(lab, root, hosts):
    def change(fleet):
        fleet.clear()
        fleet.update(drift_fleet(lab, hosts))
    return inventory_copy(root, change)


def master_pid():
    try:
        with open(PIDFILE) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def master_keys():
    return salt_master("-L", tool="salt-key", conf=MASTER_CONF)


def bootstrap(inventory, *args, timeout=600):
    return ansible("ansible-playbook", "playbooks/bootstrap.yml", *args, timeout=timeout, inventory=inventory)


@pytest.fixture(scope="module")
def salt_nodes(lab, tmp_path_factory):
    inv = drift_inventory(lab, tmp_path_factory.mktemp("salt-drift"), NODES)
    without_t_salt_2 = drift_inventory(lab, tmp_path_factory.mktemp("salt-drift-without"), ["t-salt-1"])
    try:
        made = ansible("ansible-playbook", "playbooks/provision.yml", inventory=inv)
        assert made.returncode == 0, made.stdout[-4000:]
        started = time.monotonic()
        boot = bootstrap(inv, timeout=900)
        print(f"\nbootstrap.yml on two fresh nodes (masterless + master): {time.monotonic() - started:.0f}s")
        print("\n".join(boot.stdout.split("TASKS RECAP")[-1].splitlines()[:14]))
        assert boot.returncode == 0, boot.stdout[-6000:] + boot.stderr[-2000:]
        yield {"inv": inv, "without_t_salt_2": without_t_salt_2, "boot": boot}
    finally:
        removed = machines("absent", NODES, inventory=("-i", inv))
        stop_salt_master(MASTER)
        shutil.rmtree(MASTER_DIR, ignore_errors=True)
        assert removed.returncode == 0, removed.stdout[-3000:]


def test_the_master_accepted_exactly_the_master_mode_minions(salt_nodes):
    keys = master_keys()
    assert keys["minions"] == ["t-salt-2"], keys          # never the masterless t-salt-1
    assert keys["minions_pre"] == [] and keys["minions_rejected"] == [], keys
    assert salt_master("t-salt-2", "test.ping", conf=MASTER_CONF) == {"t-salt-2": True}
    assert master_pid() in salt_master_processes(MASTER)


def test_nodes_of_the_plain_image_get_salt_and_the_engine_from_bootstrap(salt_nodes):
    # The path without a golden image (the lab fleet has one: test_bootstrap.py).
    installs = task_results(salt_nodes["boot"].stdout, r"Install - .*salt==")
    assert {h for h, (status, _text) in installs.items() if status == "changed"} == set(NODES), installs
    reports = task_results(salt_nodes["boot"].stdout, "Highstate - report")
    installed = {h for h, (_status, text) in reports.items() if "containerops-docker-engine-pkg-installed" in text}
    assert installed == set(NODES), reports


def test_modes_run_what_they_should(salt_nodes, lab):
    masterless = ssh(lab, NODES["t-salt-1"], "systemctl is-active containerops-salt-highstate.timer; "
                                             "systemctl is-active containerops-salt-minion").stdout.split()
    assert masterless == ["active", "inactive"]
    master = ssh(lab, NODES["t-salt-2"], "systemctl is-active containerops-salt-minion; "
                                         "test -e /srv/containerops/salt/pillar/hosts"
                                         " && echo pillar-on-node || echo no-pillar; "
                                         "systemctl is-active containerops-salt-highstate.timer").stdout.split()
    assert master == ["active", "no-pillar", "inactive"]


def test_platform_user_and_key_from_inventory(salt_nodes, lab):
    ip = NODES["t-salt-1"]
    assert "docker" in ssh(lab, ip, "id -nG ops").stdout.split()
    assert OPS_KEY_COMMENT in ssh(lab, ip, "cat /home/ops/.ssh/authorized_keys").stdout
    login = subprocess.run(["ssh", "-i", lab["ssh"]["private_key"], "-o", "StrictHostKeyChecking=no",
                            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                            f"ops@{ip}", "docker ps -q | wc -l"],
                           text=True, capture_output=True, timeout=30, check=False)
    assert login.returncode == 0 and login.stdout.strip() == "0", login.stderr


def test_masterless_timer_service_restores_drift(salt_nodes, lab):
    ip = NODES["t-salt-1"]
    drift_node(lab, ip, live_restore=True)
    # What the timer starts, started now instead of in up to 15 minutes; a oneshot: returns when done.
    run = ssh(lab, ip, "systemctl start containerops-salt-highstate.service", timeout=240)
    assert run.returncode == 0, run.stderr + ssh(lab, ip, "journalctl -u containerops-salt-highstate -n 40").stdout
    assert node_converged(lab, ip, live_restore=True)


def test_master_schedule_restores_drift(salt_nodes, lab):
    ip = NODES["t-salt-2"]
    drift_node(lab, ip, live_restore=True)
    schedule = salt_master("t-salt-2", "schedule.list", "return_yaml=False", conf=MASTER_CONF)["t-salt-2"]
    assert schedule["containerops-highstate"]["function"] == "state.apply"
    started = salt_master("t-salt-2", "schedule.run_job", "containerops-highstate", conf=MASTER_CONF)
    assert started["t-salt-2"]["result"] is True, started
    wait_until(lambda: node_converged(lab, ip, live_restore=True), 180, interval=2,
               what="the scheduled highstate to restore t-salt-2")


def dockerd_pid(lab, ip):
    return ssh(lab, ip, "systemctl show -p MainPID --value docker").stdout.strip()


def test_second_run_in_both_modes_changes_nothing(salt_nodes):
    again = bootstrap(salt_nodes["inv"])
    assert again.returncode == 0, again.stdout[-4000:]
    counts = recap(again.stdout)
    for host in NODES:
        assert counts[host]["changed"] == 0 and counts[host]["failed"] == 0, counts


def pause_highstate_timer(lab, ip):
    """Stop the masterless timer and wait out a run it started: a scheduled run between the play's
    pillar copy and its highstate would apply the change first, and the play would report none.
    The play starts the timer again at its end."""
    stopped = ssh(lab, ip, f"systemctl stop containerops-salt-highstate.timer && {HIGHSTATE_IDLE}", timeout=240)
    assert stopped.returncode == 0, stopped.stderr


def test_reloadable_setting_reloads_without_a_restart(salt_nodes, lab):
    ip = NODES["t-salt-1"]
    pause_highstate_timer(lab, ip)
    before = dockerd_pid(lab, ip)
    mirror = bootstrap(salt_nodes["inv"], "--limit", "t-salt-1",
                       "-e", '{"salt_bootstrap_docker_registry_mirrors": ["https://mirror.lab.invalid"]}')
    assert mirror.returncode == 0, mirror.stdout[-3000:]
    report = mirror.stdout[mirror.stdout.find("Highstate - report"):][:3000]
    assert "containerops-docker-engine-service-reloaded-on-config-change" in mirror.stdout, report
    assert dockerd_pid(lab, ip) == before, "a registry mirror change must reload dockerd, not restart it"
    mirrors = ssh(lab, ip, "docker info --format '{{json .RegistryConfig.Mirrors}}'").stdout
    assert "https://mirror.lab.invalid/" in mirrors
    assert ssh(lab, ip, "systemctl is-active containerops-salt-highstate.timer").stdout.strip() == "active"


def test_remote_api_accepts_only_clients_with_a_certificate_of_its_ca(salt_nodes, lab, tmp_path):
    ip = NODES["t-salt-1"]
    ca = make_pki(tmp_path, "ca")
    server = make_pki(tmp_path, "server", ip=ip, ca=ca)
    client = make_pki(tmp_path, "client", ca=ca, usage="clientAuth")
    stranger_ca = make_pki(tmp_path, "stranger-ca")
    stranger = make_pki(tmp_path, "stranger", ca=stranger_ca, usage="clientAuth")
    settings = tmp_path / "remote-api.json"
    settings.write_text(json.dumps({
        "salt_bootstrap_docker_remote_api_enabled": True, "salt_bootstrap_docker_remote_api_ca_cert": ca[0].read_text(),
        "salt_bootstrap_docker_remote_api_server_cert": server[0].read_text(),
        "salt_bootstrap_docker_remote_api_server_key": server[1].read_text()}))
    before = dockerd_pid(lab, ip)
    on = bootstrap(salt_nodes["inv"], "--limit", "t-salt-1", "-e", f"@{settings}")
    assert on.returncode == 0, on.stdout[-3000:]
    # `hosts` and TLS files are not reloadable: this change restarts dockerd.
    assert dockerd_pid(lab, ip) != before
    secret_line = server[1].read_text().splitlines()[1]
    assert secret_line not in on.stdout + on.stderr
    assert ssh(lab, ip, "stat -c %a /etc/docker/tls/server-key.pem").stdout.strip() == "600"

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}

    def docker(*args):
        return subprocess.run(["docker", "-H", f"tcp://{ip}:2376", *args, "version", "--format",
                               "{{.Server.Version}}"], text=True, capture_output=True, timeout=30, env=env, check=False)

    good = docker("--tlsverify", "--tlscacert", str(ca[0]), "--tlscert", str(client[0]), "--tlskey", str(client[1]))
    assert good.returncode == 0 and good.stdout.strip(), good.stderr
    assert docker("--tlsverify", "--tlscacert", str(ca[0])).returncode != 0            # no client certificate
    assert docker("--tlsverify", "--tlscacert", str(ca[0]), "--tlscert", str(stranger[0]),
                  "--tlskey", str(stranger[1])).returncode != 0                          # a certificate of another CA
    assert docker().returncode != 0                                                      # plain HTTP
    # The local socket keeps working next to the TCP listener (fd:// stays in daemon.json's hosts).
    assert ssh(lab, ip, "docker info --format '{{.ServerVersion}}'").returncode == 0


def test_bootstrap_forgets_a_master_mode_minion_that_left_inventory(salt_nodes):
    # t-salt-2 taken out of fleet.yml (the machine still runs): runs on that inventory see it as departed.
    without = salt_nodes["without_t_salt_2"]
    pillar = os.path.join(MASTER_DIR, "srv", "pillar", "hosts", "t-salt-2.sls")
    limited = bootstrap(without, "--limit", "t-salt-1")
    assert limited.returncode == 0, limited.stdout[-3000:]
    assert "t-salt-2" in master_keys()["minions"], "a --limit run must not forget anyone"

    checked = bootstrap(without, "--check", "-e", "salt_hosts=t-salt-1")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "would forget t-salt-2" in checked.stdout
    assert "t-salt-2" in master_keys()["minions"] and os.path.exists(pillar)

    # A run on part of the fleet (here the masterless t-salt-1 alone) forgets nobody: who stays comes from the
    # inventory's fleet, not from the play (the old role forgot every master-mode minion outside the play).
    before = master_keys()
    part = bootstrap(salt_nodes["inv"], "-e", "salt_hosts=t-salt-1")
    assert part.returncode == 0, part.stdout[-3000:]
    assert master_keys() == before

    forgot = bootstrap(without, "-e", "salt_hosts=t-salt-1")
    assert forgot.returncode == 0, forgot.stdout[-3000:]
    assert "forgot t-salt-2: not a master-mode host of the inventory any more" in forgot.stdout
    keys = master_keys()
    # The machine still runs its minion, which may present its key again: pending, never accepted.
    assert keys["minions"] == [] and keys["minions_rejected"] == [], keys
    assert not os.path.exists(pillar)
