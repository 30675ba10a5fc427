package main

// Lab fault injection, driven by extraConfig keys of the VM (for CloneVM_Task:
// of the clone spec), so that a test sets them through the module it tests:
//
//   lab.stall         = CloneVM_Task,PowerOnVM_Task,...  these tasks of the VM
//                       stay "running" for ever (vCenter's stuck task)
//   lab.customization = fail                             the guest fails its
//                       customization at the next boot (vcenter.go)

import (
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	stallKey         = "lab.stall"
	customizationKey = "lab.customization"
)

// stalledTask: a task that never finishes, instead of the one asked for (which
// therefore never happens).
func stalledTask(call soapCall) (types.ManagedObjectReference, bool) {
	if !strings.HasSuffix(call.Method, "_Task") || call.This.Value == "" {
		return types.ManagedObjectReference{}, false
	}
	stall := call.ExtraConfig[stallKey]
	if call.Method != "CloneVM_Task" && call.Method != "CreateVM_Task" {
		vm, ok := simulator.Map.Get(call.This).(*simulator.VirtualMachine)
		if !ok {
			return types.ManagedObjectReference{}, false
		}
		simulator.Map.WithLock(vm, func() { stall = extraConfig(vm, stallKey) })
	}
	for _, method := range strings.Split(stall, ",") {
		if strings.TrimSpace(method) == call.Method {
			task := simulator.CreateTask(simulator.Map.Get(call.This), taskName(call.Method), nil)
			simulator.Map.Update(task, []types.PropertyChange{
				{Name: "info.state", Val: types.TaskInfoStateRunning},
				{Name: "info.startTime", Val: time.Now()},
			})
			return task.Self, true
		}
	}
	return types.ManagedObjectReference{}, false
}
