"""bootstrap.yml on the lab fleet: Salt in a venv on all six nodes, the first highstate gives every node a
running Docker engine with the daemon.json settings of inventory; a second run changes nothing; bad input
fails before anything changes. The first run is conftest's `engines`, which later modules share."""
import json
import re

import yaml

from labhelpers import REPO, ansible, inventory_without, recap, salt_master, ssh, task_results

FLEET = ("lab-vs-1", "lab-vs-2", "lab-vs-3", "lab-ecs-1", "lab-ecs-2", "lab-ecs-3")
ADDRESS = {"lab-vs-1": "10.88.1.11", "lab-vs-2": "10.88.1.12", "lab-vs-3": "10.88.1.13",
           "lab-ecs-1": "10.88.16.11", "lab-ecs-2": "10.88.17.11", "lab-ecs-3": "10.88.32.11"}

with open(f"{REPO}/inventories/lab/group_vars/fleet/salt.yml") as _f:
    _FLEET_VARS = yaml.safe_load(_f)
with open(f"{REPO}/inventories/lab/group_vars/fleet_vsphere.yml") as _f:
    _VSPHERE_VARS = yaml.safe_load(_f)
LIVE_RESTORE = _FLEET_VARS["salt_bootstrap_docker_live_restore"]
# The lab runs both Salt modes: the vSphere VMs with the salt-master, the ECS instances masterless.
SALT_MODE = {host: (_VSPHERE_VARS if host.startswith("lab-vs-") else _FLEET_VARS)["salt_bootstrap_mode"]
             for host in FLEET}


def daemon_json_sums(lab):
    return {host: ssh(lab, ip, "md5sum /etc/docker/daemon.json").stdout for host, ip in ADDRESS.items()}


def test_every_node_runs_docker_with_the_inventory_daemon_settings(engines, lab):
    for host in FLEET:
        ip = ADDRESS[host]
        info = ssh(lab, ip, "docker info --format '{{json .}}'", timeout=20)
        assert info.returncode == 0, f"{host}: {info.stderr}"
        info = json.loads(info.stdout)
        # Inventory's value: off on the lab fleet, whose nodes all join the Swarm (swarm mode refuses it).
        assert info["LiveRestoreEnabled"] is LIVE_RESTORE, host
        assert info["LoggingDriver"] == "json-file", host
        daemon = json.loads(ssh(lab, ip, "cat /etc/docker/daemon.json").stdout)
        assert daemon["log-opts"] == {"max-size": "10m", "max-file": "3"}, host
        assert daemon["default-address-pools"] == [{"base": "172.30.0.0/16", "size": 24}], host
        # dockerd loaded exactly that file: it answers on the metrics address set there.
        metrics = ssh(lab, ip, "exec 3<>/dev/tcp/127.0.0.1/9323 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 "
                               "&& head -c 200 <&3")
        assert metrics.returncode == 0 and "200 OK" in metrics.stdout, f"{host}: {metrics.stdout} {metrics.stderr}"
        salt_unit = {"master": "containerops-salt-minion", "masterless": "containerops-salt-highstate.timer"}
        enabled = ssh(lab, ip, "systemctl is-enabled docker; systemctl is-active docker "
                               f"{salt_unit[SALT_MODE[host]]}").stdout.split()
        assert enabled == ["enabled", "active", "active"], f"{host}: {enabled}"


def test_both_salt_modes_in_one_fleet(engines):
    assert set(SALT_MODE.values()) == {"master", "masterless"}
    master_mode = sorted(host for host, mode in SALT_MODE.items() if mode == "master")
    keys = salt_master("-L", tool="salt-key")
    assert set(master_mode) <= set(keys["minions"]), keys
    assert not set(keys["minions"]) & {h for h, mode in SALT_MODE.items() if mode == "masterless"}, keys
    assert salt_master("-L", ",".join(master_mode), "test.ping") == {host: True for host in master_mode}


def test_salt_is_the_pinned_version_in_its_own_virtualenv(engines, lab):
    for host in ("lab-vs-1", "lab-ecs-3"):
        version = ssh(lab, ADDRESS[host], "/opt/containerops/salt/bin/salt-call --version")
        assert version.stdout.strip() == "salt-call 3008.3 (Argon)", version.stdout + version.stderr


def test_bootstrap_reports_the_highstate(engines):
    reports = re.findall(r"msg: '?(\d+) states, (\d+) changed", engines.stdout)
    assert len(reports) == len(FLEET), engines.stdout[-3000:]


def test_nodes_of_the_golden_image_install_neither_salt_nor_the_engine(engines):
    # The lab fleet starts from the image playbooks/bake_image.yml baked (test_golden_image.py); the plain
    # image's path, where bootstrap installs both, is test_bootstrap_drift.py's.
    installs = task_results(engines.stdout, r"Install - .*salt==")
    assert installs and all(status == "skipping" for status, _text in installs.values()), installs
    reports = task_results(engines.stdout, "Highstate - report")
    assert set(reports) == set(FLEET), engines.stdout[-3000:]
    installed = [h for h, (_status, text) in reports.items() if "containerops-docker-engine-pkg-installed" in text]
    assert not installed, reports


def test_second_run_changes_nothing(engines):
    again = ansible("ansible-playbook", "playbooks/bootstrap.yml", timeout=600)
    assert again.returncode == 0, again.stdout[-4000:]
    counts = recap(again.stdout)
    assert set(counts) >= set(FLEET)
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), counts
    assert len(re.findall(r"msg: '?\d+ states, 0 changed", again.stdout)) == len(FLEET), again.stdout[-3000:]


