# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to macvlan_network, macvlan_shim and pinned_instance: the node's own network stack.

What Docker does not do for a fixed address on a macvlan network lives here:
- the node's interface names (a network's parent must exist before the network is created);
- the host shim: the kernel filters traffic between a macvlan child and its parent's own address,
  so a node reaches its own containers only through a macvlan link of its own on the same parent,
  with a /32 address and a /32 route per container address (``ip`` from iproute2, on every node);
- the gratuitous ARP a container's address needs after a start or a move, so neighbours and
  switches learn where it is now: Docker 20.10 sends none. The frames are written from Python in
  the container's network namespace, so the node needs no arping package.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import ctypes.util
import fcntl
import ipaddress
import json
import os
import socket
import struct
import threading
import time

CLONE_NEWNET = 0x40000000
SIOCGIFADDR = 0x8915
SIOCGIFHWADDR = 0x8927
ETH_P_ARP = 0x0806


class HostNetError(Exception):
    """A command on the node's network stack failed; the message names it and the answer."""


def interfaces():
    """Names of the network interfaces of this node (its own network namespace)."""
    return sorted(name for _index, name in socket.if_nameindex())


def derive_mac(ip):
    """The MAC libnetwork generates for an IPv4 address (02:42 and the four bytes of the address,
    locally administered, unicast): the same address gets the same MAC on every node, so after a move
    neighbours' ARP entries stay right and only switches relearn the port."""
    return "02:42:" + ":".join("%02x" % b for b in ipaddress.IPv4Address(str(ip)).packed)


# ------------------------------------------------------------------ the host shim
class IpRoute:
    """Links, addresses and routes through iproute2's JSON output.

    run: a function (argv) -> (rc, stdout, stderr), AnsibleModule.run_command."""

    def __init__(self, run):
        self.run = run

    def _ip(self, *args, **kwargs):
        rc, out, err = self.run(["ip"] + list(args))
        if rc != 0 and not kwargs.get("missing_ok"):
            raise HostNetError("ip %s failed: %s" % (" ".join(args), (err or out).strip()))
        return rc, out

    def link(self, name):
        """{kind, parent, mode, mac, up} of a link, None when there is none."""
        rc, out = self._ip("-json", "-details", "link", "show", "dev", name, missing_ok=True)
        if rc != 0:
            return None
        link = json.loads(out)[0]
        info = link.get("linkinfo") or {}
        return {"kind": info.get("info_kind"), "parent": link.get("link"),
                "mode": (info.get("info_data") or {}).get("mode"), "mac": link.get("address"),
                "up": "UP" in (link.get("flags") or [])}

    def addresses(self, name):
        rc, out = self._ip("-json", "-4", "addr", "show", "dev", name)
        found = []
        for link in json.loads(out or "[]"):
            found += ["%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info") or []]
        return sorted(found)

    def routes(self, name):
        """IPv4 routes through the link that someone added (not the kernel's own), as CIDRs."""
        rc, out = self._ip("-json", "-4", "route", "show", "dev", name)
        return sorted(r["dst"] if "/" in r["dst"] else r["dst"] + "/32"
                      for r in json.loads(out or "[]") if r.get("protocol") != "kernel" and r.get("dst") != "default")

    def apply(self, name, step):
        """One step of plan_shim."""
        verb, arg = step
        if verb == "delete-link":
            self._ip("link", "del", "dev", name)
        elif verb == "add-link":
            self._ip("link", "add", name, "link", arg["parent"], "address", arg["mac"], "type", "macvlan", "mode",
                     arg["mode"])
        elif verb == "up":
            self._ip("link", "set", "dev", name, "up")
        elif verb in ("add-address", "delete-address"):
            self._ip("addr", "add" if verb == "add-address" else "del", arg, "dev", name)
        elif verb == "add-route":
            self._ip("route", "replace", arg, "dev", name)
        elif verb == "delete-route":
            self._ip("route", "del", arg, "dev", name)


def shim_state(ipr, name):
    """The shim as the node has it, in the shape of desired_shim (None when the link is missing)."""
    link = ipr.link(name)
    if link is None:
        return None
    return dict(link, addresses=ipr.addresses(name), routes=ipr.routes(name))


