# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The IPAM connection of the machine modules (vsphere_vm, ecs_instance; module_utils/_ipam_nodes.py):
    # the options of the etcd fragment, as one dictionary next to the cloud's own connection options.
    DOCUMENTATION = r"""
options:
  ipam:
    description:
      - How to reach the IPAM in etcd (docs/ipam.md, "Node addresses"). Used only when a machine names an
        IPAM pool; a task that names none neither imports the etcd client nor contacts etcd.
      - The connection options of M(containerops.platform.ipam_address), with the same environment
        fallbacks, in one dictionary, apart from the cloud's connection options (a top-level C(password) of
        M(containerops.platform.vsphere_vm) is vCenter's). Set it once for a play with C(module_defaults) for
        this module by name (not for its group, whose other modules have no O(ipam)), or leave it out
        and set the environment variables.
    type: dict
    suboptions:
      endpoints:
        description:
          - URLs of the etcd cluster's client endpoints, C(https://HOST:2379), tried in order.
          - Falls back to E(CONTAINEROPS_ETCD_ENDPOINTS) (comma-separated).
        type: list
        elements: str
      user:
        description:
          - etcd user, when the cluster has authentication on. Goes with O(ipam.password).
          - Falls back to E(CONTAINEROPS_ETCD_USER).
        type: str
      password:
        description:
          - Password of O(ipam.user). Never logged.
          - Falls back to E(CONTAINEROPS_ETCD_PASSWORD).
        type: str
      ca_cert:
        description:
          - CA certificate (PEM file) the etcd server certificates are checked against.
          - Falls back to E(CONTAINEROPS_ETCD_CA_CERT).
        type: path
      client_cert:
        description:
          - Client certificate (PEM file) for mutual TLS. Goes with O(ipam.client_key).
          - Falls back to E(CONTAINEROPS_ETCD_CLIENT_CERT).
        type: path
      client_key:
        description:
          - Key of O(ipam.client_cert) (PEM file).
          - Falls back to E(CONTAINEROPS_ETCD_CLIENT_KEY).
        type: path
      timeout:
        description: Seconds one request to etcd may take before the next endpoint is tried.
        type: int
        default: 10
      prefix:
        description:
          - Key prefix of the IPAM in etcd.
          - Falls back to E(CONTAINEROPS_IPAM_PREFIX).
        type: str
        default: /containerops/ipam
"""
