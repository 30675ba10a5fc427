"""containerops.platform.vsphere_portgroup_policy against a private vcsim built from lab/vcsim (its
UpdatePortGroup and vCenter's ReconfigureDVPortgroup_Task merge are in lab/vcsim/network.go).

The vcsim runs on a free loopback port, advertises vSphere API 7.0 (pyVmomi then sends
macManagementPolicy) and goes away at the end; the shared lab is not used. Its cluster DC0_C0 has
the hosts DC0_C0_H0..H2; DC0_H0 is a standalone host outside it; DC0_DVPG0 is a distributed port
group. Every test starts from "VM Network" on every host with VLAN 42 and no security settings of
its own (all inherited from vSwitch0: promiscuous off, forged transmits and MAC changes on).
The main flow runs through ansible-playbook (module_defaults of the vsphere action group); the
failure cases call the module's main() in this process, against the same vcsim.
"""
import json
import os
import subprocess
import sys

import pytest
from ansible.module_utils.testing import patch_module_args
from pyVim.connect import Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from ansible_collections.containerops.platform.plugins.modules import vsphere_portgroup_policy
from test_vsphere_vm import BIN, REPO
from test_vsphere_vm_vcenter import OwnVcsim

pytestmark = pytest.mark.own_servers   # its own vcsim (and etcd); no lab

CLUSTER_HOSTS = ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"]
OUTSIDE = "DC0_H0"
PG = "VM Network"
DVPG = "DC0_DVPG0"
VLAN = 42
MACVLAN = {"forged_transmits": True, "promiscuous": True}


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    with OwnVcsim(str(tmp_path_factory.mktemp("vcsim-pg")), method_delay="",
                  extra_args=["-api-version", "7.0", "-template", ""]) as own:
        yield own


@pytest.fixture(scope="session")
def si(sim):
    si = sim.connect()
    yield si
    Disconnect(si)


def hosts(si):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    try:
        return dict((h.name, h) for h in view.view)
    finally:
        view.DestroyView()


def port_group(host, name=PG):
    (pg,) = [g for g in host.config.network.portgroup if g.spec.name == name]
    return pg


def own(pg):
    s = pg.spec.policy.security
    return {"promiscuous": s.allowPromiscuous, "forged_transmits": s.forgedTransmits, "mac_changes": s.macChanges}


def dv_portgroup(si, name=DVPG):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.dvs.DistributedVirtualPortgroup], True)
    try:
        (pg,) = [p for p in view.view if p.name == name]
        return pg
    finally:
        view.DestroyView()


@pytest.fixture(autouse=True)
def baseline(si):
    """'VM Network' on every host: VLAN 42, no security settings of its own (inherits vSwitch0's)."""
    for host in hosts(si).values():
        names = [g.spec.name for g in host.config.network.portgroup]
        current = PG if PG in names else PG + " renamed"
        spec = port_group(host, current).spec
        spec.name, spec.vlanId = PG, VLAN
        spec.policy.security = vim.host.NetworkPolicy.SecurityPolicy()
        host.configManager.networkSystem.UpdatePortGroup(pgName=current, portgrp=spec)


def play(sim, tmp_path, tasks, check=False):
    """Run [(name, module args)] in one ansible-playbook, every task with --diff; {name: result}."""
    body = [{"name": n, "containerops.platform.vsphere_portgroup_policy": a, "register": "r%d" % i,
             "ignore_errors": True, "diff": True} for i, (n, a) in enumerate(tasks)]
    out = tmp_path / "results.json"
    results = "{%s}" % ", ".join("%s: r%d" % (json.dumps(n), i) for i, (n, _a) in enumerate(tasks))
    body.append({"name": "save", "ansible.builtin.copy": {"content": "{{ %s | to_json }}" % results,
                                                          "dest": str(out)}, "check_mode": False})
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "tasks": body,
        "module_defaults": {"group/containerops.platform.vsphere": {"datacenter": "DC0"}}}]))
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)] + (["--check"] if check else [])
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), **sim.env())
    proc = subprocess.run(cmd, cwd=REPO, env=env, text=True, capture_output=True, timeout=300, check=False)
    assert out.exists(), proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def run_main(sim, monkeypatch, capsys, args):
    """The module's main() in this process against the vcsim; its JSON answer."""
    for key, value in sim.env().items():
        monkeypatch.setenv(key, value)
    with patch_module_args(dict({"datacenter": "DC0"}, **args)):
        with pytest.raises(SystemExit):
            vsphere_portgroup_policy.main()
    return json.loads(capsys.readouterr().out)


