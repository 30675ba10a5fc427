# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the ecs_private_ip module: secondary private IPs of an ECS network interface (ENI).

run_ecs_private_ip() is the module's one entry point. Eni wraps the three ENI calls on top of
ecs.py's client (signing, retries with jitter and budget): DescribeNetworkInterfaces with
NextToken paging, AssignPrivateIpAddresses, UnassignPrivateIpAddresses, and the polls that
follow them, since listings show a change some seconds after the call that made it. Change is
one task: read the ENI, check what would be assigned, then assign or unassign only the
difference and wait until the listing agrees.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re
import time
import uuid

from ansible_collections.containerops.platform.plugins.module_utils._provisioning import ProvisionError, diff_entry
from ansible_collections.containerops.platform.plugins.module_utils.ecs import (
    PAGE_SIZE,
    EcsConfigError,
    EcsError,
    build_client,
    chunks,
    client_token,
    reserved_reason,
)

ASSIGN = "AssignPrivateIpAddresses"
UNASSIGN = "UnassignPrivateIpAddresses"

# An ENI busy with an earlier request: retried with the client's policy. Terway retries
# Operation.Conflict, Terraform OperationConflict and InvalidEniState (network.md section 1).
BUSY_CODES = frozenset(["Operation.Conflict", "OperationConflict", "InvalidOperation.InvalidEniState"])
HELD_CODES = ("InvalidIp.IpAssigned", "InvalidPrivateIpAddress.Duplicated")
QUOTA_CODES = ("QuotaExceeded.PrivateIpAddress", "InvalidOperation.Ipv4CountExceeded")
FILTER_IPS_PER_CALL = 100  # PrivateIpAddress.N of DescribeNetworkInterfaces
UNASSIGN_PER_CALL = 32     # PrivateIpAddress.N of UnassignPrivateIpAddresses

# ECS messages name the address they refuse as "PrivateIpAddress: 10.0.0.5" (the emulator does too).
_NAMED_IP = re.compile(r"PrivateIpAddress:\s*(\d{1,3}(?:\.\d{1,3}){3})")


class Failure(Exception):
    """The task cannot be done; the message names the parameter or address and what to do."""


def ip_key(ip):
    return int(ipaddress.IPv4Address(ip))


def secondary_ips(eni):
    """The ENI's secondary private IPs, as listed, in address order."""
    sets = ((eni or {}).get("PrivateIpSets") or {}).get("PrivateIpSet") or []
    return sorted((s["PrivateIpAddress"] for s in sets if not s.get("Primary")), key=ip_key)


def listed_ips(eni):
    sets = ((eni or {}).get("PrivateIpSets") or {}).get("PrivateIpSet") or []
    return dict((s["PrivateIpAddress"], bool(s.get("Primary"))) for s in sets)


def check_task(params):
    """The task's addresses in the order given, or Failure before any API call."""
    targets = [name for name in ("instance_id", "network_interface_id") if params.get(name)]
    if len(targets) != 1:
        raise Failure("give exactly one of instance_id (its primary network interface) and network_interface_id")
    ips = params.get("private_ips")
    if not ips:
        raise Failure("private_ips is empty: list at least one address (the interface's other secondary IPs are "
                      "never touched)")
    seen, problems = set(), []
    for value in ips:
        try:
            ip = str(ipaddress.IPv4Address(str(value)))
        except ValueError:
            problems.append("%r is not an IPv4 address (write four numbers 0-255, e.g. 10.88.16.50)" % (value,))
            continue
        if ip in seen:
            problems.append("%s is listed twice: give each address once" % ip)
        seen.add(ip)
    if problems:
        raise Failure("private_ips: " + "; ".join(problems))
    if params.get("state", "present") not in ("present", "absent"):
        raise Failure("state must be present or absent")
    if int(params.get("wait_timeout") or 0) < 1:
        raise Failure("wait_timeout must be at least 1 (seconds)")
    return [str(ipaddress.IPv4Address(str(v))) for v in ips]