def test_the_roles_own_files_changed_by_hand_are_put_back(engines, lab):
    """The role writes a file only where the node's copy differs (one read of the node, node_state.sh):
    what was changed on a node by hand - content, mode, a file gone - is still put back."""
    master, masterless = "lab-vs-3", "lab-ecs-1"
    assert (SALT_MODE[master], SALT_MODE[masterless]) == ("master", "masterless")
    conf, unit = "/etc/salt/minion.d/containerops.conf", "/etc/systemd/system/containerops-salt-minion.service"
    pillar, top = f"/srv/containerops/salt/pillar/hosts/{masterless}.sls", "/srv/containerops/salt/states/top.sls"

    def state(ip, *paths):
        return ssh(lab, ip, " ; ".join(f"stat -c %a {p} && md5sum < {p}" for p in paths)).stdout
    before = {master: state(ADDRESS[master], conf, unit), masterless: state(ADDRESS[masterless], pillar, top)}
    assert ssh(lab, ADDRESS[master], f"echo 'log_level: debug' >> {conf} && chmod 600 {unit}").returncode == 0
    assert ssh(lab, ADDRESS[masterless], f"echo '# edited' >> {pillar} && rm {top}").returncode == 0

    fixed = ansible("ansible-playbook", "playbooks/bootstrap.yml", "--limit", f"{master},{masterless}", timeout=600)
    assert fixed.returncode == 0, fixed.stdout[-4000:]
    assert recap(fixed.stdout)[master]["changed"] > 0 and recap(fixed.stdout)[masterless]["changed"] > 0
    assert {master: state(ADDRESS[master], conf, unit), masterless: state(ADDRESS[masterless], pillar, top)} == before


def test_unknown_salt_mode_is_refused_before_any_change(engines, lab):
    before = daemon_json_sums(lab)
    bad = ansible("ansible-playbook", "playbooks/bootstrap.yml", "-e", "salt_bootstrap_mode=agentless")
    assert bad.returncode != 0
    assert "salt_bootstrap_mode" in bad.stdout and "masterless" in bad.stdout, bad.stdout[-3000:]
    assert all(c["changed"] == 0 for c in recap(bad.stdout).values()), bad.stdout[-3000:]
    assert "Install - " not in bad.stdout
    assert daemon_json_sums(lab) == before


def test_malformed_daemon_json_setting_is_refused_before_any_change(engines, lab):
    before = daemon_json_sums(lab)
    bad = ansible("ansible-playbook", "playbooks/bootstrap.yml",
                  "-e", "salt_bootstrap_docker_log_max_size='ten megabytes'")
    assert bad.returncode != 0
    assert "salt_bootstrap_docker_log_max_size 'ten megabytes' is not a size" in bad.stdout, bad.stdout[-3000:]
    assert all(c["changed"] == 0 for c in recap(bad.stdout).values()), bad.stdout[-3000:]
    assert daemon_json_sums(lab) == before


def test_minions_are_never_configured_without_the_masters_fingerprint(engines, lab):
    # Pinned: every master-mode minion's config names the fingerprint of the master's key.
    conf = ssh(lab, ADDRESS["lab-vs-1"], "cat /etc/salt/minion.d/containerops.conf").stdout
    finger = re.search(r"^master_finger: ((?:[0-9a-f]{2}:){31}[0-9a-f]{2})$", conf, re.M)
    assert finger, conf
    # An unknown fingerprint (here forced empty) stops the run before a node changes: a minion
    # without master_finger would trust any master answering at that address.
    before = daemon_json_sums(lab)
    bad = ansible("ansible-playbook", "playbooks/bootstrap.yml", "-e", "_salt_bootstrap_master_finger=")
    assert bad.returncode != 0
    assert "fingerprint" in bad.stdout and "trusts any master" in bad.stdout, bad.stdout[-3000:]
    assert "Install - " not in bad.stdout
    assert daemon_json_sums(lab) == before
    assert ssh(lab, ADDRESS["lab-vs-1"], "cat /etc/salt/minion.d/containerops.conf").stdout == conf


def test_two_minions_leaving_at_once_are_forgotten_only_when_confirmed(engines, tmp_path):
    """Two master-mode machines gone from fleet.yml at once - or a typo that looks like it: more than
    salt_bootstrap_master_forget_max (1), so the master forgets nobody and says how to confirm. (One that
    left is forgotten: test_bootstrap_drift.py, on a master of its own.)"""
    before = salt_master("-L", tool="salt-key")
    assert {"lab-vs-2", "lab-vs-3"} <= set(before["minions"]), before
    without = inventory_without(tmp_path, "lab-vs-2", "lab-vs-3")
    refused = ansible("ansible-playbook", "playbooks/bootstrap.yml", "-e", "salt_hosts=lab-vs-1", inventory=without)
    out = " ".join(refused.stdout.split())
    assert refused.returncode != 0, out[-3000:]
    assert "minions left the inventory's fleet and would be forgotten" in out, out[-3000:]
    assert "lab-vs-2" in out and "lab-vs-3" in out
    assert "salt_bootstrap_master_forget_confirm" in out and "none was" in out
    assert salt_master("-L", tool="salt-key") == before
