# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the vSphere files: start many vCenter tasks at once, wait for them together.

Tasks are started concurrently (a small thread pool: each vCenter call has latency, the
tasks themselves run in vCenter) and waited for together with ONE WaitForUpdatesEx loop
on a private PropertyCollector, never polled one by one; guest IPs are awaited the same
way. Every wait has a deadline, and the caller learns which tasks were still running.
Starting a task is never retried (a retry could clone twice); waits are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import fault_message, with_retries

try:
    from pyVmomi import vim, vmodl
except ImportError:  # reported by connect()
    pass


# Guest customization events, as pyVmomi names their classes (vim.event.<name>).
CUSTOMIZATION_EVENTS = ("CustomizationStartedEvent", "CustomizationSucceeded", "CustomizationFailed",
                        "CustomizationLinuxIdentityFailed", "CustomizationNetworkSetupFailed",
                        "CustomizationSysprepFailed", "CustomizationUnknownFailure")


class _WaitTimeout(Exception):
    pass


class _Change:
    def __init__(self, name, val):
        self.name, self.val = name, val


class Waits:
    """Task and guest waits of Client (needs its ``si``, ``content`` and ``_collector``)."""

    def start(self, calls, workers=32):
        """Run many task-starting calls concurrently.

        ``calls``: {key: (fn, args, kwargs)}. Returns ({key: task}, {key: error message}).
        Not retried: a retry could clone twice.
        """
        started, failed = {}, {}
        if not calls:
            return started, failed

        def one(item):
            key, (fn, args, kwargs) = item
            try:
                return key, fn(*args, **kwargs), None
            except vmodl.MethodFault as exc:
                return key, None, fault_message(exc)
            except Exception as exc:  # noqa: BLE001 - transport errors are reported per VM
                return key, None, "%s: %s" % (type(exc).__name__, exc)

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(calls)))) as pool:
            for key, task, error in pool.map(one, calls.items()):
                if error is None:
                    started[key] = task
                else:
                    failed[key] = error
        return started, failed

    def run_tasks(self, calls, timeout, workers=32, faults=None, option=None):
        """start() then wait_for_tasks(); returns ({key: result}, {key: error message})."""
        tasks, failed = self.start(calls, workers=workers)
        done, errors = self.wait_for_tasks(tasks, timeout, faults=faults, option=option)
        errors.update(failed)
        return done, errors

    def wait_for_tasks(self, tasks, timeout, faults=None, option=None):
        """Wait for MANY tasks with one WaitForUpdatesEx loop on info.state of all of them.

        ``tasks``: {key: vim.Task}; ``timeout``: seconds for all of them together. Returns
        ({key: info.result}, {key: error message}); a task still queued or running at the
        deadline is an error that names the task (it may yet finish in vCenter) and ``option``,
        the user's setting of the timeout. ``faults``, when given, receives {key: the vSphere
        fault} of the tasks that failed.
        """
        if not tasks:
            return {}, {}
        by_moid = dict((t._moId, key) for key, t in tasks.items())
        state = dict((m, {}) for m in by_moid)

        def absorb(object_id, change):
            state[object_id][change.name] = change.val

        def finished():
            return all(s.get("info.state") in ("success", "error") for s in state.values())

        try:
            self._watch(list(tasks.values()), vim.Task, ["info.state", "info.error", "info.result"],
                        absorb, finished, timeout, "tasks")
        except _WaitTimeout:
            pass  # the unfinished ones are reported below
        done, errors = {}, {}
        for object_id, key in by_moid.items():
            s = state[object_id]
            if s.get("info.state") == "success":
                done[key] = s.get("info.result")
            elif s.get("info.state") == "error":
                err = s.get("info.error")
                # pyVmomi unwraps the LocalizedMethodFault: info.error is the fault itself.
                fault = err if isinstance(err, vmodl.MethodFault) else getattr(err, "fault", None)
                errors[key] = fault_message(fault) if fault is not None \
                    else (getattr(err, "localizedMessage", None) or "task failed")
                if faults is not None and fault is not None:
                    faults[key] = fault
            else:
                errors[key] = "vCenter task %s still %s after %s s%s; it may yet finish there" % (
                    object_id, s.get("info.state") or "queued", timeout, " (%s)" % option if option else "")
        return done, errors

    def server_time(self):
        """vCenter's clock (events carry its timestamps, not ours)."""
        return with_retries(self.si.CurrentTime)

    def customization_events(self, datacenter):
        """{VM moid: [guest customization events, oldest first]} of a datacenter, in ONE QueryEvents.

        vCenter posts CustomizationStartedEvent, CustomizationSucceeded or a failure when the
        guest reports. Each event is {'type', 'message', 'time'}. A server without an
        event history gives {}.
        """
        E = vim.event.EventFilterSpec
        spec = E(entity=E.ByEntity(entity=datacenter, recursion="all"), eventTypeId=list(CUSTOMIZATION_EVENTS))
        try:
            events = with_retries(self.content.eventManager.QueryEvents, spec)
        except (vmodl.fault.NotSupported, vmodl.fault.NotImplemented):
            return {}
        by_vm = {}
        for event in sorted(events or [], key=lambda e: (e.createdTime, e.key)):
            vm = getattr(getattr(event, "vm", None), "vm", None)
            if vm is not None:
                message = getattr(event, "fullFormattedMessage", None) or getattr(event, "reason", None) or ""
                by_vm.setdefault(vm._moId, []).append({"type": type(event).__name__.rpartition(".")[2],
                                                       "message": message, "time": event.createdTime})
        return by_vm

    def wait_for_ips(self, vms, timeout, expected=None):
        """Wait until every VM reports guest.ipAddress (the expected one, if given).

        ``vms``: {key: vim.VirtualMachine}; ``expected``: {key: ip or None}.
        One WaitForUpdatesEx loop for all VMs. Returns ({key: ip}, [keys without one]).
        """
        if not vms:
            return {}, []
        expected = expected or {}
        by_moid = dict((vm._moId, key) for key, vm in vms.items())
        ips = dict((m, None) for m in by_moid)

        def good(object_id):
            ip, want = ips[object_id], expected.get(by_moid[object_id])
            return bool(ip) and (want is None or ip == want)

        def absorb(object_id, change):
            ips[object_id] = change.val

        def finished():
            return all(good(m) for m in ips)

        try:
            self._watch(list(vms.values()), vim.VirtualMachine, ["guest.ipAddress"],
                        absorb, finished, timeout, "guest IPs")
        except _WaitTimeout:
            pass
        got = dict((by_moid[m], ips[m]) for m in ips if good(m))
        missing = sorted(by_moid[m] for m in ips if not good(m))
        return got, missing

    def _wait_collector(self):
        """A private PropertyCollector for waits (created once per session): the session's
        default collector may carry other filters, whose updates would wake us for nothing."""
        if self._collector is None:
            self._collector = with_retries(self.content.propertyCollector.CreatePropertyCollector)
        return self._collector

    def _watch(self, refs, vimtype, paths, absorb, finished, timeout, what):
        """The WaitForUpdatesEx loop: feed every change to absorb() until finished() or the deadline."""
        P = vmodl.query.PropertyCollector
        collector = self._wait_collector()
        deadline = time.monotonic() + timeout
        spec = P.FilterSpec(objectSet=[P.ObjectSpec(obj=r) for r in refs],
                            propSet=[P.PropertySpec(type=vimtype, pathSet=paths)])
        property_filter = collector.CreateFilter(spec, True)
        try:
            version = ""
            while True:
                remaining = deadline - time.monotonic()
                if version and finished():
                    return
                if remaining <= 0:
                    raise _WaitTimeout("timed out waiting for %s" % what)
                wait = max(1, min(60, int(remaining + 0.999)))
                update = with_retries(collector.WaitForUpdatesEx, version,
                                      P.WaitOptions(maxWaitSeconds=wait))
                if update is None:  # maxWaitSeconds passed without a change
                    version = version or "-"
                    continue
                version = update.version
                for filter_update in update.filterSet or []:
                    if filter_update.filter != property_filter:
                        continue  # an earlier wait's filter on the reused collector
                    for obj_update in filter_update.objectSet or []:
                        object_id = obj_update.obj._moId
                        if obj_update.kind == "leave":
                            absorb(object_id, _Change(paths[0], "gone"))
                            continue
                        for change in obj_update.changeSet or []:
                            absorb(object_id, change)
        finally:
            try:
                property_filter.DestroyPropertyFilter()
            except Exception:  # noqa: BLE001 - best effort; the session's end removes it too
                pass
