# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to vsphere_vm: the plan record, what one run found and decided for one VM.

What the task asks for (``spec``, from merge_vm_specs) is only read; everything the
Provisioner (_vsphere_provision.py) and its Identity phases (_vsphere_identity.py) learn
or decide about the VM is an attribute here, so the user's options never carry it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class VmPlan:
    """One VM of the task: its options (``spec``) and this run's findings and decisions."""

    __slots__ = ("spec", "name", "src", "folder_moid", "existing", "template_moid", "pool_moid", "datastore_moid",
                 "action", "changes", "record", "status", "customize", "confirm", "record_now", "power_after_clone")

    def __init__(self, spec):
        self.spec = spec                # the VM's merged options (merge_vm_specs); never written to
        self.name = spec["name"]
        self.src = spec["src"]          # option -> the parameter as the task wrote it, for messages
        # resolve(): the vSphere objects the names stand for
        self.folder_moid = None
        self.existing = None            # the VM's row when it exists (or, once adopted, another run's)
        self.template_moid = None
        self.pool_moid = None
        self.datastore_moid = None
        # plan(): what this run does
        self.action = None              # create, update, delete or none; later adopted or lost
        self.changes = {}               # plan_changes(): what differs, per option
        self.record = None              # customization_record(): the identity the guest must show, or None
        self.status = None              # that identity: pending, or confirmed once the guest shows it
        self.customize = False          # apply Linux prep again (the VM is or will be off)
        self.confirm = False            # check the guest after this run's boot / IP wait
        self.record_now = False         # the guest already shows it: only record that
        # apply()
        self.power_after_clone = None   # the power state the clone left the new VM in
