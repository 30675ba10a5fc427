#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: swarm_autolock
short_description: Turn Swarm autolock on or off and rotate the unlock key, keeping every other setting
version_added: 0.1.0
description:
  - Sets C(EncryptionConfig.AutoLockManagers) of the swarm, and rotates the manager unlock key
    on request, like C(docker swarm update --autolock) and C(docker swarm unlock-key --rotate).
  - It reads the whole swarm spec and writes it back with only autolock changed, so settings
    made elsewhere (task history limit, raft snapshots, CA expiry, ...) keep their values.
    M(community.docker.docker_swarm) sends only the options it was given and resets the others
    to the engine's defaults.
  - Runs on a manager. With autolock on it returns the swarm's current unlock key, read in the
    same call as a rotation, so no step lies between making a new key and handing it over. Run it
    with C(no_log) and store RV(unlock_key) at once (the swarm role keeps it per cluster ID).
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports what would change.
  diff_mode:
    support: full
    description: Autolock before and after, and whether the key is rotated.
extends_documentation_fragment:
  - containerops.platform.docker
options:
  enabled:
    description: Whether managers lock when their engine restarts.
    type: bool
    required: true
  rotate_key:
    description:
      - Rotate the unlock key (only with I(enabled=true)). Always reports a change. Store the new
        key (RV(unlock_key)) at once; keep the old one until every manager has been up since the
        rotation (a manager that was down then may still ask for it).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Autolock on
  containerops.platform.swarm_autolock:
    enabled: true

- name: New unlock key
  containerops.platform.swarm_autolock:
    enabled: true
    rotate_key: true
  register: swarm   # swarm.unlock_key is the new key: keep it in a vault or a 0600 file
  no_log: true
"""

RETURN = r"""
autolock:
  description: Whether autolock is on after the task (in check mode, whether it would be).
  returned: success
  type: bool
rotated:
  description: Whether the key was (or in check mode would be) rotated.
  returned: success
  type: bool
unlock_key:
  description:
    - The swarm's unlock key after the task (the new one after a rotation). A secret; run the task
      with C(no_log).
  returned: when autolock is on after the task, and not in check mode
  type: str
cluster_id:
  description: ID of the swarm, to keep the key under.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils.docker import (
    ENGINE_ARGSPEC,
    DockerEngine,
    EngineError,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            enabled=dict(type="bool", required=True),
            rotate_key=dict(type="bool", default=False, no_log=False),
            **ENGINE_ARGSPEC
        ),
        supports_check_mode=True,
    )
    enabled, rotate = module.params["enabled"], module.params["rotate_key"]
    if rotate and not enabled:
        module.fail_json(msg="rotate_key=true needs enabled=true: a swarm without autolock has no unlock key. "
                             "Fix: enable autolock, or drop rotate_key")
    result = {}
    try:
        engine = DockerEngine.from_params(module.params)
        swarm = engine.swarm()
        before = bool(((swarm.get("Spec") or {}).get("EncryptionConfig") or {}).get("AutoLockManagers"))
        changed = before != enabled or rotate
        if changed and not module.check_mode:
            def set_autolock(spec):
                spec["EncryptionConfig"] = dict(spec.get("EncryptionConfig") or {}, AutoLockManagers=enabled)
            engine.update_swarm(set_autolock, rotate_unlock_key=rotate)
        if enabled and not module.check_mode:
            result["unlock_key"] = engine.unlock_key()
    except EngineError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, autolock=enabled, rotated=rotate, cluster_id=swarm.get("ID"),
                     diff={"before": {"autolock": before}, "after": {"autolock": enabled, "rotate_key": rotate}},
                     **result)


if __name__ == "__main__":
    main()
