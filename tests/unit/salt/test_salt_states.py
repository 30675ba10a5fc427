"""salt/states without Salt: the formula's layout, its defaults and per-OS maps, state IDs that say what
they do and are unique, and every requisite pointing at a state or SLS that exists. (Rendering and
applying are tested against lab nodes: tests/integration/test_bootstrap*.py.)"""
import glob
import json
import os
import pathlib
import re
import subprocess
import sys

import jinja2
import yaml

REPO = str(pathlib.Path(__file__).resolve().parents[3])
STATES = os.path.join(REPO, "salt", "states")
FORMULA = os.path.join(STATES, "containerops")
CONCERNS = ("docker", "sysctl", "kernel_modules", "timesync", "users")
ID_LINE = re.compile(r"^([A-Za-z0-9{][^\s:]*(?:\{\{[^}]*\}\}[^\s:]*)*):\s*$", re.M)
REQUISITE = re.compile(r"^\s+- (file|service|cmd|pkg|pkgrepo|user|sls|test): (\S+)\s*$", re.M)


def sls_files():
    return sorted(glob.glob(os.path.join(STATES, "**", "*.sls"), recursive=True))


def read(path):
    with open(path) as f:
        return f.read()


def state_ids():
    ids = {}
    for path in sls_files():
        if path.endswith("top.sls"):
            continue
        for found in ID_LINE.findall(read(path)):
            if found in ("include",):
                continue
            ids.setdefault(found, []).append(os.path.relpath(path, STATES))
    return ids


def test_top_applies_the_formula_and_it_has_one_directory_per_concern():
    top = yaml.safe_load(read(os.path.join(STATES, "top.sls")))
    assert top == {"base": {"*": ["containerops"]}}
    init = yaml.safe_load(read(os.path.join(FORMULA, "init.sls")))
    assert init["include"] == [f".{c}" for c in ("kernel_modules", "sysctl", "docker", "timesync", "users")]
    for concern in CONCERNS:
        assert os.path.isfile(os.path.join(FORMULA, concern, "init.sls")), concern


def test_every_sls_locates_the_formula_relatively_and_uses_the_map():
    for path in sls_files():
        text = read(path)
        if "map.jinja" in text:
            assert "{%- set tplroot = tpldir.split('/')[0] %}" in text, path
            assert 'from tplroot ~ "/map.jinja" import containerops with context' in text, path


def test_defaults_and_os_family_maps_share_their_shape():
    defaults = yaml.safe_load(read(os.path.join(FORMULA, "parameters", "defaults.yaml")))["values"]
    assert set(defaults) == set(CONCERNS)
    # Off by default: swarm mode refuses live-restore; standalone engines turn it on in pillar.
    assert defaults["docker"]["daemon_config"]["live-restore"] is False
    assert "live-restore" in defaults["docker"]["reloadable_keys"]
    assert "log-opts" not in defaults["docker"]["reloadable_keys"]     # dockerd does not reload it
    assert "hosts" not in defaults["docker"]["reloadable_keys"]
    assert defaults["docker"]["remote_api"]["enabled"] is False
    assert defaults["sysctl"]["values"]["net.ipv4.ip_forward"] == 1
    assert defaults["sysctl"]["namespaced_prefixes"] == ["net."]
    for path in glob.glob(os.path.join(FORMULA, "parameters", "os_family", "*.yaml")):
        family = yaml.safe_load(read(path))["values"]
        for concern, values in family.items():
            assert concern in defaults, path
            assert set(values) <= set(defaults[concern]), (path, set(values) - set(defaults[concern]))
    redhat = read(os.path.join(FORMULA, "parameters", "os_family", "RedHat.yaml"))
    assert "UNTESTED" in redhat and "docker-ce" in redhat


def test_state_ids_say_what_they_do_and_are_unique():
    ids = state_ids()
    assert len(ids) > 20
    for state_id, files in ids.items():
        assert state_id.startswith("containerops-"), (state_id, files)
        assert len(files) == 1, f"{state_id} is declared in {files}"
        assert re.fullmatch(r"containerops-[a-z0-9_{}'. |():,\[\]-]+", state_id), state_id


