# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to vsphere_vm: make many VMs match their specs, in bulk phases.

resolve (names -> objects, one retrieval) -> plan (what changes, the diff; every problem
found here fails the task before anything changes) -> apply, phase by phase: each phase
starts all its vCenter tasks, then waits for all of them together, at most task_timeout.
Who owns an IP and whether a guest took its customization: _vsphere_identity.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.containerops.platform.plugins.module_utils._ipam_model import IpamError
from ansible_collections.containerops.platform.plugins.module_utils._ipam_nodes import (
    NodeAddresses,
    pool_nics,
    vsphere_addresses,
    vsphere_settle,
)
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError, diff_entry
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_config import config_spec, linux_prep
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import VSphereError, fault_message
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_identity import Identity
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_index import DatacenterIndex
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_plan import VmPlan
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_spec import (
    CUSTOMIZED_ATTRIBUTE,
    IP_CLAIM,
    after_view,
    claim_value,
    current_view,
    customization_method,
    customization_record,
    desired_power,
    diff_pair,
    diff_view,
    folder_segments,
    merge_vm_specs,
    network_interface,
    new_vm_view,
    plan_changes,
    static_ips,
    validate_params,
    validate_request,
)
from ansible_collections.containerops.platform.plugins.module_utils.vsphere import connect

try:
    from pyVmomi import vim, vmodl
except ImportError:  # reported by connect()
    pass


DETAIL_PATHS = ["name", "parent", "config.uuid", "config.hardware.numCPU", "config.hardware.memoryMB",
                "config.hardware.device", "config.extraConfig", "config.tools.pendingCustomization",
                "runtime.powerState", "guest.ipAddress", "guest.net", "guest.hostName", "customValue"]


