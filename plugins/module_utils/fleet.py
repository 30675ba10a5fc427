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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Custom attribute (vSphere) / tag (ECS) that carries a machine's platform role.
ROLE_KEY = "containerops.role"

# Names of the desired fleet that no inventory plugin may set (see set_connection_address
# for the one exception, ansible_host, and how it stays the desired value).
DESIRED_NAMES = frozenset(["ansible_host", "platform_role", "platform_workload_class"])


def set_connection_address(inventory, host, observed_ip):
    """ansible_host = the cloud's address, but only for a host no earlier source gave one.

    A machine the inventory does not describe still needs an address to be reached at;
    a desired host keeps the address inventory wants (a guest agent may report another
    one, such as docker0's). A static fleet file read after the plugin's source replaces
    this value anyway.
    """
    if observed_ip and "ansible_host" not in inventory.get_host(host).vars:
        inventory.set_variable(host, "ansible_host", observed_ip)