def snapshot(si):
    """Every host's port groups as comparable data: name -> (vlan, vSwitch, own security, teaming policy)."""
    return dict((h.name, dict((g.spec.name, (g.spec.vlanId, g.spec.vswitchName, own(g),
                                             g.spec.policy.nicTeaming.policy if g.spec.policy.nicTeaming else None))
                              for g in h.config.network.portgroup)) for h in hosts(si).values())


# ---------------------------------------------------------------- standard port groups


def test_macvlan_policy_on_every_host_of_the_cluster_then_a_rerun_changes_nothing(sim, si, tmp_path):
    before = snapshot(si)
    args = dict(MACVLAN, cluster="DC0_C0", name=PG)
    results = play(sim, tmp_path, [("first", args), ("again", args)])
    first, again = results["first"], results["again"]

    assert not first.get("failed"), first
    assert first["changed"] and first["type"] == "standard"
    assert [h["host"] for h in first["hosts"]] == CLUSTER_HOSTS and all(h["changed"] for h in first["hosts"])
    assert first["hosts"][0]["before"] == {"promiscuous": None, "forged_transmits": None, "mac_changes": None}
    assert first["hosts"][0]["after"] == {"promiscuous": True, "forged_transmits": True, "mac_changes": None}
    assert first["hosts"][0]["vswitch_policy"] == {"promiscuous": False, "forged_transmits": True,
                                                   "mac_changes": True}
    assert [d["before_header"] for d in first["diff"]] == ["VM Network on %s (before)" % h for h in CLUSTER_HOSTS]

    after = snapshot(si)
    for name, host in hosts(si).items():
        pg = port_group(host)
        if name in CLUSTER_HOSTS:
            assert own(pg) == {"promiscuous": True, "forged_transmits": True, "mac_changes": None}, name
            computed = pg.computedPolicy.security
            assert (computed.allowPromiscuous, computed.forgedTransmits, computed.macChanges) == (True, True, True)
            # Everything but the security settings as it was: VLAN, vSwitch, teaming, other port groups.
            assert after[name][PG][:2] == (VLAN, "vSwitch0") and after[name][PG][3] == before[name][PG][3]
            assert after[name]["Management Network"] == before[name]["Management Network"]
        else:
            assert after[name] == before[name], "a host outside the cluster changed"

    assert not again.get("failed") and not again["changed"], again
    assert not any(h["changed"] for h in again["hosts"]) and again.get("diff", []) == []


def test_check_mode_reports_each_host_that_would_change_and_changes_none(sim, si, tmp_path):
    """DC0_C0_H1 has the settings already (a spec written from scratch: no teaming policy of its own)."""
    spec = vim.host.PortGroup.Specification(name=PG, vlanId=VLAN, vswitchName="vSwitch0", policy=vim.host.NetworkPolicy(
        security=vim.host.NetworkPolicy.SecurityPolicy(allowPromiscuous=True, forgedTransmits=True)))
    hosts(si)["DC0_C0_H1"].configManager.networkSystem.UpdatePortGroup(pgName=PG, portgrp=spec)
    before = snapshot(si)

    result = play(sim, tmp_path, [("check", dict(MACVLAN, cluster="DC0_C0", name=PG))], check=True)["check"]

    assert result["changed"] and not result.get("failed"), result
    assert dict((h["host"], h["changed"]) for h in result["hosts"]) == {
        "DC0_C0_H0": True, "DC0_C0_H1": False, "DC0_C0_H2": True}
    assert [d["after"]["promiscuous"] for d in result["diff"]] == [True, True]
    assert snapshot(si) == before


