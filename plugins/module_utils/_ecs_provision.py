# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the ecs_instance module: make named ECS instances exist, run, stop or go away.

run_ecs_instance() is the module's one entry point. Runner does the work in this order:
one paged DescribeInstances for every name (lookup), then creation (the network checked
before the first RunInstances; batches from _ecs_instance_spec.py issued concurrently and
found again in the listing despite its lag), tags, and power, each with the plural APIs.
What a task asks for, and the rules it must keep, are in _ecs_instance_spec.py; the calls
themselves, with retries and waits, in ecs.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import concurrent.futures
import json
import time

from ansible_collections.containerops.platform.plugins.module_utils._ecs_instance_spec import (
    REQUIRED_TO_CREATE,
    SYSTEM_TAG_PREFIXES,
    Failure,
    batch_request,
    check_task,
    desired_instances,
    plan_batches,
    shared_request_params,
)
from ansible_collections.containerops.platform.plugins.module_utils._ipam_model import IpamError
from ansible_collections.containerops.platform.plugins.module_utils._ipam_nodes import NodeAddresses, vswitch_problems
from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError, diff_entry
from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    ABSENT,
    LISTED,
    STABLE,
    TAG_RESOURCES_PER_CALL,
    TAGS_PER_CALL,
    EcsConfigError,
    EcsError,
    WaitTimeout,
    build_client,
    chunks,
    client_token,
    private_ip,
    reserved_reason,
    tags_to_dict,
)

# What a Runner needs of the module: an AnsibleModule has all three.
Task = collections.namedtuple("Task", ["params", "check_mode", "warn"])

# Statuses an instance passes through on its own towards a stable one.
SETTLES_TO = {"Pending": "Running", "Starting": "Running", "Stopping": "Stopped"}


