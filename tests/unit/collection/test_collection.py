"""The repository is an installable collection, found from a plain clone; no lab inside the tarball."""
import json
import os
import pathlib
import subprocess
import sys
import tarfile

import yaml

REPO = str(pathlib.Path(__file__).resolve().parents[3])
BIN = os.path.dirname(sys.executable)


def ansible(tool, *args, **kw):
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg")}
    return subprocess.run([os.path.join(BIN, tool), *args], cwd=kw.pop("cwd", REPO), env=env,
                          text=True, capture_output=True, check=kw.pop("check", False), **kw)


def test_galaxy_build_leaves_lab_tests_and_bench_out(tmp_path):
    result = ansible("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (tarball,) = tmp_path.glob("containerops-platform-*.tar.gz")
    names = tarfile.open(tarball).getnames()
    assert "MANIFEST.json" in names and "meta/runtime.yml" in names and "playbooks/site.yml" in names
    for excluded in ("lab", "tests", "bench", "molecule", "inventories", "collections", ".lab", ".venv"):
        leaked = [n for n in names if n == excluded or n.startswith(excluded + "/")]
        assert not leaked, f"{excluded}/ must not be in the collection tarball: {leaked[:3]}"


def test_plain_clone_finds_the_collection_through_ansible_cfg():
    result = ansible("ansible-galaxy", "collection", "list", "containerops.platform", "--format", "yaml")
    assert result.returncode == 0, result.stderr
    listed = yaml.safe_load(result.stdout)
    assert any("containerops.platform" in found for found in listed.values())


def test_meta_runtime_declares_requirement_and_action_groups():
    with open(os.path.join(REPO, "meta", "runtime.yml")) as f:
        runtime = yaml.safe_load(f)
    assert runtime["requires_ansible"].startswith(">=")
    assert {"vsphere", "ecs", "etcd"} <= set(runtime["action_groups"])


def test_every_module_is_in_an_action_group():
    with open(os.path.join(REPO, "meta", "runtime.yml")) as f:
        grouped = {m for members in yaml.safe_load(f)["action_groups"].values() for m in members}
    modules = {n[:-3] for n in os.listdir(os.path.join(REPO, "plugins", "modules"))
               if n.endswith(".py") and n != "__init__.py"}
    assert modules - grouped == set(), "add these modules to an action group in meta/runtime.yml"


def test_python_requirements_are_pinned():
    for name in ("requirements.txt", "requirements-test.txt"):
        with open(os.path.join(REPO, name)) as f:
            for line in f:
                line = line.split("#")[0].strip()
                if line and not line.startswith("-r"):
                    assert "==" in line, f"{name}: '{line}' must be pinned with =="


def test_every_plugin_documents_itself_in_ansible_doc():
    """ansible-doc renders each module, inventory, filter, test and lookup plugin and role entry point."""
    kinds = {"module": "modules", "inventory": "inventory", "filter": "filter", "test": "test",
             "lookup": "lookup"}
    for kind, folder in kinds.items():
        # fleet.py / network.py hold the filters / tests documented by their .yml files
        names = sorted({os.path.splitext(n)[0] for n in os.listdir(os.path.join(REPO, "plugins", folder))
                        if n.endswith((".py", ".yml")) and n not in ("fleet.py", "network.py")})
        assert names, folder
        result = ansible("ansible-doc", "-t", kind, "--json", *(f"containerops.platform.{n}" for n in names))
        assert result.returncode == 0, result.stderr
        docs = json.loads(result.stdout)
        for name in names:
            doc = docs[f"containerops.platform.{name}"]["doc"]
            assert doc["short_description"] and doc.get("description"), f"{kind} {name}"
            for option, spec in (doc.get("options") or {}).items():
                assert spec.get("description"), f"{kind} {name}: option {option} has no description"
    roles = ansible("ansible-doc", "-t", "role", "--json", "containerops.platform.swarm",
                    "containerops.platform.salt_bootstrap")
    assert roles.returncode == 0, roles.stderr
    assert set(json.loads(roles.stdout)) == {"containerops.platform.swarm", "containerops.platform.salt_bootstrap"}
