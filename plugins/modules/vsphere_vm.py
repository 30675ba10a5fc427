#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vsphere_vm
short_description: Make many vSphere VMs exist, configured and powered as asked, in one task
version_added: 0.1.0
description:
  - Clones VMs from a template, reconfigures, powers and deletes them. One task handles one VM
    (O(name)) or a whole fleet (O(vms)) - all clones are started together and awaited together,
    then all VMs are powered on together, then their guest IPs are awaited together.
    There is no loop of one VM at a time and no polling; vCenter pushes task and IP changes
    through C(WaitForUpdatesEx).
  - A VM is identified by its name inside O(folder). A second run with the same options changes
    nothing (C(changed=false)). It compares the CPU count, memory, disks, port groups, the custom
    attributes and extraConfig keys this module manages, and the power state with what the VM has.
  - Guest customization (static IPs, host name, DNS) is applied when the module creates a VM, and
    counts only once the guest has been seen to take it (it reports the static IPs, else the host
    name, and vCenter reported no customization failure). The module then records it in the
    custom attribute C(containerops.customized). A re-run checks a VM without that record again -
    it records it when the guest shows it, applies the customization again when the VM is
    powered off (or O(state=poweredoff) turns it off), and otherwise fails naming the VM and the
    fix. It never reports such a VM as fine with a wrong address.
  - The IPs of an existing VM are not changed; a VM created with other static IPs fails the task
    (delete it and run again to re-create it).
  - A NIC may take its address from the collection's IPAM instead (O(networks[].ipam_pool)). The address
    belongs to the owner C(node:<datacenter>:<name>), so the VM gets the same one on every run and again
    when it is re-created; after the run the VM's moid is recorded as the address's holder, and with
    O(state=absent) the address goes into the pool's hold-down once the VM is deleted (name the pool in
    that task too). The address is allocated after every check passed and before the clone, so a clone
    that fails keeps it for the next run.
  - O(user_data)/O(metadata) are written when a VM is created and reconfigured when they change.
  - Every option below O(vms) can also be given at the top level, where it is the default for
    every VM of O(vms); a value inside a O(vms) entry wins.
  - Nothing is created when any VM has a problem that can be found before starting (unknown
    template, folder, cluster, resource pool, datastore or port group; a name used in another
    folder; an IP outside the port group's subnet or already used; sizes beyond what vSphere
    allows; a MAC outside VMware's manual range; a VM name vCenter rejects; an IP or MAC given
    twice). Problems found later (a failed clone, a vCenter task still running at
    O(task_timeout), no IP in time) fail the task with the names of the VMs this run already
    created in RV(created).
  - Safe when several runs work at once. Every VM created with static IPs carries its IP claim
    from the moment it exists (the C(containerops.ip) extraConfig key, set in the clone spec, and
    the custom attribute of the same name). After the clones each run reads every claim before any
    VM is powered on or customized; the VM vCenter registered first keeps the IP, and a run whose
    new VM lost removes it again and fails. Two runs creating the same VM name in the same folder
    create it once (vCenter refuses the second with C(DuplicateName); a simulator that does not is
    handled the same way) - the second run uses the VM the first one made.
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.vsphere
  - containerops.platform.ipam_nodes
attributes:
  check_mode:
    support: full
    description:
      - Reports what would be created, changed or deleted; creates nothing.
      - Reads the IPAM and reports the addresses new VMs would get; allocates nothing.
  diff_mode:
    support: full
    description:
      - One before/after entry per VM that would change.
      - One entry per IPAM address that changes (ip, owner, state, holder).
