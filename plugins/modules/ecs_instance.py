#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ecs_instance
short_description: Make named Alibaba Cloud ECS instances exist, run, stop, restart or go away
version_added: 0.1.0
description:
  - Manages ECS instances identified by their C(InstanceName) within one region. Every name
    exists exactly once; a missing name is created, an existing one is left as it is (apart from
    its power state and tags), and a name found more than once is an error to resolve by hand.
  - Creation is idempotent at the API level too. Each RunInstances request carries a
    C(ClientToken) derived from the region, the names and every creation parameter, so a request
    retried after a lost answer, or a run repeated after a failure, never makes a second instance.
  - Instances that differ only in name, host name and IP (names with a consecutive number of one
    width such as C(web-01), C(web-02); IPs consecutive in the same order, or unset) are created with
    one RunInstances call with C(Amount) up to 100; other creations run concurrently. All of them are
    then waited for together, with one DescribeInstances per round for up to 100 instances.
  - Start, stop, reboot and delete use the plural APIs, 100 instances per call.
  - Existing instances are not rebuilt when their image, type, vSwitch, IP or security groups differ
    from the task; the module warns instead. Tags are reconciled.
  - An instance may take its primary private IP from the collection's IPAM (O(ipam_pool)). The address
    belongs to the owner C(node:<region>:<name>), so the instance gets the same one on every run and again
    when it is re-created; after the run its instance ID is recorded as the address's holder, and with
    O(state=absent) the address goes into the pool's hold-down once the instance is gone (name the pool in
    that task too). The address is allocated after every check passed and before C(RunInstances), so a
    creation that fails keeps it for the next run.
author:
  - containerops.platform developers (!UNKNOWN)
extends_documentation_fragment:
  - containerops.platform.ecs
  - containerops.platform.ipam_nodes
attributes:
  check_mode:
    support: full
    description:
      - Creations are validated with RunInstances C(DryRun=true); nothing is created or changed.
      - Reads the IPAM and reports the addresses new instances would get; allocates nothing.
  diff_mode:
    support: full
    description:
      - One before/after entry per instance that changes - state, status, instance ID and tags.
      - The same shape as M(containerops.platform.vsphere_vm)'s diff.
      - One entry per IPAM address that changes (ip, owner, state, holder).
