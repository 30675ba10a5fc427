# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to vsphere_vm: what a VM should be, checked and compared without vCenter.

Option merging, input validation (every message names the parameter and the fix),
planning, the diff, the customization record and the IP claim. Nothing here talks
to vCenter; tests/unit exercises it directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import ipaddress
import json
import re

from ansible_collections.containerops.platform.plugins.module_utils.fleet import RUNNING, STOPPED

STATES = ["present", "poweredon", "poweredoff", "restarted", "absent"]
# ecs_instance's words for the same states (the fleet's power words, docs/fleet.md), accepted too.
SHARED_STATES = {RUNNING: "poweredon", STOPPED: "poweredoff"}
CUSTOMIZATION_METHODS = ["auto", "linux_prep", "none"]
TOP_LEVEL_DEFAULTS = {"state": "poweredon", "customization": "auto"}

# The IP claim: the static IPs a VM created by this module owns. Written into the
# clone spec's extraConfig (so it exists the moment the VM does, which is what makes
# concurrent runs safe) and mirrored into the custom attribute of the same name (cheap
# to read for every VM, shown in vCenter and by the inventory plugin).
IP_CLAIM = "containerops.ip"
# Custom attribute written once the module has seen the guest take its customization
# (see customization_record); without it a re-run does not take the VM's identity on trust.
CUSTOMIZED_ATTRIBUTE = "containerops.customized"

# vSphere 8 configuration maximums (the limits vCenter itself enforces, or the guest
# could never use); checked here so that a typo fails before anything is created.
MAX_CPUS = 768
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 24 * 1024 * 1024  # 24 TB
MAX_DISK_GB = 62 * 1024  # 62 TB, the largest VMDK
MAX_DISKS = 15  # new disks go on the first SCSI controller: 16 units, one is the controller
MAX_NICS = 10
MAX_TIMEOUT = 24 * 3600
MAX_NAME = 80
# VMware's range for manually assigned MACs (its generated ones live elsewhere).
MANUAL_MAC_FIRST, MANUAL_MAC_LAST = 0x005056000000, 0x0050563FFFFF

HOSTNAME_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
# extraConfig keys whose values are user data: never shown (diff, results, messages).
SECRET_KEY_RE = re.compile(r"^guestinfo\.(userdata|vendordata)(\.|$)")
HIDDEN = "(user data, not shown)"
HIDDEN_CHANGED = "(user data, not shown; changed)"


def vm_option_spec():
    """Per-VM options: usable at top level (defaults for all VMs) and inside each vms[] entry."""
    return dict(
        template=dict(type="str"),
        cluster=dict(type="str"),
        resource_pool=dict(type="str"),
        folder=dict(type="str"),
        datastore=dict(type="str"),
        cpus=dict(type="int"),
        memory_mb=dict(type="int"),
        disks=dict(type="list", elements="dict", options=dict(size_gb=dict(type="int", required=True))),
        networks=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            ip=dict(type="str"),
            netmask=dict(type="str"),
            prefix=dict(type="int"),
            gateway=dict(type="str"),
            dns_servers=dict(type="list", elements="str"),
            mac=dict(type="str"),
            ipam_pool=dict(type="str"),
        )),
        # Not "hostname": at the top level that is vCenter's address (the
        # connection option). Inside a vms[] entry "hostname" is an alias.
        guest_hostname=dict(type="str"),
        domain=dict(type="str"),
        dns_servers=dict(type="list", elements="str"),
        customization=dict(type="str", choices=CUSTOMIZATION_METHODS),
        user_data=dict(type="str", no_log=True),
        metadata=dict(type="raw"),
        extra_config=dict(type="dict"),
        attributes=dict(type="dict"),
        state=dict(type="str", choices=STATES + sorted(SHARED_STATES)),
    )


