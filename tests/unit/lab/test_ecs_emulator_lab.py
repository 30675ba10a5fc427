"""How the lab runs the ECS emulator: labctl's lab CA and certificate, the HTTPS listener,
the listing lag it starts with, and the command line itself (its own process on free loopback
ports; the shared lab is never touched)."""

import importlib.util
import json
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526.DescribeRegionsRequest import DescribeRegionsRequest

from test_ecs_emulator import (
    KEY_ID,
    REPO,
    SECRET,
    by_ids,
    client,
    describe,
    run,
)


def load_labctl():
    """A fresh import of lab/labctl.py (it reads its CONTAINEROPS_LAB_* settings at import)."""
    spec = importlib.util.spec_from_file_location("labctl_for_tests", os.path.join(REPO, "lab", "labctl.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def labctl_with(monkeypatch, tmp_path, **env):
    """labctl as `labctl up` would see it with these CONTAINEROPS_LAB_* variables, its state in tmp_path."""
    monkeypatch.setenv("CONTAINEROPS_LAB_STATE", str(tmp_path / "state"))
    for name, value in env.items():
        monkeypatch.setenv("CONTAINEROPS_LAB_" + name, value)
    return load_labctl()


def strict_context(ca_file):
    context = ssl.create_default_context(cafile=ca_file)
    context.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)  # what Python 3.13 clients check by default
    return context


def get_json(url, context=None):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(url, timeout=10) as resp:
        return json.loads(resp.read())


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------------- lab CA

def test_labctl_makes_a_private_lab_ca_and_a_certificate_for_loopback(monkeypatch, tmp_path, make_emu):
    labctl = labctl_with(monkeypatch, tmp_path)
    files = labctl.ensure_tls()
    assert os.path.dirname(files["ca.pem"]) == str(tmp_path / "state" / "tls")
    assert mode(tmp_path / "state" / "tls") == 0o700
    assert mode(files["ca.key"]) == 0o600 and mode(files["ecs.key"]) == 0o600
    emu = make_emu(tls_listen=("127.0.0.1", 0), tls_cert=files["ecs.pem"], tls_key=files["ecs.key"])
    port = emu.httpsd.server_address[1]
    for host in ("127.0.0.1", "localhost"):
        assert get_json("https://%s:%d/_emulator/health" % (host, port), strict_context(files["ca.pem"]))["ok"]
    # A client that does not trust the lab CA is refused, as it would be by a private cloud endpoint.
    with pytest.raises(urllib.error.URLError) as info:
        get_json("https://127.0.0.1:%d/_emulator/health" % port, ssl.create_default_context())
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
    # ... and the plain HTTP listener keeps working for the code that uses it.
    assert get_json("http://%s/_emulator/health" % emu.endpoint)["tls_endpoint"] == "127.0.0.1:%d" % port


def test_labctl_keeps_the_ca_and_renews_only_a_missing_server_certificate(monkeypatch, tmp_path):
    labctl = labctl_with(monkeypatch, tmp_path)
    files = labctl.ensure_tls()
    before = {name: open(p, "rb").read() for name, p in files.items()}
    assert {name: open(p, "rb").read() for name, p in labctl.ensure_tls().items()} == before  # made once
    os.remove(files["ecs.key"])
    after = {name: open(p, "rb").read() for name, p in labctl.ensure_tls().items()}
    assert (after["ca.pem"], after["ca.key"]) == (before["ca.pem"], before["ca.key"])
    assert after["ecs.pem"] != before["ecs.pem"] and after["ecs.key"]


def test_the_v1_sdk_verifies_the_https_listener_with_the_lab_ca(monkeypatch, tmp_path, make_emu):
    files = labctl_with(monkeypatch, tmp_path).ensure_tls()
    emu = make_emu(tls_listen=("127.0.0.1", 0), tls_cert=files["ecs.pem"], tls_key=files["ecs.key"])
    c = AcsClient(KEY_ID, SECRET, "cn-hangzhou", auto_retry=False, verify=files["ca.pem"])
    c.add_endpoint("cn-hangzhou", "Ecs", emu.tls_endpoint)
    req = DescribeRegionsRequest()
    req.set_protocol_type("https")
    assert len(json.loads(c.do_action_with_exception(req))["Regions"]["Region"]) == 2


# ---------------------------------------------------------------------- labctl settings

def test_labctl_starts_the_emulator_with_https_and_a_listing_lag(monkeypatch, tmp_path):
    labctl = labctl_with(monkeypatch, tmp_path, ECS_TLS_PORT="18991", ECS_LIST_LAG="2.5")
    argv = next(s for s in labctl.services({"vsphere": {"username": "", "password": ""}}) if s.name == "ecs").argv
    options = dict(zip(argv, argv[1:]))
    assert options["--tls-listen"] == "127.0.0.1:18991" and options["--list-lag"] == "2.5"
    assert options["--tls-cert"].endswith(os.path.join("state", "tls", "ecs.pem"))
    os.makedirs(tmp_path / "state" / "ssh")
    (tmp_path / "state" / "ssh" / "id_ed25519.pub").write_text("ssh-ed25519 AAAA lab\n")
    info = labctl.lab_info({"vsphere": {}, "ecs": {"access_key_id": "AK", "access_key_secret": "SK"},
                            "ecs_tests": {"access_key_id": "AK2", "access_key_secret": "SK2"}})["ecs"]
    assert (info["access_key_id"], info["tests"]["access_key_id"]) == ("AK", "AK2")   # the tests' key apart
    assert info["endpoint"] == "127.0.0.1:%d" % labctl.ECS_PORT  # the http endpoint stays
    assert (info["https_endpoint"], info["list_lag"]) == ("https://127.0.0.1:18991", 2.5)
    assert info["ca_file"] == str(tmp_path / "state" / "tls" / "ca.pem")


def test_labctl_lists_with_a_lag_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("CONTAINEROPS_LAB_ECS_LIST_LAG", raising=False)
    labctl = labctl_with(monkeypatch, tmp_path)
    assert 3 <= float(labctl.ecs_list_lag()) <= 5


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_a_bad_list_lag_setting_is_refused_with_its_name(monkeypatch, tmp_path, value):
    labctl = labctl_with(monkeypatch, tmp_path, ECS_LIST_LAG=value)
    with pytest.raises(SystemExit) as info:
        labctl.ecs_list_lag()
    assert "CONTAINEROPS_LAB_ECS_LIST_LAG" in str(info.value) and repr(value) in str(info.value)


# ---------------------------------------------------------------------- the command line

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_line_serves_http_and_https_with_the_given_lag(monkeypatch, tmp_path):
    files = labctl_with(monkeypatch, tmp_path).ensure_tls()
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"access_keys": {KEY_ID: SECRET}}))
    http_port, https_port = free_port(), free_port()
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "lab"))
    proc = subprocess.Popen([sys.executable, "-m", "ecs_emulator", "--listen", "127.0.0.1:%d" % http_port,
                             "--tls-listen", "127.0.0.1:%d" % https_port, "--tls-cert", files["ecs.pem"],
                             "--tls-key", files["ecs.key"], "--credentials", str(creds), "--list-lag", "3600",
                             "--client-token-window", "60", "--tag-filter-max", "7", "--quiet"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert re.search(r"listening on http://127\.0\.0\.1:%d and https://127\.0\.0\.1:%d" % (http_port, https_port),
                         line), line
        health = get_json("https://127.0.0.1:%d/_emulator/health" % https_port, strict_context(files["ca.pem"]))
        assert (health["list_lag"], health["client_token_window"], health["tag_filter_max"]) == (3600, 60, 7)

        class Endpoint:  # what the test helpers need of an emulator
            endpoint = "127.0.0.1:%d" % http_port

        c = client(Endpoint)
        ids = run(c, 1)
        assert by_ids(c, ids) == [] and describe(c)["TotalCount"] == 0  # the lag from the command line
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    for port in (http_port, https_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0


def test_the_command_line_refuses_https_without_a_certificate(tmp_path):
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"access_keys": {KEY_ID: SECRET}}))
    proc = subprocess.run([sys.executable, "-m", "ecs_emulator", "--listen", "127.0.0.1:0", "--tls-listen",
                           "127.0.0.1:0", "--credentials", str(creds)],
                          env=dict(os.environ, PYTHONPATH=os.path.join(REPO, "lab")), capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "--tls-cert" in proc.stderr