class Eni:
    """The ENI calls and polls, on an ecs.EcsClient."""

    def __init__(self, client, initial=1.0, factor=1.5, cap=10.0):
        self.client = client
        self.initial, self.factor, self.cap = initial, factor, cap

    def describe(self, **filters):
        """Every ENI matching the filters, paging with MaxResults / NextToken."""
        params = dict(filters, MaxResults=PAGE_SIZE)
        found = []
        while True:
            page = self.client.call("DescribeNetworkInterfaces", params)
            found.extend((page.get("NetworkInterfaceSets") or {}).get("NetworkInterfaceSet") or [])
            token = page.get("NextToken")
            if not token:
                return found
            params["NextToken"] = token

    def find(self, instance_id=None, eni_id=None):
        """The instance's primary ENI, or the ENI with that id; None when none is listed."""
        if eni_id:
            rows = self.describe(NetworkInterfaceId=[eni_id])
        else:
            rows = self.describe(InstanceId=instance_id, Type="Primary")
        return rows[0] if rows else None

    def holders(self, ips):
        """address -> the listed ENI that has it (as primary or secondary), for the ones listed."""
        held = {}
        for part in chunks(ips, FILTER_IPS_PER_CALL):
            for eni in self.describe(PrivateIpAddress=part):
                for ip in listed_ips(eni):
                    if ip in part:
                        held[ip] = eni
        return held

    def cidr(self, vswitch_id):
        rows = self.client.call("DescribeVSwitches", {"VSwitchId": vswitch_id}).get("VSwitches", {}).get("VSwitch", [])
        return rows[0]["CidrBlock"] if rows else None

    def secondary_quota(self, instance_id):
        """(instance type, EniPrivateIpAddressQuantity) of the instance, or None if it cannot be told."""
        try:
            insts = self.client.call("DescribeInstances", {"InstanceIds": json.dumps([instance_id])})
            itype = insts["Instances"]["Instance"][0]["InstanceType"]
            types = self.client.call("DescribeInstanceTypes", {"InstanceTypes": [itype]})
            return itype, int(types["InstanceTypes"]["InstanceType"][0]["EniPrivateIpAddressQuantity"])
        except (EcsError, KeyError, IndexError, TypeError, ValueError):
            return None

    def assign(self, eni_id, ips, token):
        body = self.client.call(ASSIGN, {"NetworkInterfaceId": eni_id, "PrivateIpAddress": list(ips),
                                         "ClientToken": token}, retry_codes=BUSY_CODES)
        got = (body.get("AssignedPrivateIpAddressesSet") or {}).get("PrivateIpSet") or {}
        return list(got.get("PrivateIpAddress") or ips)

    def unassign(self, eni_id, ips, done):
        """Take the addresses off, adding to `done` each one a call took off (so a failure still tells)."""
        for part in chunks(ips, UNASSIGN_PER_CALL):
            left = list(part)
            while left:
                try:
                    self.client.call(UNASSIGN, {"NetworkInterfaceId": eni_id, "PrivateIpAddress": left},
                                     retry_codes=BUSY_CODES)
                    done.extend(left)
                    break
                except EcsError as exc:
                    if exc.code == "InvalidEniId.NotFound":
                        return  # the ENI is gone, and its addresses with it
                    if exc.code != "InvalidIp.IpUnassigned":
                        raise
                    # All or nothing: one address already off (another run, a listing that lagged, or our
                    # own attempt whose answer was lost) refuses the whole call. Go on without it; one by
                    # one when ECS does not name it.
                    named = [ip for ip in _NAMED_IP.findall(exc.message or "") if ip in left]
                    named = named or (left if len(left) == 1 else [])
                    if not named:
                        for ip in left:
                            self.unassign(eni_id, [ip], done)
                        break
                    if exc.attempts > 1:
                        done.extend(named)  # off since this call's first attempt: most likely by it
                    left = [ip for ip in left if ip not in named]

    def poll(self, look, done, timeout):
        """look() until done(result) or timeout seconds passed; (last result, whether done)."""
        deadline = time.monotonic() + timeout
        delay = self.initial
        while True:
            result = look()
            if done(result):
                return result, True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return result, False
            self.client.sleep(min(remaining, delay * self.client.rng.uniform(0.8, 1.2)))
            delay = min(self.cap, delay * self.factor)


