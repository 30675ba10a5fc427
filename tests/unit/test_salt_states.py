"""salt/states without Salt: the formula's layout, its defaults and per-OS maps, state IDs that say what
they do and are unique, and every requisite pointing at a state or SLS that exists. (Rendering and
applying are tested against lab nodes: tests/integration/test_bootstrap*.py.)"""
import glob
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


def test_the_engine_reloads_for_daemon_json_and_restarts_for_the_rest():
    service = read(os.path.join(FORMULA, "docker", "service.sls"))
    restart, reload_ = service.split("containerops-docker-engine-service-reloaded-on-config-change:")
    assert "- reload: true" in reload_ and "containerops-docker-daemon-json-file-serialize" in reload_
    watched = restart.split("- watch:")[1]
    assert "containerops-docker-restart-settings-file-serialize" in watched
    assert "containerops-docker-daemon-json-file-serialize" not in watched


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
