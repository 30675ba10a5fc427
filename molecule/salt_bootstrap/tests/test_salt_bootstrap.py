"""What salt_bootstrap leaves on a masterless node, read on the node itself (testinfra).

Expected values are the role's defaults, the Salt formula's defaults (for every engine setting
molecule.yml leaves out) and the inventory of molecule.yml; each test runs on every node of the
scenario.
"""
import json
import os
import time

import pytest
import yaml

with open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "salt", "states", "containerops", "parameters",
                       "defaults.yaml")) as _f:
    FORMULA_DAEMON_JSON = yaml.safe_load(_f)["values"]["docker"]["daemon_config"]

SALT_VERSION = "3008.3"                       # salt_bootstrap_version
SALT_VENV = "/opt/containerops/salt"          # salt_bootstrap_venv
SALT_CONFIG = "/etc/salt"                     # salt_bootstrap_config_dir
STATES = "/srv/containerops/salt/states"      # salt_bootstrap_states_dir
PILLAR = "/srv/containerops/salt/pillar"      # salt_bootstrap_pillar_dir
HIGHSTATE_UNIT = "containerops-salt-highstate"


@pytest.fixture(scope="module")
def inventory(host):
    return host.ansible.get_variables()


def test_salt_runs_from_its_own_virtualenv_at_the_pinned_version(host):
    assert SALT_VERSION in host.check_output(f"{SALT_VENV}/bin/salt-call --version")
    # Not from the distribution: the image's python3 has no salt.
    assert host.run("python3 -c 'import salt'").rc != 0


def test_the_minion_converges_locally_without_a_master(host):
    conf = host.file(f"{SALT_CONFIG}/minion.d/containerops.conf")
    assert conf.mode == 0o600
    assert "file_client: local" in conf.content_string
    assert "master_type: disable" in conf.content_string
    assert f"id: {host.ansible.get_variables()['inventory_hostname']}" in conf.content_string
    assert not host.file("/etc/systemd/system/containerops-salt-minion.service").exists


def test_states_and_only_this_nodes_pillar_are_on_the_node(host, inventory):
    assert host.file(f"{STATES}/top.sls").is_file
    assert host.file(f"{STATES}/containerops/init.sls").is_file
    pillars = host.file(f"{PILLAR}/hosts").listdir()
    assert pillars == [inventory["inventory_hostname"].replace(".", "_") + ".sls"]
    assert host.file(f"{PILLAR}/hosts/{pillars[0]}").mode == 0o600


def test_the_highstate_timer_keeps_the_node_converged(host):
    timer = host.service(f"{HIGHSTATE_UNIT}.timer")
    assert timer.is_enabled
    assert timer.is_running
    unit = host.file(f"/etc/systemd/system/{HIGHSTATE_UNIT}.service").content_string
    assert f"{SALT_VENV}/bin/salt-call --local --retcode-passthrough" in unit
    assert "OnUnitActiveSec=15min" in host.file(f"/etc/systemd/system/{HIGHSTATE_UNIT}.timer").content_string


def test_the_docker_engine_runs_with_daemon_json_from_inventory(host, inventory):
    assert host.package("docker.io").is_installed
    assert host.service("docker").is_enabled
    assert host.service("docker").is_running
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    # Not in the inventory: the formula's defaults reached the node.
    for key in ("live-restore", "log-driver", "log-opts", "default-address-pools"):
        assert daemon[key] == FORMULA_DAEMON_JSON[key], key
    assert daemon["live-restore"] is False and daemon["log-opts"] == {"max-size": "10m", "max-file": "3"}
    # Set in the inventory.
    assert daemon["metrics-addr"] == inventory["salt_bootstrap_docker_metrics_addr"]
    # The running engine took them (not only the file).
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is False
    assert info["Driver"] == "overlay2"


def test_the_platform_user_exists_with_its_groups_and_sudo(host, inventory):
    (spec,) = inventory["salt_bootstrap_platform_users"]
    user = host.user(spec["name"])
    assert user.exists
    assert set(spec["groups"]) <= set(user.groups)
    keys = host.file(f"{user.home}/.ssh/authorized_keys")
    assert keys.mode == 0o600
    # Exactly the listed keys: none.
    assert [line for line in keys.content_string.splitlines() if line and not line.startswith("#")] == []
    assert host.file(f"/etc/sudoers.d/containerops-{spec['name']}").content_string.strip() == \
        f"{spec['name']} ALL=(ALL) NOPASSWD:ALL"


def test_salt_itself_finds_nothing_left_to_change(host):
    """A highstate with test=True on the node: every state passes and none would change."""
    for _attempt in range(30):
        # The timer's highstate may hold Salt's lock for a moment.
        result = host.run(f"{SALT_VENV}/bin/salt-call --local -c {SALT_CONFIG} --out json --log-level=quiet "
                          "state.apply test=True")
        if "is running as PID" not in result.stdout:
            break
        time.sleep(5)
    states = json.loads(result.stdout)["local"]
    assert isinstance(states, dict) and states, result.stdout[-2000:]
    failed = {k: v["comment"] for k, v in states.items() if v["result"] is False}
    pending = {k: v["changes"] for k, v in states.items() if v["changes"]}
    assert failed == {}
    assert pending == {}
