#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vsphere_portgroup_policy
short_description: Let a vSphere port group carry macvlan traffic (promiscuous mode, forged transmits, MAC learning)
version_added: 0.1.0
description:
  - A VM whose containers have their own MAC addresses (Docker macvlan) sends frames with those MACs
    and must receive frames for them. Its port group then has to accept forged transmits and
    promiscuous mode, or, on a distributed switch, learn MACs. This module sets those security
    settings and leaves every other setting of the port group as it is.
  - B(Standard port group) (give O(cluster) or O(hosts)) - the port group O(name) on every ESXi host of
    the cluster, or on the listed hosts. The port groups of all hosts are read in one retrieval, and
    C(UpdatePortGroup) is called only on the hosts whose settings differ (all of them at once), with the
    port group's spec as read (VLAN, vSwitch, teaming and the rest unchanged). The values are set on
    the port group itself and so override its vSwitch's, also where the vSwitch already has them.
  - B(Distributed port group) (neither O(cluster) nor O(hosts)) - the distributed port group O(name) of
    O(datacenter). Its C(defaultPortConfig.macManagementPolicy) is changed with
    C(ReconfigureDVPortgroup_Task) and the port group's current C(configVersion), so a change made by
    someone else in between fails the task instead of being overwritten. Needs vSphere API 6.7 or later
    (the deprecated C(securityPolicy) is only read, as a fallback, to report the settings before).
  - An option left out keeps its current value. A second run with the same options changes nothing.
  - Nothing changes when any host has a problem that can be found first (the port group missing on a
    host, a host not connected, an unknown cluster or host name). The message names each host and the
    port groups it has.
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.vsphere
attributes:
  check_mode:
    support: full
    description: Reports which hosts (or which distributed port group) would change; changes nothing.
  diff_mode:
    support: full
    description: One before/after entry per host that would change, or for the distributed port group.
options:
  datacenter:
    description: Datacenter that holds the cluster, the hosts or the distributed port group.
    type: str
    required: true
  name:
    description: Name of the port group, e.g. C(VM Network).
    type: str
    required: true
    aliases: [portgroup]
  cluster:
    description:
      - Set the standard port group O(name) on every host of this cluster.
      - Leave out both O(cluster) and O(hosts) for a distributed port group.
    type: str
  hosts:
    description:
      - Set the standard port group O(name) on these ESXi hosts (their names in vCenter).
      - Leave out both O(cluster) and O(hosts) for a distributed port group.
    type: list
    elements: str
  promiscuous:
    description:
      - Accept promiscuous mode, so that a VM receives frames for the MACs of its containers.
      - Left out, the current setting stays.
    type: bool
  forged_transmits:
    description:
      - Accept forged transmits, so that frames a VM sends with a container's MAC go out.
      - Left out, the current setting stays.
    type: bool
  mac_changes:
    description:
      - Accept MAC address changes made inside the guest. macvlan does not need it.
      - Left out, the current setting stays.
    type: bool
  mac_learning:
    description:
      - Learn the MACs behind each port (C(macLearningPolicy.enabled)), the alternative to promiscuous mode
        on a distributed port group (vSphere 6.7 and VDS 6.6 or later). Distributed port groups only.
      - Left out, the current setting stays.
    type: bool
  task_timeout:
    description: Seconds to wait for the C(ReconfigureDVPortgroup_Task) of a distributed port group.
    type: int
    default: 300
notes:
  - On a standard switch the policy is per host. A host added to the cluster later keeps the settings it
    came with; run the task again after adding hosts.
seealso:
  - name: Docker macvlan networks
    description: Why macvlan needs promiscuous mode or MAC learning.
    link: https://docs.docker.com/engine/network/drivers/macvlan/
"""

EXAMPLES = r"""
- name: Let the VMs of Cluster-A run macvlan containers on "VM Network"
  containerops.platform.vsphere_portgroup_policy:
    datacenter: DC1
    cluster: Cluster-A
    name: VM Network
    forged_transmits: true
    promiscuous: true

- name: The same on two hosts only
  containerops.platform.vsphere_portgroup_policy:
    datacenter: DC1
    hosts: [esx-01.example.com, esx-02.example.com]
    name: VM Network
    forged_transmits: true
    promiscuous: true

- name: MAC learning instead of promiscuous mode on a distributed port group
  containerops.platform.vsphere_portgroup_policy:
    datacenter: DC1
    name: dvpg-apps
    mac_learning: true
    forged_transmits: true
    promiscuous: false
"""

RETURN = r"""
type:
  description: V(standard) (per-host port groups) or V(distributed).
  returned: success
  type: str
hosts:
  description:
    - One entry per host, for a standard port group (empty for a distributed one). Sorted by host name.
  returned: success, and on a failure after reading the hosts
  type: list
  elements: dict
  contains:
    host:
      description: ESXi host name.
      type: str
    changed:
      description: Whether the port group on this host was (in check mode, would be) changed.
      type: bool
    vswitch:
      description: The standard vSwitch the port group is on.
      type: str
    vlan_id:
      description: The port group's VLAN id (never changed by this module).
      type: int
    before:
      description:
        - C(promiscuous), C(forged_transmits), C(mac_changes) as the port group set them before; null where
          it inherits the vSwitch's setting (RV(hosts[].vswitch_policy)).
      type: dict
    after:
      description: The same after the task.
      type: dict
    vswitch_policy:
      description: The vSwitch's own settings, which the port group inherits where it sets none.
      type: dict
    error:
      description: Why the change failed on this host.
      type: str
      returned: on failure
  sample:
    - host: esx-01.example.com
      changed: true
      vswitch: vSwitch0
      vlan_id: 0
      before: {promiscuous: null, forged_transmits: null, mac_changes: null}
      after: {promiscuous: true, forged_transmits: true, mac_changes: null}
      vswitch_policy: {promiscuous: false, forged_transmits: true, mac_changes: true}
dv_portgroup:
  description: The distributed port group, when no O(cluster) or O(hosts) was given.
  returned: success, for a distributed port group
  type: dict
  contains:
    name:
      description: Its name.
      type: str
    moid:
      description: Its managed object id.
      type: str
    changed:
      description: Whether it was (in check mode, would be) changed.
      type: bool
    before:
      description: C(promiscuous), C(forged_transmits), C(mac_changes), C(mac_learning) before the task.
      type: dict
    after:
      description: The same after the task.
      type: dict
  sample:
    name: dvpg-apps
    moid: dvportgroup-42
    changed: true
    before: {promiscuous: false, forged_transmits: false, mac_changes: false, mac_learning: false}
    after: {promiscuous: false, forged_transmits: true, mac_changes: false, mac_learning: true}
errors:
  description: Every problem found, when the task failed before changing anything.
  returned: on failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import VSphereError
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_network import run_portgroup_policy
from ansible_collections.containerops.platform.plugins.module_utils.vsphere import connection_argument_spec


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        datacenter=dict(type="str", required=True),
        name=dict(type="str", required=True, aliases=["portgroup"]),
        cluster=dict(type="str"),
        hosts=dict(type="list", elements="str"),
        promiscuous=dict(type="bool"),
        forged_transmits=dict(type="bool"),
        mac_changes=dict(type="bool"),
        mac_learning=dict(type="bool"),
        task_timeout=dict(type="int", default=300),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), mutually_exclusive=[("cluster", "hosts")],
                           supports_check_mode=True)
    try:
        result = run_portgroup_policy(module.params, check_mode=module.check_mode)
    except VSphereError as exc:
        details = dict(exc.details)
        module.fail_json(msg=exc.msg, changed=details.pop("changed", False), **details)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
