"""module_utils/docker.py: an engine is never reached in the clear (checked before anything is sent)."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.containerops.platform.plugins.module_utils.docker import EngineError, engine_tls

REPO = pathlib.Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("host", ["unix:///var/run/docker.sock", "ssh://root@10.0.0.5", None])
def test_local_socket_and_ssh_need_no_tls(host):
    assert engine_tls({"docker_host": host}) is None


@pytest.mark.parametrize("params, words", [
    ({"docker_host": "tcp://10.0.0.5:2375"}, ["without TLS", "ca_path, client_cert, client_key"]),
    ({"docker_host": "tcp://10.0.0.5:2376", "ca_path": "/ca.pem"}, ["missing: client_cert, client_key"]),
    ({"docker_host": "http://10.0.0.5:2375"}, ["never reached over plain http"]),
    ({"docker_host": "10.0.0.5:2375"}, ["use unix:///var/run/docker.sock"]),
])
def test_an_engine_in_the_clear_is_refused_naming_the_fix(params, words):
    with pytest.raises(EngineError) as err:
        engine_tls(params)
    for word in words:
        assert word in str(err.value)


def test_tcp_with_mutual_tls_is_verified(tmp_path):
    paths = {}
    for name in ("ca_path", "client_cert", "client_key"):
        paths[name] = str(tmp_path / (name + ".pem"))
        pathlib.Path(paths[name]).write_text("PEM")
    tls = engine_tls(dict(paths, docker_host="tcp://10.0.0.5:2376"))
    assert tls.verify is True and tls.ca_cert == paths["ca_path"]
    assert tls.cert == (paths["client_cert"], paths["client_key"])


def test_a_module_refuses_a_plain_tcp_engine_before_connecting(tmp_path):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "containerops.platform.swarm_unlock": {"keys": ["SWMKEY-1-x"], "docker_host": "tcp://127.0.0.1:1"},
        "register": "r", "ignore_errors": True}, {"ansible.builtin.copy": {
            "content": "{{ r | to_json }}", "dest": str(tmp_path / "r.json")}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c",
                    "local", "-e", "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")],
                   cwd=REPO, env=env, text=True, capture_output=True, timeout=120, check=False)
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["failed"] and "without TLS" in result["msg"] and "client_cert" in result["msg"]
    assert "SWMKEY-1-x" not in json.dumps(result)
