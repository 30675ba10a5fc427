# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to vsphere_vm: which VM is who - IP claims and confirmed guest customization.

The Provisioner (_vsphere_provision.py) mixes this in. Two rules, so that neither a
race nor a failed guest can leave a wrong identity reported as fine:

* Every VM the module creates claims its static IPs in the clone spec (IP_CLAIM), so
  the claim exists the moment the VM does; settle() then lets exactly one claimant
  keep each name and each IP, the same one in every run.
* A VM's Linux prep counts only once the guest has been seen to take it (its IPs, else
  its host name, and no failure event from vCenter); the module then records it in
  CUSTOMIZED_ATTRIBUTE. Until then a re-run checks again, applies it again on a
  powered-off VM, or fails naming the VM and the fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import VSphereError
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_spec import (
    CUSTOMIZED_ATTRIBUTE,
    IP_CLAIM,
    claim_value,
    claimed_ips,
    customization_verdict,
    latest_event,
    moid_order,
    static_ips,
)

try:
    from pyVmomi import vim
except ImportError:  # reported by connect()
    pass


def _guest(details):
    """What the guest reports of itself (customization_verdict's ``guest``)."""
    ips = [details.get("guest.ipAddress")]
    for nic in details.get("guest.net") or []:
        ips.extend(getattr(nic, "ipAddress", None) or [])
    return {"ips": [ip for ip in ips if ip], "hostname": details.get("guest.hostName"),
            "pending": bool(details.get("config.tools.pendingCustomization"))}


