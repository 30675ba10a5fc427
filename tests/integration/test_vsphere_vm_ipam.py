"""vsphere_vm takes node addresses from the IPAM, run the way users run it (ansible-playbook), against a
PRIVATE vcsim - its own process on a free loopback port, never the lab's - and a private etcd.

Not the `lab` fixture: the VMs are plain simulator VMs (no RUN.container, wait_for_ip false), cloned from
the template lab/vcsim/main.go puts in DC0 (test_vsphere_vm_vcenter's OwnVcsim builds and runs it).
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from ansible_collections.containerops.platform.plugins.module_utils._ipam_nodes import NodeAddresses
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_provision import run_vsphere_vm
from ansible_collections.containerops.platform.plugins.module_utils.ipam import Ipam, Store
from ansible_collections.containerops.platform.plugins.modules import vsphere_vm
from etcd_server import EtcdServer
from test_vsphere_vm_vcenter import OwnVcsim

pytestmark = pytest.mark.own_servers   # its own vcsim (and etcd); no lab

REPO = pathlib.Path(__file__).resolve().parents[2]
POOL = {"name": "vs-nodes", "subnet": "10.77.0.0/24", "gateway": "10.77.0.1", "ranges": ["10.77.0.100-10.77.0.119"],
        "provider": "vsphere", "hold_down": 600}
NIC = {"name": "VM Network", "ipam_pool": "vs-nodes"}
PREFIX = "/test-vsphere-ipam"


@pytest.fixture(scope="session")
def vcsim(tmp_path_factory):
    with OwnVcsim(str(tmp_path_factory.mktemp("vcsim")), method_delay="") as own:
        yield {"hostname": "127.0.0.1", "port": own.port, "username": own.username, "password": own.password,
               "validate_certs": False}


@pytest.fixture(scope="session")
def etcd(tmp_path_factory):
    server = EtcdServer(str(tmp_path_factory.mktemp("etcd") / "data")).start()
    ipam = Ipam(Store([server.url]), PREFIX)
    ipam.pool_present(POOL)
    yield ipam
    server.stop()


@pytest.fixture
def si(vcsim):
    from pyVim.connect import Disconnect, SmartConnect
    si = SmartConnect(host=vcsim["hostname"], port=vcsim["port"], user=vcsim["username"], pwd=vcsim["password"],
                      disableSslCertValidation=True)
    yield si
    Disconnect(si)


def play(tmp_path, vcsim, etcd, tasks, *args):
    """vsphere_vm tasks in one ansible-playbook run; {task name: registered result}."""
    ipam = {"endpoints": [etcd.store.clients[0][0]], "prefix": PREFIX}
    body = [{"name": name, "containerops.platform.vsphere_vm": dict(options, template="debian12-template"),
             "ignore_errors": True} for name, options in tasks]
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/containerops.platform.vsphere": dict(vcsim, datacenter="DC0"),
                            # By the module's name: the group's other modules have no ipam option.
                            "containerops.platform.vsphere_vm": {"ipam": ipam}},
        "tasks": body}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, *args,
                           str(tmp_path / "play.yml")], cwd=REPO, env=env, text=True, capture_output=True,
                          timeout=600, check=False)
    out = done.stdout
    doc = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
    return dict((t["task"]["name"], t["hosts"]["localhost"]) for t in doc["plays"][0]["tasks"])


def find_vm(si, name):
    content = si.RetrieveContent()
    from pyVmomi import vim
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return next((vm for vm in view.view if vm.name == name), None)
    finally:
        view.Destroy()


def claim(vm):
    return dict((o.key, o.value) for o in vm.config.extraConfig).get("containerops.ip")


def record(etcd, ip):
    key = etcd.addresses("vs-nodes") + ip
    return etcd.store.range(key)[0][key][0]


def owned(etcd, name):
    return etcd.lookup("vs-nodes", "node:DC0:%s" % name)


def test_vms_get_pool_addresses_keep_them_on_every_run_and_release_them_when_deleted(tmp_path, vcsim, etcd, si):
    vms = {"networks": [NIC], "vms": [{"name": "ipam-a"}, {"name": "ipam-b"}], "state": "poweredon"}

    # Check mode: the addresses the VMs would get, nothing allocated, nothing cloned.
    revision = etcd.store.revision()
    check = play(tmp_path, vcsim, etcd, [("check", vms)], "--check", "--diff")["check"]
    assert check["changed"] and check["created"] == ["ipam-a", "ipam-b"], check
    would = dict((row["name"], row["ip"]) for row in check["node_addresses"])
    assert len(set(would.values())) == 2 and all(ip.startswith("10.77.0.1") for ip in would.values())
    ipam_diff = [d for d in check["diff"] if d["before_header"].startswith("vs-nodes node:DC0:")]
    assert sorted(d["after"]["ip"] for d in ipam_diff) == sorted(would.values())
    assert etcd.store.revision() == revision and find_vm(si, "ipam-a") is None

    created = play(tmp_path, vcsim, etcd, [("create", vms)], "--diff")["create"]
    assert created["changed"] and sorted(created["created"]) == ["ipam-a", "ipam-b"], created
    moids = dict((vm["name"], vm["moid"]) for vm in created["instances"])
    results = dict((vm["name"], vm) for vm in created["instances"])
    assert (created["vms"], created["changed_vms"]) == (created["instances"], created["changed_instances"])
    for name in ("ipam-a", "ipam-b"):
        ip = owned(etcd, name)
        assert ip == would[name], "the address check mode showed is the one allocated"
        vm = find_vm(si, name)
        assert claim(vm) == ip, "the clone carries the pool's address as its IP claim"
        # Linux prep gave the guest the pool's address (and the pool's prefix: vcsim accepted the spec).
        assert vm.guest.ipAddress == ip and results[name]["customization"] == "confirmed"
        rec = record(etcd, ip)
        assert (rec["state"], rec["holder"]) == ("allocated", moids[name]), "the VM's moid holds the address"

    revision = etcd.store.revision()
    again = play(tmp_path, vcsim, etcd, [("again", vms)])["again"]
    assert not again["changed"] and again["created"] == [], again
    assert dict((r["name"], r["ip"]) for r in again["node_addresses"]) == would
    assert etcd.store.revision() == revision, "a re-run allocates and binds nothing"

    refused = play(tmp_path, vcsim, etcd, [("absent", dict(vms, state="absent"))])["absent"]
    assert refused["failed"] and "force" in refused["msg"]
    assert etcd.store.revision() == revision, "nothing is released while the VMs exist"
    gone = play(tmp_path, vcsim, etcd, [("absent", dict(vms, state="absent", force=True))])["absent"]
    assert sorted(gone["deleted"]) == ["ipam-a", "ipam-b"], gone
    for name in ("ipam-a", "ipam-b"):
        rec = record(etcd, would[name])
        assert rec["state"] == "held-down" and rec["holder"] is None and find_vm(si, name) is None
        assert owned(etcd, name) is None

    back = play(tmp_path, vcsim, etcd, [("back", {"name": "ipam-a", "networks": [NIC]})])["back"]
    assert back["created"] == ["ipam-a"] and owned(etcd, "ipam-a") == would["ipam-a"], "its address comes back"
    assert claim(find_vm(si, "ipam-a")) == would["ipam-a"]
    play(tmp_path, vcsim, etcd, [("cleanup", {"name": "ipam-a", "networks": [NIC], "state": "absent", "force": True})])


def test_a_netmask_that_disagrees_with_the_pool_fails_before_anything_is_made(tmp_path, vcsim, etcd, si):
    revision = etcd.store.revision()
    bad = {"vms": [{"name": "ipam-c"}, {"name": "ipam-d", "networks": [dict(NIC, netmask="255.255.0.0")]}],
           "networks": [NIC]}
    result = play(tmp_path, vcsim, etcd, [("bad", bad)])["bad"]
    assert result["failed"] and result["created"] == []
    assert result["errors"] == [
        "vms[1].networks[0].netmask: 255.255.0.0 is not the netmask of ipam_pool vs-nodes (subnet 10.77.0.0/24, "
        "netmask 255.255.255.0); leave it out, the pool gives it"]
    assert find_vm(si, "ipam-c") is None and find_vm(si, "ipam-d") is None
    assert etcd.store.revision() == revision, "nothing allocated for the VM that was fine either"


def test_an_address_another_task_takes_meanwhile_is_replaced_and_the_vm_planned_again(vcsim, etcd, si, monkeypatch):
    commit, stolen = NodeAddresses.commit, []

    def another_task_allocates_first(nodes):  # a concurrent task, between this one's proposal and its commit
        if not stolen:
            stolen.append(nodes.proposed[("vs-nodes", "node:DC0:ipam-e")])
            etcd.allocate("vs-nodes", "node:DC0:other-e", ip=stolen[0])
        return commit(nodes)

    monkeypatch.setattr(NodeAddresses, "commit", another_task_allocates_first)
    # The module's entry point in this process, with the argument spec's defaults.
    params = dict((k, v.get("default")) for k, v in vsphere_vm.argument_spec().items())
    params.update(vcsim, datacenter="DC0", name="ipam-e", template="debian12-template", networks=[dict(NIC)],
                  ipam={"endpoints": [etcd.store.clients[0][0]], "prefix": PREFIX})
    result = run_vsphere_vm(params)
    ip = owned(etcd, "ipam-e")
    assert result["created"] == ["ipam-e"] and ip not in (stolen[0], None)
    vm = find_vm(si, "ipam-e")
    assert claim(vm) == ip and vm.guest.ipAddress == ip, "the VM was planned and customized with the new address"
    assert run_vsphere_vm(dict(params, state="absent", force=True))["deleted"] == ["ipam-e"]
    etcd.release("vs-nodes", "node:DC0:other-e")