def test_listed_hosts_only_and_a_value_set_to_false(sim, si, monkeypatch, capsys):
    result = run_main(sim, monkeypatch, capsys, {"hosts": [OUTSIDE, "DC0_C0_H2"], "name": PG,
                                                 "promiscuous": False, "mac_changes": False})
    assert result["changed"] and [h["host"] for h in result["hosts"]] == ["DC0_C0_H2", OUTSIDE]
    all_hosts = hosts(si)
    for name in (OUTSIDE, "DC0_C0_H2"):
        assert own(port_group(all_hosts[name])) == {"promiscuous": False, "forged_transmits": None,
                                                    "mac_changes": False}
        assert port_group(all_hosts[name]).computedPolicy.security.macChanges is False
    assert own(port_group(all_hosts["DC0_C0_H0"]))["mac_changes"] is None


def test_a_port_group_missing_on_one_host_fails_naming_it_and_changes_no_host(sim, si, monkeypatch, capsys):
    h2 = hosts(si)["DC0_C0_H2"]
    spec = port_group(h2).spec
    spec.name = PG + " renamed"
    h2.configManager.networkSystem.UpdatePortGroup(pgName=PG, portgrp=spec)
    before = snapshot(si)

    result = run_main(sim, monkeypatch, capsys, dict(MACVLAN, cluster="DC0_C0", name=PG))

    assert result["failed"] and not result["changed"]
    assert result["msg"] == ("port group 'VM Network' not found on host DC0_C0_H2; the host has: "
                             "Management Network, VM Network renamed")
    assert snapshot(si) == before


def test_a_port_group_no_host_has_names_every_host_and_what_each_has(sim, monkeypatch, capsys):
    result = run_main(sim, monkeypatch, capsys, dict(MACVLAN, cluster="DC0_C0", name="apps"))
    assert result["failed"] and len(result["errors"]) == 3
    for host in CLUSTER_HOSTS:
        assert "port group 'apps' not found on host %s; the host has: Management Network, VM Network" % host \
            in result["msg"]


def test_a_distributed_port_group_asked_for_on_hosts_says_to_leave_out_cluster(sim, monkeypatch, capsys):
    result = run_main(sim, monkeypatch, capsys, dict(MACVLAN, hosts=["DC0_C0_H0"], name=DVPG))
    assert result["failed"]
    assert "'DC0_DVPG0' is a distributed port group in datacenter DC0: leave out cluster and hosts" in result["msg"]


@pytest.mark.parametrize("args, words", [
    ({"cluster": "DC9_C0"}, ["cluster: 'DC9_C0' not found in datacenter DC0; it has: DC0_C0"]),
    ({"hosts": ["DC0_C0_H0", "esx-9"]}, ["hosts: 'esx-9' not found in datacenter DC0; it has: DC0_C0_H0, "]),
    ({"cluster": "DC0_C0", "datacenter": "DC7"}, ["datacenter: 'DC7' not found", "DC0"]),
    ({"cluster": "DC0_C0", "promiscuous": "maybe"}, ["promiscuous", "bool"]),
], ids=["unknown cluster", "unknown host", "unknown datacenter", "not a boolean"])
def test_a_bad_name_or_value_fails_naming_it_before_anything_changes(sim, si, monkeypatch, capsys, args, words):
    before = snapshot(si)
    result = run_main(sim, monkeypatch, capsys, dict(MACVLAN, name=PG, **args))
    assert result["failed"] and not result.get("changed")
    for word in words:
        assert word in result["msg"], result["msg"]
    assert snapshot(si) == before


