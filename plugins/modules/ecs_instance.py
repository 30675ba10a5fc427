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
author:
  - containerops.platform developers
extends_documentation_fragment:
  - containerops.platform.ecs
attributes:
  check_mode:
    support: full
    description: Creations are validated with RunInstances C(DryRun=true); nothing is created or changed.
  diff_mode:
    support: full
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
        description: Overrides O(private_ip).
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
      - C(restarted) reboots running instances, starts stopped ones and creates missing ones; it always reports a change.
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
    instance_id: {description: InstanceId (null when it does not exist, e.g. in check mode)., type: str, sample: i-bp1abcdefghijklmnopq}
    private_ip: {description: Primary private IPv4 address., type: str, sample: 10.88.16.11}
    status: {description: "ECS status: Pending, Starting, Running, Stopping, Stopped, or Absent.", type: str, sample: Running}
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
api_calls:
  description: ECS API attempts made, per action (retries included).
  returned: always
  type: dict
  sample: {DescribeInstances: 3, RunInstances: 1}
"""

import concurrent.futures
import json
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    ABSENT, CONNECTION_ARGSPEC, HAS_SDK, LISTED, SDK_IMPORT_ERROR, SDK_MISSING_MSG, STABLE, TAG_RESOURCES_PER_CALL,
    TAGS_PER_CALL, EcsConfigError, EcsError, WaitTimeout, build_client, chunks, client_token, private_ip,
    reserved_reason, tags_to_dict,
)
from ansible_collections.containerops.platform.plugins.module_utils._ecs_instance_spec import (
    PER_INSTANCE, REQUIRED_TO_CREATE, SYSTEM_TAG_PREFIXES, Failure, batch_request, check_task, desired_instances,
    plan_batches, shared_request_params,
)

# Statuses an instance passes through on its own towards a stable one.
SETTLES_TO = {"Pending": "Running", "Starting": "Running", "Stopping": "Stopped"}


class NotListedYet(Failure):
    """RunInstances answered, but DescribeInstances did not list the ids before the task's deadline."""

    def __init__(self, message, made):
        super(NotListedYet, self).__init__(message)
        self.made = made  # name -> placeholder instance dict with the InstanceId RunInstances returned


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
    )
    return spec


def summary(inst, name=None):
    return {
        "name": name or inst.get("InstanceName"),
        "instance_id": inst.get("InstanceId"),
        "private_ip": private_ip(inst),
        "status": inst.get("Status"),
        "zone_id": inst.get("ZoneId"),
        "region_id": inst.get("RegionId"),
        "vswitch_id": (inst.get("VpcAttributes") or {}).get("VSwitchId"),
        "vpc_id": (inst.get("VpcAttributes") or {}).get("VpcId"),
        "instance_type": inst.get("InstanceType"),
        "image_id": inst.get("ImageId"),
        "host_name": inst.get("HostName"),
        "security_group_ids": list((inst.get("SecurityGroupIds") or {}).get("SecurityGroupId", [])),
        "tags": tags_to_dict(inst),
    }