def merge_vm_specs(params):
    """One spec per VM: the vms[] entry's value, else the top-level value, else the default.

    Each spec remembers where every value came from (``src``) so that error
    messages name the exact parameter the user wrote (``vms[2].cpus`` or ``cpus``).
    """
    options = vm_option_spec()
    if params.get("vms"):
        entries = list(enumerate(params["vms"]))
    else:
        entries = [(None, {"name": params.get("name")})]
    specs = []
    for index, entry in entries:
        spec = {"name": entry.get("name"), "src": {}}
        spec["src"]["name"] = "name" if index is None else "vms[%s].name" % index
        for key in options:
            value = entry.get(key) if index is not None else None
            if value is not None:
                spec[key], spec["src"][key] = value, "vms[%s].%s" % (index, key)
            elif params.get(key) is not None:
                spec[key], spec["src"][key] = params[key], key
            else:
                spec[key], spec["src"][key] = TOP_LEVEL_DEFAULTS.get(key), key
        spec["state"] = SHARED_STATES.get(spec["state"], spec["state"])
        specs.append(spec)
    return specs


# ============================================================== validation


def _ip(value):
    try:
        return ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError):
        return None


def _unusable(address):
    """Why a VM cannot use this IPv4 address, or None."""
    for test, why in ((address.is_unspecified, "the unspecified address"), (address.is_loopback, "a loopback address"),
                      (address.is_multicast, "a multicast address"), (address.is_link_local, "a link-local address"),
                      (address.is_reserved, "a reserved address")):
        if test:
            return why
    return None


def network_interface(net):
    """IPv4Interface of a networks[] entry with ip + netmask/prefix, or None."""
    if not net.get("ip"):
        return None
    if net.get("prefix") is not None:
        return ipaddress.IPv4Interface("%s/%d" % (net["ip"], net["prefix"]))
    return ipaddress.IPv4Interface("%s/%s" % (net["ip"], net["netmask"]))


def validate_network(net, where):
    """Errors of one networks[] entry (no vCenter needed). ``where`` is e.g. 'vms[1].networks[0]'."""
    errors = []
    if not net.get("name"):
        errors.append("%s.name: the port group is required" % where)
    ip = net.get("ip")
    if ip is not None and net.get("ipam_pool"):
        errors.append("%s: set ip or ipam_pool, not both (ipam_pool takes the address from the IPAM)" % where)
        return errors
    if net.get("netmask") and net.get("prefix") is not None:
        errors.append("%s: set netmask or prefix, not both" % where)
    if net.get("netmask"):
        try:
            mask = ipaddress.IPv4Network("0.0.0.0/%s" % net["netmask"]).prefixlen
        except (ValueError, ipaddress.NetmaskValueError):
            errors.append("%s.netmask: '%s' is not a valid IPv4 netmask (e.g. 255.255.255.0, or use %s.prefix: 24)"
                          % (where, net["netmask"], where))
            return errors
        if mask == 0:
            errors.append("%s.netmask: %s covers every address; give the subnet's netmask (e.g. 255.255.255.0)"
                          % (where, net["netmask"]))
            return errors
    if net.get("prefix") is not None and not 1 <= net["prefix"] <= 32:
        errors.append("%s.prefix: %s is not between 1 and 32 (e.g. 24 for 255.255.255.0)" % (where, net["prefix"]))
        return errors
    if ip is not None:
        if _ip(ip) is None:
            hint = (" - write the prefix length in %s.prefix" % where) if "/" in str(ip) else ""
            errors.append("%s.ip: '%s' is not a valid IPv4 address%s" % (where, ip, hint))
            return errors
        if _unusable(_ip(ip)):
            errors.append("%s.ip: %s is %s, which a VM cannot use; give the VM's address in its subnet"
                          % (where, ip, _unusable(_ip(ip))))
            return errors
        if not net.get("netmask") and net.get("prefix") is None:
            errors.append("%s.ip: a static ip needs %s.netmask or %s.prefix" % (where, where, where))
            return errors
        iface = network_interface(net)
        subnet = iface.network
        edges = (subnet.network_address, subnet.broadcast_address) if subnet.prefixlen < 31 else ()
        if iface.ip in edges:
            errors.append("%s.ip: %s is the network or broadcast address of %s; choose a host address"
                          % (where, ip, subnet))
        gateway = net.get("gateway")
        if gateway is not None:
            if _ip(gateway) is None:
                errors.append("%s.gateway: '%s' is not a valid IPv4 address" % (where, gateway))
            elif _ip(gateway) not in subnet:
                errors.append("%s.gateway: %s is outside the subnet %s of ip %s; fix the gateway, "
                              "the ip or the netmask/prefix" % (where, gateway, subnet, ip))
            elif _ip(gateway) == iface.ip:
                errors.append("%s.ip: %s is the gateway address" % (where, ip))
            elif _ip(gateway) in edges:
                errors.append("%s.gateway: %s is the network or broadcast address of %s; give the router's address"
                              % (where, gateway, subnet))
    elif net.get("gateway") and not net.get("ipam_pool"):
        errors.append("%s.gateway: only meaningful with a static %s.ip or %s.ipam_pool" % (where, where, where))
    for dns in net.get("dns_servers") or []:
        if _ip(dns) is None:
            errors.append("%s.dns_servers: '%s' is not a valid IPv4 address" % (where, dns))
    mac = net.get("mac")
    if mac:
        if not MAC_RE.match(mac):
            errors.append("%s.mac: '%s' is not a MAC address like 00:50:56:01:02:03" % (where, mac))
        elif not MANUAL_MAC_FIRST <= int(mac.replace(":", ""), 16) <= MANUAL_MAC_LAST:
            errors.append("%s.mac: %s is outside VMware's range for manual MACs, 00:50:56:00:00:00 to "
                          "00:50:56:3f:ff:ff; choose one in it or leave mac unset" % (where, mac))
    return errors


