# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every vSphere module and the vSphere inventory plugin.

Modules take the VMWARE_* environment variables through their argument spec (env_fallback);
the inventory plugin declares its own copies of these options with env: entries, which module
documentation may not carry."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  hostname:
    description:
      - vCenter (or ESXi) host name or IP address.
      - Falls back to the environment variable E(VMWARE_HOST).
    type: str
  username:
    description:
      - User to log in to vCenter with, e.g. C(automation@vsphere.local).
      - Falls back to the environment variable E(VMWARE_USER).
    type: str
    aliases: [user]
  password:
    description:
      - Password of O(username). Never logged.
      - Falls back to the environment variable E(VMWARE_PASSWORD).
    type: str
    aliases: [pass, pwd]
  port:
    description:
      - HTTPS port of the vCenter API.
      - Falls back to the environment variable E(VMWARE_PORT).
    type: int
    default: 443
  validate_certs:
    description:
      - Verify the TLS certificate of vCenter against the controller's CA store.
      - Set to V(false) only for a lab or a vCenter with a self-signed certificate.
      - Falls back to the environment variable E(VMWARE_VALIDATE_CERTS).
    type: bool
    default: true
requirements:
  - pyvmomi >= 8.0 on the controller
notes:
  - Every call to vCenter goes through C(containerops.platform)'s one vSphere client
    (plugins/module_utils/vsphere.py), which reads in bulk with the PropertyCollector and
    waits for tasks and guest IPs with C(WaitForUpdatesEx) instead of polling. Every wait has a
    deadline, and so has every read from the connection (300 seconds), so a vCenter that stops
    answering ends in an error, never in a hang.
"""
