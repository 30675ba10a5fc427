// Command vcsim is the lab's vSphere simulator: govmomi's simulator (Debian's
// golang-github-vmware-govmomi-dev, 0.24) with a lab inventory, a fix that keeps
// pyvmomi connections alive, the vCenter behaviours that simulator lacks
// (vcenter.go, network.go) and the lab's fault injection (faults.go), mostly in
// the SOAP handler of handler.go. Build with lab/vcsim/build.sh.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8989", "host:port to serve https on")
	username := flag.String("username", "", "only login accepted (default env VCSIM_USERNAME); empty: any non-empty user/password")
	password := flag.String("password", "", "password for -username (default env VCSIM_PASSWORD, keeps it off the command line)")
	dcs := flag.Int("datacenter-count", 1, "datacenters (DC0, DC1, ...)")
	clusters := flag.Int("cluster-count", 1, "clusters per datacenter (DC0_C0, ...)")
	hosts := flag.Int("hosts", 3, "hosts per cluster (DC0_C0_H0, ...)")
	vms := flag.Int("vms", 0, "powered-off VMs created at start, in total, spread round-robin over all clusters")
	template := flag.String("template", "debian12-template", "name of the template VM in DC0's vm folder (empty: none)")
	delay := flag.Int("delay", 0, "milliseconds added to every SOAP call")
	methodDelay := flag.String("method-delay", "", "extra milliseconds per method, e.g. CloneVM_Task:500,PowerOnVM_Task:200")
	jitter := flag.Float64("delay-jitter", 0, "delay jitter as coefficient of variation (stddev/mean)")
	api := flag.String("api-version", "", "vSphere API version to advertise, e.g. 7.0 (empty: the simulator's 6.5)")
	flag.Parse()

	// Not flag defaults: -h would print them.
	if *username == "" {
		*username = os.Getenv("VCSIM_USERNAME")
	}
	if *password == "" {
		*password = os.Getenv("VCSIM_PASSWORD")
	}
	if (*username == "") != (*password == "") {
		return fmt.Errorf("-username and -password must be set together")
	}

	m := simulator.VPX() // keeps the usual names: DC0, DC0_C0, LocalDS_0, DVS0, DC0_DVPG0, DC0_H0
	m.Datacenter = *dcs
	m.Cluster = *clusters
	m.ClusterHost = *hosts
	// The model's Machine count is per resource pool *and* per standalone host
	// (VPX has one DC0_H0 per DC), so totals are multiples; we create -vms ourselves.
	m.Machine = 0
	m.DelayConfig.Delay = *delay
	m.DelayConfig.DelayJitter = *jitter
	if *methodDelay != "" {
		m.DelayConfig.MethodDelay = map[string]int{}
		for _, kv := range strings.Split(*methodDelay, ",") {
			i := strings.LastIndex(kv, ":")
			ms, err := strconv.Atoi(kv[i+1:])
			if i < 1 || err != nil {
				return fmt.Errorf("bad -method-delay entry %q (want Method:ms)", kv)
			}
			m.DelayConfig.MethodDelay[kv[:i]] = ms
		}
	}

	// Early, so that a SIGTERM during a long populate still cleans up.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Datastores are temp dirs ($TMPDIR/govcsim-*); Remove deletes them and
	// any VM containers, so every return path below must pass through it.
	defer m.Remove()
	if err := m.Create(); err != nil {
		return err
	}
	wrapHostNetworkSystems() // UpdatePortGroup (network.go)
	if *api != "" {
		advertiseAPIVersion(*api)
	}

	// In-process client (no HTTP). Model.Create enabled the delay; populate without it.
	d := m.DelayConfig
	m.DelayConfig = simulator.DelayConfig{}
	c, err := vim25.NewClient(ctx, m.Service)
	if err != nil {
		return err
	}
	if err = populate(ctx, c, *template, *vms); err != nil {
		if ctx.Err() != nil {
			return nil // SIGTERM while populating
		}
		return err
	}
	m.DelayConfig = d

	m.Service.TLS = new(tls.Config) // httptest's built-in self-signed localhost/127.0.0.1 cert
	m.Service.Listen = &url.URL{Host: *listen}
	if *username != "" {
		// SessionManager.validLogin accepts only Listen.User when it is set;
		// otherwise any non-empty user/password pair.
		m.Service.Listen.User = url.UserPassword(*username, *password)
	}
	s, err := newServer(m.Service)
	if err != nil {
		return err
	}
	defer s.Close()

	// NewServer has already started serving; clients wait for the line printed below.
	s.Server.Config.Handler = labHandler(s.Server.Config.Handler)

	u := *s.URL
	u.User = nil
	fmt.Printf("vcsim listening on %s\n", u.String())

	<-ctx.Done()
	return nil
}