def _scalar_problem(value):
    if isinstance(value, (dict, list, tuple, set)):
        return "a %s is not a string; give the value as a string (e.g. with | to_json)" % type(value).__name__
    return None


def _validate_name(spec):
    src, name = spec["src"]["name"], spec["name"]
    if not isinstance(name, str) or not name.strip():
        return ["%s: a VM name is required" % src]
    errors = []
    if name != name.strip():
        errors.append("%s: '%s' starts or ends with a space; remove it" % (src, name))
    if len(name) > MAX_NAME:
        errors.append("%s: '%s' is longer than the %d characters vSphere allows (%d)"
                      % (src, name, MAX_NAME, len(name)))
    bad = sorted(set(c for c in name if c in "/\\%" or ord(c) < 32))
    if bad:
        errors.append("%s: '%s' contains %s, which vCenter does not take literally in a VM name; use letters, "
                      "digits, '-', '_' or '.'" % (src, name.encode("unicode_escape").decode(),
                                                   " ".join(repr(c) for c in bad)))
    return errors


def _validate_hardware(spec):
    src, name = spec["src"], spec["name"]
    errors = []
    cpus, memory = spec.get("cpus"), spec.get("memory_mb")
    if cpus is not None and not 1 <= cpus <= MAX_CPUS:
        errors.append("%s: %s is not a valid CPU count for %s (1 to %d)" % (src["cpus"], cpus, name, MAX_CPUS))
    if memory is not None:
        if memory < 4:
            errors.append("%s: %s MB is too little memory for %s (at least 4)" % (src["memory_mb"], memory, name))
        elif memory < MIN_MEMORY_MB:
            errors.append("%s: %s MB for %s is too little to boot a guest; memory_mb is in MB (e.g. %d for %d GB)"
                          % (src["memory_mb"], memory, name, memory * 1024, memory))
        elif memory > MAX_MEMORY_MB:
            errors.append("%s: %s MB for %s is more than the %d MB (24 TB) a vSphere VM can have; memory_mb is in MB"
                          % (src["memory_mb"], memory, name, MAX_MEMORY_MB))
        elif memory % 4:
            errors.append("%s: %s MB for %s is not a multiple of 4 MB, which vSphere requires (e.g. %d)"
                          % (src["memory_mb"], memory, name, memory - memory % 4))
    disks = spec.get("disks") or []
    if len(disks) > MAX_DISKS:
        errors.append("%s: %d disks for %s; the module puts disks on the first SCSI controller, which takes %d"
                      % (src["disks"], len(disks), name, MAX_DISKS))
    for i, disk in enumerate(disks):
        size = disk.get("size_gb")
        if size is None or size < 1:
            errors.append("%s[%d].size_gb: %s is not a disk size in GB (at least 1)" % (src["disks"], i, size))
        elif size > MAX_DISK_GB:
            errors.append("%s[%d].size_gb: %s GB is more than the %d GB (62 TB) a vSphere disk can have; "
                          "size_gb is in GB" % (src["disks"], i, size, MAX_DISK_GB))
    networks = spec.get("networks") or []
    if len(networks) > MAX_NICS:
        errors.append("%s: %d NICs for %s; a vSphere VM has at most %d"
                      % (src["networks"], len(networks), name, MAX_NICS))
    for i, net in enumerate(networks):
        errors.extend(validate_network(net, "%s[%d]" % (src["networks"], i)))
    return errors


