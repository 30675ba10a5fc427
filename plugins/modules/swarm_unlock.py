#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: swarm_unlock
short_description: Unlock a Swarm manager whose engine restarted with autolock on
version_added: 0.1.0
description:
  - With autolock, a manager's engine comes back from a restart C(locked) and serves nothing
    until it gets the unlock key (C(docker swarm unlock)). community.docker has no module for
    this. This module unlocks the local engine when it is locked and does nothing otherwise.
author:
  - containerops.platform developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports whether the engine would be unlocked.
  diff_mode:
    support: none
    description: The unlock key is a secret; there is nothing to show.
extends_documentation_fragment:
  - containerops.platform.docker
options:
  keys:
    description:
      - Unlock keys (C(SWMKEY-1-...)) to try, in order, until the engine accepts one - the current
        key first, then older ones (a manager that was down during a rotation still asks for the
        key it locked with). Never logged.
    type: list
    elements: str
    required: true
    aliases: [key]
"""

EXAMPLES = r"""
- name: Managers locked after an engine restart are unlocked
  containerops.platform.swarm_unlock:
    keys: ["{{ swarm_unlock_key }}"]
"""

RETURN = r"""
state:
  description: The engine's swarm state (C(LocalNodeState)) after the task.
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
            keys=dict(type="list", elements="str", required=True, no_log=True, aliases=["key"]),
            **ENGINE_ARGSPEC
        ),
        supports_check_mode=True,
    )
    try:
        engine = DockerEngine.from_params(module.params)
        state = engine.swarm_state()
        if state != "locked":
            module.exit_json(changed=False, state=state)
        if module.check_mode:
            module.exit_json(changed=True, state=state)
        keys = [k for k in module.params["keys"] if k]
        if not keys:
            module.fail_json(msg="the engine is locked and no unlock key was given. Fix: set swarm_unlock_key "
                                 "(vault), or keep the key in swarm_unlock_key_dir")
        engine.unlock(keys)
        module.exit_json(changed=True, state=engine.swarm_state())
    except EngineError as exc:
        module.fail_json(msg="%s. Fix: set swarm_unlock_key (vault) or put the key of this swarm in "
                             "swarm_unlock_key_dir (docker swarm unlock-key on an unlocked manager prints it)" % exc)


if __name__ == "__main__":
    main()