class Change:
    """One ecs_private_ip task on one ENI."""

    def __init__(self, params, ips, check_mode, client, eni=None):
        self.params = params
        self.ips = ips
        self.check = check_mode
        self.client = client
        self.eni = eni or Eni(client)
        self.present = params.get("state", "present") == "present"
        self.deadline = time.monotonic() + int(params["wait_timeout"])
        # Unique to this run: a retry within the run carries the same token and assigns once, while a
        # later run that gives an address back after an unassign is never answered from ECS's memory
        # of the earlier request. Runs that race are told apart by InvalidIp.IpAssigned (see assign).
        self.nonce = uuid.uuid4().hex
        self.current = None        # the ENI as last listed
        self.before = []
        self.after = []
        self.assigned = []
        self.unassigned = []

    @property
    def eni_id(self):
        return (self.current or {}).get("NetworkInterfaceId") or self.params.get("network_interface_id")

    @property
    def label(self):
        iid = (self.current or {}).get("InstanceId") or self.params.get("instance_id")
        return "%s (%s)" % (self.eni_id, iid) if iid and self.eni_id else (self.eni_id or iid)

    def remaining(self):
        return max(0.0, self.deadline - time.monotonic())

    # ------------------------------------------------------------------ main flow

    def run(self):
        self.current = self.eni.find(self.params.get("instance_id"), self.params.get("network_interface_id"))
        if self.current is None:
            if not self.present:
                return  # no interface, so none of the addresses is on it
            if self.params.get("instance_id"):
                raise Failure("instance_id %s has no primary network interface listed in region %s: check "
                              "instance_id and region (ECS lists a new instance some seconds after creating it: "
                              "create it with ecs_instance and wait: true first)"
                              % (self.params["instance_id"], self.client.region))
            raise Failure("network_interface_id %s is not listed in region %s: check network_interface_id and region"
                          % (self.params["network_interface_id"], self.client.region))
        self.before = secondary_ips(self.current)
        if self.present:
            todo = [ip for ip in self.ips if ip not in self.before]
            self.after = sorted(set(self.before) | set(self.ips), key=ip_key)
            if not todo:
                return
            todo = self.precheck(todo)
            if self.check:
                self.assigned = todo
            elif todo:
                self.assign(todo)
        else:
            todo = [ip for ip in self.ips if ip in self.before]
            self.after = [ip for ip in self.before if ip not in todo]
            if not todo:
                return
            if self.check:
                self.unassigned = todo
                return
            try:
                self.eni.unassign(self.eni_id, todo, self.unassigned)
            except EcsError as exc:
                raise Failure(self.explain(exc, todo))
            if self.params.get("wait"):
                self.wait(lambda eni: eni is None or not set(todo) & set(secondary_ips(eni)))

    def precheck(self, todo):
        """Refuse addresses outside the vSwitch or held by another ENI before anything changes; what is left to do."""
        cidr = self.eni.cidr(self.current["VSwitchId"])
        if cidr:
            bad = ["%s %s" % (ip, reserved_reason(ip, cidr)) for ip in todo if reserved_reason(ip, cidr)]
            if bad:
                raise Failure("private_ips: %s (vSwitch %s of %s); give addresses inside it. Nothing was assigned"
                              % ("; ".join(bad), self.current["VSwitchId"], self.label))
        held = self.eni.holders(todo)
        self.refuse_held_elsewhere(held)
        return [ip for ip in todo if ip not in held]  # listed on this ENI after all: the first listing lagged

    def refuse_held_elsewhere(self, held):
        theirs = sorted(((ip, eni) for ip, eni in held.items() if eni["NetworkInterfaceId"] != self.eni_id),
                        key=lambda pair: ip_key(pair[0]))
        if theirs:
            where = ["%s is the %s IP of %s%s" % (ip, "primary" if listed_ips(eni)[ip] else "secondary",
                                                  eni["NetworkInterfaceId"], " (instance %s)" % eni["InstanceId"]
                                                  if eni.get("InstanceId") else "") for ip, eni in theirs]
            raise Failure("private_ips: %s. Pick other addresses, or take them off there first (ecs_private_ip "
                          "state=absent on that interface).%s" % ("; ".join(where), self.done_so_far()))

    def assign(self, todo):
        """One AssignPrivateIpAddresses for what is missing; an address ECS says is taken is looked up."""
        while todo:
            token = client_token(self.client.region, {"NetworkInterfaceId": self.eni_id, "PrivateIpAddress": todo},
                                 salt=self.nonce)
            try:
                self.assigned.extend(self.eni.assign(self.eni_id, todo, token))
                break
            except EcsError as exc:
                if exc.code not in HELD_CODES:
                    raise Failure(self.explain(exc, todo))
                todo = self.taken(exc, todo)
        if self.params.get("wait"):
            self.wait(lambda eni: eni is not None and set(self.ips) <= set(secondary_ips(eni)))

    def taken(self, exc, todo):
        """ECS says an address is in use: by this ENI (another run was first, or a listing lagged), or not.

        Polls DescribeNetworkInterfaces until one of them shows up somewhere: on another ENI that is
        an error; on this one, the rest is asked for again. Each round settles at least one address.
        """
        candidates = [ip for ip in _NAMED_IP.findall(exc.message or "") if ip in todo] or todo
        held, found = self.eni.poll(lambda: self.eni.holders(candidates), bool, self.remaining())
        if not found:
            raise Failure("private_ips: ECS says %s is in use (%s), yet no network interface lists it within "
                          "wait_timeout (%ds); it may belong to an instance being deleted. Pick other addresses, or "
                          "run again later.%s" % (" or ".join(candidates), exc.code, self.params["wait_timeout"],
                                                  self.done_so_far()))
        self.refuse_held_elsewhere(held)
        return [ip for ip in todo if ip not in held]

    def explain(self, exc, todo):
        """The ECS error with what it means for this task and what to do."""
        code, vswitch = exc.code, self.current.get("VSwitchId")
        if code in QUOTA_CODES:
            hint = "private_ips: %s; %s has %d secondary IPs and this task asks for %d more. %s" % (
                self.quota_text(), self.label, len(self.before) + len(self.assigned), len(todo),
                "Ask for fewer, take some off (state=absent), or use an instance type with a larger quota")
        elif code == "InvalidVSwitchId.IpInvalid":
            named = _NAMED_IP.findall(exc.message or "") or todo
            hint = ("private_ips: %s is outside the CIDR %s of vSwitch %s or one of its reserved addresses (the first "
                    "and the last three); give addresses inside it"
                    % (", ".join(named), self.eni.cidr(vswitch), vswitch))
        elif code == "InvalidVSwitchId.IpNotEnough":
            hint = "vSwitch %s has no free addresses left: free some, or use another vSwitch" % vswitch
        elif code == "InvalidOperation.InvalidEcsState":
            hint = ("instance %s is neither Running nor Stopped, and only then do its interfaces take or give up "
                    "addresses: wait until it settles (ecs_instance with wait: true) and run again"
                    % self.current.get("InstanceId"))
        elif code == "InvalidEniId.NotFound":
            hint = "%s is gone (deleted meanwhile): check instance_id / network_interface_id" % self.label
        elif code in BUSY_CODES:
            hint = ("%s stayed busy with other requests through every retry: run again later, or run fewer tasks on "
                    "it at once" % self.label)
        else:
            hint = None
        return exc.describe(hint) + "." + self.done_so_far()

    def quota_text(self):
        iid = self.current.get("InstanceId")
        quota = self.eni.secondary_quota(iid) if iid else None
        if not quota:
            return "the instance type's EniPrivateIpAddressQuantity (DescribeInstanceTypes) bounds the interface"
        return ("instance type %s allows %d private IPs per network interface (EniPrivateIpAddressQuantity, the "
                "primary IP included), so %d secondary" % (quota[0], quota[1], quota[1] - 1))

    def done_so_far(self):
        if self.present:
            done, verb = self.assigned, "assigned"
        else:
            done, verb = self.unassigned, "taken off"
        return " %s before that: %s." % (verb.capitalize(), ", ".join(done)) if done else " Nothing was %s." % verb

    def wait(self, done):
        last, ok = self.eni.poll(lambda: self.eni.find(eni_id=self.eni_id), done, self.remaining())
        if last is not None:
            self.current = last
        if ok:
            self.after = secondary_ips(last)
            return
        if self.present:
            what = ("assigned %s to %s and ECS accepted that, but DescribeNetworkInterfaces did not list all of "
                    "private_ips on it" % (", ".join(self.assigned) or "nothing", self.label))
        else:
            what = "took %s off %s and ECS accepted that, but DescribeNetworkInterfaces still listed some" % (
                ", ".join(self.unassigned) or "nothing", self.label)
        raise Failure("%s within wait_timeout (%ds). Run again (nothing is done twice), or raise wait_timeout if ECS "
                      "is this slow" % (what, self.params["wait_timeout"]))

    # ------------------------------------------------------------------ results

    @property
    def changed(self):
        return bool(self.assigned or self.unassigned)

    def result(self):
        eni = self.current or {}
        return dict(network_interface_id=self.eni_id, mac_address=eni.get("MacAddress"),
                    instance_id=eni.get("InstanceId") or self.params.get("instance_id"), private_ips=self.after,
                    assigned=self.assigned, unassigned=self.unassigned, api_calls=dict(self.client.calls))

    def diff(self):
        if self.before == self.after or self.current is None:
            return []
        return [diff_entry(self.label, {"private_ips": self.before}, {"private_ips": self.after})]