def _validate_guest(spec):
    src = spec["src"]
    errors = []
    for dns in spec.get("dns_servers") or []:
        if _ip(dns) is None:
            errors.append("%s: '%s' is not a valid IPv4 address" % (src["dns_servers"], dns))
    if spec.get("guest_hostname") and not HOSTNAME_RE.match(spec["guest_hostname"]):
        errors.append("%s: '%s' is not a valid host name (letters, digits, '-', at most 63)"
                      % (src["guest_hostname"], spec["guest_hostname"]))
    domain = spec.get("domain")
    if domain and (len(domain) > 253 or not all(HOSTNAME_RE.match(label) for label in domain.split("."))):
        errors.append("%s: '%s' is not a DNS domain (labels of letters, digits and '-' joined by '.', "
                      "e.g. example.internal)" % (src["domain"], domain))
    return errors


def _validate_extra_config(spec):
    src = spec["src"]["extra_config"]
    errors = []
    derived = managed_extra_config(dict(spec, extra_config={}))  # the keys user_data/metadata write
    for key, value in (spec.get("extra_config") or {}).items():
        if not isinstance(key, str) or not key:
            errors.append("%s: key %r must be a non-empty string" % (src, key))
            continue
        where = "%s['%s']" % (src, key)
        if key == IP_CLAIM:
            errors.append("%s: the module writes this key itself (the IP claim of networks[].ip); remove it" % where)
        elif key in derived:
            option = "user_data" if "userdata" in key else "metadata"
            errors.append("%s: also written by %s; set one of them, not both" % (where, spec["src"][option]))
        elif _scalar_problem(value):
            errors.append("%s: %s" % (where, _scalar_problem(value)))
    return errors


def _validate_attributes(spec):
    src = spec["src"]["attributes"]
    errors = []
    for key, value in (spec.get("attributes") or {}).items():
        where = "%s['%s']" % (src, key)
        if key in (IP_CLAIM, CUSTOMIZED_ATTRIBUTE):
            errors.append("%s: the module sets this attribute itself; remove it" % where)
        elif _scalar_problem(value):
            errors.append("%s: %s" % (where, _scalar_problem(value)))
    return errors


def validate_spec(spec):
    """Errors of one merged VM spec that need no vCenter lookup."""
    errors = _validate_name(spec)
    if errors and not spec.get("name"):
        return errors
    if spec["state"] == "absent":
        return errors
    for check in (_validate_hardware, _validate_guest, _validate_extra_config, _validate_attributes):
        errors.extend(check(spec))
    return errors


def validate_params(params):
    """Errors of the task-wide options (timeouts, an empty vms list)."""
    errors = []
    for option, what in (("wait_timeout", "for the guest IPs"), ("task_timeout", "for each step's vCenter tasks")):
        value = params.get(option)
        if value is not None and not 1 <= value <= MAX_TIMEOUT:
            errors.append("%s: %s is not a number of seconds to wait %s; give 1 to %d (24 h)"
                          % (option, value, what, MAX_TIMEOUT))
    if params.get("vms") == [] and not params.get("name"):
        errors.append("vms: the list is empty; list at least one VM (or manage one with name)")
    if not (params.get("datacenter") or "").strip():
        errors.append("datacenter: required; the name of the datacenter the VMs live in (e.g. DC1)")
    return errors


