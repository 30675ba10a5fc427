# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fencing a lost machine through its cloud's API (modules vsphere_vm_fence, ecs_instance_fence).

A fenced machine cannot run anything any more: powered off hard, or proven gone. Failover moves a
fixed address to another node only after its old holder is fenced, so one address never has two
machines answering for it. Fencing never creates, never starts and never deletes anything, and a
machine is reported fenced only once the cloud itself says it is off or does not exist.

Both return one shape: {changed, fenced, how, name, id, power_state_before, power_state, diff};
``how`` is ``powered_off`` (this call turned it off), ``was_off`` or ``gone``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.containerops.platform.plugins.module_utils._ecs_connection import EcsConfigError
from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    ABSENT,
    EcsError,
    build_client,
)
from ansible_collections.containerops.platform.plugins.module_utils.vsphere import VSphereError, connect

try:
    from pyVmomi import vim
except ImportError:  # reported by vsphere.connect()
    pass

# ECS statuses from which StopInstances(ForceStop) leads to Stopped; Stopping is only waited for.
ECS_STOPPABLE = ("Pending", "Starting", "Running")
GONE = "gone"


class FenceError(Exception):
    """The machine could not be fenced: the message says why and what to do; nothing moves on."""


def _result(name, machine_id, before, after, how, check_mode):
    changed = how == "powered_off"
    diff = {"before": {"name": name, "power_state": before}, "after": {"name": name, "power_state": after}}
    return dict(changed=changed, fenced=not (check_mode and changed), how=how, name=name, id=machine_id,
                power_state_before=before, power_state=after, diff=diff if changed else {})


def fence_vm(client, datacenter, name, timeout, check_mode=False):
    """Power the VM ``name`` of ``datacenter`` off hard (PowerOffVM_Task), unless it is off or gone."""
    dc = client.find_datacenter(datacenter)
    rows = client.retrieve_views([dc], {vim.VirtualMachine: ["name", "runtime.powerState", "config.template"]},
                                 plain=True)
    found = [r for r in rows if r.get("name") == name and not r.get("config.template")]
    if len(found) > 1:
        raise FenceError("name: %d VMs are called '%s' in datacenter %s (%s): fencing one of them could leave the "
                         "other running; rename one, then run again"
                         % (len(found), name, datacenter, ", ".join(r["moid"] for r in found)))
    if not found:
        return _result(name, None, None, None, "gone", check_mode)
    row = found[0]
    before = row.get("runtime.powerState")
    if before == "poweredOff":
        return _result(name, row["moid"], before, before, "was_off", check_mode)
    if check_mode:
        return _result(name, row["moid"], before, "poweredOff", "powered_off", check_mode)
    vm = client.obj(row["moid"])
    _done, errors = client.run_tasks({name: (vm.PowerOffVM_Task, (), {})}, timeout, option="timeout")
    after = client.retrieve_objects([vm], {vim.VirtualMachine: ["runtime.powerState"]})[0].get("runtime.powerState")
    if after != "poweredOff":
        # A power-off that failed because the VM went off meanwhile (InvalidPowerState) is a fence too.
        raise FenceError("VM %s (%s) is still %s after PowerOffVM_Task (%s): it is NOT fenced, so nothing may take "
                         "its addresses. Power it off in vCenter, or raise timeout, then run again"
                         % (name, row["moid"], after, errors.get(name, "no error reported")))
    return _result(name, row["moid"], before, after, "powered_off", check_mode)


def fence_instance(client, region, name, instance_id, timeout, check_mode=False):
    """Stop the ECS instance hard (StopInstances with ForceStop), unless it is stopped or gone.

    By ID when given (the name must then match), else by name: DescribeInstances lists a new
    instance only after a lag, so a name that is not listed is not proof that it is gone; an ID
    that ECS itself says does not exist is.
    """
    if instance_id:
        inst = client.describe_instances_by_ids([instance_id], region).get(instance_id)
        if inst is None and check_mode:    # not listed (yet): a real run would stop it by ID
            return _result(name, instance_id, None, "Stopped", "powered_off", check_mode)
        if inst is None:    # not listed: too new to be, or gone; the stop by ID tells
            return _stop_until_listed_stopped(client, region, instance_id, name, None, timeout)
    else:
        named = client.describe_instances(region, InstanceName=name)
        named = [i for i in named if i.get("InstanceName") == name]
        if len(named) > 1:
            raise FenceError("name: %d instances are called '%s' in %s (%s): give instance_id"
                             % (len(named), name, region, ", ".join(i["InstanceId"] for i in named)))
        if not named:
            raise FenceError("name: no instance called '%s' is listed in %s. The listing lags new instances, so "
                             "that does not prove it is gone: give its instance_id" % (name, region))
        inst = named[0]
    iid, before = inst["InstanceId"], inst.get("Status")
    if name and inst.get("InstanceName") not in (None, name):
        raise FenceError("instance_id: %s is '%s', not '%s': check which machine you mean to fence"
                         % (iid, inst.get("InstanceName"), name))
    if before == "Stopped":
        return _result(name, iid, before, before, "was_off", check_mode)
    if check_mode:
        return _result(name, iid, before, "Stopped", "powered_off", check_mode)
    return _stop_until_listed_stopped(client, region, iid, name, before, timeout)


