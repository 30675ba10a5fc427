#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vsphere_vm_fence
short_description: Fence a lost vSphere VM - power it off hard, or prove it gone - before its addresses move
version_added: 0.1.0
description:
  - Makes sure the VM O(name) cannot answer for anything any more, so that failover can give its fixed
    addresses to another node without two machines answering for one address.
  - A VM that is powered on or suspended is powered off hard (C(PowerOffVM_Task), like pulling the plug;
    no guest shutdown, which a lost guest would never finish). The task waits until vCenter reports it
    C(poweredOff).
  - A VM that is off is left as it is; a VM that vCenter does not have is gone, which is a fence too.
    Nothing is ever created, started or deleted.
  - When the VM cannot be fenced the task fails, saying so; the caller must then move nothing.
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.vsphere
attributes:
  check_mode:
    support: full
    description: Reads only; the result says what would be done.
  diff_mode:
    support: full
    description: The VM's power state before and after, when it changes.
options:
  name:
    description:
      - The VM's name. Templates of the name are not VMs and are ignored; two VMs of the name in the datacenter
        fail the task, since fencing one could leave the other running.
    type: str
    required: true
  datacenter:
    description: The datacenter the VM is in.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the power-off to finish.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: The lost node cannot answer any more
  containerops.platform.vsphere_vm_fence:
    hostname: vcenter.example.com
    username: automation@vsphere.local
    password: "{{ vcenter_password }}"
    datacenter: DC1
    name: node-vs-07
  register: fenced

- name: Its addresses move only now
  ansible.builtin.debug:
    msg: "{{ fenced.name }} is fenced ({{ fenced.how }})"
"""

RETURN = r"""
fenced:
  description: The VM is off or gone (in check mode, false when it would have to be powered off).
  returned: success
  type: bool
  sample: true
how:
  description: V(powered_off) (this task turned it off), V(was_off) or V(gone) (vCenter has no such VM).
  returned: success
  type: str
  sample: powered_off
name:
  description: The VM's name.
  returned: success
  type: str
  sample: node-vs-07
id:
  description: The VM's managed object ID (null when gone).
  returned: success
  type: str
  sample: vm-1042
power_state_before:
  description: Its power state before the task (null when gone).
  returned: success
  type: str
  sample: poweredOn
power_state:
  description: Its power state after the task (null when gone).
  returned: success
  type: str
  sample: poweredOff
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils.fence import exit_with_fence, run_vm_fence
from ansible_collections.containerops.platform.plugins.module_utils.vsphere import connection_argument_spec


def main():
    spec = connection_argument_spec()
    spec.update(name=dict(type="str", required=True), datacenter=dict(type="str", required=True),
                timeout=dict(type="int", default=120))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    exit_with_fence(module, run_vm_fence)


if __name__ == "__main__":
    main()