def desired_shim(parent, address, routes):
    """The shim a macvlan_shim task asks for (plain values, validated)."""
    ip = ipaddress.IPv4Address(str(address))
    cidrs = sorted(set(str(ipaddress.IPv4Network(str(r))) if "/" in str(r) else "%s/32" % ipaddress.IPv4Address(str(r))
                       for r in routes))
    return {"kind": "macvlan", "parent": parent, "mode": "bridge", "mac": derive_mac(ip), "up": True,
            "addresses": ["%s/32" % ip], "routes": cidrs}


def plan_shim(name, have, want, purge_routes=True):
    """[(verb, argument)] that turn have into want; HostNetError when name is a link that is not a macvlan."""
    if have is not None and have["kind"] != "macvlan":
        raise HostNetError("interface %s exists and is a %s link, not a macvlan shim: give the shim another name"
                           % (name, have["kind"] or "physical"))
    steps = []
    if have is None or any(have[k] != want[k] for k in ("parent", "mode", "mac")):
        # The shim carries no container, so a wrong one is simply made again (its routes with it).
        if have is not None:
            steps.append(("delete-link", None))
        have = {"addresses": [], "routes": [], "up": False}
        steps.append(("add-link", {"parent": want["parent"], "mode": want["mode"], "mac": want["mac"]}))
    if not have["up"]:
        steps.append(("up", None))
    steps += [("add-address", a) for a in want["addresses"] if a not in have["addresses"]]
    steps += [("delete-address", a) for a in have["addresses"] if a not in want["addresses"]]
    steps += [("add-route", r) for r in want["routes"] if r not in have["routes"]]
    if purge_routes:
        steps += [("delete-route", r) for r in have["routes"] if r not in want["routes"]]
    return steps


# ------------------------------------------------------------------ gratuitous ARP
def garp_frame(mac, ip):
    """An Ethernet broadcast ARP request announcing ip at mac (sender and target address both ip, as
    arping -U and the kernel send it), padded to Ethernet's 60-byte minimum."""
    hw = bytes(bytearray(int(part, 16) for part in mac.split(":")))
    addr = socket.inet_aton(str(ip))
    frame = b"\xff" * 6 + hw + struct.pack("!H", ETH_P_ARP)
    frame += struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + hw + addr + b"\x00" * 6 + addr
    return frame + b"\x00" * (60 - len(frame))


def _interface_with(ip):
    """(name, MAC) of the interface of the current network namespace that holds ip."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                addr = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)[20:24]
            except OSError:  # no IPv4 address on it
                continue
            if socket.inet_ntoa(addr) == str(ip):
                hw = fcntl.ioctl(probe.fileno(), SIOCGIFHWADDR, request)[18:24]
                return name, ":".join("%02x" % b for b in bytearray(hw))
    finally:
        probe.close()
    raise HostNetError("no interface holds %s in the container's network namespace" % ip)


def _announce_in_netns(pid, ip, count, interval):
    # setns changes the namespace of the calling thread only: this runs in a thread of its own,
    # which ends after sending, so the module itself never leaves the node's namespace.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    with open("/proc/%d/ns/net" % pid) as ns:
        if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
            raise HostNetError("cannot enter the network namespace of process %d: %s"
                               % (pid, os.strerror(ctypes.get_errno())))
    name, mac = _interface_with(ip)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((name, 0))
        for n in range(count):
            if n:
                time.sleep(interval)
            sock.send(garp_frame(mac, ip))
    finally:
        sock.close()
    return {"interface": name, "mac_address": mac, "count": count}


def send_garp(pid, ip, count=3, interval=1.0):
    """Announce ip count times, interval seconds apart, from the network namespace of process pid
    (a container's init); {interface, mac_address, count} or HostNetError."""
    outcome = {}
    if not pid or not os.path.exists("/proc/%d/ns/net" % pid):
        outcome["error"] = ("process %s is not running on this host, so its network namespace cannot be entered "
                            "(does the task run on the node whose engine it talks to?)" % pid)

    def announce():
        try:
            outcome["sent"] = _announce_in_netns(pid, ip, count, interval)
        except (OSError, HostNetError) as exc:
            outcome["error"] = exc

    if not outcome:
        worker = threading.Thread(target=announce)
        worker.start()
        worker.join()
    if "error" in outcome:
        raise HostNetError("gratuitous ARP for %s was not sent: %s" % (ip, outcome["error"]))
    return outcome["sent"]
