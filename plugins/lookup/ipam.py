# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: ipam
short_description: The address an owner holds in an IPAM pool in etcd
version_added: 0.1.0
description:
  - Returns the allocated address of each owner in O(pool), read from etcd. Read only - it never allocates;
    allocation, release and binding are the job of M(containerops.platform.ipam_address), which also
    returns the address it allocated.
  - An owner with no allocated address (none yet, or released and held down) is an error, unless
    O(default) is given.
author:
  - containerops.platform developers (!UNKNOWN)
options:
  _terms:
    description: Owners as strings (C(application:environment:slot)); or use O(owner).
    required: false
  owner:
    description: One owner, a dictionary with C(application), C(environment) and C(slot), or a string.
    type: raw
  pool:
    description: Name of the pool.
    type: str
    required: true
  default:
    description: Returned for an owner that has no allocated address, instead of failing.
    type: raw
  field:
    description:
      - What to return for each owner. V(ip) - its address. V(holder) - the VM or container that binds the
        address now (null when none does). V(record) - the whole address record (C(ip), C(owner), C(state),
        C(holder), C(holder_since), C(history)).
    type: str
    choices: [ip, holder, record]
    default: ip
  endpoints:
    description: URLs of the etcd client endpoints, C(https://HOST:2379); tried in order.
    type: list
    elements: str
    env:
      - name: CONTAINEROPS_ETCD_ENDPOINTS
  user:
    description: etcd user, when the cluster has authentication on.
    type: str
    env:
      - name: CONTAINEROPS_ETCD_USER
  password:
    description: Password of O(user).
    type: str
    env:
      - name: CONTAINEROPS_ETCD_PASSWORD
  ca_cert:
    description: CA certificate (PEM file) the etcd server certificates are checked against.
    type: path
    env:
      - name: CONTAINEROPS_ETCD_CA_CERT
  client_cert:
    description: Client certificate (PEM file) for mutual TLS. Goes with O(client_key).
    type: path
    env:
      - name: CONTAINEROPS_ETCD_CLIENT_CERT
  client_key:
    description: Key of O(client_cert).
    type: path
    env:
      - name: CONTAINEROPS_ETCD_CLIENT_KEY
  timeout:
    description: Seconds one request to etcd may take.
    type: int
    default: 10
  prefix:
    description: Key prefix of the IPAM in etcd.
    type: str
    default: /containerops/ipam
    env:
      - name: CONTAINEROPS_IPAM_PREFIX
requirements:
  - etcd3gw on the controller
seealso:
  - module: containerops.platform.ipam_address
"""

EXAMPLES = r"""
- name: The address of web's slot 1 in prod
  ansible.builtin.debug:
    msg: "{{ lookup('containerops.platform.ipam', pool='vs-apps', owner={'application': 'web',
             'environment': 'prod', 'slot': 1}, endpoints=etcd_endpoints) }}"

- name: Which VM or container binds web's slot 1 now (failover and migration change it)
  ansible.builtin.debug:
    msg: "{{ lookup('containerops.platform.ipam', 'web:prod:1', pool='vs-apps', field='holder') }}"

- name: Several owners at once, none when not allocated yet
  ansible.builtin.set_fact:
    web_ips: "{{ query('containerops.platform.ipam', 'web:prod:1', 'web:prod:2', pool='vs-apps', default=none) }}"
"""

RETURN = r"""
_raw:
  description: One address per owner asked for (with O(field), its holder or its record).
  type: list
  elements: raw
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.containerops.platform.plugins.module_utils.ipam import Ipam, IpamError, connect

_MISSING = object()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        owners = list(terms or [])
        if self.get_option("owner") is not None:
            owners.append(self.get_option("owner"))
        if not owners:
            raise AnsibleError("containerops.platform.ipam: name an owner (owner=... or a term)")
        params = {k: self.get_option(k) for k in ("endpoints", "user", "password", "ca_cert", "client_cert",
                                                  "client_key", "timeout")}
        default = kwargs.get("default", _MISSING)
        pool = self.get_option("pool")
        try:
            ipam = Ipam(connect(params), self.get_option("prefix"))
            found = [ipam.record_of(pool, owner) for owner in owners]
        except IpamError as exc:
            raise AnsibleError("containerops.platform.ipam: %s" % exc)
        field = self.get_option("field")
        out = []
        for owner, rec in zip(owners, found):
            if rec is None:
                if default is _MISSING:
                    raise AnsibleError("containerops.platform.ipam: owner %s has no allocated address in pool %s; "
                                       "allocate one with containerops.platform.ipam_address" % (owner, pool))
                out.append(default)
            else:
                out.append(rec if field == "record" else rec.get(field))
        return out
