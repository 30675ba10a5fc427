package main

// What vCenter does and the 0.24 simulator does not; clients written for
// vCenter (ours, community.vmware) rely on it.

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// fillDiskCapacities gives every virtual disk both capacityInKB and
// capacityInBytes, as vCenter reports them (community.vmware's vmware_vm_info
// adds up capacityInBytes). A client that changes only one of them sets the
// size; a disk never shrinks, so the larger of the two wins.
func fillDiskCapacities() {
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		simulator.Map.WithLock(vm, func() {
			if vm.Config == nil {
				return
			}
			for _, device := range vm.Config.Hardware.Device {
				disk, ok := device.(*types.VirtualDisk)
				if !ok {
					continue
				}
				bytes := disk.CapacityInBytes
				if kb := disk.CapacityInKB * 1024; kb > bytes {
					bytes = kb
				}
				disk.CapacityInBytes, disk.CapacityInKB = bytes, bytes/1024
			}
		})
	}
}

// replaceExtraConfig: vCenter sets an extraConfig key to the value a reconfigure
// gives (an empty value removes it); the simulator appends another entry.
func replaceExtraConfig(ref types.ManagedObjectReference) {
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil {
			return
		}
		last := map[string]int{}
		for i, o := range vm.Config.ExtraConfig {
			last[o.GetOptionValue().Key] = i
		}
		var kept []types.BaseOptionValue
		for i, o := range vm.Config.ExtraConfig {
			v := o.GetOptionValue()
			if s, isString := v.Value.(string); last[v.Key] == i && !(isString && s == "") {
				kept = append(kept, o)
			}
		}
		vm.Config.ExtraConfig = kept
	})
}

// Clones and creations of one name in one folder run one at a time, so that
// the second sees the first's VM (duplicateName).
var newNameLocks sync.Map

