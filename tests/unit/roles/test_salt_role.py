"""roles/salt_bootstrap without nodes: input validation (clear errors naming the variable) and the pillar
it renders from inventory variables, run through ansible-playbook on localhost (no connection, no change)."""
import json
import os
import subprocess
import sys

import pytest
import yaml
from salt_role import BIN, PLAY, REPO, rendered_pillar, run_role

ROLE = os.path.join(REPO, "roles", "salt_bootstrap")


def test_defaults_pass_validation(tmp_path):
    result = run_role(tmp_path, "validate")
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("extra_vars, message", [
    ({"salt_bootstrap_mode": "agentless"}, "salt_bootstrap_mode is 'agentless' for localhost: set it to 'masterless'"),
    ({"salt_bootstrap_mode": "master"}, "salt_bootstrap_master_address is empty for localhost in master mode"),
    ({"salt_bootstrap_version": "3008"}, "salt_bootstrap_version '3008' is not an exact release"),
    ({"salt_bootstrap_docker_log_max_size": "10 MB"},
     "salt_bootstrap_docker_log_max_size '10 MB' is not a size dockerd accepts"),
    ({"salt_bootstrap_docker_log_max_file": 0}, "salt_bootstrap_docker_log_max_file '0' must be a whole number >= 1"),
    ({"salt_bootstrap_docker_default_address_pools": [{"base": "172.30.0.0/16", "size": 8}]},
     "salt_bootstrap_docker_default_address_pools entry"),
    ({"salt_bootstrap_docker_default_address_pools": [{"base": "172.30.0/16", "size": 24}]},
     "salt_bootstrap_docker_default_address_pools entry"),
    ({"salt_bootstrap_docker_metrics_addr": "9323"},
     "salt_bootstrap_docker_metrics_addr '9323' must be empty or host:port"),
    ({"salt_bootstrap_docker_registry_mirrors": ["mirror.example"]},
     "salt_bootstrap_docker_registry_mirrors entry 'mirror.example' is not an http(s)"),
    ({"salt_bootstrap_docker_insecure_registries": ["http://reg:5000"]},
     "salt_bootstrap_docker_insecure_registries entry 'http://reg:5000'"),
    ({"salt_bootstrap_docker_remote_api_enabled": True},
     "salt_bootstrap_docker_remote_api_enabled is true for localhost but salt_bootstrap_docker_remote_api_ca_cert"),
    ({"salt_bootstrap_docker_daemon_extra": {"hosts": ["tcp://0.0.0.0:2375"]}},
     "salt_bootstrap_docker_daemon_extra sets hosts"),
    ({"salt_bootstrap_platform_sysctls": {"swappiness": 10}}, "salt_bootstrap_platform_sysctls['swappiness']"),
    ({"salt_bootstrap_platform_users": [{"name": "Ops"}]}, "salt_bootstrap_platform_users entry 'Ops' is invalid"),
    ({"salt_bootstrap_platform_users": [{"name": "ops", "ssh_keys": ["AAAA no type"]}]},
     "salt_bootstrap_platform_users entry 'ops' is invalid"),
])
def test_bad_input_fails_with_the_variable_named(tmp_path, extra_vars, message):
    result = run_role(tmp_path, "validate", extra_vars)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]


def test_remote_api_without_tls_material_never_prints_the_key(tmp_path):
    result = run_role(tmp_path, "validate", {"salt_bootstrap_docker_remote_api_enabled": True,
                                             "salt_bootstrap_docker_remote_api_server_key": "SECRET-KEY-MATERIAL"},
                      extra="", )
    assert "salt_bootstrap_docker_remote_api_server_key" in result.stdout
    assert result.returncode != 0
    assert "SECRET-KEY-MATERIAL" not in result.stdout + result.stderr


def test_unknown_salt_mode_is_refused_by_the_argument_spec(tmp_path):
    # The role's entry point validates arguments before its first task.
    result = run_role(tmp_path, "main", {"salt_bootstrap_mode": "agentless"})
    assert result.returncode != 0
    assert "value of salt_bootstrap_mode must be one of: masterless, master, got: agentless" in result.stdout, \
        result.stdout[-3000:]
    assert "Install - " not in result.stdout


