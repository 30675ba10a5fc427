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
  - containerops.platform developers
attributes:
  check_mode:
    support: full
    description: Reports whether the engine would be unlocked.
  diff_mode:
    support: none
extends_documentation_fragment:
  - containerops.platform.docker
options:
  key:
    description: The swarm's unlock key (C(SWMKEY-1-...)). Never logged.
    type: str
    required: true
    no_log: true
"""

EXAMPLES = r"""
- name: Managers locked after an engine restart are unlocked
  containerops.platform.swarm_unlock:
    key: "{{ swarm_unlock_key }}"
"""

RETURN = r"""
state:
  description: The engine's swarm state (C(LocalNodeState)) after the task.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils.docker import DOCKER_HOST_ARG, DockerEngine, EngineError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            key=dict(type="str", required=True, no_log=True),
            docker_host=DOCKER_HOST_ARG,
        ),
        supports_check_mode=True,
    )
    try:
        engine = DockerEngine(module.params["docker_host"])
        state = engine.swarm_state()
        if state != "locked":
            module.exit_json(changed=False, state=state)
        if module.check_mode:
            module.exit_json(changed=True, state=state)
        engine.unlock(module.params["key"])
        module.exit_json(changed=True, state=engine.swarm_state())
    except EngineError as exc:
        module.fail_json(msg="%s. Fix: set swarm_unlock_key (vault) or swarm_unlock_key_file to the key of "
                             "this swarm (docker swarm unlock-key on an unlocked manager prints it)" % exc)


if __name__ == "__main__":
    main()