def validate_request(specs):
    """Errors across all VMs of one task: per-VM errors, duplicate names, IPs and MACs."""
    errors = []
    names, ips, macs = {}, {}, {}
    for spec in specs:
        errors.extend(validate_spec(spec))
        if not spec.get("name"):
            continue
        if spec["name"] in names:
            errors.append("%s: VM '%s' is listed twice (also %s)"
                          % (spec["src"]["name"], spec["name"], names[spec["name"]]))
        names.setdefault(spec["name"], spec["src"]["name"])
        if spec["state"] == "absent":
            continue
        for i, net in enumerate(spec.get("networks") or []):
            where = "%s[%d]" % (spec["src"]["networks"], i)
            ip, mac = net.get("ip"), (net.get("mac") or "").lower()
            if ip and ip in ips and ips[ip] != (spec["name"], where):
                errors.append("%s.ip: %s is also requested for %s; every NIC needs its own ip"
                              % (where, ip, "VM '%s'" % ips[ip][0] if ips[ip][0] != spec["name"] else ips[ip][1]))
            if mac and mac in macs:
                errors.append("%s.mac: %s is also requested for %s; every NIC needs its own MAC"
                              % (where, net["mac"], macs[mac]))
            if ip:
                ips.setdefault(ip, (spec["name"], where))
            if mac:
                macs.setdefault(mac, "%s (VM '%s')" % (where, spec["name"]))
    return errors


# ============================================================== what the module manages


def static_ips(spec):
    return [n["ip"] for n in spec.get("networks") or [] if n.get("ip")]


def claim_value(ips):
    """The IP claim as written to extraConfig / the attribute: the static IPs, comma-separated."""
    return ",".join(ips)


def claimed_ips(value):
    return [ip.strip() for ip in (value or "").split(",") if ip.strip()]


def managed_extra_config(spec):
    """The extraConfig keys this module owns for a VM, with the values they must have.

    user_data / metadata go to guestinfo as cloud-init's VMware datasource reads
    them: base64 in guestinfo.<x> with guestinfo.<x>.encoding = base64.
    """
    managed = dict((k, "" if v is None else str(v)) for k, v in (spec.get("extra_config") or {}).items())
    metadata = spec.get("metadata")
    if isinstance(metadata, (dict, list)):
        metadata = json.dumps(metadata, sort_keys=True)
    for key, value in (("userdata", spec.get("user_data")), ("metadata", metadata)):
        if value is not None:
            managed["guestinfo.%s" % key] = base64.b64encode(str(value).encode()).decode()
            managed["guestinfo.%s.encoding" % key] = "base64"
    return managed


def secret_values(specs):
    """Strings that must never appear in the output: user data and every encoding of it we write."""
    values = set()
    for spec in specs:
        for key, value in managed_extra_config(spec).items():
            if SECRET_KEY_RE.match(key) and value and not key.endswith(".encoding"):
                values.add(value)
        if spec.get("user_data"):
            values.add(spec["user_data"])
    return values


def wanted_attributes(spec):
    return dict((str(k), "" if v is None else str(v)) for k, v in (spec.get("attributes") or {}).items())


def customization_method(spec):
    """linux_prep or none. auto = Linux prep when a static IP or a guest host name is requested."""
    method = spec.get("customization") or "auto"
    if method == "auto":
        return "linux_prep" if (static_ips(spec) or spec.get("guest_hostname")) else "none"
    return method


def guest_hostname(spec):
    """The host name Linux prep gives the guest: guest_hostname, else the VM name made DNS-safe."""
    if spec.get("guest_hostname"):
        return spec["guest_hostname"]
    name = re.sub(r"[^A-Za-z0-9-]+", "-", spec["name"]).strip("-")[:63].strip("-")
    return name or "vm"


def customization_record(spec):
    """What the guest must show once Linux prep worked, as recorded in CUSTOMIZED_ATTRIBUTE.

    Only what the guest reports back can be checked: its static IPs, else its host name.
    None when the VM gets no guest customization.
    """
    if customization_method(spec) != "linux_prep":
        return None
    if static_ips(spec):
        return "ip=" + claim_value(static_ips(spec))
    return "hostname=" + guest_hostname(spec)