class NotListedYet(Failure):
    """RunInstances answered, but DescribeInstances did not list the ids before the task's deadline."""

    def __init__(self, message, made):
        super().__init__(message)
        self.made = made  # name -> placeholder instance dict with the InstanceId RunInstances returned


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
    """One ecs_instance task: ``task`` has the module's params, check_mode and warn (a Task or the module)."""

    def __init__(self, task, client):
        self.warn = task.warn
        self.client = client
        self.params = task.params
        self.region = client.region
        self.state = self.params["state"]
        self.check = task.check_mode
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
        # Node addresses from the IPAM (_ipam_nodes.py): etcd only when an instance names a pool.
        self.nodes = NodeAddresses(self.params.get("ipam"), "ecs", self.region, self.check) \
            if any(d["ipam_pool"] for d in self.desired) else None

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
        for n, d in enumerate(self.desired if self.nodes else ()):
            if d["ipam_pool"]:  # a name that cannot make an owner fails before any call
                self.nodes.owner(d["name"], self.where(n, "name"))
        by_name = self.lookup()
        self.before = dict((n, _diff_view(insts[0]) if len(insts) == 1 else
                            {"instances": [_diff_view(i) for i in insts]} if insts else {"state": "absent"})
                           for n, insts in by_name.items())
        if self.state == "absent":
            self.delete(by_name)
            self.release_addresses(by_name)
            return
        twice = dict((n, [i["InstanceId"] for i in insts]) for n, insts in by_name.items() if len(insts) > 1)
        if twice:
            raise Failure("these names exist more than once, so the task cannot tell which to keep: %s. Delete the "
                          "extra instances (or rename them) and run again"
                          % "; ".join("%s: %s" % (n, ", ".join(ids)) for n, ids in sorted(twice.items())))
        self.current = dict((n, insts[0]) for n, insts in by_name.items() if insts)
        missing = [d for d in self.desired if d["name"] not in self.current]
        self.existing_addresses()
        for d in self.desired:
            if d["name"] in self.current:
                self.warn_drift(d, self.current[d["name"]])
        if missing:
            self.create(missing)
        self.reconcile_tags()
        self.converge_power()
        self.bind_addresses()

    # ------------------------------------------------------------------ creation

    def create(self, missing):
        lacking = sorted(set(k for d in missing for k in REQUIRED_TO_CREATE if not d[k]))
        if lacking:
            raise Failure("to create %s, set %s (top level or per item of instances)"
                          % (", ".join(d["name"] for d in missing), ", ".join(lacking)))
        zones = self.validate_network(missing)
        self.propose_addresses(missing)
        if self.nodes and not self.check and self.nodes.commit():
            self.propose_addresses(missing)  # another task took an address meanwhile: the one its owner got
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
                                    "use a security group of %s"
                                    % (name, sg, groups[sg].get("VpcId"), d["vswitch_id"], vsw["VpcId"],
                                       vsw["VpcId"]))
            if d["private_ip"]:
                reason = reserved_reason(d["private_ip"], vsw["CidrBlock"])
                if reason:
                    problems.append("%s: private_ip %s %s; pick another private_ip" % (name, d["private_ip"], reason))
            if d["ipam_pool"]:
                try:
                    pool = self.nodes.pool(d["ipam_pool"], "ipam_pool")
                    problems.extend("%s: %s (vswitch_id %s)" % (name, why, d["vswitch_id"])
                                    for why in vswitch_problems(pool, vsw["CidrBlock"]))
                except IpamError as exc:
                    problems.append("%s: %s" % (name, exc))
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

    # ------------------------------------------------------------------ node addresses (IPAM)

    def where(self, n, key):
        return "instances[%d].%s" % (n, key) if self.params.get("instances") is not None else key

    def propose_addresses(self, missing):
        """The IPAM's address for each new instance that names a pool, allocated by nodes.commit() before
        the first RunInstances (so a creation that fails half-way keeps its addresses for the next run)."""
        problems = []
        for d in missing:
            if d["ipam_pool"]:
                try:
                    d["private_ip"] = self.nodes.propose(d["ipam_pool"], d["name"], d["name"])
                except IpamError as exc:
                    problems.append("%s: %s" % (d["name"], exc))
        ips = [d["private_ip"] for d in missing if d["private_ip"]]
        problems.extend("%s: the IPAM gives %s, which another instance of the task asks for as its private_ip; "
                        "reserve it in pool %s" % (d["name"], d["private_ip"], d["ipam_pool"])
                        for d in missing if d["ipam_pool"] and ips.count(d["private_ip"]) > 1)
        if problems:
            raise Failure("nothing was created: " + "; ".join(problems))

    def existing_addresses(self):
        """An existing instance keeps its address; warn_drift() says when its owner's address is another one."""
        for n, d in enumerate(self.desired):
            inst = self.current.get(d["name"])
            if not (self.nodes and d["ipam_pool"] and inst):
                continue
            d["private_ip"] = self.nodes.current(d["ipam_pool"], d["name"], self.where(n, "name"))
            if d["private_ip"] is None:
                self.warn("%s (%s) has private_ip %s, and pool %s has no address allocated to its owner %s; the "
                          "instance is left as it is. To bring its address into the IPAM, allocate it to that owner "
                          "with containerops.platform.ipam_address (ip: %s)"
                          % (d["name"], inst["InstanceId"], private_ip(inst), d["ipam_pool"],
                             self.nodes.owner(d["name"], d["name"]), private_ip(inst)))

    def bind_addresses(self):
        """Record each instance (its id) as the holder of its owner's address."""
        for n, d in enumerate(self.desired):
            inst = self.current.get(d["name"])
            if self.nodes and d["ipam_pool"] and inst and d["private_ip"] and private_ip(inst) == d["private_ip"]:
                self.nodes.bind(d["ipam_pool"], d["name"], d["private_ip"], inst["InstanceId"], self.where(n, "name"))

    def release_addresses(self, by_name):
        """The addresses of deleted instances go into hold-down, once the instances are gone."""
        for n, d in enumerate(self.desired if self.nodes else ()):
            if not d["ipam_pool"]:
                continue
            if by_name.get(d["name"]) and not self.check and not self.params["wait"]:
                self.warn("%s: deleted with wait: false, so its address in pool %s is not released yet; a run with "
                          "state: absent releases it once the instance is gone" % (d["name"], d["ipam_pool"]))
                continue
            self.nodes.release(d["ipam_pool"], d["name"], self.where(n, "name"))

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
        self.changed.update(n for n, _inst in insts.values())
        if self.check:
            self.current = dict((n, found[0]) for n, found in by_name.items() if found)
            return
        self.gone = dict((n, i["InstanceId"]) for iid, (n, i) in insts.items())
        ids = list(insts)
        names = dict((iid, n) for iid, (n, _inst) in insts.items())
        try:
            # Settle transitional ones first; deleting mid-transition is refused.
            if any(i["Status"] in SETTLES_TO for _name, i in insts.values()):
                last = self.client.wait_for(ids, STABLE, self.remaining(), names=names, absent_ok=True)
                insts = dict((iid, (names[iid], i)) for iid, i in last.items() if i is not None)
            running = [iid for iid, (_name, i) in insts.items() if i["Status"] == "Running"]
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
                self.warn("%s (%s) has %s %s, the task asks for %s; ecs_instance does not rebuild existing "
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
        """One entry per instance name whose before and after differ, as vsphere_vm's."""
        target = {"running": "Running", "stopped": "Stopped", "restarted": "Running"}.get(self.state)
        wanted_tags = dict((d["name"], d["tags"]) for d in self.desired)
        entries = []
        for row in self.results():
            if self.state == "absent" or (row["status"] == ABSENT and not self.check):
                after = {"state": "absent"}
            else:
                tags = row.get("tags") if row["status"] != ABSENT else wanted_tags[row["name"]] or {}
                after = {"state": "present", "status": target if self.check else row["status"],
                         "instance_id": row["instance_id"], "tags": tags}
            before = self.before.get(row["name"], {"state": "absent"})
            if before != after or row["name"] in self.changed:
                entries.append(diff_entry(row["name"], before, after))
        return entries


def _common_prefix(names):
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def _diff_view(inst):
    return {"state": "present", "status": inst.get("Status"), "instance_id": inst.get("InstanceId"),
            "tags": tags_to_dict(inst)}


def run_ecs_instance(params, check_mode=False, warn=None):
    """Entry point of the ecs_instance module: returns the result dict (diff included), raises ProvisionError."""
    task = Task(params, check_mode, warn or (lambda msg: None))
    try:
        client = build_client(params)
        runner = Runner(task, client)
    except (EcsConfigError, Failure) as exc:
        raise ProvisionError(str(exc), api_calls={})
    if not client.region:
        raise ProvisionError("no region: set region (or ALICLOUD_REGION, or region_id in the profile)", api_calls={})
    if client.verify is False:
        task.warn("validate_certs is false: the ECS endpoint's certificate is not checked, so anyone on the "
                  "path can read and change this traffic")
    try:
        runner.run()
    except (Failure, EcsError, EcsConfigError, IpamError) as exc:
        # What was created before the failure is part of the answer: changed, with the ids ECS returned.
        raise ProvisionError(str(exc), created=runner.created, changed=bool(runner.changed),
                             instances=runner.results(), api_calls=dict(runner.client.calls))
    result = dict(changed=bool(runner.changed), instances=runner.results(), created=runner.created,
                  changed_instances=[n for n in runner.names if n in runner.changed],
                  api_calls=dict(client.calls), diff=runner.diff())
    if runner.nodes:
        result.update(changed=result["changed"] or runner.nodes.changed, node_addresses=runner.nodes.result(),
                      diff=result["diff"] + runner.nodes.diff)
    return result
