package main

// Port-group policy calls the 0.24 simulator lacks or gets wrong, as vSphere
// answers them (macvlan in a VM needs forged transmits and promiscuous mode on
// its port group, or MAC learning on a distributed one):
//
//   - HostNetworkSystem.UpdatePortGroup: missing (MethodNotFound). The
//     simulator finds a method by reflection on the object the registry holds,
//     so labHostNetworkSystem, which embeds the simulator's type and adds the
//     method, replaces each host's network system (wrapHostNetworkSystems). Its
//     calls keep the simulator's session check, typed decoding and object lock.
//   - DistributedVirtualPortgroup.ReconfigureDVPortgroup_Task: the simulator
//     copies the spec over the config wholesale, so a partial spec (all a
//     client sends to vCenter) wipes the name, VLAN, teaming, ... and it ignores
//     configVersion. That type cannot be wrapped (dvs.go type-asserts it), so
//     the lab handler answers the call (reconfigureDVPortgroup) with vCenter's
//     merge and its configVersion check.

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// advertiseAPIVersion makes the simulator say it speaks vSphere API version
// (e.g. 7.0; its types are 7.0's) instead of 6.5, in the service content and
// in /sdk/vimServiceVersions.xml (serviceVersions). pyVmomi negotiates from
// that file and leaves out of a request whatever the version lacks, such as a
// distributed port group's macManagementPolicy (6.7).
func advertiseAPIVersion(version string) {
	apiVersion = version
	si := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	simulator.Map.WithLock(si, func() {
		si.Content.About.ApiVersion = version
		si.Content.About.Version = version + ".0"
		si.Content.About.FullName = "VMware vCenter Server " + version + ".0 (lab vcsim)"
	})
}

var apiVersion string