options:
  name:
    description:
      - C(InstanceName) of one instance. Mutually exclusive with O(instances).
    type: str
  instances:
    description:
      - Several instances; each item needs C(name) and may override the per-instance options.
        Top-level values of those options are the defaults for every item.
    type: list
    elements: dict
    suboptions:
      name:
        description: C(InstanceName) of the instance.
        type: str
        required: true
      vswitch_id:
        description: Overrides O(vswitch_id).
        type: str
      zone_id:
        description: Overrides O(zone_id).
        type: str
      security_group_ids:
        description: Overrides O(security_group_ids).
        type: list
        elements: str
      image_id:
        description: Overrides O(image_id).
        type: str
      instance_type:
        description: Overrides O(instance_type).
        type: str
      private_ip:
        description: Overrides O(private_ip), and a top-level O(ipam_pool).
        type: str
      ipam_pool:
        description: Overrides O(ipam_pool), and a top-level O(private_ip).
        type: str
      host_name:
        description: Overrides O(host_name) (default the item's C(name)).
        type: str
      tags:
        description: Overrides O(tags) (replaces the whole dictionary).
        type: dict
      user_data:
        description: Overrides O(user_data).
        type: str
      internet_max_bandwidth_out:
        description: Overrides O(internet_max_bandwidth_out).
        type: int
      system_disk:
        description: Overrides O(system_disk).
        type: dict
        suboptions:
          category:
            description: Disk category.
            type: str
          size:
            description: Size in GiB.
            type: int
  state:
    description:
      - C(running) creates missing instances and starts stopped ones.
      - C(stopped) creates missing instances (RunInstances starts them) and stops them.
      - C(restarted) reboots running instances, starts stopped ones and creates missing ones; it always
        reports a change.
      - C(absent) deletes the instances (every instance carrying the name).
    type: str
    choices: [running, stopped, restarted, absent]
    default: running
  vswitch_id:
    description:
      - vSwitch of new instances; the zone is the vSwitch's zone. Required to create.
    type: str
  zone_id:
    description:
      - Zone of new instances. Optional; when given it must be the zone of O(vswitch_id).
    type: str
  security_group_ids:
    description:
      - Security groups of new instances, all in the vSwitch's VPC. Required to create.
    type: list
    elements: str
  image_id:
    description:
      - Image of new instances. Required to create.
    type: str
  instance_type:
    description:
      - Instance type of new instances, for example C(ecs.g7.large). Required to create.
    type: str
  private_ip:
    description:
      - Primary private IPv4 address of a new instance, inside the vSwitch CIDR, not one of its
        reserved addresses (the first and the last three) and free. Unset, ECS picks one.
      - Mutually exclusive with O(ipam_pool).
    type: str
  ipam_pool:
    description:
      - IPAM pool (of provider C(ecs), see M(containerops.platform.ipam_pool)) the primary private IP of a
        new instance comes from, instead of O(private_ip). The pool's subnet must lie inside the vSwitch
        CIDR and hand out none of the addresses ECS keeps; both are checked before anything is created.
      - The owner of the address is C(node:<region>:<name>). A new instance gets the owner's address (the one
        it had before, if it was removed) or a free one. An existing instance keeps its address; the module
        warns when that is not its owner's.
      - At the top level, every instance gets its own address from the pool.
      - Needs the IPAM connection (O(ipam)) and etcd3gw on the controller.
    type: str
  host_name:
    description:
      - Host name of a new instance. Defaults to its name.
    type: str
  tags:
    description:
      - Tags as a dictionary. New instances get them at creation; existing instances get missing or
        different values set (TagResources).
    type: dict
  purge_tags:
    description:
      - Also remove tags of existing instances that are not in O(tags) (except C(acs:) and C(aliyun) system tags).
      - Only applies when O(tags) is given.
    type: bool
    default: false
  user_data:
    description:
      - User data of new instances as plain text (for example cloud-config); the module base64-encodes it.
      - Never logged and never in the diff or the result (it may carry secrets).
    type: str
  internet_max_bandwidth_out:
    description:
      - Public bandwidth in Mbit/s of new instances; C(0) (the default of ECS) gives no public IP.
    type: int
  system_disk:
    description:
      - System disk of new instances.
    type: dict
    suboptions:
      category:
        description: Disk category, for example C(cloud_essd) or C(cloud_auto).
        type: str
      size:
        description: Size in GiB.
        type: int
  wait:
    description:
      - Wait until every instance has reached the state asked for (C(Running), C(Stopped), or gone).
      - Instances in a transitional state are always waited for before they are acted on.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait, for all instances together. Also the deadline of O(list_lag_timeout).
    type: int
    default: 600
  list_lag_timeout:
    description:
      - ECS lists a new instance in C(DescribeInstances) some seconds after C(RunInstances) returned its id.
        This many seconds (at most until O(wait_timeout) runs out) the module keeps looking for the ids it got,
        with growing pauses, before it takes them for ids of deleted instances (ECS answers a C(ClientToken) it
        remembers with the instances made for it, even once they are gone) and sends a new token.
      - The ids are looked for even with O(wait=false), so that an instance is reported as created only once it
        is listed. When O(wait_timeout) runs out first, the task fails and reports the names and the ids
        C(RunInstances) returned as created; running it again sends the same C(ClientToken) and never makes a
        second instance.
    type: int
    default: 300
  force:
    description:
      - With O(state=absent), delete running instances at once (C(DeleteInstances Force=true)) instead of
        stopping them gracefully first.
    type: bool
    default: false
notes:
  - Instances found in C(Pending), C(Starting) or C(Stopping) are waited for before they are acted on.
  - A C(ClientToken) whose instances were deleted since (ECS remembers tokens for a while) is told apart from
    instances ECS does not list yet only by time (O(list_lag_timeout)), and then, when the names are not
    listed either, the request is repeated once with a new token derived from the dead ids. So re-creating a
    deleted name with exactly the same settings takes O(list_lag_timeout) longer.
  - ECS documents no validity window for a C(ClientToken). Once it has passed, only the names prevent a
    second instance; a run finds every listed instance by name, but not one that ECS still does not list.
  - Every option is checked against ECS's rules (names, host names, addresses, disks, tags, user data,
    bandwidth) before the first API call; a task that breaks one changes nothing.
seealso:
  - plugin: containerops.platform.ecs
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Two workers in one call (RunInstances Amount=2, IPs .11 and .12)
  containerops.platform.ecs_instance:
    region: cn-hangzhou
    vswitch_id: vsw-bp1lab0hangzhouh00001
    security_group_ids: [sg-bp1lab0hangzhou00001]
    image_id: debian_12_x64_20G_alibase_20260101.vhd
    instance_type: ecs.g7.large
    user_data: "{{ lookup('ansible.builtin.file', 'cloud-config.yml') }}"
    tags:
      containerops.role: worker
    instances:
      - name: worker-01
        private_ip: 10.88.16.11
      - name: worker-02
        private_ip: 10.88.16.12

- name: Workers whose addresses come from the IPAM pool ecs-hz-nodes (same address on every run)
  containerops.platform.ecs_instance:
    region: cn-hangzhou
    vswitch_id: vsw-bp1lab0hangzhouh00001
    security_group_ids: [sg-bp1lab0hangzhou00001]
    image_id: debian_12_x64_20G_alibase_20260101.vhd
    instance_type: ecs.g7.large
    ipam_pool: ecs-hz-nodes
    ipam:
      endpoints: "{{ etcd_endpoints }}"
    instances: [{name: worker-03}, {name: worker-04}]

