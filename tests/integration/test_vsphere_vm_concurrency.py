"""Two vsphere_vm runs at once against the shared lab: never two VMs for one name, never one IP
for two VMs, and each run either succeeds or says clearly why not.

The lab's vcsim clones instantly, so the runs may or may not overlap; a build of it older than
lab/vcsim/vcenter.go even allows two VMs of one name in one folder. test_vsphere_vm_vcenter.py
runs the same races against a private vcsim that answers like vCenter (DuplicateName) and takes
seconds per clone, so that they surely overlap. The assertions hold however the two runs
interleave; they are what a user relies on.
"""
import pytest
from pyVmomi import vim, vmodl

from labhelpers import vsphere_objects
from test_vsphere_vm import LAB_NET, TEMPLATE, assert_failed_naming, start_play

pytestmark = pytest.mark.beside_fleet   # the lab's vCenter, not its fleet: runs beside the fleet's tests


def all_vms(si):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return list(view.view)
    finally:
        view.Destroy()


def vm_names(si):
    """The name of every VM; a VM the fleet lane destroys meanwhile is left out."""
    return [name for _vm, name in vsphere_objects(si, vim.VirtualMachine)]


def holders_of(si, ip):
    """VMs that have or claim ip (guest IP, or the containerops.ip claim in extraConfig); a VM the fleet lane
    destroys meanwhile is none."""
    held = []
    for vm, name in vsphere_objects(si, vim.VirtualMachine):
        try:
            extra = dict((o.key, o.value) for o in (vm.config.extraConfig if vm.config else []))
            guest_ip = vm.guest.ipAddress
        except vmodl.fault.ManagedObjectNotFound:
            continue
        if guest_ip == ip or ip in (extra.get("containerops.ip") or "").split(","):
            held.append(name)
    return held


def race(tmp_path, *args_per_run, **kw):
    """Start one vsphere_vm task per args at once; their results, in the same order."""
    runs = [start_play(tmp_path, [("vm", args)], **kw) for args in args_per_run]
    return [r.wait()["vm"] for r in runs]


def fleet(names, first_ip):
    return {"template": TEMPLATE, "wait_for_ip": True, "wait_timeout": 60,
            "vms": [{"name": n, "networks": [dict(LAB_NET, ip="10.88.1.%d" % (first_ip + i))]}
                    for i, n in enumerate(names)]}


def check_same_fleet_race(si, results, names, first_ip):
    """Both runs succeed; each VM exists once, was created by one run, and has its own IP."""
    assert all(not r.get("failed") for r in results), [r.get("msg") for r in results]
    assert sorted(sum((r["created"] for r in results), [])) == sorted(names), "each VM created exactly once"
    vms = vm_names(si)
    for i, name in enumerate(names):
        assert vms.count(name) == 1, "%s exists more than once" % name
        assert holders_of(si, "10.88.1.%d" % (first_ip + i)) == [name]
    for r in results:
        assert [v["ip"] for v in r["instances"]] == ["10.88.1.%d" % (first_ip + i) for i in range(len(names))]


def check_one_ip_race(si, results, names, ip):
    """Exactly one run gets the IP; the other fails naming it and leaves no VM behind."""
    won = [r for r in results if not r.get("failed")]
    lost = [r for r in results if r.get("failed")]
    assert len(won) == 1 and len(lost) == 1, [r.get("msg") for r in results]
    assert_failed_naming(lost[0], "networks[0].ip", ip)
    assert lost[0]["created"] == []
    assert holders_of(si, ip) == [won[0]["vm"]["name"]]
    loser = [n for n in names if n != won[0]["vm"]["name"]][0]
    assert loser not in vm_names(si)


def test_two_runs_for_the_same_fleet_create_each_vm_once(lab, si, tmp_path, cleanup):
    names = ["t-vm-race1", "t-vm-race2"]
    cleanup.extend(names)
    results = race(tmp_path, fleet(names, 160), fleet(names, 160))
    check_same_fleet_race(si, results, names, 160)


def test_two_runs_for_one_ip_leave_it_to_one_vm(lab, si, tmp_path, cleanup):
    names = ["t-vm-race3", "t-vm-race4"]
    cleanup.extend(names)
    args = [{"name": n, "template": TEMPLATE, "networks": [dict(LAB_NET, ip="10.88.1.163")],
             "wait_for_ip": True, "wait_timeout": 60} for n in names]
    check_one_ip_race(si, race(tmp_path, *args), names, "10.88.1.163")
