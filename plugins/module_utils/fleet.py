# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's vocabulary (docs/fleet.md), shared by the inventory plugins and the filters.

Two kinds of host variables meet in one inventory: what the fleet WANTS (static hosts
and group_vars: ansible_host, platform_role, vsphere_<option>, ecs_<option>) and what a
cloud HAS (the inventory plugins). They never share a name, because host variables of
any source beat group_vars and the last source beats the earlier ones: a shared name
would let the cloud's value silently replace the desired one. Observed values carry
``observed`` in their name (platform_observed_role, ecs_observed_instance_type, ...).

Everything both clouds say the same way is here, once: the role mark, the group names,
the power words and how a filter expression's answer counts as true.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.parsing.convert_bool import boolean

# Custom attribute (vSphere) / tag (ECS) that carries a machine's platform role.
ROLE_KEY = "containerops.role"

# Names of the desired fleet that no inventory plugin may set (see set_connection_address
# for the one exception, ansible_host, and how it stays the desired value).
DESIRED_NAMES = frozenset(["ansible_host", "platform_role", "platform_workload_class"])

# platform_power_state of a machine that is on / off (ecs_instance's state words too, which
# vsphere_vm accepts as well). Any other word a cloud has (suspended, pending, starting,
# stopping) is kept, in lower case.
RUNNING = "running"
STOPPED = "stopped"
UNKNOWN = "unknown"
_POWER_WORDS = {"poweredon": RUNNING, "poweredoff": STOPPED}   # vSphere's; ECS says Running / Stopped

# The groups the inventory plugins put a machine in, from its platform_* host variables.
_GROUPS = (("provider", "platform_provider"), ("zone", "platform_zone"), ("role", "platform_observed_role"))


def observed_role(marks):
    """The platform role a machine carries (its custom attributes or tags), None without one."""
    return (marks or {}).get(ROLE_KEY) or None


def role_marks(role):
    """The attribute / tag that gives a machine its platform role ({} for no role)."""
    return {ROLE_KEY: role} if role else {}


def group_name(kind, value):
    """<kind>_<value>: value in lower case, every character but a-z, 0-9 and _ becomes _."""
    return "%s_%s" % (kind, re.sub(r"[^a-z0-9_]", "_", str(value).lower()))


def fleet_groups(hostvars):
    """provider_<provider>, zone_<zone>, role_<observed role>: those the host variables name."""
    return [group_name(kind, hostvars[name]) for kind, name in _GROUPS if hostvars.get(name)]


def power_state(word):
    """A cloud's power word as platform_power_state: running, stopped, or the cloud's word in lower case."""
    if not word:
        return UNKNOWN
    word = str(word).lower()
    return _POWER_WORDS.get(word, word)


def truthy(value):
    """Whether a filter expression's answer keeps a host: booleans and numbers as Python
    sees them, strings as Ansible reads a boolean (true, yes, on, 1, ... in any case)."""
    if isinstance(value, (str, bytes)):
        return boolean(value, strict=False)
    return bool(value)


def set_connection_address(inventory, host, observed_ip):
    """ansible_host = the cloud's address, but only for a host no earlier source gave one.

    A machine the inventory does not describe still needs an address to be reached at;
    a desired host keeps the address inventory wants (a guest agent may report another
    one, such as docker0's). A static fleet file read after the plugin's source replaces
    this value anyway.
    """
    if observed_ip and "ansible_host" not in inventory.get_host(host).vars:
        inventory.set_variable(host, "ansible_host", observed_ip)
