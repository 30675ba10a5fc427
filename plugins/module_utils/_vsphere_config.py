# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to vsphere_vm: the vSphere specs that carry a planned change to a VM.

ConfigSpec (hardware, extraConfig, device changes) and the Linux prep
CustomizationSpec, built from a VM spec, its planned changes and the VM's (or
template's) current devices. pyVmomi objects in, pyVmomi objects out; no calls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import VSphereError
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_spec import (
    GB_KB,
    guest_hostname,
    network_interface,
)

try:
    from pyVmomi import vim
except ImportError:  # reported by connect()
    pass


def copy_device(device):
    """A shallow copy of a device, so that editing it for one VM's spec leaves the
    template's device (shared by every VM cloned from it) untouched."""
    copy = type(device)()
    for prop in device._GetPropertyList():
        setattr(copy, prop.name, getattr(device, prop.name))
    return copy


def config_spec(changes, details, nic_backing, extra=None):
    """ConfigSpec for ``changes`` (plan_changes) of a VM whose devices are in ``details``.

    ``nic_backing(net)`` makes the backing of a ``networks`` entry's NIC; ``extra``: more extraConfig keys.
    """
    config = vim.vm.ConfigSpec()
    if "cpus" in changes:
        config.numCPUs = changes["cpus"]
    if "memory_mb" in changes:
        config.memoryMB = changes["memory_mb"]
    extra_config = dict(changes.get("extra_config") or {}, **(extra or {}))
    if extra_config:
        config.extraConfig = [vim.option.OptionValue(key=k, value=v) for k, v in sorted(extra_config.items())]
    device_changes = disk_changes(changes.get("disks", []), details) + \
        nic_changes(changes.get("networks", []), details, nic_backing)
    if device_changes:
        config.deviceChange = device_changes
    return config


def disk_changes(disks, details):
    E = vim.vm.device.VirtualDeviceSpec
    out = []
    existing = details.get("disks", [])
    new_unit = 0
    controller = None
    for dev in details.get("config.hardware.device") or []:
        if isinstance(dev, vim.vm.device.VirtualSCSIController):
            controller = dev
            break
    used_units = set(d["device"].unitNumber for d in existing
                     if controller is not None and d["device"].controllerKey == controller.key)
    for i, size in disks:
        # Both units: vCenter takes capacityInBytes when it is set, and a copied
        # device carries the old one.
        if i < len(existing):
            dev = copy_device(existing[i]["device"])
            dev.capacityInKB, dev.capacityInBytes = size * GB_KB, size * GB_KB * 1024
            out.append(E(operation=E.Operation.edit, device=dev))
            continue
        if controller is None:
            raise VSphereError("disks[%d]: the template has no SCSI controller to attach a new disk to" % i)
        while new_unit in used_units or new_unit == 7:  # unit 7 is the controller itself
            new_unit += 1
        used_units.add(new_unit)
        disk = vim.vm.device.VirtualDisk(
            key=-100 - i, controllerKey=controller.key, unitNumber=new_unit, capacityInKB=size * GB_KB,
            capacityInBytes=size * GB_KB * 1024,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent", thinProvisioned=True))
        out.append(E(operation=E.Operation.add, fileOperation=E.FileOperation.create, device=disk))
    return out


def nic_changes(nets, details, nic_backing):
    E = vim.vm.device.VirtualDeviceSpec
    out = []
    existing = details.get("nics", [])
    for i, net in nets:
        if i < len(existing):
            dev = copy_device(existing[i]["device"])
            operation = E.Operation.edit
        else:
            dev = vim.vm.device.VirtualVmxnet3(key=-200 - i, addressType="generated")
            dev.connectable = vim.vm.device.VirtualDevice.ConnectInfo(startConnected=True, connected=True,
                                                                      allowGuestControl=True)
            operation = E.Operation.add
        dev.backing = nic_backing(net)
        if net.get("mac"):
            dev.addressType, dev.macAddress = "manual", net["mac"]
        out.append(E(operation=operation, device=dev))
    return out


def linux_prep(spec, details):
    """Linux prep CustomizationSpec (static IPs, gateway, DNS, host name) for a VM with these NICs."""
    C = vim.vm.customization
    nets = spec.get("networks") or []
    nic_count = max(len(nets), len(details.get("nics", [])))
    mappings = []
    for i in range(nic_count):
        net = nets[i] if i < len(nets) else {}
        if net.get("ip"):
            iface = network_interface(net)
            adapter = C.IPSettings(ip=C.FixedIp(ipAddress=net["ip"]), subnetMask=str(iface.netmask))
            if net.get("gateway"):
                adapter.gateway = [net["gateway"]]
            if net.get("dns_servers"):
                adapter.dnsServerList = net["dns_servers"]
        else:
            adapter = C.IPSettings(ip=C.DhcpIpGenerator())
        mappings.append(C.AdapterMapping(adapter=adapter))
    dns = spec.get("dns_servers") or []
    identity = C.LinuxPrep(hostName=C.FixedName(name=guest_hostname(spec)),
                           domain=spec.get("domain") or "localdomain", hwClockUTC=True)
    return C.Specification(
        identity=identity, nicSettingMap=mappings,
        globalIPSettings=C.GlobalIPSettings(dnsServerList=dns, dnsSuffixList=[spec["domain"]]
                                            if spec.get("domain") else []))