func serviceVersions(w http.ResponseWriter, r *http.Request) bool {
	if apiVersion == "" || !strings.HasSuffix(r.URL.Path, "/vimServiceVersions.xml") {
		return false
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<namespaces version="1.0"><namespace><name>urn:vim25</name><version>%s</version>
<priorVersions><version>6.7</version><version>6.5</version><version>6.0</version></priorVersions>
</namespace></namespaces>
`, apiVersion)
	return true
}

// labHostNetworkSystem is the simulator's HostNetworkSystem plus UpdatePortGroup.
// Embedded by value: the property collector finds the mo type by walking the
// first field of each struct, which must not be a pointer.
type labHostNetworkSystem struct {
	simulator.HostNetworkSystem
}

// wrapHostNetworkSystems swaps every host's network system in the registry for
// one with UpdatePortGroup; call it once the model is created, before serving.
func wrapHostNetworkSystems() {
	for _, e := range simulator.Map.All("HostSystem") {
		host, ok := e.(*simulator.HostSystem)
		if !ok || host.ConfigManager.NetworkSystem == nil {
			continue
		}
		if ns, ok := simulator.Map.Get(*host.ConfigManager.NetworkSystem).(*simulator.HostNetworkSystem); ok {
			simulator.Map.Put(&labHostNetworkSystem{HostNetworkSystem: *ns})
		}
	}
}

// UpdatePortGroup replaces the spec of port group req.PgName, as ESXi does:
// NotFound for an unknown port group or vSwitch, AlreadyExists when renamed
// onto another port group, InvalidArgument for a VLAN id outside 0-4095. Nil
// policy fields inherit from the vSwitch; computedPolicy.security shows the
// result. Both the network system's networkInfo and the host's
// config.network (what clients read) change.
func (s *labHostNetworkSystem) UpdatePortGroup(ctx *simulator.Context, req *types.UpdatePortGroup) soap.HasFault {
	r := &methods.UpdatePortGroupBody{}
	spec := req.Portgrp
	fail := func(msg string, fault types.BaseMethodFault) soap.HasFault {
		r.Fault_ = simulator.Fault(msg, fault)
		return r
	}

	index := -1
	for i, pg := range s.NetworkInfo.Portgroup {
		if pg.Spec.Name == req.PgName {
			index = i
		}
	}
	if index < 0 {
		return fail(fmt.Sprintf("port group %q not found", req.PgName), &types.NotFound{})
	}
	for i, pg := range s.NetworkInfo.Portgroup {
		if i != index && pg.Spec.Name == spec.Name {
			return fail(fmt.Sprintf("port group %q already exists", spec.Name), &types.AlreadyExists{Name: spec.Name})
		}
	}
	if spec.Name == "" {
		return fail("portgrp.name is empty", &types.InvalidArgument{InvalidProperty: "portgrp.name"})
	}
	if spec.VlanId < 0 || spec.VlanId > 4095 {
		return fail(fmt.Sprintf("VLAN id %d is not in 0-4095", spec.VlanId),
			&types.InvalidArgument{InvalidProperty: "portgrp.vlanId"})
	}
	known := false
	for _, vs := range s.NetworkInfo.Vswitch {
		known = known || vs.Name == spec.VswitchName
	}
	if !known {
		return fail(fmt.Sprintf("vSwitch %q not found", spec.VswitchName), &types.NotFound{})
	}

	host := simulator.Map.Get(s.Host.Self)
	ctx.WithLock(host, func() {
		old := s.NetworkInfo.Portgroup[index]
		computed := computedPolicy(s.Host.Config.Network, old.ComputedPolicy, spec)

		// New slices: at start the two views share one backing array.
		mine := append([]types.HostPortGroup(nil), s.NetworkInfo.Portgroup...)
		mine[index].Spec, mine[index].ComputedPolicy = spec, computed
		simulator.Map.Update(s, []types.PropertyChange{
			{Name: "networkInfo.portgroup", Val: mine},
			{Name: "networkInfo.vswitch", Val: movePortGroup(s.NetworkInfo.Vswitch, req.PgName, spec, false)},
		})

		config := s.Host.Config.Network
		theirs := append([]types.HostPortGroup(nil), config.Portgroup...)
		entry := types.HostPortGroup{Key: portGroupKey(spec.Name), Vswitch: "key-vim.host.VirtualSwitch-" + spec.VswitchName,
			Spec: spec, ComputedPolicy: computed}
		found := false
		for i := range theirs {
			if theirs[i].Spec.Name == req.PgName {
				entry.Port = theirs[i].Port
				theirs[i], found = entry, true
			}
		}
		if !found { // added by AddPortGroup, which updates only networkInfo
			theirs = append(theirs, entry)
		}
		simulator.Map.Update(host, []types.PropertyChange{
			{Name: "config.network.portgroup", Val: theirs},
			{Name: "config.network.vswitch", Val: movePortGroup(config.Vswitch, req.PgName, spec, true)},
		})
	})

	r.Res = &types.UpdatePortGroupResponse{}
	return r
}

func portGroupKey(name string) string {
	return "key-vim.host.PortGroup-" + name
}

// computedPolicy: the port group's own security settings, else its vSwitch's
// (a vSwitch without a policy rejects all three, like a new ESXi vSwitch for
// promiscuous mode). Teaming, offload and shaping stay as computed before.
func computedPolicy(network *types.HostNetworkInfo, before types.HostNetworkPolicy, spec types.HostPortGroupSpec) types.HostNetworkPolicy {
	inherited := types.HostNetworkSecurityPolicy{AllowPromiscuous: types.NewBool(false),
		MacChanges: types.NewBool(false), ForgedTransmits: types.NewBool(false)}
	for _, vs := range network.Vswitch {
		if vs.Name == spec.VswitchName && vs.Spec.Policy != nil && vs.Spec.Policy.Security != nil {
			inherited = *vs.Spec.Policy.Security
		}
	}
	own := spec.Policy.Security
	if own == nil {
		own = &types.HostNetworkSecurityPolicy{}
	}
	pick := func(own, inherited *bool) *bool {
		if own != nil {
			return types.NewBool(*own)
		}
		return types.NewBool(inherited != nil && *inherited)
	}
	computed := before
	computed.Security = &types.HostNetworkSecurityPolicy{
		AllowPromiscuous: pick(own.AllowPromiscuous, inherited.AllowPromiscuous),
		MacChanges:       pick(own.MacChanges, inherited.MacChanges),
		ForgedTransmits:  pick(own.ForgedTransmits, inherited.ForgedTransmits),
	}
	return computed
}

// movePortGroup: the vSwitches' port-group lists after a rename or a move to
// another vSwitch (the network system lists names, the host config keys).
func movePortGroup(switches []types.HostVirtualSwitch, old string, spec types.HostPortGroupSpec, keys bool) []types.HostVirtualSwitch {
	from, to := old, spec.Name
	if keys {
		from, to = portGroupKey(old), portGroupKey(spec.Name)
	}
	out := append([]types.HostVirtualSwitch(nil), switches...)
	for i := range out {
		var kept []string
		for _, pg := range out[i].Portgroup {
			if pg != from {
				kept = append(kept, pg)
			}
		}
		if out[i].Name == spec.VswitchName {
			kept = append(kept, to)
		}
		out[i].Portgroup = kept
	}
	return out
}

// reconfigureDVPortgroup answers ReconfigureDVPortgroup_Task as vCenter does:
// the task fails with ConcurrentAccess unless spec.configVersion is the port
// group's current one; set fields of the spec replace the config's (within
// defaultPortConfig, each set policy replaces that policy), unset ones keep
// theirs, and configVersion goes up by one. Not ours (unknown object, a body
// that does not decode): the simulator answers.
func reconfigureDVPortgroup(call soapCall, body []byte) (types.ManagedObjectReference, bool) {
	if call.Method != "ReconfigureDVPortgroup_Task" {
		return types.ManagedObjectReference{}, false
	}
	pg, ok := simulator.Map.Get(call.This).(*simulator.DistributedVirtualPortgroup)
	if !ok {
		return types.ManagedObjectReference{}, false
	}
	method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		return types.ManagedObjectReference{}, false
	}
	req, ok := method.Body.(*types.ReconfigureDVPortgroup_Task)
	if !ok {
		return types.ManagedObjectReference{}, false
	}
	task := simulator.CreateTask(pg, "reconfigureDvPortgroup", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		var fault types.BaseMethodFault
		simulator.Map.WithLock(pg, func() { fault = mergeDVPortgroupSpec(pg, &req.Spec) })
		return nil, fault
	})
	return task.Run(), true
}

func mergeDVPortgroupSpec(pg *simulator.DistributedVirtualPortgroup, spec *types.DVPortgroupConfigSpec) types.BaseMethodFault {
	c := pg.Config
	if spec.ConfigVersion != c.ConfigVersion {
		return &types.ConcurrentAccess{}
	}
	if spec.Name != "" {
		c.Name = spec.Name
	}
	if spec.NumPorts != 0 {
		c.NumPorts = spec.NumPorts
	}
	if spec.AutoExpand != nil {
		c.AutoExpand = spec.AutoExpand
	}
	for to, from := range map[*string]string{
		&c.Type:                         spec.Type,
		&c.Description:                  spec.Description,
		&c.PortNameFormat:               spec.PortNameFormat,
		&c.VmVnicNetworkResourcePoolKey: spec.VmVnicNetworkResourcePoolKey,
		&c.LogicalSwitchUuid:            spec.LogicalSwitchUuid,
		&c.BackingType:                  spec.BackingType,
	} {
		if from != "" {
			*to = from
		}
	}
	if spec.Policy != nil {
		c.Policy = spec.Policy
	}
	c.DefaultPortConfig = mergePortSetting(c.DefaultPortConfig, spec.DefaultPortConfig)
	version, err := strconv.Atoi(c.ConfigVersion)
	if err != nil {
		version = 0
	}
	c.ConfigVersion = strconv.Itoa(version + 1)
	simulator.Map.Update(pg, []types.PropertyChange{{Name: "config", Val: c}, {Name: "name", Val: c.Name}})
	return nil
}

// mergePortSetting: the set policies of update over a copy of current.
func mergePortSetting(current, update types.BaseDVPortSetting) types.BaseDVPortSetting {
	if current == nil || update == nil || reflect.TypeOf(current) != reflect.TypeOf(update) {
		if update == nil {
			return current
		}
		return update
	}
	merged := reflect.New(reflect.TypeOf(current).Elem())
	merged.Elem().Set(reflect.ValueOf(current).Elem())
	overlay(merged.Elem(), reflect.ValueOf(update).Elem())
	return merged.Interface().(types.BaseDVPortSetting)
}

// overlay copies the non-zero fields of from onto to, into embedded structs
// (VMwareDVSPortSetting embeds DVPortSetting).
func overlay(to, from reflect.Value) {
	for i := 0; i < from.NumField(); i++ {
		field := from.Type().Field(i)
		if field.Anonymous && field.Type.Kind() == reflect.Struct {
			overlay(to.Field(i), from.Field(i))
		} else if !from.Field(i).IsZero() {
			to.Field(i).Set(from.Field(i))
		}
	}
}
