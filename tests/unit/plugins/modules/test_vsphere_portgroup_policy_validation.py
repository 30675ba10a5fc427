"""vsphere_portgroup_policy refuses bad input as a module, before it talks to vCenter: each message
names the option and the fix.

The module runs for real (AnsibleModule, its argument spec, main()); no vCenter is configured, so a
case that got past validation would end in "hostname is required" instead. What it does against a
vCenter: tests/integration/test_vsphere_portgroup_policy.py (a private vcsim).
"""
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.containerops.platform.plugins.modules import vsphere_portgroup_policy


def run_module(monkeypatch, capsys, args):
    for var in ("VMWARE_HOST", "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_PORT", "VMWARE_VALIDATE_CERTS"):
        monkeypatch.delenv(var, raising=False)
    with patch_module_args(dict({"datacenter": "DC1", "name": "VM Network"}, **args)):
        with pytest.raises(SystemExit):
            vsphere_portgroup_policy.main()
    return json.loads(capsys.readouterr().out)


CASES = [
    ("nothing to set", {"cluster": "C1"},
     ["nothing to set", "promiscuous, forged_transmits, mac_changes, mac_learning"]),
    ("MAC learning on a standard port group", {"hosts": ["esx-01"], "mac_learning": True},
     ["mac_learning: only distributed port groups", "leave out cluster and hosts", "promiscuous: true"]),
    ("cluster and hosts", {"cluster": "C1", "hosts": ["esx-01"], "promiscuous": True},
     ["mutually exclusive", "cluster", "hosts"]),
    ("an empty host list", {"hosts": [], "promiscuous": True}, ["hosts: empty list", "give cluster"]),
    ("a blank host name", {"hosts": ["esx-01", " "], "promiscuous": True}, ["hosts[1]: empty host name"]),
    ("a blank port group name", {"name": " ", "cluster": "C1", "promiscuous": True},
     ["name: the port group's name is required"]),
    ("a zero task_timeout", {"task_timeout": 0, "promiscuous": True}, ["task_timeout: 0 is not 1 to 86400"]),
    ("not a boolean", {"cluster": "C1", "forged_transmits": "sometimes"},
     ["forged_transmits", "unable to convert to bool"]),
]


@pytest.mark.parametrize("args, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_naming_the_option_before_connecting(monkeypatch, capsys, args, words):
    result = run_module(monkeypatch, capsys, args)
    assert result["failed"] and not result.get("changed")
    assert "hostname is required" not in result["msg"]
    for word in words:
        assert word in result["msg"], result["msg"]


def test_every_problem_is_reported_at_once(monkeypatch, capsys):
    result = run_module(monkeypatch, capsys, {"hosts": [""], "task_timeout": -1})
    assert len(result["errors"]) == 3, result["errors"]


def test_good_input_gets_as_far_as_the_connection(monkeypatch, capsys):
    result = run_module(monkeypatch, capsys, {"cluster": "C1", "forged_transmits": True, "promiscuous": True})
    assert result["msg"].startswith("hostname is required")
