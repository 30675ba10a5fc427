"""containerops.platform.vsphere inventory against the lab's vcsim, through ansible-inventory / ansible."""
import json
import os
import subprocess
import sys

import pytest
from pyVim.connect import Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from labhelpers import LAB_JSON, REPO, destroy_vm, unwrap_unsafe, vsphere_connect, vsphere_find, wait_for_ssh
from test_vsphere_vm import TEMPLATE, node_args, play

pytestmark = pytest.mark.beside_fleet   # the lab's vCenter, not its fleet: runs beside the fleet's tests

BIN = os.path.dirname(sys.executable)
MANAGER, WORKER, IN_FOLDER = "t-vs-inv1", "t-vs-inv2", "t-vs-inv3"
MANAGER_IP = "10.88.1.161"


def config_text(directory, **options):
    """A plugin config whose credentials are lookups of .lab/lab.json, relative to the config file."""
    lab_json = os.path.relpath(LAB_JSON, str(directory))
    lookup = "(lookup('ansible.builtin.file', inventory_dir ~ '/%s') | from_json).vsphere" % lab_json
    config = {"plugin": "containerops.platform.vsphere", "validate_certs": False}
    for key in ("hostname", "port", "username", "password"):
        config[key] = "{{ %s.%s }}" % (lookup, {"hostname": "host"}.get(key, key))
    config.update(options)
    return json.dumps(config, indent=1)


def inventory(tmp_path, *args, name="lab.vsphere.yml", **options):
    """ansible-inventory --list with a config written from options; returns (proc, parsed or None)."""
    path = tmp_path / name
    path.write_text(config_text(tmp_path, **options))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(path), "--list", *args],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=300, check=False)
    parsed = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else None
    return proc, unwrap_unsafe(parsed)


def members(listing, group):
    return set(listing.get(group, {}).get("hosts", []))


@pytest.fixture(scope="module")
def si(lab):
    si = vsphere_connect(lab)
    yield si
    Disconnect(si)


@pytest.fixture(scope="module")
def fleet(lab, si, tmp_path_factory):
    """A manager node (real container, SSH), a stopped worker, and a VM in a folder of its own."""
    datacenter = vsphere_find(si, vim.Datacenter, lab["vsphere"]["datacenter"])
    folder = datacenter.vmFolder.CreateFolder("t-vs-invfolder")
    try:
        results = play(tmp_path_factory.mktemp("fleet"), [
            ("manager", node_args(lab, MANAGER, MANAGER_IP, attributes={"containerops.role": "manager"})),
            ("others", {"template": TEMPLATE, "state": "present", "vms": [
                {"name": WORKER, "attributes": {"containerops.role": "Worker-Pool.A"}},
                {"name": IN_FOLDER, "folder": "t-vs-invfolder"}]}),
        ])
        for result in results.values():
            assert not result.get("failed"), result
        yield dict((v["name"], v) for r in results.values() for v in r["instances"])
    finally:
        for name in (MANAGER, WORKER, IN_FOLDER):
            destroy_vm(si, name)
        WaitForTask(folder.Destroy_Task())


