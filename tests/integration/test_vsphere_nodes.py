"""vcsim is the lab's vCenter: TLS, real logins, and clones that become SSH-reachable nodes."""
import ssl

import pytest
from pyVim.connect import Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from labhelpers import (
    clone_node_vm,
    docker_state,
    vm_container,
    vsphere_connect,
    vsphere_find,
    wait_for_ssh,
    wait_until,
)

pytestmark = pytest.mark.beside_fleet   # the lab's vCenter, not its fleet: runs beside the fleet's tests

VM_IP = "10.88.1.201"  # vSphere port-group range of the lab network


@pytest.fixture
def si(lab):
    si = vsphere_connect(lab)
    yield si
    Disconnect(si)


def test_vcenter_speaks_tls_and_checks_the_password(lab):
    pem = ssl.get_server_certificate((lab["vsphere"]["host"], lab["vsphere"]["port"]))
    assert "BEGIN CERTIFICATE" in pem
    with pytest.raises(vim.fault.InvalidLogin):
        vsphere_connect(lab, password="not-the-password")


def test_inventory_has_datacenter_cluster_and_template(lab, si):
    v = lab["vsphere"]
    assert vsphere_find(si, vim.Datacenter, v["datacenter"]) is not None
    assert vsphere_find(si, vim.ClusterComputeResource, v["cluster"]) is not None
    assert vsphere_find(si, vim.Datastore, v["datastore"]) is not None
    template = vsphere_find(si, vim.VirtualMachine, v["template"])
    assert template is not None and template.config.template is True


def test_clone_with_run_container_is_a_node_reachable_over_ssh(lab, si):
    name = "lab-test-vm1"
    vm = clone_node_vm(si, lab, name, VM_IP)
    try:
        # vSphere reports the address the guest really has (from the container).
        wait_until(lambda: vm.guest.ipAddress == VM_IP, 60, what=f"guest.ipAddress {VM_IP}")
        assert wait_for_ssh(lab, VM_IP) == name
        container = vm_container(name)
        assert docker_state(container) == "running"

        WaitForTask(vm.PowerOffVM_Task())
        assert vm.runtime.powerState == "poweredOff"
        wait_until(lambda: docker_state(container) == "exited", 30, what="container stop on power off")
    finally:
        if vm.runtime.powerState == "poweredOn":
            WaitForTask(vm.PowerOffVM_Task())
        WaitForTask(vm.Destroy_Task())
    assert vm_container(name) is None, "destroying the VM must remove its container"
