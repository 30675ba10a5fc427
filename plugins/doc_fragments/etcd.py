# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Connection options of every module that keeps its state in etcd (module_utils/ipam.py).
    DOCUMENTATION = r"""
options:
  endpoints:
    description:
      - URLs of the etcd cluster's client endpoints, C(https://HOST:2379) (or C(http://) on a trusted
        network). They are tried in order; the first that answers serves the task.
      - Falls back to E(CONTAINEROPS_ETCD_ENDPOINTS) (comma-separated).
    type: list
    elements: str
  user:
    description:
      - etcd user, when the cluster has authentication on. Goes with O(password).
      - Falls back to E(CONTAINEROPS_ETCD_USER).
    type: str
  password:
    description:
      - Password of O(user). Never logged.
      - Falls back to E(CONTAINEROPS_ETCD_PASSWORD).
    type: str
  ca_cert:
    description:
      - CA certificate (PEM file) the etcd server certificates are checked against; the endpoints must
        be C(https://).
      - Falls back to E(CONTAINEROPS_ETCD_CA_CERT).
    type: path
  client_cert:
    description:
      - Client certificate (PEM file) for an etcd that asks for mutual TLS. Goes with O(client_key).
      - Falls back to E(CONTAINEROPS_ETCD_CLIENT_CERT).
    type: path
  client_key:
    description:
      - Key of O(client_cert) (PEM file).
      - Falls back to E(CONTAINEROPS_ETCD_CLIENT_KEY).
    type: path
  timeout:
    description: Seconds one request to etcd may take before the next endpoint is tried.
    type: int
    default: 10
  prefix:
    description:
      - Key prefix of the IPAM in etcd; everything lives under it (see docs/ipam.md).
      - Falls back to E(CONTAINEROPS_IPAM_PREFIX).
    type: str
    default: /containerops/ipam
requirements:
  - etcd3gw on the controller (etcd v3.4 or later, reached through its HTTP gateway)
notes:
  - Every change is one etcd transaction that compares the keys it read, so tasks running at
    the same time never hand out one address twice; a task that loses a race reads again and
    retries with jittered backoff (at most 12 attempts), then fails without writing anything.
"""
