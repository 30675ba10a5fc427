# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the machine modules (vsphere_vm, ecs_instance): what both say the same way.

Each module's entry point (run_vsphere_vm in _vsphere_provision.py, run_ecs_instance in
_ecs_provision.py) turns its cloud's errors into one ProvisionError, which carries what the
run did before it failed; the module only hands it to fail_json. Both return their diff as a
list of diff_entry(), one per machine that changes, which Ansible shows under each name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def diff_entry(name, before, after):
    """One machine's part of a module's diff (a list of these): headers name the machine."""
    return {"before_header": "%s (before)" % name, "after_header": "%s (after)" % name,
            "before": before, "after": after}


class ProvisionError(Exception):
    """A machine module's run failed; ``created`` names the machines it made before that.

    A run never leaves half a change behind without saying so: ``created`` lists every
    machine this run made (also one the cloud does not list yet), ``changed`` says whether
    anything was changed at all (default: whether something was created), and ``details``
    holds the rest of the module's answer at that point (its per-machine results, ...).
    """

    def __init__(self, msg, created=(), changed=None, **details):
        super().__init__(msg)
        self.msg = msg
        self.created = list(created)
        self.changed = bool(self.created) if changed is None else bool(changed)
        self.details = details

    def fail_args(self):
        """The keyword arguments of module.fail_json."""
        return dict(self.details, msg=self.msg, changed=self.changed, created=self.created)