def latest_event(events, since=None):
    """The newest of a VM's customization events (oldest first) at or after ``since``, or None."""
    recent = [e for e in events or [] if since is None or e["time"] >= since]
    return recent[-1] if recent else None


def customization_verdict(spec, guest, event=None):
    """Did the guest take its customization? ('confirmed' | 'failed' | 'unknown', why).

    ``guest``: {'ips': [...], 'hostname': str, 'pending': bool} as vSphere reports the
    guest now; ``event``: the latest Customization* event of the VM ({'type', 'message'})
    or None (vCenter posts them; simpler servers do not).
    """
    if event and event["type"] not in ("CustomizationSucceeded", "CustomizationStartedEvent"):
        detail = ": %s" % event["message"] if event.get("message") else ""
        return "failed", "vCenter reported %s%s" % (event["type"], detail)
    if guest.get("pending"):
        return "unknown", "the customization has not run in the guest yet"
    ips = static_ips(spec)
    if ips:
        have = [ip for ip in guest.get("ips") or [] if ip]
        if all(ip in have for ip in ips):
            return "confirmed", None
        if have:
            return "failed", "the guest reports %s, not %s" % (", ".join(have), ", ".join(ips))
        return "unknown", "the guest reports no IP address yet"
    want, have = guest_hostname(spec).lower(), (guest.get("hostname") or "").split(".")[0].lower()
    if have == want:
        return "confirmed", None
    if have:
        return "failed", "the guest's host name is %s, not %s" % (have, want)
    return "unknown", "the guest reports no host name yet"


# ============================================================== planning and diff

GB_KB = 1024 * 1024


def current_view(details, attribute_names):
    """What a VM is now, in the terms of the module's options (for diff and comparison)."""
    return {
        "cpus": details.get("config.hardware.numCPU"),
        "memory_mb": details.get("config.hardware.memoryMB"),
        "power_state": details.get("runtime.powerState"),
        "disks_gb": [round(d["capacity_kb"] / GB_KB, 2) for d in details.get("disks", [])],
        "networks": [n["network"] for n in details.get("nics", [])],
        "macs": [n["mac"] for n in details.get("nics", [])],
        "attributes": dict(attribute_names),
        "extra_config": dict(details.get("config.extraConfig") or {}),
    }


def desired_power(state, power_state, exists):
    """(power action, resulting power state) for a state option and the current power state."""
    on = power_state == "poweredOn"
    if state == "poweredon":
        return (None, "poweredOn") if on else ("on", "poweredOn")
    if state == "poweredoff":
        return ("off", "poweredOff") if on else (None, power_state or "poweredOff")
    if state == "restarted":
        return ("reset", "poweredOn") if (on and exists) else ("on", "poweredOn")
    return None, power_state or "poweredOff"  # present: leave it as it is (new VMs stay off)


def plan_changes(spec, view):
    """The changes that make ``view`` (current_view) match ``spec``; a pure function.

    Returns (changes, errors). changes keys: cpus, memory_mb, extra_config (only
    keys that differ), attributes (only keys that differ), disks
    ([(index, size_gb)] to grow or add), networks ([(index, entry)] to re-back
    or add), power (None/on/off/reset).
    """
    src = spec["src"]
    changes, errors = {}, []
    if spec.get("cpus") is not None and spec["cpus"] != view["cpus"]:
        changes["cpus"] = spec["cpus"]
    if spec.get("memory_mb") is not None and spec["memory_mb"] != view["memory_mb"]:
        changes["memory_mb"] = spec["memory_mb"]
    extra = dict((k, v) for k, v in managed_extra_config(spec).items()
                 if view["extra_config"].get(k) != v)
    if extra:
        changes["extra_config"] = extra
    attrs = dict((k, v) for k, v in wanted_attributes(spec).items() if view["attributes"].get(k) != v)
    if attrs:
        changes["attributes"] = attrs
    disks = []
    for i, disk in enumerate(spec.get("disks") or []):
        if i < len(view["disks_gb"]):
            have = view["disks_gb"][i]
            if disk["size_gb"] < have:
                errors.append("%s[%d].size_gb: %s GB is smaller than the %s GB disk %s already has; "
                              "vSphere cannot shrink a disk" % (src["disks"], i, disk["size_gb"], have,
                                                                spec["name"]))
            elif disk["size_gb"] > have:
                disks.append((i, disk["size_gb"]))
        else:
            disks.append((i, disk["size_gb"]))
    if disks:
        changes["disks"] = disks
    nets = []
    for i, net in enumerate(spec.get("networks") or []):
        if i >= len(view["networks"]) or view["networks"][i] != net["name"] or \
                (net.get("mac") and view["macs"][i].lower() != net["mac"].lower()):
            nets.append((i, net))
    if nets:
        changes["networks"] = nets
    action = desired_power(spec["state"], view["power_state"], True)[0]
    if action:
        changes["power"] = action
    return changes, errors