def test_vms_are_listed_in_the_fleet_groups_with_the_fleet_host_vars(fleet, tmp_path):
    proc, listing = inventory(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {MANAGER, WORKER, IN_FOLDER} <= members(listing, "provider_vsphere")
    assert TEMPLATE not in members(listing, "provider_vsphere"), "templates are not hosts"
    assert {MANAGER, WORKER, IN_FOLDER} <= members(listing, "zone_dc0_c0")
    assert MANAGER in members(listing, "role_manager")
    assert members(listing, "role_worker_pool_a") >= {WORKER}, "role groups are sanitised"

    manager = listing["_meta"]["hostvars"][MANAGER]
    assert manager["ansible_host"] == MANAGER_IP
    assert (manager["platform_provider"], manager["platform_region"], manager["platform_zone"]) == \
        ("vsphere", "DC0", "DC0_C0")
    assert manager["platform_observed_ip"] == MANAGER_IP
    assert manager["platform_observed_role"] == "manager" and manager["platform_power_state"] == "running"
    assert manager["vsphere_moid"] == fleet[MANAGER]["moid"] and manager["vsphere_uuid"] == fleet[MANAGER]["uuid"]
    assert manager["vsphere_path"] == "/DC0/vm/" + MANAGER
    assert manager["vsphere_attributes"]["containerops.role"] == "manager"
    for desired in ("vsphere_folder", "vsphere_cpus", "vsphere_memory_mb", "vsphere_cluster", "vsphere_datacenter",
                    "platform_role"):
        assert desired not in manager, "%s names a desired setting (docs/fleet.md); not set from facts" % desired

    worker = listing["_meta"]["hostvars"][WORKER]
    assert worker["platform_power_state"] == "stopped" and "ansible_host" not in worker
    assert worker["platform_observed_role"] == "Worker-Pool.A"
    assert "platform_observed_role" not in listing["_meta"]["hostvars"][IN_FOLDER]
    assert listing["_meta"]["hostvars"][IN_FOLDER]["vsphere_path"] == "/DC0/vm/t-vs-invfolder/" + IN_FOLDER


def test_ansible_reaches_the_manager_through_the_inventory(lab, fleet, tmp_path):
    wait_for_ssh(lab, MANAGER_IP, timeout=90)
    path = tmp_path / "lab.vsphere.yml"
    path.write_text(config_text(tmp_path))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_HOST_KEY_CHECKING="False")
    proc = subprocess.run([os.path.join(BIN, "ansible"), "-i", str(path), "role_manager:&t-vs-*", "-m", "command",
                           "-a", "hostname", "-u", lab["ssh"]["user"], "--private-key", lab["ssh"]["private_key"]],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "%s | CHANGED | rc=0" % MANAGER in proc.stdout and MANAGER in proc.stdout.split(">>")[-1]


def test_scoping_filters_and_constructed_options(fleet, tmp_path):
    proc, listing = inventory(tmp_path, folders=["/DC0/vm/t-vs-invfolder"])
    assert proc.returncode == 0, proc.stderr
    assert members(listing, "provider_vsphere") == {IN_FOLDER}

    proc, listing = inventory(tmp_path, datacenters=["DC0"], clusters=["DC0_C0"],
                              properties=["config.guestId", "config.hardware.memoryMB"],
                              filters=["vsphere_name.startswith('t-vs-inv')", "platform_power_state == 'stopped'"],
                              keyed_groups=[{"key": "vsphere_config_guest_id", "prefix": "os"}],
                              groups={"in_folder": "vsphere_folder_path.endswith('t-vs-invfolder')"},
                              compose={"memory_gb": "vsphere_config_hardware_memory_mb // 1024",
                                       "vm_name": "vsphere_name"},
                              hostnames=["uuid"])
    assert proc.returncode == 0, proc.stderr
    by_uuid = {fleet[WORKER]["uuid"]: WORKER, fleet[IN_FOLDER]["uuid"]: IN_FOLDER}
    assert members(listing, "provider_vsphere") == set(by_uuid), "filters keep only the stopped t-vs-inv VMs"
    assert members(listing, "in_folder") == {fleet[IN_FOLDER]["uuid"]}
    assert members(listing, "os_debian10_64Guest") == set(by_uuid)
    hostvars = listing["_meta"]["hostvars"][fleet[WORKER]["uuid"]]
    assert hostvars["vm_name"] == WORKER and hostvars["memory_gb"] == 1
    assert "vsphere_name" not in hostvars, "context-only facts are not stored unless composed"


@pytest.mark.parametrize("options, words", [
    ({"datacenters": ["NoDC"]}, ["datacenters", "NoDC"]),
    ({"clusters": ["NoCluster"]}, ["clusters", "NoCluster"]),
    ({"folders": ["/DC0/vm/no-such"]}, ["folders", "/DC0/vm/no-such"]),
    ({"password": "not-the-password"}, ["password", "rejected the login"]),
    ({"validate_certs": True}, ["validate_certs", "certificate"]),
])
def test_errors_name_the_option(lab, tmp_path, options, words):
    proc = inventory(tmp_path, **options)[0]
    output = proc.stdout + proc.stderr
    assert "Unable to parse" in output or proc.returncode != 0
    for word in words:
        assert word in output, output


def test_cache_serves_the_listing_without_asking_vcenter(fleet, tmp_path):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache"),
             "cache_timeout": 3600}
    proc, first = inventory(tmp_path, **cache)
    assert proc.returncode == 0 and MANAGER in members(first, "provider_vsphere"), proc.stderr
    assert os.listdir(str(tmp_path / "cache")), "the cache was not written"
    # With a wrong password vCenter would refuse: the listing must come from the cache.
    proc, cached = inventory(tmp_path, password="not-the-password", **cache)
    assert proc.returncode == 0 and members(cached, "provider_vsphere") == members(first, "provider_vsphere")
    proc = inventory(tmp_path, "--flush-cache", password="not-the-password", **cache)[0]
    assert "rejected the login" in proc.stdout + proc.stderr