- name: Same settings for every ECS module of a play
  hosts: localhost
  module_defaults:
    group/containerops.platform.ecs:
      endpoint: "{{ ecs_endpoint | default(omit) }}"
      profile: production
  tasks:
    - name: Stop a node
      containerops.platform.ecs_instance:
        region: cn-shanghai
        name: manager-01
        state: stopped

- name: Delete nodes, running or not, without stopping them first
  containerops.platform.ecs_instance:
    region: cn-hangzhou
    instances: [{name: worker-01}, {name: worker-02}]
    state: absent
    force: true
"""

RETURN = r"""
instances:
  description: One entry per name asked for, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: InstanceName., type: str, sample: worker-01}
    instance_id:
      description: InstanceId (null when it does not exist, e.g. in check mode).
      type: str
      sample: i-bp1abcdefghijklmnopq
    private_ip: {description: Primary private IPv4 address., type: str, sample: 10.88.16.11}
    status:
      description: "ECS status: Pending, Starting, Running, Stopping, Stopped, or Absent."
      type: str
      sample: Running
    zone_id: {description: Zone., type: str, sample: cn-hangzhou-h}
    region_id: {description: Region., type: str, sample: cn-hangzhou}
    vswitch_id: {description: vSwitch., type: str}
    vpc_id: {description: VPC., type: str}
    instance_type: {description: Instance type., type: str}
    image_id: {description: Image., type: str}
    host_name: {description: Host name., type: str}
    security_group_ids: {description: Security groups., type: list, elements: str}
    tags: {description: Tags., type: dict}
    changed: {description: Whether this instance was created or changed., type: bool}
    created: {description: Whether this instance was created by this task., type: bool}
  sample:
    - {name: worker-01, instance_id: i-bp1abcdefghijklmnopq, private_ip: 10.88.16.11, status: Running,
       zone_id: cn-hangzhou-h, changed: true, created: true}
created:
  description:
    - Names of the instances created (in check mode, that would be created).
    - On failure, the ones created before it, including those RunInstances made that ECS did not list yet
      (their RV(instances[].instance_id) is the id RunInstances returned).
  returned: always
  type: list
  elements: str
changed_instances:
  description: Names of the instances created or changed.
  returned: always
  type: list
  elements: str
node_addresses:
  description: The IPAM addresses of the instances that name a pool (in check mode, the ones they would get).
  returned: when an instance names an IPAM pool
  type: list
  elements: dict
  contains:
    name: {description: InstanceName., type: str}
    pool: {description: The pool., type: str}
    owner: {description: "The address's owner, C(node:<region>:<name>).", type: str}
    ip: {description: The address; null when the owner has none., type: str}
    state: {description: C(allocated) or C(held-down) (null when not read)., type: str}
    holder: {description: The instance ID holding it., type: str}
  sample:
    - {name: worker-03, pool: ecs-hz-nodes, owner: "node:cn-hangzhou:worker-03", ip: 10.88.16.104,
       state: allocated, holder: i-bp1abcdefghijklmnopq}
api_calls:
  description: ECS API attempts made, per action (retries included).
  returned: always
  type: dict
  sample: {DescribeInstances: 3, RunInstances: 1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils._ecs_instance_spec import PER_INSTANCE
from ansible_collections.containerops.platform.plugins.module_utils._ecs_provision import run_ecs_instance
from ansible_collections.containerops.platform.plugins.module_utils._ipam_nodes import IPAM_OPTION
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError
from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    CONNECTION_ARGSPEC,
    HAS_SDK,
    SDK_IMPORT_ERROR,
    SDK_MISSING_MSG,
)


def argument_spec():
    spec = dict(CONNECTION_ARGSPEC)
    spec.update(PER_INSTANCE)
    spec.update(
        name=dict(type="str"),
        instances=dict(type="list", elements="dict",
                       options=dict(name=dict(type="str", required=True), **PER_INSTANCE)),
        state=dict(type="str", default="running", choices=["running", "stopped", "restarted", "absent"]),
        purge_tags=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        list_lag_timeout=dict(type="int", default=300),
        force=dict(type="bool", default=False),
        ipam=IPAM_OPTION,
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_one_of=[("name", "instances")],
        mutually_exclusive=[("name", "instances")],
    )
    if not HAS_SDK:
        module.fail_json(msg=SDK_MISSING_MSG % SDK_IMPORT_ERROR)
    try:
        result = run_ecs_instance(module.params, check_mode=module.check_mode, warn=module.warn)
    except ProvisionError as exc:
        module.fail_json(**exc.fail_args())
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