def after_view(view, changes, spec):
    """The view after applying changes (for the diff)."""
    after = json.loads(json.dumps(view))
    for key in ("cpus", "memory_mb"):
        if key in changes:
            after[key] = changes[key]
    after["extra_config"].update(changes.get("extra_config", {}))
    after["attributes"].update(changes.get("attributes", {}))
    for i, size in changes.get("disks", []):
        if i < len(after["disks_gb"]):
            after["disks_gb"][i] = size
        else:
            after["disks_gb"].append(size)
    for i, net in changes.get("networks", []):
        if i < len(after["networks"]):
            after["networks"][i] = net["name"]
        else:
            after["networks"].append(net["name"])
    after["power_state"] = desired_power(spec["state"], view["power_state"], True)[1]
    if changes.get("power") == "reset":
        after["power_state"] = "poweredOn (reset)"
    return after


def diff_view(view, spec):
    """The part of a view worth showing in a diff: what the spec manages, not every extraConfig key.

    User data is never shown; diff_pair says whether it changes.
    """
    shown = dict((k, view[k]) for k in ("cpus", "memory_mb", "power_state", "disks_gb", "networks"))
    managed = managed_extra_config(spec)
    shown["extra_config"] = dict((k, HIDDEN if SECRET_KEY_RE.match(k) else view["extra_config"][k])
                                 for k in sorted(managed) if k in view["extra_config"])
    wanted = wanted_attributes(spec)
    shown["attributes"] = dict((k, view["attributes"][k]) for k in sorted(wanted) if k in view["attributes"])
    return shown


def diff_pair(before_view, after_view_, spec):
    """(before, after) diff entries of one VM; a changed secret shows as changed, never its value."""
    before, after = diff_view(before_view, spec), diff_view(after_view_, spec)
    for key in after["extra_config"]:
        if SECRET_KEY_RE.match(key) and before_view["extra_config"].get(key) != after_view_["extra_config"].get(key):
            after["extra_config"][key] = HIDDEN_CHANGED
    return before, after


def new_vm_view(spec, template_view):
    """What a VM about to be cloned will look like, for the diff."""
    view = dict(template_view)
    view["extra_config"], view["attributes"] = {}, {}
    view["power_state"] = "poweredOff"
    changes = plan_changes(spec, view)[0]
    after = after_view(view, changes, spec)
    after["power_state"] = desired_power(spec["state"], "poweredOff", False)[1]
    return after


def folder_segments(folder, datacenter):
    """'/DC0/vm/a/b', 'DC0/vm/a/b', 'vm/a/b', '/vm/a/b', 'a/b' -> ['a', 'b'] under the VM root."""
    if folder is None:
        return []
    parts = [p for p in folder.strip().split("/") if p]
    if parts and parts[0] == datacenter:
        parts = parts[1:]
    if parts and parts[0] == "vm":
        parts = parts[1:]
    return parts


def moid_order(moid):
    """Sort key of managed object ids: vCenter numbers VMs (vm-N) in the order it registers them."""
    match = re.search(r"(\d+)$", moid or "")
    return (int(match.group(1)) if match else -1, moid or "")