func lockNewName(call soapCall) (unlock func()) {
	if (call.Method != "CloneVM_Task" && call.Method != "CreateVM_Task") || call.Name == "" {
		return func() {}
	}
	mu, _ := newNameLocks.LoadOrStore(call.Folder.Value+"/"+call.Name, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

// duplicateName: vCenter refuses a second VM of one name in one folder; the
// clone or create task fails with DuplicateName.
func duplicateName(call soapCall) (types.ManagedObjectReference, bool) {
	if (call.Method != "CloneVM_Task" && call.Method != "CreateVM_Task") || call.Name == "" {
		return types.ManagedObjectReference{}, false
	}
	folder, ok := simulator.Map.Get(call.Folder).(*simulator.Folder)
	if !ok {
		return types.ManagedObjectReference{}, false
	}
	var children []types.ManagedObjectReference
	simulator.Map.WithLock(folder, func() {
		children = append(children, folder.ChildEntity...)
	})
	for _, child := range children {
		if e, ok := simulator.Map.Get(child).(mo.Entity); ok && e.Entity().Name == call.Name {
			task := simulator.CreateTask(simulator.Map.Get(call.This), taskName(call.Method),
				func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
					return nil, &types.DuplicateName{Name: call.Name, Object: call.Folder}
				})
			return task.Run(), true
		}
	}
	return types.ManagedObjectReference{}, false
}

// customizationAtBoot: the simulator applies a pending guest customization at
// power on but posts no events; vCenter posts CustomizationStartedEvent and then
// CustomizationSucceeded or a failure once the guest reports. With the VM's
// extraConfig lab.customization = fail, the guest fails instead: it keeps the
// identity it had, and CustomizationFailed is posted.
func customizationAtBoot(call soapCall) func() {
	vm, ok := simulator.Map.Get(call.This).(*simulator.VirtualMachine)
	if !ok {
		return nil
	}
	var pending, fail bool
	var before types.GuestInfo
	simulator.Map.WithLock(vm, func() {
		pending = vm.Config != nil && vm.Config.Tools != nil && vm.Config.Tools.PendingCustomization != ""
		fail = extraConfig(vm, customizationKey) == "fail"
		if vm.Guest != nil {
			before = *vm.Guest
			before.Net = append([]types.GuestNicInfo(nil), vm.Guest.Net...)
		}
	})
	if !pending {
		return nil
	}
	return func() {
		var consumed bool
		simulator.Map.WithLock(vm, func() {
			consumed = vm.Config.Tools.PendingCustomization == ""
			if consumed && fail {
				simulator.Map.Update(vm, []types.PropertyChange{
					{Name: "guest.ipAddress", Val: before.IpAddress},
					{Name: "summary.guest.ipAddress", Val: before.IpAddress},
					{Name: "guest.hostName", Val: before.HostName},
					{Name: "summary.guest.hostName", Val: before.HostName},
					{Name: "guest.net", Val: before.Net},
				})
			}
		})
		if !consumed {
			return // the power on failed
		}
		event := types.CustomizationEvent{VmEvent: vmEvent(vm), LogLocation: "/var/log/vmware-imc/toolsDeployPkg.log"}
		var outcome types.BaseEvent = &types.CustomizationSucceeded{CustomizationEvent: event}
		if fail {
			outcome = &types.CustomizationFailed{CustomizationEvent: event,
				Reason: "the guest did not apply the customization (" + customizationKey + " = fail)"}
		}
		postEvents(&types.CustomizationStartedEvent{CustomizationEvent: event}, outcome)
	}
}

func extraConfig(vm *simulator.VirtualMachine, key string) string {
	if vm.Config == nil {
		return ""
	}
	for _, o := range vm.Config.ExtraConfig {
		if v := o.GetOptionValue(); v.Key == key {
			s, _ := v.Value.(string)
			return s
		}
	}
	return ""
}

func vmEvent(vm *simulator.VirtualMachine) types.VmEvent {
	event := types.VmEvent{Event: types.Event{
		Vm: &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vm.Name}, Vm: vm.Self},
	}}
	// The datacenter argument is what a QueryEvents filter on the datacenter matches.
	for parent := vm.Parent; parent != nil; {
		obj := simulator.Map.Get(*parent)
		if dc, ok := obj.(*simulator.Datacenter); ok {
			event.Datacenter = &types.DatacenterEventArgument{
				EntityEventArgument: types.EntityEventArgument{Name: dc.Name}, Datacenter: dc.Self}
			break
		}
		entity, ok := obj.(mo.Entity)
		if !ok {
			break
		}
		parent = entity.Entity().Parent
	}
	return event
}

func postEvents(events ...types.BaseEvent) {
	manager := simulator.Map.EventManager()
	ctx := &simulator.Context{Context: context.Background(), Map: simulator.Map,
		Session: &simulator.Session{UserSession: types.UserSession{UserName: "vcsim"}}}
	simulator.Map.WithLock(manager, func() {
		for _, event := range events {
			manager.PostEvent(ctx, &types.PostEvent{EventToPost: event})
		}
	})
}

// taskName turns CloneVM_Task into the simulator's name for CreateTask (CloneVMTask).
func taskName(method string) string {
	return strings.TrimSuffix(method, "_Task") + "Task"
}

// hardPowerOff: on vSphere PowerOffVM_Task pulls the plug (the guest is not shut down), which is
// what fencing a lost node relies on. The simulator's container backend runs `docker stop`, which
// gives a node's systemd ten seconds to ignore SIGTERM; the VM's container is killed first, so
// the VM is off as soon as a real one would be. The simulator's stop then finds it stopped.
func hardPowerOff(call soapCall) {
	vm, ok := simulator.Map.Get(call.This).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	var name string
	simulator.Map.WithLock(vm, func() { name = vm.Name })
	// The backend names a VM's container vcsim-<vm name>-<uid>.
	out, err := exec.Command("docker", "ps", "-q", "--filter", "name=^vcsim-"+regexp.QuoteMeta(name)+"-").Output()
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(out)) {
		_ = exec.Command("docker", "kill", id).Run()
	}
}