def test_requisites_point_at_existing_states_and_sls():
    ids = state_ids()
    sls_names = {os.path.relpath(p, STATES)[:-4].replace("/init", "").replace("/", ".") for p in sls_files()}
    for path in sls_files():
        for kind, target in REQUISITE.findall(read(path)):
            if kind == "sls":
                assert target.replace("{{ tplroot }}", "containerops") in sls_names, (path, target)
            elif "{{" not in target:
                assert target in ids, (path, kind, target)


def test_the_engine_reloads_for_daemon_json_and_only_the_helper_restarts_it():
    service = read(os.path.join(FORMULA, "docker", "service.sls"))
    running, rest = service.split("containerops-docker-engine-started-with-desired-settings-cmd-run:")
    # Salt never restarts the engine through a watch: on a Swarm node that would be every node at once.
    assert "- watch:" not in running
    restart = rest.split("containerops-docker-engine-restart-cmd-run:")[1]
    restart = restart.split("containerops-docker-engine-service-reloaded")[0]
    assert "restart_helper }} apply" in restart and "- stateful: true" in restart
    reload_ = service.split("containerops-docker-engine-service-reloaded-on-config-change:")[1]
    assert "- reload: true" in reload_ and "containerops-docker-daemon-json-file-serialize" in reload_


HELPER = os.path.join(FORMULA, "docker", "files", "engine-restart.sh.jinja")
FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$CALLS"
[ "$1" = info ] || exit 1
[ -f "$STATE_DIR/down" ] && exit 1
case "$*" in *LocalNodeState*) cat "$STATE_DIR/swarm";; esac
"""
FAKE_SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >> "$CALLS"
"""


def helper(tmp_path, swarm_state):
    """The restart helper rendered for a temporary node, with docker and systemctl recording their calls
    (the real ones run in tests/integration/test_cluster.py)."""
    node = tmp_path / "node"
    (node / "tls").mkdir(parents=True)
    (node / "bin").mkdir()
    (node / "settings.json").write_text('{"daemon": {"log-driver": "json-file"}}')
    (node / "swarm").write_text(swarm_state + "\n")
    for name, text in (("docker", FAKE_DOCKER), ("systemctl", FAKE_SYSTEMCTL)):
        (node / "bin" / name).write_text(text)
        (node / "bin" / name).chmod(0o755)
    script = node / "containerops-docker-restart"
    script.write_text(jinja2.Template(read(HELPER)).render(
        settings=str(node / "settings.json"), tls_dir=str(node / "tls"), service="docker"))
    script.chmod(0o755)
    env = {"PATH": f"{node / 'bin'}:/usr/bin:/bin", "CALLS": str(node / "calls"), "STATE_DIR": str(node)}

    def run(*args):
        out = subprocess.run([str(script), *args], env=env, text=True, capture_output=True, check=True).stdout
        calls = (node / "calls").read_text() if (node / "calls").exists() else ""
        (node / "calls").write_text("")
        return out.strip(), calls
    return node, run


def test_restart_helper_restarts_a_standalone_engine_once_per_change(tmp_path):
    node, run = helper(tmp_path, "inactive")
    out, calls = run("apply")
    assert out.startswith("changed=yes") and "systemctl restart docker" in calls
    assert run("status")[0] == "applied"
    out, calls = run("apply")
    assert out.startswith("changed=no") and "systemctl" not in calls
    (node / "tls" / "server-key.pem").write_text("new key")      # TLS material counts, as a digest
    assert run("status")[0] == "pending"
    assert "new key" not in (node / "settings.json.applied").read_text()


def test_restart_helper_leaves_a_swarm_nodes_restart_pending(tmp_path):
    for state in ("active", "locked", "pending", "error"):
        node, run = helper(tmp_path / state, state)
        out, calls = run("apply")
        assert out.startswith("changed=no") and "restart pending" in out and state in out
        assert "systemctl" not in calls and run("status")[0] == "pending"
        # The playbook restarts it after the drain; then it is applied.
        out, calls = run("now")
        assert "systemctl restart docker" in calls and run("status")[0] == "applied"


def test_restart_helper_marks_an_engine_salt_just_started_as_applied(tmp_path):
    node, run = helper(tmp_path, "active")
    run("applied")
    assert run("status")[0] == "applied"


def test_container_nodes_never_write_kernel_global_sysctls_or_load_modules():
    sysctl = read(os.path.join(FORMULA, "sysctl", "init.sls"))
    assert "containerops.in_container and not namespaced" in sysctl
    assert "skipped-host-global-in-container" in sysctl
    modules = read(os.path.join(FORMULA, "kernel_modules", "init.sls"))
    assert "not containerops.in_container" in modules and "skipped-cannot-load" in modules