def run_ecs_private_ip(params, check_mode=False, warn=None, client=None):
    """Entry point of the ecs_private_ip module: the result dict (diff included), or ProvisionError."""
    warn = warn or (lambda msg: None)
    try:
        ips = check_task(params)
        client = client or build_client(params)
    except (EcsConfigError, Failure) as exc:
        raise ProvisionError(str(exc), api_calls={})
    if not client.region:
        raise ProvisionError("no region: set region (or ALICLOUD_REGION, or region_id in the profile)", api_calls={})
    if client.verify is False:
        warn("validate_certs is false: the ECS endpoint's certificate is not checked, so anyone on the path can read "
             "and change this traffic")
    change = Change(params, ips, check_mode, client)
    try:
        change.run()
    except (Failure, EcsError, EcsConfigError) as exc:
        # What was assigned or taken off before the failure is part of the answer.
        raise ProvisionError(str(exc), changed=change.changed, **change.result())
    return dict(change.result(), changed=change.changed, diff=change.diff())


def run_ecs_eni_info(params, client=None):
    """Entry point of the ecs_eni_info module: the primary ENI of each instance as listed, or ProvisionError."""
    try:
        client = client or build_client(params)
    except EcsConfigError as exc:
        raise ProvisionError(str(exc), api_calls={})
    if not client.region:
        raise ProvisionError("no region: set region (or ALICLOUD_REGION, or region_id in the profile)", api_calls={})
    eni = Eni(client)
    interfaces, missing = [], []
    try:
        for instance_id in params["instance_ids"]:
            row = eni.find(instance_id)
            if row is None:
                missing.append(instance_id)
                continue
            primary = [ip for ip, is_primary in listed_ips(row).items() if is_primary]
            interfaces.append(dict(instance_id=instance_id, network_interface_id=row.get("NetworkInterfaceId"),
                                   mac_address=row.get("MacAddress"), vswitch_id=row.get("VSwitchId"),
                                   primary_ip=primary[0] if primary else row.get("PrivateIpAddress"),
                                   private_ips=secondary_ips(row)))
    except EcsError as exc:
        raise ProvisionError(str(exc), api_calls=dict(client.calls))
    return dict(changed=False, interfaces=interfaces, missing=missing, api_calls=dict(client.calls))