def _stop_until_listed_stopped(client, region, iid, name, before, timeout):
    """Stop (again, while ECS refuses a stop of a starting instance) until the listing says Stopped.

    An instance that is not listed is either too new to be listed (then the stop by ID works) or
    deleted meanwhile (then ECS answers the stop with NotFound: gone)."""
    deadline = time.monotonic() + timeout
    delay, stopped_at, now_status = 0.5, None, before
    while True:
        if now_status == "Stopped":
            return _result(name, iid, before, "Stopped", "powered_off", False)
        unlisted = now_status in (None, ABSENT)
        if unlisted or (now_status in ECS_STOPPABLE and (stopped_at is None or time.monotonic() - stopped_at > 10)):
            code = _stop(client, region, iid, name)
            if code == GONE:
                return _result(name, iid, before, None, "gone", False)
            stopped_at = time.monotonic() if code == "200" else stopped_at
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FenceError("%s (%s) is still %s after %d s of StopInstances (ForceStop): it is NOT fenced, so "
                             "nothing may take its addresses. Stop it in the console, or raise timeout, then run "
                             "again" % (name, iid, now_status or "not listed", timeout))
        client.sleep(min(remaining, delay * client.rng.uniform(0.8, 1.2)))
        delay = min(5.0, delay * 1.5)
        now_status = (client.describe_instances_by_ids([iid], region).get(iid) or {}).get("Status", ABSENT)


def _stop(client, region, iid, name):
    """StopInstances with ForceStop (a hard stop, like pulling the plug); GONE when ECS does not know the ID.

    SuccessFirst answers per instance: IncorrectInstanceStatus means it is stopping or stopped
    already, which the caller then waits for."""
    try:
        row = client.power("StopInstances", [iid], region, ForceStop=True).get(iid, {})
    except EcsError as exc:
        row = {"Code": exc.code, "Message": exc.describe()}
    code = str(row.get("Code", "200"))
    if code in ("InvalidInstanceId.NotFound", "InvalidInstanceId.NotExist"):
        return GONE
    if code not in ("200", "IncorrectInstanceStatus"):
        raise FenceError("StopInstances for %s (%s) failed: %s %s. It is NOT fenced, so nothing may take its "
                         "addresses; run again, or stop it in the console" % (name, iid, code, row.get("Message", "")))
    return code


def exit_with_fence(module, entry):
    """The modules' whole run: entry(params, check_mode) -> exit_json, or fail_json saying it is not fenced."""
    try:
        result = entry(module.params, check_mode=module.check_mode)
    except FenceError as exc:
        module.fail_json(msg=str(exc), fenced=False, changed=False)
    diff = result.pop("diff")
    if module._diff and diff:
        result["diff"] = diff
    module.exit_json(**result)


def run_vm_fence(params, check_mode=False):
    """Entry point of vsphere_vm_fence: the result, or FenceError."""
    try:
        client = connect(params["hostname"], params["username"], params["password"], port=params["port"],
                         validate_certs=params["validate_certs"])
    except VSphereError as exc:
        raise FenceError("%s. The VM is NOT fenced" % exc.msg)
    try:
        return fence_vm(client, params["datacenter"], params["name"], params["timeout"], check_mode)
    except VSphereError as exc:
        raise FenceError("%s. The VM is NOT fenced" % exc.msg)
    finally:
        client.close()


def run_instance_fence(params, check_mode=False, client=None):
    """Entry point of ecs_instance_fence: (the result, the API calls made), or FenceError."""
    try:
        client = client or build_client(params)
    except EcsConfigError as exc:
        raise FenceError("%s. The instance is NOT fenced" % exc)
    if not client.region:
        raise FenceError("region: no region given (or ALICLOUD_REGION, or region_id in the profile)")
    try:
        result = fence_instance(client, client.region, params["name"], params["instance_id"], params["timeout"],
                                check_mode)
    except EcsError as exc:
        raise FenceError("%s. The instance is NOT fenced" % exc.describe())
    return dict(result, api_calls=dict(client.calls))