# ---------------------------------------------------------------- distributed port groups


def test_mac_learning_on_a_distributed_port_group_keeps_its_other_settings(sim, si, tmp_path):
    pg = dv_portgroup(si)
    vlan_before, version = pg.config.defaultPortConfig.vlan.vlanId, pg.config.configVersion
    args = {"name": DVPG, "mac_learning": True, "forged_transmits": True, "promiscuous": False}

    results = play(sim, tmp_path, [("first", args), ("again", args)])
    first, again = results["first"], results["again"]

    assert first["changed"] and first["type"] == "distributed" and first["hosts"] == [], first
    assert first["dv_portgroup"]["after"] == {"promiscuous": False, "forged_transmits": True, "mac_changes": None,
                                              "mac_learning": True}
    assert first["diff"][0]["before_header"] == "distributed port group DC0_DVPG0 (before)"
    config = dv_portgroup(si).config
    policy = config.defaultPortConfig.macManagementPolicy
    assert policy.macLearningPolicy.enabled is True
    assert (policy.forgedTransmits, policy.allowPromiscuous) == (True, False)
    assert config.name == DVPG and config.defaultPortConfig.vlan.vlanId == vlan_before
    assert config.defaultPortConfig.uplinkTeamingPolicy is not None
    assert config.configVersion != version
    assert not again["changed"] and not again["dv_portgroup"]["changed"], again


def test_mac_learning_on_a_standard_port_group_is_refused_before_connecting(monkeypatch, capsys):
    for var in ("VMWARE_HOST", "VMWARE_USER", "VMWARE_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with patch_module_args({"datacenter": "DC0", "cluster": "DC0_C0", "name": PG, "mac_learning": True}):
        with pytest.raises(SystemExit):
            vsphere_portgroup_policy.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and result["msg"].startswith("mac_learning: only distributed port groups learn MACs")


@pytest.fixture(scope="module")
def sim65(tmp_path_factory):
    with OwnVcsim(str(tmp_path_factory.mktemp("vcsim-65")), method_delay="", extra_args=["-template", ""]) as own:
        yield own


def test_a_vcenter_older_than_6_7_is_told_it_has_no_mac_management_policy(sim65, monkeypatch, capsys):
    result = run_main(sim65, monkeypatch, capsys, {"name": DVPG, "mac_learning": True})
    assert result["failed"] and not result["changed"]
    assert result["msg"] == ("distributed port group 'DC0_DVPG0': vCenter speaks vSphere API 6.5; the MAC "
                             "management policy needs 6.7 or later")


# ---------------------------------------------------------------- the simulator, as vSphere answers


def test_update_port_group_answers_as_esxi(si):
    ns = hosts(si)["DC0_C0_H0"].configManager.networkSystem
    spec = port_group(hosts(si)["DC0_C0_H0"]).spec
    with pytest.raises(vim.fault.NotFound):
        ns.UpdatePortGroup(pgName="no such port group", portgrp=spec)
    spec.name = "Management Network"
    with pytest.raises(vim.fault.AlreadyExists):
        ns.UpdatePortGroup(pgName=PG, portgrp=spec)
    spec.name, spec.vswitchName = PG, "vSwitch9"
    with pytest.raises(vim.fault.NotFound):
        ns.UpdatePortGroup(pgName=PG, portgrp=spec)
    assert port_group(hosts(si)["DC0_C0_H0"]).spec.vswitchName == "vSwitch0"


def test_reconfigure_dv_portgroup_with_a_stale_config_version_fails_with_concurrent_access(si):
    pg = dv_portgroup(si)
    spec = vim.dvs.DistributedVirtualPortgroup.ConfigSpec(configVersion="stale", description="x")
    with pytest.raises(vim.fault.ConcurrentAccess):
        WaitForTask(pg.ReconfigureDVPortgroup_Task(spec))
    assert dv_portgroup(si).config.description != "x"