class Runner:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.region = client.region
        self.state = self.params["state"]
        self.check = module.check_mode
        self.timeout = self.params["wait_timeout"]
        self.deadline = time.monotonic() + self.timeout
        self.desired = desired_instances(self.params)
        check_task(self.params, self.desired)
        self.names = [d["name"] for d in self.desired]
        self.current = {}      # name -> instance dict (latest seen)
        self.created = []      # names created (or that would be, in check mode)
        self.changed = set()   # names created or changed
        self.gone = {}         # name -> InstanceId deleted
        self.before = {}

    # ------------------------------------------------------------------ lookup

    def lookup(self, names=None):
        """name -> [instances] for these names (default: the task's), one paged DescribeInstances."""
        names = names or self.names
        if len(names) == 1:
            found = self.client.describe_instances(InstanceName=names[0])
        else:
            prefix = _common_prefix(names)
            filters = {"InstanceName": prefix + "*"} if len(prefix) >= 2 else {}
            found = self.client.describe_instances(**filters)
        by_name = dict((n, []) for n in names)
        for inst in found:
            if inst.get("InstanceName") in by_name:
                by_name[inst["InstanceName"]].append(inst)
        return by_name

    def remaining(self):
        return max(1, int(self.deadline - time.monotonic()))

    def wait(self, names, targets, absent_ok=False):
        """Wait for these names' instances; refresh self.current."""
        ids = dict((self.current[n]["InstanceId"], n) for n in names if n in self.current)
        if not ids:
            return
        try:
            last = self.client.wait_for(list(ids), targets, self.remaining(), names=ids, absent_ok=absent_ok)
        except WaitTimeout as exc:
            raise Failure(str(exc))
        for iid, inst in last.items():
            if inst is None:
                self.current.pop(ids[iid], None)
            else:
                self.current[ids[iid]] = inst

    # ------------------------------------------------------------------ main flow

    def run(self):
        by_name = self.lookup()
        self.before = dict((n, _diff_view(insts[0]) if len(insts) == 1 else
                            {"instances": [_diff_view(i) for i in insts]} if insts else {"state": "absent"})
                           for n, insts in by_name.items())
        if self.state == "absent":
            self.delete(by_name)
            return
        twice = dict((n, [i["InstanceId"] for i in insts]) for n, insts in by_name.items() if len(insts) > 1)
        if twice:
            raise Failure("these names exist more than once, so the task cannot tell which to keep: %s. Delete the "
                          "extra instances (or rename them) and run again"
                          % "; ".join("%s: %s" % (n, ", ".join(ids)) for n, ids in sorted(twice.items())))
        self.current = dict((n, insts[0]) for n, insts in by_name.items() if insts)
        missing = [d for d in self.desired if d["name"] not in self.current]
        for d in self.desired:
            if d["name"] in self.current:
                self.warn_drift(d, self.current[d["name"]])
        if missing:
            self.create(missing)
        self.reconcile_tags()
        self.converge_power()

    # ------------------------------------------------------------------ creation

    def create(self, missing):
        lacking = sorted(set(k for d in missing for k in REQUIRED_TO_CREATE if not d[k]))
        if lacking:
            raise Failure("to create %s, set %s (top level or per item of instances)"
                          % (", ".join(d["name"] for d in missing), ", ".join(lacking)))
        zones = self.validate_network(missing)
        items = [{"name": d["name"], "host_name": d["host_name"], "private_ip": d["private_ip"],
                  "shared": shared_request_params(d, zones[d["name"]])} for d in missing]
        batches = [(batch, batch_request(batch)) for batch in plan_batches(items)]
        if self.check:
            for batch, request in batches:
                self.dry_run(batch, request)
            self.created.extend(d["name"] for d in missing)
            self.changed.update(self.created)
            return
        made = self.run_batches(batches)
        self.created.extend(n for n in self.names if n in made)
        self.changed.update(self.created)
        self.current.update(made)

    def validate_network(self, missing):
        """Check vSwitches, zones, security groups and IPs before creating anything; name -> zone."""
        problems, zones = [], {}
        vswitches = {}
        for vsw_id in sorted(set(d["vswitch_id"] for d in missing)):
            rows = self.client.call("DescribeVSwitches", {"VSwitchId": vsw_id}).get("VSwitches", {}).get("VSwitch", [])
            vswitches[vsw_id] = rows[0] if rows else None
        sg_ids = sorted(set(sg for d in missing for sg in d["security_group_ids"]))
        rows = self.client.call("DescribeSecurityGroups", {"SecurityGroupIds": json.dumps(sg_ids), "PageSize": 50})
        groups = dict((g["SecurityGroupId"], g) for g in rows.get("SecurityGroups", {}).get("SecurityGroup", []))
        for d in missing:
            name, vsw = d["name"], vswitches[d["vswitch_id"]]
            if vsw is None:
                problems.append("%s: vswitch_id %s does not exist in region %s; check vswitch_id and region"
                                % (name, d["vswitch_id"], self.region))
                continue
            zones[name] = vsw["ZoneId"]
            if d["zone_id"] and d["zone_id"] != vsw["ZoneId"]:
                problems.append("%s: zone_id %s does not match vswitch_id %s, which is in %s; drop zone_id or fix it"
                                % (name, d["zone_id"], d["vswitch_id"], vsw["ZoneId"]))
            for sg in d["security_group_ids"]:
                if sg not in groups:
                    problems.append("%s: security_group_ids entry %s does not exist in region %s"
                                    % (name, sg, self.region))
                elif groups[sg].get("VpcId") != vsw["VpcId"]:
                    problems.append("%s: security_group_ids entry %s is in VPC %s, but vswitch_id %s is in VPC %s; "
                                    "use a security group of %s" % (name, sg, groups[sg].get("VpcId"),
                                                                   d["vswitch_id"], vsw["VpcId"], vsw["VpcId"]))
            if d["private_ip"]:
                reason = reserved_reason(d["private_ip"], vsw["CidrBlock"])
                if reason:
                    problems.append("%s: private_ip %s %s; pick another private_ip" % (name, d["private_ip"], reason))
        if problems:
            raise Failure("nothing was created: " + "; ".join(problems))
        return zones

    def dry_run(self, batch, request):
        try:
            self.client.call("RunInstances", dict(request, DryRun=True))
        except EcsError as exc:
            if exc.code == "DryRunOperation":
                return
            raise Failure("check mode, creating %s: %s" % (", ".join(i["name"] for i in batch), exc))
        raise Failure("check mode: RunInstances with DryRun=true answered without DryRunOperation; "
                      "the endpoint does not honour DryRun, so check mode cannot validate the creation")

    def run_batches(self, batches):
        """Issue the RunInstances calls concurrently; name -> instance dict of what was made."""
        made, errors = {}, []
        workers = max(1, min(8, len(batches)))
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futures = dict((pool.submit(self.run_one, batch, request), batch) for batch, request in batches)
            for future in concurrent.futures.as_completed(futures):
                batch = futures[future]
                try:
                    made.update(future.result())
                except NotListedYet as exc:
                    made.update(exc.made)
                    errors.append(str(exc))
                except (EcsError, Failure) as exc:
                    errors.append("creating %s: %s" % (", ".join(i["name"] for i in batch), exc))
        if errors:
            self.created.extend(n for n in self.names if n in made)
            self.changed.update(self.created)
            self.current.update(made)
            raise Failure("; ".join(sorted(errors)))
        return made

    def run_one(self, batch, request):
        """RunInstances for one batch; name -> instance dict (a Pending placeholder while not listed).

        ECS lists a new instance some seconds after RunInstances answers, and it also remembers
        a ClientToken after the instances it made are deleted, answering a repeat with their
        dead ids. Only time tells the two apart: the ids are looked for (with backoff) for up to
        list_lag_timeout seconds. A new token is sent only when by then neither the ids nor the
        names are listed, and it is derived from the dead ids, so a concurrent or repeated run
        sends the same one and gets the same instances. That happens at most once per batch.
        """
        names = [item["name"] for item in batch]
        ids = self._run(request, client_token(self.region, request))
        made = self.await_listed(names, ids)
        if made is None:
            dead = ids
            ids = self._run(request, client_token(self.region, request, salt=" ".join(sorted(dead))))
            made = self.await_listed(names, ids)
            if made is None:
                raise Failure("creating %s: ECS does not list what RunInstances answered, %s, nor, with a new "
                              "ClientToken, %s, each within list_lag_timeout (%ds). Nothing more is created: look "
                              "for them in the console; if ECS lists new instances this slowly, raise "
                              "list_lag_timeout" % (", ".join(names), ", ".join(dead), ", ".join(ids),
                                                    self.params["list_lag_timeout"]))
        return made

    def await_listed(self, names, ids):
        """Wait until DescribeInstances lists the ids; name -> instance dict, or None when they are dead.

        Dead means: not listed within list_lag_timeout and the names not listed either. When
        the task's deadline comes first, NotListedYet reports the ids as what was created.
        """
        lag = self.params["list_lag_timeout"]
        left = self.deadline - time.monotonic()
        labels = dict(zip(ids, names))  # RunInstances returns the ids in the order of the names
        made = dict((n, {"InstanceId": iid, "InstanceName": n, "Status": "Pending"}) for iid, n in labels.items())
        try:
            found = self.client.wait_for(ids, [LISTED], min(lag, max(0, left)), names=labels)
        except WaitTimeout as exc:
            found = exc.found
        if found:
            # The listed ones as listed; the rest (deleted meanwhile, or later) stay placeholders.
            made.update((inst["InstanceName"], inst) for inst in found.values() if inst["InstanceName"] in made)
            return made
        if left < lag:
            raise NotListedYet(
                "creating %s: RunInstances answered %s, but timed out after %ds (wait_timeout) waiting for "
                "DescribeInstances to list them. ECS lists new instances with a delay: run the task again (it sends "
                "the same ClientToken, so it gets these instances, not new ones). If the name was deleted lately, "
                "these may be its dead ids (ECS answers a ClientToken it remembers with them); the task tells only "
                "after list_lag_timeout (%ds): give wait_timeout more than that"
                % (", ".join(names), ", ".join(ids), max(0, left), lag), made)
        taken = sorted("%s (%s)" % (n, ", ".join(i["InstanceId"] for i in insts))
                       for n, insts in self.lookup(names).items() if insts)
        if taken:
            raise Failure("creating %s: RunInstances answered %s, which are not listed after list_lag_timeout (%ds), "
                          "but these names are listed now: %s. Another run or someone else made them; nothing more "
                          "is created. Run the task again to take them as they are"
                          % (", ".join(names), ", ".join(ids), lag, ", ".join(taken)))
        return None

    def _run(self, request, token):
        body = self.client.call("RunInstances", dict(request, ClientToken=token))
        return body.get("InstanceIdSets", {}).get("InstanceIdSet", [])

    # ------------------------------------------------------------------ power

    def converge_power(self):
        target = {"running": "Running", "stopped": "Stopped", "restarted": "Running"}[self.state]
        present = [n for n in self.names if n in self.current]
        if self.check:
            for n in present:
                status = self.current[n]["Status"]
                if n not in self.created and (self.state == "restarted" or SETTLES_TO.get(status, status) != target):
                    self.changed.add(n)
            return
        fresh = set(self.created)
        if self.state == "running":
            self.act(present, "StartInstances", ("Stopped",), fresh)
        elif self.state == "stopped":
            self.act(present, "StopInstances", ("Running",), ())
        else:
            started = self.act(present, "StartInstances", ("Stopped",), fresh)
            # Just started (or created) instances are not rebooted again.
            self.act(present, "RebootInstances", ("Running",), fresh | set(started))
        if self.params["wait"]:
            self.wait(present, [target])

    def act(self, names, action, from_statuses, skip):
        """Run a plural power action on the names whose settled status is in from_statuses."""
        settle_first = [n for n in names if n not in skip and self.current[n]["Status"] in SETTLES_TO]
        if settle_first:
            self.wait(settle_first, STABLE)
        todo = [n for n in names if n not in skip and n in self.current and self.current[n]["Status"] in from_statuses]
        if not todo:
            return []
        ids = dict((self.current[n]["InstanceId"], n) for n in todo)
        try:
            responses = self.client.power(action, list(ids))
        except EcsError as exc:
            raise Failure("%s of %s: %s" % (action, ", ".join(todo), exc))
        ok_after = {"StartInstances": ("Starting", "Running"), "StopInstances": ("Stopping", "Stopped"),
                    "RebootInstances": ("Starting", "Running")}[action]
        refused = []
        for iid, name in ids.items():
            row = responses.get(iid, {})
            # A non-200 row whose instance already moved on means an earlier attempt (answer lost) did it.
            if row.get("Code") in ("200", 200) or row.get("CurrentStatus") in ok_after:
                self.changed.add(name)
                self.current[name] = dict(self.current[name], Status=row.get("CurrentStatus") or ok_after[0])
            else:
                refused.append("%s (%s): %s %s" % (name, iid, row.get("Code"), self.client.scrub(row.get("Message"))))
        if refused:
            raise Failure("ECS %s refused: %s" % (action, "; ".join(refused)))
        return todo

    # ------------------------------------------------------------------ deletion

    def delete(self, by_name):
        insts = dict((i["InstanceId"], (n, i)) for n, found in by_name.items() for i in found)
        if not insts:
            return
        self.changed.update(n for n, _ in insts.values())
        if self.check:
            self.current = dict((n, found[0]) for n, found in by_name.items() if found)
            return
        self.gone = dict((n, i["InstanceId"]) for iid, (n, i) in insts.items())
        ids = list(insts)
        names = dict((iid, n) for iid, (n, _) in insts.items())
        try:
            # Settle transitional ones first; deleting mid-transition is refused.
            if any(i["Status"] in SETTLES_TO for _, i in insts.values()):
                last = self.client.wait_for(ids, STABLE, self.remaining(), names=names, absent_ok=True)
                insts = dict((iid, (names[iid], i)) for iid, i in last.items() if i is not None)
            running = [iid for iid, (_, i) in insts.items() if i["Status"] == "Running"]
            if running and not self.params["force"]:
                self.client.power("StopInstances", running)
                self.client.wait_for(running, ["Stopped"], self.remaining(), names=names, absent_ok=True)
            self.client.delete(sorted(insts), force=self.params["force"])
            if self.params["wait"]:
                self.client.wait_for(ids, [ABSENT], self.remaining(), names=names)
        except EcsError as exc:
            raise Failure("deleting %s: %s" % (", ".join(sorted(set(names.values()))), exc))
        except WaitTimeout as exc:
            raise Failure(str(exc))

    # ------------------------------------------------------------------ tags and drift

    def reconcile_tags(self):
        """TagResources / UntagResources on existing instances, grouped by identical changes."""
        adds, removes = {}, {}
        for d in self.desired:
            name = d["name"]
            if d["tags"] is None or name not in self.current or name in self.created:
                continue
            have = tags_to_dict(self.current[name])
            want = dict((k, "" if v is None else str(v)) for k, v in d["tags"].items())
            add = tuple(sorted((k, v) for k, v in want.items() if have.get(k) != v))
            drop = ()
            if self.params["purge_tags"]:
                drop = tuple(sorted(k for k in have if k not in want and not k.lower().startswith(SYSTEM_TAG_PREFIXES)))
            if add:
                adds.setdefault(add, []).append(name)
            if drop:
                removes.setdefault(drop, []).append(name)
            if add or drop:
                self.changed.add(name)
                tags = dict(have)
                tags.update(add)
                for k in drop:
                    tags.pop(k, None)
                self.current[name] = dict(self.current[name], Tags={"Tag": [
                    {"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]})
        if self.check:
            return
        try:
            for add, names in adds.items():
                for ids in chunks([self.current[n]["InstanceId"] for n in names], TAG_RESOURCES_PER_CALL):
                    for part in chunks(add, TAGS_PER_CALL):
                        self.client.call("TagResources", {"ResourceType": "instance", "ResourceId": ids,
                                                          "Tag": [{"Key": k, "Value": v} for k, v in part]})
            for drop, names in removes.items():
                for ids in chunks([self.current[n]["InstanceId"] for n in names], TAG_RESOURCES_PER_CALL):
                    for part in chunks(drop, TAGS_PER_CALL):
                        self.client.call("UntagResources", {"ResourceType": "instance", "ResourceId": ids,
                                                            "TagKey": list(part)})
        except EcsError as exc:
            raise Failure("updating tags: %s" % exc)

    def warn_drift(self, d, inst):
        have = summary(inst)
        checks = [("image_id", d["image_id"], have["image_id"]), ("instance_type", d["instance_type"],
                  have["instance_type"]), ("vswitch_id", d["vswitch_id"], have["vswitch_id"]),
                  ("zone_id", d["zone_id"], have["zone_id"]), ("private_ip", d["private_ip"], have["private_ip"])]
        if d["security_group_ids"] is not None:
            checks.append(("security_group_ids", sorted(d["security_group_ids"]), sorted(have["security_group_ids"])))
        for option, want, actual in checks:
            if want is not None and want != actual:
                self.module.warn("%s (%s) has %s %s, the task asks for %s; ecs_instance does not rebuild existing "
                                 "instances: delete it (state=absent) and run again to apply"
                                 % (d["name"], inst["InstanceId"], option, actual, want))

    # ------------------------------------------------------------------ results

    def results(self):
        """One row per name: what is known at the end (in check mode: what is, not what would be)."""
        rows = []
        for name in self.names:
            inst = self.current.get(name)
            if inst is not None:
                row = summary(inst, name)
            else:
                row = {"name": name, "instance_id": self.gone.get(name), "status": ABSENT}
            row.update(changed=name in self.changed, created=name in self.created)
            rows.append(row)
        return rows

    def diff(self):
        target = {"running": "Running", "stopped": "Stopped", "restarted": "Running"}.get(self.state)
        wanted_tags = dict((d["name"], d["tags"]) for d in self.desired)
        after = {}
        for row in self.results():
            if self.state == "absent" or (row["status"] == ABSENT and not self.check):
                after[row["name"]] = {"state": "absent"}
                continue
            tags = row.get("tags") if row["status"] != ABSENT else wanted_tags[row["name"]] or {}
            after[row["name"]] = {"state": "present", "status": target if self.check else row["status"],
                                  "instance_id": row["instance_id"], "tags": tags}
        return {"before": self.before, "after": after}


def _common_prefix(names):
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def _diff_view(inst):
    return {"state": "present", "status": inst.get("Status"), "instance_id": inst.get("InstanceId"),
            "tags": tags_to_dict(inst)}


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
        client = build_client(module.params)
        runner = Runner(module, client)
    except (EcsConfigError, Failure) as exc:
        module.fail_json(msg=str(exc), changed=False, created=[], api_calls={})
    if not client.region:
        module.fail_json(msg="no region: set region (or ALICLOUD_REGION, or region_id in the profile)",
                         changed=False, created=[], api_calls={})
    if client.verify is False:
        module.warn("validate_certs is false: the ECS endpoint's certificate is not checked, so anyone on the "
                    "path can read and change this traffic")
    try:
        runner.run()
    except (Failure, EcsError, EcsConfigError) as exc:
        # What was created before the failure is part of the answer: changed, with the ids ECS returned.
        module.fail_json(msg=str(exc), changed=bool(runner.changed), created=runner.created,
                         instances=runner.results(), api_calls=dict(client.calls))
    result = dict(changed=bool(runner.changed), instances=runner.results(), created=runner.created,
                  changed_instances=[n for n in runner.names if n in runner.changed], api_calls=dict(client.calls))
    if module._diff:
        result["diff"] = runner.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
