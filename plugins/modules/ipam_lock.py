#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipam_lock
short_description: Lock an application instance (an IPAM owner) in etcd, so one run at a time moves it
version_added: 0.1.0
description:
  - A run that changes where an owner's address lives (playbooks/migrate.yml moving it between its VM and a
    container, playbooks/failover.yml moving it off a lost node) takes the owner's lock first and lets it go at
    the end. A second run that wants the same owner
    is refused with a message that says which run holds it, what it does and since when; it changes nothing.
  - The lock lives on an etcd lease of O(ttl) seconds. A run that dies without letting go (killed, its
    controller lost) holds the owner no longer than that; the expiry is etcd's clock, not a controller's.
  - Taking the lock is one etcd transaction that requires nobody to hold it, so of two runs at once exactly
    one gets it. Letting go needs the O(token) the taker got back, so a run never frees another's lock
    unless O(force) says so.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads the lock and reports whether it would be taken or let go (a lock held by another run is
      still an error); writes nothing.
  diff_mode:
    support: full
    description: The lock before and after (operation, by, since, expires_in).
extends_documentation_fragment:
  - containerops.platform.etcd
options:
  owner:
    description:
      - The application instance, a dictionary with C(application), C(environment) and C(slot) or the string
        C(application:environment:slot) (as in M(containerops.platform.ipam_address)).
    type: raw
    required: true
  state:
    description:
      - V(locked) takes the lock; it fails, changing nothing, while another run holds it.
      - V(unlocked) lets it go; it needs the O(token) V(locked) returned, or O(force).
    type: str
    choices: [locked, unlocked]
    default: locked
  operation:
    description: What the run does to the owner, for the refusal another run gets (C(migrate to container)).
    type: str
    default: locked
  ttl:
    description:
      - Seconds the lock lasts unless let go first; the longest an owner stays locked when the run holding it dies.
        Choose it longer than the run takes. At least 5.
    type: int
    default: 900
  by:
    description: Who holds the lock, for the refusal another run gets (C(AWX job 42)). Defaults to user@host of
      the machine the module runs on.
    type: str
  token:
    description:
      - With V(locked), the token of a lock this run holds already; it is kept (no change) instead of refused.
      - With V(unlocked), the token V(locked) returned; another token is refused.
    type: str
  force:
    description: With V(unlocked), let go of a lock another run holds. Only for a run known to be dead (killed, its
      controller lost; the refusal says who and since when), as the lock keeps a live run's move from meeting another.
    type: bool
    default: false
seealso:
  - module: containerops.platform.ipam_address
"""

EXAMPLES = r"""
- name: One run at a time moves orders:prod:1
  containerops.platform.ipam_lock:
    endpoints: "{{ etcd_endpoints }}"
    owner: orders:prod:1
    operation: migrate to container
    by: "AWX job {{ awx_job_id | default('?') }}"
    ttl: 900
  register: lock

- name: Done - let it go
  containerops.platform.ipam_lock:
    owner: orders:prod:1
    state: unlocked
    token: "{{ lock.token }}"

- name: The run that held it died; free it now instead of waiting for the ttl
  containerops.platform.ipam_lock:
    owner: orders:prod:1
    state: unlocked
    force: true
"""

RETURN = r"""
owner:
  description: The owner's key, C(application:environment:slot) or the string given.
  returned: success
  type: str
  sample: orders:prod:1
token:
  description: With V(locked), what V(unlocked) needs to let the lock go (null in check mode and after V(unlocked)).
  returned: success
  type: str
lock:
  description: The lock taken (V(locked)) or let go (V(unlocked)); null when there was none to let go.
  returned: success
  type: dict
  contains:
    operation: {description: What the holding run does., type: str}
    by: {description: Who holds it., type: str}
    since: {description: "When it was taken, UTC (ISO 8601).", type: str}
    expires_in: {description: Seconds until it lapses., type: int}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._ipam_lock import OwnerLock
from ansible_collections.containerops.platform.plugins.module_utils.ipam import ETCD_ARGSPEC, IpamError, connect


def main():
    module = AnsibleModule(
        argument_spec=dict(
            owner=dict(type="raw", required=True),
            state=dict(type="str", default="locked", choices=["locked", "unlocked"]),
            operation=dict(type="str", default="locked"),
            ttl=dict(type="int", default=900),
            by=dict(type="str"),
            token=dict(type="str", no_log=False),   # names a lock, grants nothing etcd access does not
            force=dict(type="bool", default=False),
            **ETCD_ARGSPEC
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        lock = OwnerLock(connect(p), p["prefix"])
        if p["state"] == "locked":
            result = lock.acquire(p["owner"], p["operation"], p["ttl"], by=p["by"], token=p["token"],
                                  check_mode=module.check_mode)
        else:
            result = lock.release(p["owner"], token=p["token"], force=p["force"], check_mode=module.check_mode)
    except IpamError as exc:
        module.fail_json(msg=str(exc), changed=False)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