options:
  datacenter:
    description: Datacenter the VMs live in; every other name is looked up inside it.
    type: str
    required: true
  name:
    description:
      - Name of the one VM to manage. Mutually exclusive with O(vms).
    type: str
  vms:
    description:
      - The VMs to manage, each a dict with C(name) and any of the per-VM options below
        (O(template), O(cluster), O(resource_pool), O(folder), O(datastore), O(cpus), O(memory_mb),
        O(disks), O(networks), O(guest_hostname), O(domain), O(dns_servers), O(customization),
        O(user_data), O(metadata), O(extra_config), O(attributes), O(state)).
      - Mutually exclusive with O(name).
      - C(instances) is the same option, the name M(containerops.platform.ecs_instance) uses.
    type: list
    elements: dict
    aliases: [instances]
    suboptions:
      name:
        description: Name of the VM.
        type: str
        required: true
      template:
        description: O(template) for this VM.
        type: str
      cluster:
        description: O(cluster) for this VM.
        type: str
      resource_pool:
        description: O(resource_pool) for this VM.
        type: str
      folder:
        description: O(folder) for this VM.
        type: str
      datastore:
        description: O(datastore) for this VM.
        type: str
      cpus:
        description: O(cpus) for this VM.
        type: int
      memory_mb:
        description: O(memory_mb) for this VM.
        type: int
      disks:
        description: O(disks) for this VM.
        type: list
        elements: dict
        suboptions:
          size_gb:
            description: As O(disks[].size_gb).
            type: int
            required: true
      networks:
        description: O(networks) for this VM.
        type: list
        elements: dict
        suboptions:
          name:
            description: As O(networks[].name).
            type: str
            required: true
          ip:
            description: As O(networks[].ip).
            type: str
          netmask:
            description: As O(networks[].netmask).
            type: str
          prefix:
            description: As O(networks[].prefix).
            type: int
          gateway:
            description: As O(networks[].gateway).
            type: str
          dns_servers:
            description: As O(networks[].dns_servers).
            type: list
            elements: str
          mac:
            description: As O(networks[].mac).
            type: str
          ipam_pool:
            description: As O(networks[].ipam_pool).
            type: str
      guest_hostname:
        description: O(guest_hostname) for this VM.
        type: str
        aliases: [hostname]
      domain:
        description: O(domain) for this VM.
        type: str
      dns_servers:
        description: O(dns_servers) for this VM.
        type: list
        elements: str
      customization:
        description: O(customization) for this VM.
        type: str
        choices: [auto, linux_prep, none]
      user_data:
        description: O(user_data) for this VM. A secret, never shown.
        type: str
      metadata:
        description: O(metadata) for this VM.
        type: raw
      extra_config:
        description: O(extra_config) for this VM.
        type: dict
      attributes:
        description: O(attributes) for this VM.
        type: dict
      state:
        description: O(state) for this VM.
        type: str
        choices: [present, poweredon, poweredoff, restarted, absent, running, stopped]
  template:
    description:
      - Template (or VM) to clone a missing VM from, by name or inventory path
        (C(/DC0/vm/templates/debian12)). Required to create a VM.
    type: str
  cluster:
    description:
      - Cluster to place a new VM in (its root resource pool). Optional when the datacenter has
        exactly one cluster or O(resource_pool) names the pool.
    type: str
  resource_pool:
    description: Resource pool for a new VM, by name (inside O(cluster) when that is set).
    type: str
  folder:
    description:
      - VM folder, as C(/DC0/vm/a/b), C(vm/a/b) or C(a/b). Default the datacenter's VM root folder.
      - The folder must exist. A VM's name is unique within its folder; a VM of the same name in
        another folder is reported as an error rather than cloned a second time.
    type: str
  datastore:
    description: Datastore for a new VM's files. Default the template's datastore.
    type: str
  cpus:
    description: Number of virtual CPUs (1 to 768). Default as the template.
    type: int
  memory_mb:
    description:
      - Memory in MB (128 to 25165824, i.e. 24 TB), a multiple of 4 (vSphere's rule). Default as the
        template.
    type: int
  disks:
    description:
      - Disk sizes in order. An entry grows the template's disk at that position (vSphere cannot
        shrink a disk; asking for less fails) or adds a thin disk on the first SCSI controller
        (at most 15 disks).
    type: list
    elements: dict
    suboptions:
      size_gb:
        description: Size in GB (1 to 63488, i.e. 62 TB).
        type: int
        required: true
  networks:
    description:
      - NICs in order (at most 10). An entry connects the template's NIC at that position to the
        port group O(networks[].name) (standard or distributed), or adds a vmxnet3 NIC.
      - Static IP settings take effect through guest customization of a new VM (see O(customization)).
      - The ip is checked before anything is created. If vSphere knows the port group's subnet
        (an IP pool / network protocol profile associated with it), the ip must be inside it;
        otherwise the ip, netmask/prefix and gateway must agree with each other (gateway inside
        the subnet, ip not the network, broadcast or gateway address). The ip must not be any
        other VM's guest IP, nor claimed by another VM (C(containerops.ip), see above).
    type: list
    elements: dict
    suboptions:
      name:
        description: Port group name.
        type: str
        required: true
      ip:
        description:
          - Static IPv4 address (without a prefix; see O(networks[].prefix)). Without it the NIC uses DHCP.
        type: str
      netmask:
        description:
          - IPv4 netmask, e.g. C(255.255.255.0). Required with O(networks[].ip) unless
            O(networks[].prefix) is set.
        type: str
      prefix:
        description: Prefix length instead of O(networks[].netmask), e.g. C(24).
        type: int
      gateway:
        description: Default gateway; must lie inside the ip's subnet.
        type: str
      dns_servers:
        description: DNS servers of this NIC.
        type: list
        elements: str
      mac:
        description:
          - Fixed MAC address (manual address type), in VMware's manual range 00:50:56:00:00:00 to
            00:50:56:3F:FF:FF. Default generated by vSphere.
        type: str
      ipam_pool:
        description:
          - IPAM pool (of provider C(vsphere), see M(containerops.platform.ipam_pool)) the NIC's static
            address comes from, instead of O(networks[].ip); the pool also gives the prefix and, when
            O(networks[].gateway) is not set, the gateway. A netmask, prefix or gateway given as well must
            be the pool's.
          - The owner of the address is C(node:<datacenter>:<VM name>). A new VM gets the owner's address (the
            one it had before, if it was removed) or a free one; an existing VM keeps its address, which must
            be the owner's (a VM whose owner has none fails, naming the M(containerops.platform.ipam_address)
            task that records it). One address per pool and VM.
          - Given at the top level, every VM of O(vms) gets its own address from the pool.
          - Needs the IPAM connection (O(ipam)) and etcd3gw on the controller.
        type: str
  guest_hostname:
    description:
      - Guest host name set by Linux prep. Default the VM name made DNS-safe.
      - At the top level O(hostname) is vCenter's address, hence this name; inside a O(vms)
        entry C(hostname) is accepted as an alias.
    type: str
  domain:
    description: Guest DNS domain for Linux prep (default C(localdomain)).
    type: str
  dns_servers:
    description: Guest DNS servers (global Linux prep setting).
    type: list
    elements: str
  customization:
    description:
      - How a new VM gets its network identity.
      - V(linux_prep) - a vSphere Linux prep customization spec with the static IPs, gateways, DNS
        and host name (needs VMware Tools in the template).
      - V(none) - no guest customization, e.g. for a cloud-init template that takes everything
        from O(metadata) and O(user_data).
      - V(auto) - V(linux_prep) when a static ip or O(guest_hostname) is given, else V(none).
      - O(user_data) and O(metadata) are written to guestinfo whatever this option says, so
        Linux prep and cloud-init can be combined (e.g. Linux prep for the network and cloud-init
        user data for SSH keys).
    type: str
    choices: [auto, linux_prep, none]
    default: auto
  user_data:
    description:
      - cloud-init user data, written base64-encoded to C(guestinfo.userdata) with
        C(guestinfo.userdata.encoding=base64) (cloud-init's VMware datasource).
      - A secret - it often carries keys and passwords - so it is never shown, nor any encoding of
        it, nor C(guestinfo.userdata*)/C(guestinfo.vendordata*) keys given in O(extra_config) - the
        diff says only that it changes.
    type: str
  metadata:
    description:
      - cloud-init metadata (string, or a dict written as JSON), base64-encoded into
        C(guestinfo.metadata) with C(guestinfo.metadata.encoding=base64).
    type: raw
  extra_config:
    description:
      - extraConfig (advanced settings) keys and values, set in the clone spec of a new VM and
        reconfigured on an existing one. Only the keys given here are compared and changed;
        other keys are left alone. Values are strings (a list or dict is refused - give it as a
        string, e.g. with C(to_json)). C(containerops.ip) is the module's own key.
    type: dict
  attributes:
    description:
      - Custom attributes as a dict of name to value, for example the platform role
        C(containerops.role). Missing attribute definitions are created (for VirtualMachine). Only
        the attributes given are compared and changed. C(containerops.ip) and
        C(containerops.customized) are the module's own.
    type: dict
  state:
    description:
      - V(poweredon) - exists as configured and is powered on (the default, since the fleet is
        meant to run).
      - V(present) - exists as configured; a new VM stays powered off, an existing VM keeps its
        power state.
      - V(poweredoff) - exists as configured and is powered off (hard power off).
      - V(restarted) - exists and is reset (hard) if it was on, or powered on. Always C(changed).
      - V(absent) - does not exist. A powered-on VM is deleted only with O(force=true).
      - V(running) and V(stopped), the words of M(containerops.platform.ecs_instance), are V(poweredon)
        and V(poweredoff).
    type: str
    choices: [present, poweredon, poweredoff, restarted, absent, running, stopped]
    default: poweredon
  force:
    description: Allow O(state=absent) to power off and delete VMs that are powered on.
    type: bool
    default: false
  wait_for_ip:
    description:
      - After powering on, wait until every VM that should be on reports a guest IP address. For
        a VM created by this task that is the first static ip of O(networks), when one is set; an
        existing VM may report any address (a warning says when it differs from the requested
        one). All VMs are awaited together.
      - C(wait) is the same option, the name M(containerops.platform.ecs_instance) uses.
    type: bool
    default: false
    aliases: [wait]
  wait_timeout:
    description:
      - Seconds to wait for the IPs (1 to 86400). The task fails naming the VMs that had none in
        time, with what vCenter reported about their customization.
    type: int
    default: 300
  task_timeout:
    description:
      - Seconds each step waits for its vCenter tasks - all clones together, then all
        reconfigures, power operations, deletes (1 to 86400). A task still running then fails the
        task, naming the VMs and vCenter tasks still running and the VMs already created (it may
        yet finish in vCenter; a re-run picks the VM up).
    type: int
    default: 1800
seealso:
  - plugin: containerops.platform.vsphere
    plugin_type: inventory
  - module: containerops.platform.ipam_pool
"""

EXAMPLES = r"""
- name: One VM from a template, with a static IP, waiting until it reports the IP
  containerops.platform.vsphere_vm:
    hostname: vcenter.example.internal
    username: "{{ vsphere_username }}"
    password: "{{ vsphere_password }}"
    datacenter: DC1
    cluster: Cluster-A
    name: web-01
    template: debian12-template
    cpus: 2
    memory_mb: 4096
    networks:
      - name: VM Network
        ip: 10.20.0.11
        prefix: 24
        gateway: 10.20.0.1
    dns_servers: [10.20.0.2]
    attributes:
      containerops.role: worker
    wait_for_ip: true

- name: Three VMs in ONE task (clones, power-ons and IP waits all run concurrently)
  containerops.platform.vsphere_vm:
    datacenter: DC1
    cluster: Cluster-A
    template: debian12-template
    memory_mb: 4096                       # default for every entry
    user_data: "{{ lookup('ansible.builtin.file', 'user-data.yml') }}"
    vms:
      - {name: mgr-01, networks: [{name: VM Network, ip: 10.20.0.21, prefix: 24, gateway: 10.20.0.1}],
         attributes: {containerops.role: manager}}
      - {name: wrk-01, cpus: 4, networks: [{name: VM Network, ip: 10.20.0.31, prefix: 24, gateway: 10.20.0.1}],
         attributes: {containerops.role: worker}}
      - {name: wrk-02, cpus: 4, networks: [{name: VM Network, ip: 10.20.0.32, prefix: 24, gateway: 10.20.0.1}],
         attributes: {containerops.role: worker}}
    wait_for_ip: true

- name: Two workers whose addresses come from the IPAM pool vs-nodes (same address on every run)
  containerops.platform.vsphere_vm:
    datacenter: DC1
    template: debian12-template
    ipam:
      endpoints: "{{ etcd_endpoints }}"
    networks:
      - {name: VM Network, ipam_pool: vs-nodes}   # each VM its own address, prefix and gateway
    vms: [{name: wrk-03}, {name: wrk-04}]
  register: workers         # workers.node_addresses: [{name, pool, owner, ip, state, holder}]

- name: Power a VM off
  containerops.platform.vsphere_vm:
    datacenter: DC1
    name: web-01
    state: poweredoff

- name: Delete VMs even when they are running
  containerops.platform.vsphere_vm:
    datacenter: DC1
    vms: [{name: web-01}, {name: web-02}]
    state: absent
    force: true
"""

RETURN = r"""
instances:
  description: One entry per VM, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: VM name.
      type: str
    moid:
      description: Managed object id (e.g. vm-42); null when the VM does not exist (or in check mode, not yet).
      type: str
    uuid:
      description: BIOS UUID (config.uuid).
      type: str
    ip:
      description: Guest IP address (guest.ipAddress) as vSphere reports it now; null when unknown.
      type: str
    power_state:
      description: V(poweredOn), V(poweredOff) or V(suspended); null when the VM does not exist.
      type: str
    state:
      description: V(present) or V(absent) after the task.
      type: str
    changed:
      description: Whether this VM was created, changed, powered or deleted.
      type: bool
    created:
      description: Whether this task created the VM (would create, in check mode).
      type: bool
    customization:
      description:
        - V(confirmed) when the guest was seen to take its guest customization (recorded in the
          C(containerops.customized) attribute), V(pending) when it was applied but not yet seen,
          null when the VM gets none.
      type: str
  sample:
    - {name: web-01, moid: vm-42, uuid: 4207b9c0-aaaa-bbbb-cccc-0123456789ab, ip: 10.20.0.11,
       power_state: poweredOn, state: present, changed: true, created: true}
vms:
  description: Deprecated alias of RV(instances), with the same content (use RV(instances); removed in 1.0.0).
  returned: always
  type: list
  elements: dict
vm:
  description: The entry of RV(instances) for the VM, when O(name) was used.
  returned: when O(name) is used (on failure, once vCenter was reached)
  type: dict
created:
  description:
    - Names of the VMs created (would be created, in check mode). On failure, the ones created
      before it; a VM this run created and removed again (it lost an IP to another run) is not listed.
  returned: always
  type: list
  elements: str
changed_instances:
  description: Names of the VMs created, changed, powered or deleted (C(changed) itself is the task's boolean).
  returned: always
  type: list
  elements: str
changed_vms:
  description:
    - Deprecated alias of RV(changed_instances), with the same content (use RV(changed_instances); removed in 1.0.0).
  returned: always
  type: list
  elements: str
deleted:
  description: Names of the VMs deleted.
  returned: always
  type: list
  elements: str
node_addresses:
  description:
    - The IPAM addresses of the VMs whose NICs name a pool (in check mode, the ones they would get).
  returned: when a NIC names an IPAM pool
  type: list
  elements: dict
  contains:
    name: {description: VM name., type: str}
    pool: {description: The pool., type: str}
    owner: {description: "The address's owner, C(node:<datacenter>:<name>).", type: str}
    ip: {description: The address; null when the owner has none., type: str}
    state: {description: C(allocated) or C(held-down) (null when not read)., type: str}
    holder: {description: The moid of the VM holding it., type: str}
  sample:
    - {name: wrk-03, pool: vs-nodes, owner: "node:DC1:wrk-03", ip: 10.20.0.104, state: allocated, holder: vm-77}
errors:
  description: Every problem found, when the task failed before changing anything.
  returned: on failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._ipam_nodes import IPAM_OPTION
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_provision import run_vsphere_vm
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_spec import (
    merge_vm_specs,
    secret_values,
    vm_option_spec,
)
from ansible_collections.containerops.platform.plugins.module_utils.vsphere import connection_argument_spec


def argument_spec():
    spec = connection_argument_spec()
    vm_options = vm_option_spec()
    entry_options = dict(name=dict(type="str", required=True), **vm_options)
    entry_options["guest_hostname"] = dict(entry_options["guest_hostname"], aliases=["hostname"])
    spec.update(
        datacenter=dict(type="str", required=True),
        name=dict(type="str"),
        vms=dict(type="list", elements="dict", options=entry_options, aliases=["instances"]),
        force=dict(type="bool", default=False),
        wait_for_ip=dict(type="bool", default=False, aliases=["wait"]),
        wait_timeout=dict(type="int", default=300),
        task_timeout=dict(type="int", default=1800),
        ipam=IPAM_OPTION,
        **vm_options
    )
    # Top-level defaults that a vms[] entry may override (the entry's own
    # options have no default, so "unset" means "inherit").
    spec["state"] = dict(spec["state"], default="poweredon")
    spec["customization"] = dict(spec["customization"], default="auto")
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("name", "vms")],
        required_one_of=[("name", "vms")],
        supports_check_mode=True,
    )
    # Ansible hides user_data itself (no_log); its base64 form and user data given
    # through extra_config it cannot know: hide them wherever they would appear.
    module.no_log_values.update(secret_values(merge_vm_specs(module.params)))
    try:
        result = run_vsphere_vm(module.params, check_mode=module.check_mode, warn=module.warn)
    except ProvisionError as exc:
        module.fail_json(**exc.fail_args())
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
