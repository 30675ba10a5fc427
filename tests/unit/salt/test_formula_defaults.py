"""One source of truth for the engine and host settings: the formula's parameters/defaults.yaml. The role's
pillar carries only what inventory sets, so a setting taken out of inventory returns to the formula's default at
the next highstate; salt/pillar.example documents every key with that default. The pillar comes from the role
(ansible-playbook on localhost), the node's settings from the formula's own Jinja (tests/support/salt_jinja.py)."""
import os

import yaml
from salt_jinja import settings, sls
from salt_role import REPO, rendered_pillar

FORMULA = os.path.join(REPO, "salt", "states", "containerops")
DAEMON_JSON = "containerops-docker-daemon-json-file-serialize"


def load(path):
    with open(os.path.join(REPO, path)) as f:
        return yaml.safe_load(f)


def daemon_json(pillar):
    """What Salt writes to /etc/docker/daemon.json on a Debian node with this pillar."""
    (dataset,) = [arg["dataset"] for arg in sls("containerops/docker/config.sls", pillar)[DAEMON_JSON]["file.serialize"]
                  if "dataset" in arg]
    return dataset


def leaves(tree, path=()):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, path + (key,))
        else:
            yield path + (key,), value


def test_pillar_example_shows_every_key_with_the_formulas_default():
    example = load("salt/pillar.example")["containerops"]
    defaults = load("salt/states/containerops/parameters/defaults.yaml")["values"]
    for path, value in leaves(example):
        default = defaults
        for key in path:
            default = default[key]
        assert value == default, (path, value, default)
    # Every key the role can render is there, with the variable that sets it (metrics-addr has no default:
    # it is shown commented out).
    with open(os.path.join(REPO, "salt", "pillar.example")) as f:
        text = f.read()
    shown = [":".join(path) for path, _value in leaves(example)]
    for entry in load("roles/salt_bootstrap/vars/main.yml")["_salt_bootstrap_pillar_keys"]:
        key = entry["key"]
        assert any(k == key or k.startswith(key + ":") for k in shown) or f"# {key.split(':')[-1]}: " in text, entry
        assert entry["var"] in text, entry


def test_an_inventory_that_sets_nothing_gets_the_formulas_defaults(tmp_path):
    pillar = rendered_pillar(tmp_path, {})
    assert pillar == {"containerops": {}}
    # The daemon.json the role's defaults used to render, and what every Swarm node needs (no live-restore).
    assert daemon_json(pillar) == {
        "live-restore": False, "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"},
        "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}], "registry-mirrors": [],
        "insecure-registries": [], "hosts": ["fd://"]}
    resolved = settings(pillar)
    assert resolved["sysctl"]["values"] == {"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1,
                                            "net.bridge.bridge-nf-call-ip6tables": 1, "vm.swappiness": 10}
    assert resolved["kernel_modules"]["names"] == ["br_netfilter", "overlay", "macvlan"]
    assert resolved["timesync"]["provider"] == "systemd-timesyncd" and resolved["timesync"]["servers"] == []
    assert resolved["users"]["present"] == [] and resolved["docker"]["remote_api"]["enabled"] is False
    # The OS family's own default is no longer hidden by a role default.
    assert settings(pillar, {"os_family": "RedHat"})["timesync"]["provider"] == "chrony"


def test_a_setting_taken_out_of_inventory_returns_to_the_formulas_default(tmp_path):
    inventory = {"salt_bootstrap_docker_log_max_size": "50m", "salt_bootstrap_docker_metrics_addr": "127.0.0.1:9323",
                 "salt_bootstrap_docker_registry_mirrors": ["https://m.example"],
                 "salt_bootstrap_platform_ntp_servers": ["ntp1.example"],
                 "salt_bootstrap_platform_sysctls": {"vm.swappiness": 1}}
    (tmp_path / "before").mkdir()
    before = rendered_pillar(tmp_path / "before", inventory)
    assert daemon_json(before)["log-opts"] == {"max-size": "50m", "max-file": "3"}
    assert daemon_json(before)["metrics-addr"] == "127.0.0.1:9323"
    assert settings(before)["timesync"]["servers"] == ["ntp1.example"]
    assert settings(before)["sysctl"]["values"]["vm.swappiness"] == 1

    for name in ("salt_bootstrap_docker_log_max_size", "salt_bootstrap_docker_metrics_addr",
                 "salt_bootstrap_platform_ntp_servers", "salt_bootstrap_platform_sysctls"):
        del inventory[name]
    (tmp_path / "after").mkdir()
    after = rendered_pillar(tmp_path / "after", inventory)
    # (a) the pillar has no such key any more ...
    assert after == {"containerops": {"docker": {"daemon_config": {"registry-mirrors": ["https://m.example"]}}}}
    # (b) ... so the node gets the formula's default, and keeps what inventory still sets.
    assert daemon_json(after)["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert "metrics-addr" not in daemon_json(after)
    assert daemon_json(after)["registry-mirrors"] == ["https://m.example"]
    assert settings(after)["timesync"]["servers"] == []
    assert settings(after)["sysctl"]["values"]["vm.swappiness"] == 10


def test_a_sysctl_set_in_inventory_adds_to_the_formulas_instead_of_replacing_them():
    values = settings({"containerops": {"sysctl": {"values": {"net.core.somaxconn": 4096}}}})["sysctl"]["values"]
    assert values["net.core.somaxconn"] == 4096 and values["net.ipv4.ip_forward"] == 1
