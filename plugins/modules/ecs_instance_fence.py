#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ecs_instance_fence
short_description: Fence a lost Alibaba Cloud ECS instance - stop it hard, or prove it gone - before its addresses move
version_added: 0.1.0
description:
  - Makes sure the instance cannot answer for anything any more, so that failover can give its fixed
    addresses to another node without two machines answering for one address.
  - A running, starting or pending instance is stopped hard (C(StopInstances) with C(ForceStop=true), like
    pulling the plug; a lost guest would never finish a clean shutdown). The task waits until
    C(DescribeInstances) lists it C(Stopped).
  - A stopped instance is left as it is. An instance ECS does not know is gone, which is a fence too. With
    O(instance_id), ECS is asked through the ID itself, because C(DescribeInstances) lists a new instance
    only after a lag and its silence proves nothing. Nothing is ever created, started or deleted.
  - When the instance cannot be fenced the task fails, saying so; the caller must then move nothing.
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.ecs
attributes:
  check_mode:
    support: full
    description: Only C(DescribeInstances); the result says what would be done.
  diff_mode:
    support: full
    description: The instance's status before and after, when it changes.
options:
  instance_id:
    description:
      - The instance's ID (C(ecs_instance_id) of the ECS inventory plugin). When given, the instance is found by it,
        and O(name), if the instance has one, must match.
      - Without it the instance is found by O(name), which must then be listed and unique in O(region).
    type: str
  name:
    description: The instance's name (C(InstanceName)).
    type: str
    required: true
  timeout:
    description: Seconds to wait until the instance is listed C(Stopped).
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: The lost node cannot answer any more
  containerops.platform.ecs_instance_fence:
    region: cn-hangzhou
    name: node-ecs-07
    instance_id: "{{ hostvars['node-ecs-07'].ecs_instance_id }}"
  register: fenced
"""

RETURN = r"""
fenced:
  description: The instance is stopped or gone (in check mode, false when it would have to be stopped).
  returned: success
  type: bool
  sample: true
how:
  description: V(powered_off) (this task stopped it), V(was_off) or V(gone) (ECS does not know it).
  returned: success
  type: str
  sample: powered_off
name:
  description: The instance's name.
  returned: success
  type: str
  sample: node-ecs-07
id:
  description: The instance ID.
  returned: success
  type: str
  sample: i-bp1abcdefghijklmnopq
power_state_before:
  description: Its status before the task (null when gone).
  returned: success
  type: str
  sample: Running
power_state:
  description: Its status after the task (null when gone).
  returned: success
  type: str
  sample: Stopped
api_calls:
  description: ECS API attempts made, per action (retries included).
  returned: success
  type: dict
  sample: {DescribeInstances: 3, StopInstances: 1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    CONNECTION_ARGSPEC,
    HAS_SDK,
    SDK_IMPORT_ERROR,
    SDK_MISSING_MSG,
)
from ansible_collections.containerops.platform.plugins.module_utils.fence import exit_with_fence, run_instance_fence


def main():
    spec = dict(CONNECTION_ARGSPEC)
    spec.update(name=dict(type="str", required=True), instance_id=dict(type="str"),
                timeout=dict(type="int", default=120))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_SDK:
        module.fail_json(msg=SDK_MISSING_MSG % SDK_IMPORT_ERROR)
    exit_with_fence(module, run_instance_fence)


if __name__ == "__main__":
    main()