def test_pillar_is_rendered_from_inventory_variables(tmp_path):
    pillar = rendered_pillar(tmp_path, {
        "salt_bootstrap_docker_live_restore": True, "salt_bootstrap_docker_log_max_size": "20m",
        "salt_bootstrap_docker_log_max_file": 5, "salt_bootstrap_docker_metrics_addr": "127.0.0.1:9323",
        "salt_bootstrap_docker_registry_mirrors": ["https://mirror.example"],
        "salt_bootstrap_docker_default_address_pools": [{"base": "172.31.0.0/16", "size": 24}],
        "salt_bootstrap_docker_daemon_extra": {"default-ulimits": {}},
        "salt_bootstrap_docker_remote_api_port": "2377",
        "salt_bootstrap_platform_sysctls": {"vm.swappiness": 1}, "salt_bootstrap_platform_timesync": "chrony",
        "salt_bootstrap_platform_ntp_servers": ["ntp1"],
        "salt_bootstrap_platform_users": [{"name": "ops", "ssh_keys": ["ssh-ed25519 AAAA ops"]}],
    })["containerops"]
    assert pillar["docker"] == {
        "daemon_config": {
            "live-restore": True,
            "log-opts": {"max-size": "20m", "max-file": "5"},                   # dockerd wants strings here
            "metrics-addr": "127.0.0.1:9323",
            "registry-mirrors": ["https://mirror.example"],
            "default-address-pools": [{"base": "172.31.0.0/16", "size": 24}],
            "default-ulimits": {},
        },
        "remote_api": {"port": 2377},
    }
    assert pillar["sysctl"] == {"values": {"vm.swappiness": 1}}
    assert pillar["timesync"] == {"provider": "chrony", "servers": ["ntp1"]}
    assert pillar["users"] == {"present": [{"name": "ops", "ssh_keys": ["ssh-ed25519 AAAA ops"]}]}
    assert set(pillar) == {"docker", "sysctl", "timesync", "users"}


def test_pillar_of_an_inventory_that_sets_nothing_is_empty(tmp_path):
    # Every setting then comes from the formula's defaults (tests/unit/salt/test_formula_defaults.py).
    assert rendered_pillar(tmp_path, {}) == {"containerops": {}}


@pytest.mark.parametrize("inventory_vars, pillar", [
    ({"salt_bootstrap_docker_log_max_size": "20m"}, {"docker": {"daemon_config": {"log-opts": {"max-size": "20m"}}}}),
    ({"salt_bootstrap_docker_metrics_addr": ""}, {}),                       # empty address: no metrics endpoint
    ({"salt_bootstrap_docker_live_restore": "yes"}, {"docker": {"daemon_config": {"live-restore": True}}}),
    ({"salt_bootstrap_platform_users_absent": ["old"]}, {"users": {"absent": ["old"]}}),
])
def test_pillar_holds_only_the_keys_inventory_sets(tmp_path, inventory_vars, pillar):
    assert rendered_pillar(tmp_path, inventory_vars) == {"containerops": pillar}


def test_argument_specs_cover_every_default_and_every_setting_passed_to_salt():
    with open(os.path.join(ROLE, "defaults", "main.yml")) as f:
        defaults = yaml.safe_load(f)
    with open(os.path.join(ROLE, "vars", "main.yml")) as f:
        settings = [entry["var"] for entry in yaml.safe_load(f)["_salt_bootstrap_pillar_keys"]]
    with open(os.path.join(ROLE, "meta", "argument_specs.yml")) as f:
        options = yaml.safe_load(f)["argument_specs"]["main"]["options"]
    assert len(settings) == len(set(settings))
    # The role's own variables have their default in defaults/main.yml; the engine and host settings have
    # none in the role (the formula holds them), so their spec names no default either.
    assert set(options) == set(defaults) | set(settings), set(options) ^ (set(defaults) | set(settings))
    assert not set(defaults) & set(settings)
    allowed = {"type", "default", "description", "choices", "elements", "options", "required", "no_log"}
    for name, spec in options.items():
        assert set(spec) <= allowed, f"{name}: {set(spec) - allowed}"
        assert spec.get("description"), name
        if name in settings:
            assert "default" not in spec, name
            assert "formula" in " ".join(spec["description"] if isinstance(spec["description"], list)
                                         else [spec["description"]]), name
        elif "{{" not in str(defaults[name]):
            assert spec.get("default") == defaults[name], name
    assert options["salt_bootstrap_docker_remote_api_server_key"].get("no_log") is True


SECRETS = {"VMWARE_PASSWORD": "vc-secret-Zq81", "ALICLOUD_SECRET_KEY": "ali-secret-Kp27"}
RECORDING_PYTHON = """#!/bin/sh
# Records the environment of every controller command the role runs; runs the command,
# except pip's wheel build (no index is reached from a unit test).
{{ echo "ARGS $*"; env; }} > "$(mktemp -p {record})"
[ "$1 $2 $3" = "-m pip wheel" ] && exit 0
exec {python} "$@"
"""