class Provisioner(Identity):
    """Plans and applies vsphere_vm for many VMs: resolve, plan, then act in bulk phases."""

    def __init__(self, client, datacenter, specs, check_mode=False, force=False,
                 wait_for_ip=False, wait_timeout=300, task_timeout=1800, warn=None):
        self.client = client
        self.plans = [VmPlan(spec) for spec in specs]
        self.check_mode = check_mode
        self.force = force
        self.wait_for_ip = wait_for_ip
        self.wait_timeout = wait_timeout
        self.task_timeout = task_timeout
        self.warn = warn or (lambda msg: None)
        self.index = DatacenterIndex(client, datacenter)
        self.results = dict((p.name, {"name": p.name, "changed": False, "created": False})
                            for p in self.plans)
        self.created, self.deleted = [], []
        self.diffs = []
        # VM name -> why it failed after the others went on (a lost race, a failed customization)
        self.failures = {}
        self._events = None
        self.expected = {}  # VM name -> the IP the IP wait expects (or None: any)

    def _run(self, calls, faults=None):
        """Start the calls' tasks and wait for all of them, at most task_timeout seconds."""
        return self.client.run_tasks(calls, self.task_timeout, faults=faults, option="task_timeout")

    def _vm(self, plan):
        """The pyVmomi ref of the plan's VM (created by this run, or found)."""
        return self.client.obj(self.results[plan.name].get("moid") or plan.existing["moid"])

    # ---------------------------------------------------------------- resolve

    def resolve(self):
        """Turn names into vSphere objects for every VM; raise one error listing every problem."""
        errors = []
        self.details = self._details([v["moid"] for p in self.plans for v in self.index.vms_named(p.name)])
        ip_owners = None
        for plan in self.plans:
            plan.folder_moid = self._resolve_folder(plan, errors)
            plan.existing = self._resolve_existing(plan, errors)
            if plan.spec["state"] == "absent":
                continue
            if static_ips(plan.spec):
                ip_owners = self.index.ip_owners() if ip_owners is None else ip_owners
            self._resolve_networks(plan, errors, ip_owners)
            if plan.existing is None:
                self._resolve_placement(plan, errors)
        if errors:
            raise VSphereError("; ".join(errors), errors=errors)
        template_moids = sorted(set(p.template_moid for p in self.plans if p.template_moid))
        self.details.update(self._details(template_moids))

    def _resolve_folder(self, plan, errors):
        segments = folder_segments(plan.spec.get("folder"), self.index.name)
        moid_ = self.index.find_folder(segments)
        if moid_ is None:
            errors.append("%s: VM folder '%s' not found in datacenter %s; create it first or fix the path "
                          "(e.g. /%s/vm/<folder>)"
                          % (plan.src["folder"], plan.spec["folder"], self.index.name, self.index.name))
        return moid_

    def _resolve_existing(self, plan, errors):
        same_name = self.index.vms_named(plan.name)
        here = [v for v in same_name if v.get("parent") == plan.folder_moid]
        if here:
            vm = here[0]
            if vm.get("config.template"):
                errors.append("%s: '%s' is a template, not a VM; choose another name" % (plan.src["name"],
                                                                                         plan.name))
            return vm
        if same_name and plan.folder_moid is not None:
            where = ", ".join(sorted(self.index.folder_path(v.get("parent")) for v in same_name))
            errors.append("%s: a VM named '%s' already exists in folder %s, not in %s (%s). Set %s to that "
                          "folder to manage it, or choose another name"
                          % (plan.src["name"], plan.name, where,
                             self.index.folder_path(plan.folder_moid), plan.src["folder"],
                             plan.src["folder"]))
        return None

    def _resolve_networks(self, plan, errors, ip_owners):
        for i, net in enumerate(plan.spec.get("networks") or []):
            where = "%s[%d]" % (plan.src["networks"], i)
            found = self.index.networks.get(net["name"])
            if not found:
                errors.append("%s.name: port group '%s' not found in datacenter %s; available: %s"
                              % (where, net["name"], self.index.name,
                                 ", ".join(sorted(self.index.networks)) or "none"))
                continue
            if not net.get("ip"):
                continue
            iface = network_interface(net)
            pool = self.index.ip_pools().get(self._port_group(net)["moid"])
            if pool and iface.ip not in pool[0]:
                errors.append("%s.ip: %s is outside the subnet %s that vSphere has for port group '%s' "
                              "(IP pool '%s'); choose an address in %s"
                              % (where, net["ip"], pool[0], net["name"], pool[1], pool[0]))
            owner = ip_owners.get(net["ip"])
            if owner and owner[0] != plan.name:
                errors.append("%s.ip: %s is already used by VM '%s' (%s); choose a free address"
                              % (where, net["ip"], owner[0], owner[1]))

    def _resolve_placement(self, plan, errors):
        src = plan.src
        if not plan.spec.get("template"):
            errors.append("%s: required to create VM '%s' (it does not exist in %s)"
                          % (src["template"], plan.name, self.index.folder_path(plan.folder_moid)
                             if plan.folder_moid else self.index.name))
        else:
            plan.template_moid = self._find_template(plan, errors)
        plan.pool_moid = self._find_pool(plan, errors)
        if plan.spec.get("datastore"):
            plan.datastore_moid = self.index.datastores.get(plan.spec["datastore"])
            if plan.datastore_moid is None:
                errors.append("%s: datastore '%s' not found in datacenter %s; available: %s"
                              % (src["datastore"], plan.spec["datastore"], self.index.name,
                                 ", ".join(sorted(self.index.datastores)) or "none"))

    def _find_template(self, plan, errors):
        template = plan.spec["template"]
        if "/" in template:
            segments = folder_segments(template, self.index.name)
            folder = self.index.find_folder(segments[:-1])
            found = [v for v in self.index.vms_named(segments[-1] if segments else "")
                     if folder is not None and v.get("parent") == folder]
        else:
            found = self.index.vms_named(template)
        if not found:
            errors.append("%s: template '%s' not found in datacenter %s; give its name or inventory path "
                          "(e.g. /%s/vm/<template>)"
                          % (plan.src["template"], template, self.index.name, self.index.name))
            return None
        if len(found) > 1:
            errors.append("%s: %d VMs/templates are named '%s' in datacenter %s (%s); give the inventory "
                          "path instead"
                          % (plan.src["template"], len(found), template, self.index.name,
                             ", ".join(self.index.folder_path(v.get("parent")) for v in found)))
            return None
        return found[0]["moid"]

    def _find_pool(self, plan, errors):
        src = plan.src
        clusters = self.index.by_type.get("ClusterComputeResource", [])
        cluster = None
        if plan.spec.get("cluster"):
            matching = [c for c in clusters if c["name"] == plan.spec["cluster"]]
            if not matching:
                errors.append("%s: cluster '%s' not found in datacenter %s; available: %s"
                              % (src["cluster"], plan.spec["cluster"], self.index.name,
                                 ", ".join(sorted(c["name"] for c in clusters)) or "none"))
                return None
            cluster = matching[0]
        pools = self.index.by_type.get("ResourcePool", [])
        if plan.spec.get("resource_pool"):
            name = plan.spec["resource_pool"].strip("/").split("/")[-1]
            matching = [p for p in pools if p["name"] == name and
                        (cluster is None or p.get("owner") == cluster["moid"])]
            if len(matching) == 1:
                return matching[0]["moid"]
            errors.append("%s: resource pool '%s' %s in datacenter %s%s" % (
                src["resource_pool"], plan.spec["resource_pool"], "not found" if not matching else "is ambiguous",
                self.index.name, "" if cluster is None else " cluster %s" % cluster["name"]) +
                ("; set cluster too" if matching else ""))
            return None
        if cluster is not None:
            return cluster.get("resourcePool")
        if len(clusters) == 1:
            return clusters[0].get("resourcePool")
        errors.append("%s: required to create VM '%s': datacenter %s has %s clusters (%s); set cluster or "
                      "resource_pool" % (src["cluster"], plan.name, self.index.name, len(clusters),
                                         ", ".join(sorted(c["name"] for c in clusters)) or "no"))
        return None

    def _details(self, moids):
        """Full properties of the given VMs in one retrieval: {moid: details}."""
        if not moids:
            return {}
        rows = self.client.retrieve_objects([self.client.obj(m) for m in moids],
                                            {vim.VirtualMachine: DETAIL_PATHS})
        return dict((row["moid"], self._with_devices(row)) for row in rows)

    def _with_devices(self, row):
        """Add ordered disks/nics lists (plain) next to the raw device objects."""
        devices = row.get("config.hardware.device") or []
        networks_by_moid = {}
        for by_moid in self.index.networks.values():
            networks_by_moid.update(by_moid)
        dvpg_by_key = dict((r.get("key"), r) for r in networks_by_moid.values() if r.get("key"))
        row["disks"], row["nics"] = [], []
        for dev in sorted(devices, key=lambda d: d.key):
            if isinstance(dev, vim.vm.device.VirtualDisk):
                row["disks"].append({"key": dev.key, "capacity_kb": dev.capacityInKB, "device": dev})
            elif isinstance(dev, vim.vm.device.VirtualEthernetCard):
                backing = dev.backing
                network = None
                if isinstance(backing, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo):
                    network = backing.deviceName or (backing.network and
                                                     networks_by_moid.get(backing.network._moId, {}).get("name"))
                elif isinstance(backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
                    network = dvpg_by_key.get(backing.port.portgroupKey, {}).get("name")
                row["nics"].append({"key": dev.key, "network": network, "mac": dev.macAddress or "",
                                    "device": dev})
        row["attributes"] = self.index.attributes_of(row.get("customValue"))
        return row

    # ---------------------------------------------------------------- plan

    def plan(self):
        """Per VM: action create/update/delete/none, the changes, and the before/after diff."""
        errors = []
        for plan in self.plans:
            existing = plan.existing
            plan.record = customization_record(plan.spec) if plan.spec["state"] != "absent" else None
            plan.status = plan.record and "pending"  # confirmed once the guest is seen to have it
            if plan.spec["state"] == "absent":
                plan.action = "delete" if existing else "none"
                if existing:
                    details = self.details[existing["moid"]]
                    if details.get("runtime.powerState") == "poweredOn" and not self.force:
                        errors.append("%s: VM '%s' is powered on; set force: true to power it off and delete it"
                                      % (plan.src["state"], plan.name))
                    self._diff(plan.name, {"state": "present", "power_state": details.get("runtime.powerState")},
                               {"state": "absent"})
                continue
            if existing is None:
                plan.action = "create"
                template_view = current_view(self.details[plan.template_moid], {})
                as_new = dict(template_view, extra_config={}, attributes={}, power_state="poweredOff")
                changes, errs = plan_changes(plan.spec, as_new)
                errors.extend(errs)
                plan.changes = changes
                plan.confirm = bool(plan.record)
                after = dict(diff_view(new_vm_view(plan.spec, template_view), plan.spec), state="present")
                if plan.record:
                    after["customization"] = plan.record
                self._diff(plan.name, {"state": "absent"}, after)
                continue
            details = self.details[existing["moid"]]
            view = current_view(details, details["attributes"])
            changes, errs = plan_changes(plan.spec, view)
            errors.extend(errs)
            errors.extend(self._plan_identity(plan, details, changes))
            plan.changes = changes
            plan.action = "update" if (changes or plan.customize) else "none"
            if plan.action == "update":
                before, after = diff_pair(view, after_view(view, changes, plan.spec), plan.spec)
                if plan.customize:
                    before["customization"] = details["attributes"].get(CUSTOMIZED_ATTRIBUTE) or "not confirmed"
                    after["customization"] = "%s (applied again)" % plan.record
                self._diff(plan.name, before, after)
        if errors:
            raise VSphereError("; ".join(errors), errors=errors)

    def _diff(self, name, before, after):
        self.diffs.append(diff_entry(name, before, after))

    # ---------------------------------------------------------------- apply

    def apply(self):
        """Act in phases; each phase starts all its tasks, then waits for all of them together."""
        for plan in self.plans:
            if plan.action != "none":
                self._mark(plan.name, created=plan.action == "create")
        if self.check_mode:
            return self.report()
        self._delete([p for p in self.plans if p.action == "delete"])
        self._ensure_fields()
        cloned, duplicates = self._clone([p for p in self.plans if p.action == "create"])
        self._converge_new(self.settle(cloned, duplicates))
        updates = [p for p in self.plans if p.action == "update"]
        self._power(updates, ("off",))  # first: hardware changes and customization want the VM off
        self._reconfigure(updates)
        self._customize([p for p in updates if p.customize])
        self._set_attributes([p for p in self.plans if p.action in ("create", "update")])
        since = self.client.server_time() if any(p.confirm for p in self.plans) else None
        self._power([p for p in self.plans if p.action in ("create", "update")], ("on", "reset"))
        missing = self._wait_ips()
        self.confirm(since, missing)
        return self.report()

    def _mark(self, name, created=False):
        self.results[name]["changed"] = True
        if created:
            self.results[name]["created"] = True

    def _fail(self, what, errors):
        """Stop with the per-VM errors, reporting what this run already created."""
        lines = ["%s: %s" % (name, err) for name, err in sorted(errors.items())]
        lines.extend(why for _name, why in sorted(self.failures.items()))
        self.report()
        raise VSphereError("%s failed for %d VM(s): %s" % (what, len(errors), "; ".join(lines)),
                           created=self.created, deleted=self.deleted, instances=self._result_list())

    def _delete(self, plans):
        if not plans:
            return
        on = dict((p.name, (self._vm(p).PowerOffVM_Task, (), {})) for p in plans
                  if self.details[p.existing["moid"]].get("runtime.powerState") == "poweredOn")
        errors = self._run(on)[1]
        if errors:
            self._fail("power off before delete", errors)
        done, errors = self._run(dict((p.name, (self._vm(p).Destroy_Task, (), {})) for p in plans))
        self.deleted.extend(sorted(done))
        for name in done:
            self.results[name].update(state="absent", power_state=None, moid=None)
        if errors:
            self._fail("delete", errors)

    def _ensure_fields(self):
        """Create the custom attribute definitions the VMs need (one call per missing name)."""
        wanted = set()
        for plan in self.plans:
            if plan.action in ("create", "update"):
                wanted.update(plan.changes.get("attributes", {}))
            if (plan.action == "create" and static_ips(plan.spec)) or plan.record_now:
                wanted.add(IP_CLAIM)
            if plan.confirm or plan.record_now:
                wanted.add(CUSTOMIZED_ATTRIBUTE)
        manager = self.client.content.customFieldsManager
        for name in sorted(wanted - set(self.index.fields.values())):
            try:
                field = manager.AddCustomFieldDef(name=name, moType=vim.VirtualMachine)
            except vim.fault.DuplicateName:
                continue  # created meanwhile by a parallel run; re-read below
            except vmodl.MethodFault as exc:
                raise VSphereError("attributes: cannot create the custom attribute '%s': %s"
                                   % (name, fault_message(exc)))
            self.index.fields[field.key] = name
        if wanted - set(self.index.fields.values()):
            rows = self.client.retrieve([self.client.field_definitions_spec()])
            self.index.fields.update(self.client.field_names(rows))

    def _clone(self, plans):
        """Start every clone; ([plans cloned], [plans vCenter refused as DuplicateName: another run's])."""
        if not plans:
            return [], []
        calls = {}
        for plan in plans:
            template = self.client.obj(plan.template_moid)
            calls[plan.name] = (template.CloneVM_Task, (),
                                dict(folder=self.client.obj(plan.folder_moid), name=plan.name,
                                     spec=self._clone_spec(plan)))
        faults = {}
        done, errors = self._run(calls, faults=faults)
        for name, ref in done.items():
            self.client._known[ref._moId] = ref
            self.created.append(name)
            self.results[name]["moid"] = ref._moId
        self.created.sort()
        for plan in plans:
            self.results[plan.name]["created"] = plan.name in done  # changed stays: vCenter was asked
        duplicates = [p for p in plans if isinstance(faults.get(p.name), vim.fault.DuplicateName)]
        for plan in duplicates:
            del errors[plan.name]
        if errors:
            self._fail("clone (CloneVM_Task)", errors)
        return [p for p in plans if p.name in done], duplicates

    def _clone_spec(self, plan):
        """CloneSpec with everything vCenter applies during the clone (hardware, extraConfig, customization)."""
        template = self.details[plan.template_moid]
        ips = static_ips(plan.spec)
        config = config_spec(plan.changes, template, self._nic_backing,
                             extra={IP_CLAIM: claim_value(ips)} if ips else None)
        relocate = vim.vm.RelocateSpec(pool=self.client.obj(plan.pool_moid))
        if plan.datastore_moid:
            relocate.datastore = self.client.obj(plan.datastore_moid)
        # vCenter powers the clone on itself (one call less per VM; customization runs at
        # first boot) - but not a VM with static IPs: settle() decides first whether it
        # may keep them. Servers that ignore powerOn (vcsim) get it in the power phase.
        power_on = desired_power(plan.spec["state"], "poweredOff", False)[0] == "on" and not ips
        customization = linux_prep(plan.spec, template) if customization_method(plan.spec) == "linux_prep" else None
        return vim.vm.CloneSpec(location=relocate, powerOn=power_on, template=False, config=config,
                                customization=customization)

    def _port_group(self, net):
        """The port group row of a networks[] entry (the lowest moid when switches share the name)."""
        return sorted(self.index.networks[net["name"]].values(), key=lambda r: r["moid"])[0]

    def _nic_backing(self, net):
        row = self._port_group(net)
        if row["type"] == "DistributedVirtualPortgroup":
            switch = self.index.switch_uuid.get(row.get("config.distributedVirtualSwitch"))
            port = vim.dvs.PortConnection(portgroupKey=row["key"], switchUuid=switch)
            return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(port=port)
        return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(
            deviceName=row["name"], network=self.client.obj(row["moid"]))

    def _converge_new(self, plans):
        """Apply, after the clone, whatever the server did not take from the CloneSpec.

        vCenter applies config and customization during the clone, so on vCenter
        this finds nothing to do. Simpler servers (the govmomi simulator) copy the
        template's hardware and ignore the customization; one more reconfigure /
        CustomizeVM_Task per such VM (all concurrent) makes the result the same.
        """
        if not plans:
            return
        details = self._details([self.results[p.name]["moid"] for p in plans])
        reconfigure, customize = {}, {}
        for plan in plans:
            vm = self._vm(plan)
            current = details[vm._moId]
            plan.power_after_clone = current.get("runtime.powerState")
            changes = plan_changes(plan.spec, current_view(current, {}))[0]
            changes = dict((k, v) for k, v in changes.items() if k not in ("attributes", "power"))
            if changes:
                reconfigure[plan.name] = (vm.ReconfigVM_Task, (config_spec(changes, current, self._nic_backing),), {})
            if customization_method(plan.spec) == "linux_prep" and not current.get("config.tools.pendingCustomization"):
                if plan.power_after_clone == "poweredOn":
                    self.warn("VM %s was powered on by the clone without its guest customization; "
                              "it is not customized" % plan.name)
                else:
                    customize[plan.name] = (vm.CustomizeVM_Task, (linux_prep(plan.spec, current),), {})
        errors = self._run(reconfigure)[1]
        if errors:
            self._fail("reconfigure after clone", errors)
        self._customize_calls(customize)

    def _reconfigure(self, plans):
        calls = {}
        for plan in plans:
            changes = dict((k, v) for k, v in plan.changes.items() if k not in ("attributes", "power"))
            if changes:
                details = self.details[plan.existing["moid"]]
                calls[plan.name] = (self._vm(plan).ReconfigVM_Task,
                                    (config_spec(changes, details, self._nic_backing),), {})
        errors = self._run(calls)[1]
        if errors:
            hint = " (CPU/memory of a powered-on VM change only with hot add enabled; set state: poweredoff first)"
            self._fail("reconfigure", dict((k, v + hint) for k, v in errors.items()))

    def _customize(self, plans):
        """Linux prep again for existing VMs whose guest never confirmed it (they are off now)."""
        self._customize_calls(dict((p.name, (self._vm(p).CustomizeVM_Task,
                                             (linux_prep(p.spec, self.details[p.existing["moid"]]),), {}))
                                   for p in plans))

    def _customize_calls(self, calls):
        faults = {}
        errors = self._run(calls, faults=faults)[1]
        # Another run working on the same new VM customized (or customized and booted) it
        # meanwhile: the same identity, and confirm() checks that the guest shows it.
        for name, fault in faults.items():
            if isinstance(fault, (vim.fault.CustomizationPending, vim.fault.InvalidPowerState)):
                del errors[name]
        if errors:
            self._fail("guest customization (CustomizeVM_Task)", errors)

    def _set_attributes(self, plans):
        values = {}
        for plan in plans:
            values[plan.name] = dict(plan.changes.get("attributes", {}))
            if plan.action == "create" and static_ips(plan.spec):
                values[plan.name][IP_CLAIM] = claim_value(static_ips(plan.spec))
        self._set_fields(values)

    def _set_fields(self, values):
        """SetField per VM and attribute ({VM name: {attribute: value}}): vSphere has no bulk call, so concurrently."""
        by_name = dict((name, key) for key, name in self.index.fields.items())
        manager = self.client.content.customFieldsManager
        calls = {}
        for plan in self.plans:
            for attr, value in values.get(plan.name, {}).items():
                calls[(plan.name, attr)] = (manager.SetField, (), dict(entity=self._vm(plan), key=by_name[attr],
                                                                       value=value))
        errors = self.client.start(calls)[1]
        if errors:
            self._fail("setting custom attributes", dict(("%s %s" % k, v) for k, v in errors.items()))

    def _power(self, plans, actions):
        """Power the VMs whose planned power action is one of ``actions``."""
        methods = {"on": "PowerOnVM_Task", "off": "PowerOffVM_Task", "reset": "ResetVM_Task"}
        calls, wanted = {}, {}
        for plan in plans:
            if plan.action == "create":
                action = desired_power(plan.spec["state"], "poweredOff", False)[0]
                if plan.power_after_clone == "poweredOn":
                    action = None  # the clone powered it on already (vCenter)
            else:
                action = plan.changes.get("power")
            if action in actions:
                calls[plan.name] = (getattr(self._vm(plan), methods[action]), (), {})
                wanted[plan.name] = action
        faults = {}
        errors = self._run(calls, faults=faults)[1]
        for name, fault in faults.items():
            # Already in that state: another run powered the same VM at the same time.
            if wanted[name] in ("on", "off") and isinstance(fault, vim.fault.InvalidPowerState):
                del errors[name]
        if errors:
            self._fail("power operation", errors)

    def _wait_ips(self):
        """Wait for the guest IPs of the VMs that should run; [names of those without one in time]."""
        if not self.wait_for_ip:
            return []
        vms, self.expected = {}, {}
        for plan in self.plans:
            if plan.action in ("lost", "delete"):
                continue
            running = plan.existing and self.details.get(plan.existing["moid"], {}).get(
                "runtime.powerState") == "poweredOn"
            if plan.spec["state"] in ("poweredon", "restarted") or (plan.spec["state"] == "present" and running):
                vms[plan.name] = self._vm(plan)
                ips = static_ips(plan.spec)
                # The VMs whose customization this run checks must show its first IP; one
                # confirmed earlier keeps the address it has (a warning below says so).
                checked = plan.action in ("create", "adopted") or plan.confirm
                self.expected[plan.name] = ips[0] if (ips and checked) else None
        got, missing = self.client.wait_for_ips(vms, self.wait_timeout, self.expected)
        for plan in self.plans:
            ips = static_ips(plan.spec)
            if plan.name in got and ips and got[plan.name] != ips[0]:
                self.warn("VM %s reports IP %s, not %s as in networks[0].ip; its customization was confirmed "
                          "earlier, so the address changed in the guest" % (plan.name, got[plan.name], ips[0]))
        return missing

    # ---------------------------------------------------------------- report

    def report(self):
        """Final per-VM results from one retrieval of the VMs that exist."""
        moids = {}
        for plan in self.plans:
            result = self.results[plan.name]
            vm_moid = result.get("moid") or (plan.existing or {}).get("moid")
            if vm_moid and plan.name not in self.deleted and plan.action != "lost":
                moids[plan.name] = vm_moid
        details = {} if self.check_mode else self._details(list(moids.values()))
        for plan in self.plans:
            result = self.results[plan.name]
            result["customization"] = plan.status if plan.name in moids or self.check_mode else None
            if plan.name in moids:
                d = details.get(moids[plan.name]) or self.details.get(moids[plan.name]) or {}
                result.update(moid=moids[plan.name], uuid=d.get("config.uuid"), ip=d.get("guest.ipAddress"),
                              power_state=d.get("runtime.powerState"), state="present")
            elif plan.name not in self.deleted:
                result.update(moid=None, uuid=None, ip=None, power_state=None,
                              state="present" if result["created"] else "absent")
            else:
                result.update(moid=None, uuid=None, ip=None, power_state=None, state="absent")
        return self._result_list()

    def _result_list(self):
        return [self.results[p.name] for p in self.plans]


# The result's keys before they took ecs_instance's words: kept beside the new ones, same lists, until 1.0.0.
DEPRECATED_KEYS = (("vms", "instances"), ("changed_vms", "changed_instances"))


def with_deprecated_keys(result):
    """The result (changed in place) with each deprecated key beside its new name, holding the same list."""
    result.update((old, result[new]) for old, new in DEPRECATED_KEYS if new in result)
    return result


def run_vsphere_vm(params, check_mode=False, warn=None):
    """Entry point of the vsphere_vm module: returns the result dict, raises ProvisionError."""
    try:
        return with_deprecated_keys(_run(params, check_mode, warn))
    except VSphereError as exc:
        details = dict(exc.details)
        created = details.pop("created", [])
        instances = details.get("instances") or []
        if params.get("name") and instances:
            details["vm"] = instances[0]
        changed = bool(created or details.get("deleted") or any(vm.get("changed") for vm in instances))
        raise ProvisionError(exc.msg, created=created, changed=changed, **with_deprecated_keys(details))


def _run(params, check_mode, warn):
    specs = merge_vm_specs(params)
    errors = validate_params(params) + validate_request(specs)
    if errors:
        raise VSphereError("; ".join(errors), errors=errors)
    # Node addresses from the IPAM (_ipam_nodes.py): etcd only when a NIC names a pool.
    nodes = NodeAddresses(params.get("ipam"), "vsphere", params["datacenter"], check_mode) \
        if any(pool_nics(spec) for spec in specs) else None
    client = connect(params["hostname"], params["username"], params["password"], params["port"],
                     params["validate_certs"])
    try:
        for _attempt in range(2):
            prov = Provisioner(client, params["datacenter"], specs, check_mode=check_mode, force=params["force"],
                               wait_for_ip=params["wait_for_ip"], wait_timeout=params["wait_timeout"],
                               task_timeout=params["task_timeout"], warn=warn)
            if nodes:
                _fill_addresses(prov, nodes, specs)
            prov.resolve()
            prov.plan()
            # Another task allocated an address proposed here: its VM got another one; check and plan again.
            if not (nodes and _ipam(prov, nodes.commit)):
                break
        instances = prov.apply()
        if nodes:
            gone = [p.name for p in prov.plans if p.spec["state"] == "absent" and (
                p.action == "none" or p.name in prov.deleted or (check_mode and p.action == "delete"))]
            _ipam(prov, vsphere_settle, nodes, specs, prov.results, gone)
    finally:
        client.close()
    result = {
        "changed": any(v["changed"] for v in instances) or bool(nodes and nodes.changed),
        "instances": instances,
        "created": [v["name"] for v in instances if v["created"]],
        "changed_instances": [v["name"] for v in instances if v["changed"]],
        "deleted": list(prov.deleted),
        "diff": prov.diffs + (nodes.diff if nodes else []),
    }
    if nodes:
        result["node_addresses"] = nodes.result()
    if params.get("name") and not params.get("vms"):   # the option vms (alias instances), not the result key
        result["vm"] = instances[0]
    return result


def _fill_addresses(prov, nodes, specs):
    """The plans' NICs that name an IPAM pool get their addresses; then the addresses are checked as ips are."""
    def exists(spec):
        folder = prov.index.find_folder(folder_segments(spec.get("folder"), prov.index.name))
        return folder is not None and any(v.get("parent") == folder for v in prov.index.vms_named(spec["name"]))

    filled = _ipam(prov, vsphere_addresses, nodes, specs, exists)
    errors = validate_request(filled)
    if errors:
        raise VSphereError("; ".join(errors), errors=errors)
    for plan, spec in zip(prov.plans, filled):
        plan.spec = spec


def _ipam(prov, step, *args):
    """One IPAM step: its error fails the task as vCenter's do, with what the run did so far."""
    try:
        return step(*args)
    except IpamError as exc:
        problems = {"errors": exc.problems} if hasattr(exc, "problems") else {}
        raise VSphereError(str(exc), created=list(prov.created), deleted=list(prov.deleted),
                           instances=prov._result_list(), **problems)