def test_pillar_top_gives_each_minion_only_its_own_file():
    top = read(os.path.join(REPO, "salt", "pillar", "top.sls"))
    assert "- hosts.{{ grains['id'] | replace('.', '_') }}" in top


def test_tls_material_is_read_from_pillar_never_rendered_into_the_sls():
    # contents_pillar keeps the PEMs (the server key among them) out of the rendered SLS text,
    # which Salt shows on render errors and in state.show_sls.
    with open(os.path.join(FORMULA, "docker", "config.sls")) as f:
        config = f.read()
    for key in ("ca_cert", "server_cert", "server_key"):
        assert f"contents_pillar: containerops:docker:remote_api:{key}" in config
        assert f"api.{key}" not in config


def _container(root, cid, labels, policy):
    path = root / "containers" / cid
    path.mkdir(parents=True)
    (path / "config.v2.json").write_text(json.dumps({"Name": "/" + cid, "Config": {"Labels": labels}}))
    (path / "hostconfig.json").write_text(json.dumps({"RestartPolicy": {"Name": policy, "MaximumRetryCount": 0},
                                                      "Memory": 1073741824}))


def _policy(root, cid):
    return json.loads((root / "containers" / cid / "hostconfig.json").read_text())["RestartPolicy"]["Name"]


def test_the_boot_guard_holds_pinned_instances_once_per_boot_and_nothing_else(tmp_path, monkeypatch):
    """At the first engine start of a boot, pinned instances (label containerops.ip) lose their restart
    policy, so they wait for network.yml; other containers keep theirs, and a later engine start in the
    same boot (the marker in /run exists) changes nothing."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "guard", os.path.join(FORMULA, "docker", "files", "pinned-boot-guard.py"))
    guard = importlib.util.module_from_spec(spec)
    # No __pycache__ in the formula's tree: it is what the nodes get, and what the golden image is baked from.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    spec.loader.exec_module(guard)
    monkeypatch.setattr(guard, "MARK", str(tmp_path / "run" / "containerops" / "pinned-boot-guard"))
    root = tmp_path / "docker"
    _container(root, "demo-lab-1", {"containerops.ip": "10.88.2.18", "containerops.application": "demo"},
               "unless-stopped")
    _container(root, "registry", {"app": "registry"}, "always")
    _container(root, "stopped-by-hand", {"containerops.ip": "10.88.2.19"}, "no")

    guard.main(str(root), str(tmp_path / "run" / "docker"))
    assert _policy(root, "demo-lab-1") == "no"
    assert _policy(root, "registry") == "always" and _policy(root, "stopped-by-hand") == "no"
    held = json.loads((root / "containers" / "demo-lab-1" / "hostconfig.json").read_text())
    assert held["Memory"] == 1073741824          # the rest of the engine's file is kept
    assert (tmp_path / "run" / "containerops" / "pinned-boot-guard").read_text() == "demo-lab-1\n"

    # network.yml started it again (policy back); the engine restarts in the same boot: left alone.
    _container(root, "demo-lab-2", {"containerops.ip": "10.88.17.200"}, "unless-stopped")
    guard.main(str(root), str(tmp_path / "run" / "docker"))
    assert _policy(root, "demo-lab-2") == "unless-stopped"

    # Installed by Salt on a node whose engine already ran in this boot: its first run is a restart.
    (tmp_path / "run" / "containerops" / "pinned-boot-guard").unlink()
    (tmp_path / "run" / "docker").mkdir()
    guard.main(str(root), str(tmp_path / "run" / "docker"))
    assert _policy(root, "demo-lab-2") == "unless-stopped"
    assert (tmp_path / "run" / "containerops" / "pinned-boot-guard").read_text() == ""


def test_the_engine_unit_runs_the_boot_guard_before_dockerd():
    config = read(os.path.join(FORMULA, "docker", "config.sls"))
    assert "ExecStartPre=/usr/bin/python3 {{ d.pinned_boot_guard }}" in config
    # A guard change reloads systemd but never restarts the engine by itself.
    service = read(os.path.join(FORMULA, "docker", "service.sls"))
    assert "pinned-boot-guard" not in service