class Identity:
    """The claim and customization phases of the Provisioner (uses its client, index, plans, results)."""

    def _plan_identity(self, plan, details, changes):
        """Is an existing VM the one the plan's static IPs and customization describe? Errors, if not.

        Sets plan.customize (apply Linux prep again: the VM is or will be off),
        plan.confirm (check the guest after this run's boot / wait) or plan.record_now
        (the guest already shows it: record that).
        """
        name, src = plan.name, plan.src
        ips = static_ips(plan.spec)
        recorded = claimed_ips(details["attributes"].get(IP_CLAIM)) or \
            claimed_ips((details.get("config.extraConfig") or {}).get(IP_CLAIM))
        if ips and recorded and recorded != ips:
            i = next((i for i, n in enumerate(plan.spec["networks"]) if n.get("ip") and n["ip"] not in recorded),
                     next(i for i, n in enumerate(plan.spec["networks"]) if n.get("ip")))
            return ["%s[%d].ip: VM '%s' owns %s (recorded as its %s when it was created), not %s; the module does "
                    "not change the IPs of an existing VM. Delete it (state: absent, force: true) and run again to "
                    "re-create it with the new address, or keep %s"
                    % (src["networks"], i, name, claim_value(recorded), IP_CLAIM, claim_value(ips),
                       claim_value(recorded))]
        if not plan.record:
            return []
        if details["attributes"].get(CUSTOMIZED_ATTRIBUTE) == plan.record:
            plan.status = "confirmed"
            return []
        power = details.get("runtime.powerState")
        if power == "poweredOn" and changes.get("power") != "off":
            event = latest_event(self._customization_events().get(details["moid"]))
            verdict, why = customization_verdict(plan.spec, _guest(details), event)
            if verdict == "failed":
                return ["%s: VM '%s' runs without the guest customization it needs (%s): %s. Customization only "
                        "runs when a powered-off VM boots: run with state: poweredoff, then with state: poweredon "
                        "to apply it again; or delete the VM (state: absent, force: true) and run again to "
                        "re-create it" % (src["name"], name, plan.record, why)]
            if verdict == "confirmed":
                plan.record_now = True
            else:
                plan.confirm = True
            plan.status = "confirmed" if verdict == "confirmed" else "pending"
            return []
        if power not in ("poweredOn", "poweredOff"):
            return ["%s: VM '%s' is %s and its guest customization (%s) is not confirmed; power it off in vCenter "
                    "and run again to apply it" % (src["name"], name, power, plan.record)]
        if ips and not recorded:
            return ["%s: VM '%s' was not created by this module with a static ip, so %s is not recorded as its "
                    "address. Delete it (state: absent, force: true) and run again to re-create it, or run it "
                    "powered on with that address in the guest so the module can confirm it"
                    % (src["networks"], name, claim_value(ips))]
        # Off (or about to be): Linux prep runs at its next boot. A customization still
        # pending from an earlier run is that same identity (the IPs cannot change).
        plan.customize = not details.get("config.tools.pendingCustomization")
        plan.confirm = True
        return []

    def _customization_events(self):
        if self._events is None:
            self._events = self.client.customization_events(self.index.ref)
        return self._events

    def settle(self, cloned, duplicates):
        """After the clones: which VM each new name and each static IP belongs to, when runs race.

        Two runs can pass resolve() at once. Every VM this module creates carries its IP
        claim in extraConfig from the moment it exists, so after the clones one retrieval
        shows every competitor, and each run picks the same winner: the VM vCenter
        registered first (the lowest vm-N - a VM one run saw in this retrieval was
        registered before any it did not see). A losing VM was never powered on nor
        customized; its run removes it and fails for it - or, for the same name in the
        same folder, uses the winner instead, as a re-run would. Returns the plans whose
        new VM won.
        """
        if not cloned and not duplicates:
            return cloned
        paths = ["name", "parent", "config.template", "guest.ipAddress", "customValue"]
        if any(static_ips(p.spec) for p in cloned + duplicates):
            paths.append("config.extraConfig")
        rows = [r for r in self.client.retrieve_views([self.index.ref], {vim.VirtualMachine: paths}, plain=True)
                if not r.get("config.template")]
        adopted, lost = {}, {}
        for plan in cloned + duplicates:
            mine = self.results[plan.name].get("moid")
            same = sorted((r for r in rows if r.get("name") == plan.name and r.get("parent") == plan.folder_moid),
                          key=lambda r: moid_order(r["moid"]))
            if not same:
                lost[plan.name] = ("%s: vCenter refused to clone VM '%s' (DuplicateName), but no VM of that name "
                                   "is in its folder now; run again" % (plan.src["name"], plan.name))
            elif same[0]["moid"] != mine:
                adopted[plan.name] = same[0]
        for plan in cloned:
            if plan.name not in adopted:
                why = self._lost_ip(plan, rows)
                if why:
                    lost[plan.name] = why
        self._remove_own([p for p in cloned if p.name in adopted or p.name in lost], lost)
        for plan in cloned + duplicates:
            if plan.name in lost:
                plan.action = "lost"
                self.failures.setdefault(plan.name, lost[plan.name])
                self.results[plan.name].update(created=False, changed=False, moid=None)
            elif plan.name in adopted:
                self._adopt(plan, adopted[plan.name])
        return [p for p in cloned if p.action == "create"]

    def _lost_ip(self, plan, rows):
        """Why the plan's new VM may not keep one of its static IPs, or None."""
        mine = self.results[plan.name]["moid"]
        for i, net in enumerate(plan.spec.get("networks") or []):
            if not net.get("ip"):
                continue
            holders = sorted(((r, how) for r in rows for ip, how in self.index.claims_of(r) if ip == net["ip"]),
                             key=lambda held: moid_order(held[0]["moid"]))
            if holders and holders[0][0]["moid"] != mine:
                winner, how = holders[0]
                return ("%s[%d].ip: %s was taken at the same time by VM '%s' (%s, its %s); this run removed its new "
                        "VM '%s' again. Choose a free address" % (plan.src["networks"], i, net["ip"],
                                                                  winner["name"], winner["moid"], how, plan.name))
        return None

    def _remove_own(self, plans, lost):
        """Destroy VMs this run created and lost (never powered on); say so when that fails."""
        done, errors = self._run(dict((p.name, (self._vm(p).Destroy_Task, (), {})) for p in plans))
        for name in done:
            self.created.remove(name)
        for name, error in errors.items():
            lost[name] = "%s; removing VM '%s' (%s) failed too (%s): delete it by hand" % (
                lost.get(name, "VM '%s' was created at the same time by another run" % name), name,
                self.results[name]["moid"], error)

    def _adopt(self, plan, row):
        """Use the VM another run created under this name at the same time (as a re-run would)."""
        plan.action, plan.existing = "adopted", row
        self.results[plan.name].update(created=False, changed=False, moid=row["moid"])
        ips, held = static_ips(plan.spec), claimed_ips((row.get("config.extraConfig") or {}).get(IP_CLAIM))
        if ips != held:
            self.failures[plan.name] = (
                "%s: VM '%s' was created at the same time by another run, with ip %s, not %s; run again once "
                "that run is done" % (plan.src["name"], plan.name, claim_value(held) or "none",
                                      claim_value(ips) or "none"))
            plan.action = "lost"
            return
        plan.confirm = bool(plan.record)
        self.warn("VM %s was being created at the same time by another run (%s); this run left it to that one"
                  % (plan.name, row["moid"]))

    def confirm(self, since, missing):
        """Record, per VM, that its guest took the customization - or fail for it, saying why.

        ``since``: vCenter's time before this run's power-ons (older customization events
        are about an earlier boot); ``missing``: VMs without their IP in time. The others'
        results are recorded before the task fails for these.
        """
        todo = [p for p in self.plans if (p.confirm or p.record_now) and p.action != "lost"]
        details = self._details(sorted(set(self._vm(p)._moId for p in todo)))
        events = self.client.customization_events(self.index.ref) if any(p.confirm for p in todo) else {}
        values, reasons = {}, {}
        for plan in todo:
            name, moid = plan.name, self._vm(plan)._moId
            current = details.get(moid, {})
            if plan.confirm:
                booted_now = plan.action in ("create", "update")
                event = latest_event(events.get(moid), since if booted_now else None)
                verdict, why = customization_verdict(plan.spec, _guest(current), event)
                if current.get("runtime.powerState") != "poweredOn" or verdict == "unknown":
                    reasons[name] = why
                    if plan.action == "none" and not self.wait_for_ip:
                        self.warn("VM %s: its guest customization (%s) is not confirmed yet: %s; run with "
                                  "wait_for_ip: true to wait for it" % (name, plan.record, why))
                    continue
                if verdict == "failed":
                    reasons[name] = why
                    self.failures[name] = (
                        "%s: the guest customization of VM '%s' (%s) failed: %s. Fix the template (VMware Tools; "
                        "Perl for Linux prep) or the network options, then run with state: poweredoff and again "
                        "with state: poweredon to apply it again" % (plan.src["name"], name, plan.record, why))
                    continue
            plan.status = "confirmed"
            values[name] = {CUSTOMIZED_ATTRIBUTE: plan.record}
            if static_ips(plan.spec) and not current.get("attributes", {}).get(IP_CLAIM):
                values[name][IP_CLAIM] = claim_value(static_ips(plan.spec))
        self._set_fields(values)

        def described(name):
            notes = [note for note in (self.expected.get(name) and "expected %s" % self.expected[name],
                                       reasons.get(name)) if note]
            return "%s (%s)" % (name, "; ".join(notes)) if notes else name

        problems = []
        if missing:
            problems.append("wait_timeout: no guest IP address within %s s for %d VM(s): %s. The VMs are powered on; "
                            "check VMware Tools and the guest network, or raise wait_timeout"
                            % (self.wait_timeout, len(missing), ", ".join(described(n) for n in missing)))
        problems.extend(why for name, why in sorted(self.failures.items()) if name not in missing)
        if problems:
            self.report()
            raise VSphereError("; ".join(problems), created=self.created, deleted=self.deleted,
                               instances=self._result_list())