// newServer turns the simulator's panic on a busy port into a plain error.
func newServer(svc *simulator.Service) (s *simulator.Server, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return svc.NewServer(), nil
}

// populate adds the template to DC0 and spreads n plain VMs over all clusters.
func populate(ctx context.Context, c *vim25.Client, template string, n int) error {
	finder := find.NewFinder(c, false)
	dcs, err := finder.DatacenterList(ctx, "*")
	if err != nil {
		return err
	}

	type target struct {
		folder *object.Folder
		pool   *object.ResourcePool
		hosts  []*object.HostSystem
		name   string
	}
	var targets []target
	for _, dc := range dcs {
		finder.SetDatacenter(dc)
		folders, err := dc.Folders(ctx)
		if err != nil {
			return err
		}
		ccrs, err := finder.ClusterComputeResourceList(ctx, "*")
		if err != nil {
			continue // -cluster-count 0
		}
		for _, ccr := range ccrs {
			pool, err := ccr.ResourcePool(ctx)
			if err != nil {
				return err
			}
			hosts, err := ccr.Hosts(ctx)
			if err != nil {
				return err
			}
			if len(hosts) == 0 {
				continue
			}
			targets = append(targets, target{folders.VmFolder, pool, hosts, ccr.Name()})
		}
	}
	if len(targets) == 0 {
		if n > 0 || template != "" {
			return fmt.Errorf("no cluster with hosts to place VMs in")
		}
		return nil
	}

	// Standard vSwitch port group every host has, unlike VPX's DVS port group.
	nic := func() types.BaseVirtualDevice {
		return &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{
			VirtualEthernetCard: types.VirtualEthernetCard{
				VirtualDevice: types.VirtualDevice{
					Key: -1,
					Backing: &types.VirtualEthernetCardNetworkBackingInfo{
						VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"},
					},
				},
				AddressType: string(types.VirtualEthernetCardMacTypeGenerated),
			},
		}}
	}

	create := func(t target, host *object.HostSystem, name, guest string) (*object.VirtualMachine, error) {
		spec := types.VirtualMachineConfigSpec{
			Name:     name,
			GuestId:  guest,
			NumCPUs:  1,
			MemoryMB: 1024,
			Files:    &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		}
		var devices object.VirtualDeviceList
		scsi, _ := devices.CreateSCSIController("pvscsi")
		devices = append(devices, scsi)
		disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
			"[LocalDS_0] "+path.Join(name, "disk1.vmdk"))
		disk.CapacityInKB = 10 * 1024 * 1024
		disk.CapacityInBytes = disk.CapacityInKB * 1024 // as vCenter reports every disk
		devices = append(devices, disk, nic())
		spec.DeviceChange, _ = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)

		task, err := t.folder.CreateVM(ctx, spec, t.pool, host)
		if err != nil {
			return nil, err
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("create %s: %v", name, err)
		}
		return object.NewVirtualMachine(c, info.Result.(types.ManagedObjectReference)), nil
	}

	if template != "" {
		// debian10_64Guest is the newest Debian id this simulator accepts.
		vm, err := create(targets[0], targets[0].hosts[0], template, string(types.VirtualMachineGuestOsIdentifierDebian10_64Guest))
		if err != nil {
			return err
		}
		if err = vm.MarkAsTemplate(ctx); err != nil {
			return err
		}
	}

	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := targets[i%len(targets)]
		k := i / len(targets) // index within this cluster
		name := fmt.Sprintf("%s_VM%d", t.name, k)
		if _, err := create(t, t.hosts[k%len(t.hosts)], name, string(types.VirtualMachineGuestOsIdentifierOtherGuest)); err != nil {
			return err
		}
	}
	return nil
}