def test_the_wheel_build_never_inherits_the_controllers_cloud_credentials(tmp_path):
    record = tmp_path / "record"
    record.mkdir()
    python = tmp_path / "python3"
    python.write_text(RECORDING_PYTHON.format(record=record, python=sys.executable))
    python.chmod(0o755)
    cache = tmp_path / "cache"
    (cache / "wheelhouse-3008.3").mkdir(parents=True)   # where the (skipped) wheel build would write
    args = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"),
            "-e", json.dumps({"salt_bootstrap_controller_python": str(python),
                              "salt_bootstrap_controller_cache_dir": str(cache)})]
    (tmp_path / "play.yml").write_text(PLAY.format(tasks_from="controller", extra=""))
    env = {**os.environ, **SECRETS, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    result = subprocess.run(args, cwd=REPO, env=env, text=True, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    records = [p.read_text() for p in record.iterdir()]
    wheel = [r for r in records if r.startswith("ARGS -m pip wheel")]
    assert len(wheel) == 1, records
    assert "PATH=" in wheel[0]
    for name, value in SECRETS.items():
        assert name not in wheel[0] and value not in wheel[0]


def test_clean_env_keeps_what_finds_programs_and_an_index_and_drops_the_rest(tmp_path):
    script = os.path.join(ROLE, "files", "clean_env.py")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "HTTPS_PROXY": "http://proxy.invalid:3128",
           "PIP_INDEX_URL": "https://pypi.invalid/simple", "CONTAINEROPS_ENV_KEEP": "SALT_EXTRA", "SALT_EXTRA": "1",
           **SECRETS, "AWS_SECRET_ACCESS_KEY": "aws-secret", "ANSIBLE_VAULT_PASSWORD": "vault"}
    out = subprocess.run([sys.executable, script, "env"], env=env, text=True, capture_output=True, check=True).stdout
    kept = dict(line.split("=", 1) for line in out.splitlines())
    assert set(kept) == {"PATH", "HOME", "LANG", "HTTPS_PROXY", "PIP_INDEX_URL", "SALT_EXTRA"}


@pytest.mark.parametrize("extra_vars, message", [
    ({"salt_bootstrap_platform_users": [
        {"name": "ops", "ssh_keys": ["ssh-ed25519 AAAAC3Nz ops\nssh-rsa AAAAB3Nz intruder"]}]},
     "without a line break in it"),
    ({"salt_bootstrap_platform_users": [{"name": "ops"}], "salt_bootstrap_platform_users_absent": ["ops"]},
     "ops is in both salt_bootstrap_platform_users and salt_bootstrap_platform_users_absent"),
    ({"salt_bootstrap_platform_users": [{"name": "ops"}, {"name": "ops"}]},
     "salt_bootstrap_platform_users lists ops more than once"),
    ({"salt_bootstrap_master_publish_port": 70000},
     "salt_bootstrap_master_publish_port is '70000': a port is a whole number from 1 to 65535"),
    ({"salt_bootstrap_master_publish_port": 4506},
     "salt_bootstrap_master_publish_port and salt_bootstrap_master_ret_port must differ"),
    ({"salt_bootstrap_docker_remote_api_port": 0}, "salt_bootstrap_docker_remote_api_port is '0'"),
    ({"salt_bootstrap_highstate_splay_seconds": -5}, "salt_bootstrap_highstate_splay_seconds is '-5'"),
    ({"ansible_host": "172.30.4.9"}, "holds the node's own address 172.30.4.9"),
])
def test_more_bad_input_fails_with_the_variable_and_the_fix(tmp_path, extra_vars, message):
    result = run_role(tmp_path, "validate", extra_vars)
    assert result.returncode != 0
    assert message in " ".join(result.stdout.split()), result.stdout[-3000:]


def test_every_mistake_of_a_host_is_reported_in_one_run(tmp_path):
    # One check task per host: a host with three mistakes hears of all three, not one per run.
    result = run_role(tmp_path, "validate", {"salt_bootstrap_version": "3008",
                                             "salt_bootstrap_highstate_splay_seconds": -5,
                                             "salt_bootstrap_docker_registry_mirrors": ["mirror.example"]})
    assert result.returncode != 0
    printed = " ".join(result.stdout.split())
    for message in ("salt_bootstrap_version '3008' is not an exact release",
                    "salt_bootstrap_highstate_splay_seconds is '-5'",
                    "salt_bootstrap_docker_registry_mirrors entry 'mirror.example' is not an http(s)"):
        assert message in printed, result.stdout[-3000:]
