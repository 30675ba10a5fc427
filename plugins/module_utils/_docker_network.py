# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to macvlan_network and pinned_instance: the Docker networks fixed addresses live on.

A data network is a macvlan network (every container has a MAC of its own: the vSphere path, with
forged transmits and promiscuous mode or MAC learning on the port group) or an ipvlan L2 network
(every container leaves with the parent's MAC: the Aliyun VPC path, where the ENI's secondary IPs
are only accepted from the ENI's MAC). Both take the parent interface of the node, optionally an
802.1q VLAN the driver creates as ``<parent>.<vlan>``.

scope ``local`` is one network on this node. scope ``swarm`` is the moby pattern: a config-only
network ``<name>-config`` on every node (the node's own parent and IPAM), and once, on a manager,
the swarm-scoped attachable network ``<name>`` created from it (ConfigFrom). The docker-py SDK has
no ConfigOnly/ConfigFrom arguments, so networks are created with the Engine API's own request body.

The rules (``desired_network``, ``plan_network``) take plain dicts so unit tests need no engine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

try:
    import requests
    from docker.errors import create_api_error_from_http_exception
except ImportError:  # pragma: no cover - DockerEngine refuses to start without the SDK
    requests = None

DRIVERS = ("macvlan", "ipvlan")
CONFIG_SUFFIX = "-config"
# The driver option that holds each driver's mode, and the mode this collection uses: macvlan
# bridge (containers of one parent and the host shim reach each other), ipvlan L2.
MODE_OPTION = {"macvlan": "macvlan_mode", "ipvlan": "ipvlan_mode"}
MODE = {"macvlan": "bridge", "ipvlan": "l2"}
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# Linux interface names: at most 15 bytes, no '/', ':' or white space.
IFNAME_RE = re.compile(r"^[a-zA-Z0-9_-][a-zA-Z0-9_.-]{0,14}$")


class NetworkError(Exception):
    """Bad input, or a network that cannot be made to match; raised before anything changes."""


# ------------------------------------------------------------------ the desired network
def _ip(text, option):
    try:
        return ipaddress.IPv4Address(str(text))
    except ValueError:
        raise NetworkError("%s %s is not an IPv4 address: give one like 10.88.32.1" % (option, text))


def parent_interface(parent, vlan):
    """The interface the driver attaches to: parent, or parent.vlan (an 802.1q link the driver creates)."""
    if not IFNAME_RE.match(parent or ""):
        raise NetworkError("parent %r is not an interface name (letters, digits, '_', '-', '.'; at most 15)" % parent)
    if vlan is None:
        return parent
    if not 1 <= vlan <= 4094:
        raise NetworkError("vlan %d is not an 802.1q VLAN ID: give 1-4094" % vlan)
    if "." in parent:
        raise NetworkError("parent %s already names a VLAN link and vlan %d is set too: give the physical interface "
                           "as parent (e.g. %s) with vlan, or the VLAN link without vlan"
                           % (parent, vlan, parent.split(".", 1)[0]))
    link = "%s.%d" % (parent, vlan)
    if len(link) > 15:
        raise NetworkError("parent %s with vlan %d makes the link name %s, longer than Linux's 15 characters"
                           % (parent, vlan, link))
    return link


def check_parent_exists(link, interfaces):
    """The parent must be an interface of this node; an 802.1q link (eth0.100) may be missing as long as
    its physical interface exists, because the driver creates it."""
    base = link.split(".", 1)[0]
    if link in interfaces or ("." in link and base in interfaces):
        return
    raise NetworkError("parent %s is not an interface of this node (its interfaces: %s): name one of them%s"
                       % (base, ", ".join(sorted(interfaces)) or "none",
                          " (the driver creates the VLAN link %s itself)" % link if "." in link else ""))


def desired_network(params, interfaces):
    """The validated network of a macvlan_network task; NetworkError naming the option otherwise.

    interfaces: names of this node's network interfaces (the parent must be one of them)."""
    name = params["name"]
    if not NAME_RE.match(name or ""):
        raise NetworkError("name %r is not a Docker network name: letters, digits, '_', '.' and '-', starting "
                           "with a letter or digit" % name)
    driver = params["driver"]
    if driver not in DRIVERS:
        raise NetworkError("driver %s: use macvlan or ipvlan" % driver)
    link = parent_interface(params["parent"], params.get("vlan"))
    check_parent_exists(link, interfaces)
    try:
        subnet = ipaddress.IPv4Network(str(params["subnet"]))
    except ValueError as exc:
        raise NetworkError("subnet %s is not an IPv4 network (%s): give it like 10.88.32.0/24, with the host "
                           "bits zero" % (params["subnet"], exc))
    if subnet.prefixlen > 30:
        raise NetworkError("subnet %s leaves no room for a gateway and containers: give a /30 or larger" % subnet)
    gateway = _ip(params["gateway"], "gateway")
    if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
        raise NetworkError("gateway %s is not a host address of subnet %s: give the router of that subnet"
                           % (gateway, subnet))
    aux = {}
    for key, value in sorted((params.get("aux_addresses") or {}).items()):
        ip = _ip(value, "aux_addresses.%s" % key)
        if ip not in subnet or ip == gateway:
            raise NetworkError("aux_addresses.%s %s must be an address of subnet %s other than the gateway"
                               % (key, ip, subnet))
        aux[key] = str(ip)
    scope = params.get("scope") or "local"
    if params.get("ip_range"):
        try:
            ip_range = ipaddress.IPv4Network(str(params["ip_range"]))
        except ValueError as exc:
            raise NetworkError("ip_range %s is not an IPv4 network (%s)" % (params["ip_range"], exc))
        if not ip_range.subnet_of(subnet):
            raise NetworkError("ip_range %s is not inside subnet %s" % (ip_range, subnet))
    elif scope == "swarm":
        raise NetworkError("scope swarm needs ip_range: each node hands out the addresses of its own range to the "
                           "containers and tasks it runs, so give every node a range of its own that no other node "
                           "and no fixed address uses (e.g. host_vars)")
    else:
        # Fixed addresses are always given explicitly: a range of the gateway alone (which IPAM reserves)
        # leaves nothing to hand out, so a container started without an address fails instead of taking
        # one that belongs to an instance on another node.
        ip_range = ipaddress.IPv4Network("%s/32" % gateway)
    if params.get("swarm_network") and scope != "swarm":
        raise NetworkError("swarm_network is only for scope swarm")
    return {"name": name, "driver": driver, "parent": link, "mode": MODE[driver], "subnet": str(subnet),
            "gateway": str(gateway), "ip_range": str(ip_range), "aux_addresses": aux, "scope": scope,
            "swarm_network": bool(params.get("swarm_network"))}


# ------------------------------------------------------------------ what the engine has
def network_view(net, driver=None):
    """The fields of an inspected network this collection manages (None for a missing network).

    driver: which driver's mode option to read, for a config-only network (its own driver is null)."""
    if net is None:
        return None
    options = net.get("Options") or {}
    driver = driver if net.get("ConfigOnly") else net.get("Driver")
    ipam = ((net.get("IPAM") or {}).get("Config") or [{}])
    ipam = ipam[0] if ipam else {}
    view = {"driver": net.get("Driver"), "scope": net.get("Scope"), "parent": options.get("parent"),
            "subnet": ipam.get("Subnet"), "gateway": ipam.get("Gateway"), "ip_range": ipam.get("IPRange") or None,
            "aux_addresses": dict(ipam.get("AuxiliaryAddresses") or {})}
    if driver in MODE_OPTION:
        view["mode"] = options.get(MODE_OPTION[driver]) or MODE[driver]
    if net.get("ConfigOnly"):
        view["config_only"] = True
        del view["driver"]
    if (net.get("ConfigFrom") or {}).get("Network"):
        view = {"driver": net.get("Driver"), "scope": net.get("Scope"),
                "config_from": net["ConfigFrom"]["Network"], "attachable": bool(net.get("Attachable"))}
    return view


def attached(net):
    """Names of the containers attached to an inspected network on this node."""
    return sorted((c.get("Name") or cid[:12]) for cid, c in ((net or {}).get("Containers") or {}).items())


def parent_of(net):
    return (net.get("Options") or {}).get("parent")


# ------------------------------------------------------------------ the networks of a task
def wanted_networks(d):
    """[(name, view it must have, Engine API create body)] in creation order."""
    ipam = {"Driver": "default", "Options": {}, "Config": [{
        "Subnet": d["subnet"], "Gateway": d["gateway"], "IPRange": d["ip_range"],
        "AuxiliaryAddresses": dict(d["aux_addresses"])}]}
    options = {"parent": d["parent"]}
    if d["driver"] == "ipvlan":
        # macvlan's bridge mode is its default; ipvlan's mode is always sent, so an L3 network
        # created by hand is never taken for ours.
        options["ipvlan_mode"] = MODE["ipvlan"]
    fields = {"parent": d["parent"], "mode": d["mode"], "subnet": d["subnet"], "gateway": d["gateway"],
              "ip_range": d["ip_range"], "aux_addresses": dict(d["aux_addresses"])}
    if d["scope"] == "local":
        return [(d["name"], dict(fields, driver=d["driver"], scope="local"),
                 {"Name": d["name"], "Driver": d["driver"], "CheckDuplicate": True, "Options": options,
                  "IPAM": ipam})]
    config = d["name"] + CONFIG_SUFFIX
    wanted = [(config, dict(fields, config_only=True, scope="local"),
               {"Name": config, "ConfigOnly": True, "CheckDuplicate": True, "Options": options, "IPAM": ipam})]
    if d["swarm_network"]:
        # IPAM and options come from each node's config network; giving them here is an error.
        wanted.append((d["name"], {"driver": d["driver"], "scope": "swarm", "config_from": config,
                                   "attachable": True},
                       {"Name": d["name"], "Driver": d["driver"], "Scope": "swarm", "Attachable": True,
                        "CheckDuplicate": True, "ConfigFrom": {"Network": config}}))
    return wanted


def _differences(have, want):
    return ["%s %s (wanted %s)" % (key, json.dumps(have.get(key)), json.dumps(want[key]))
            for key in sorted(want) if have.get(key) != want[key]]


def network_names(name, scope, swarm_network):
    """The networks a task manages, in creation order."""
    if scope == "local":
        return [name]
    return [name + CONFIG_SUFFIX] + ([name] if swarm_network else [])


def plan_absent(names, existing):
    """Remove what exists of names (the last created first); NetworkError while containers are attached."""
    plan = {"remove": [], "create": [], "diff": []}
    for name in reversed(names):
        net = existing.get(name)
        if net is None:
            continue
        if attached(net):
            raise NetworkError("network %s still has containers attached on this node (%s): remove them or move "
                               "them to another network first; nothing was changed" % (name, ", ".join(attached(net))))
        plan["remove"].append((name, net["Id"]))
        plan["diff"].append((name, network_view(net), {}))
    return plan


def plan_network(d, existing, others, recreate=False):
    """What a macvlan_network task does: {"remove": [(name, id)], "create": [(name, body)], "diff": [...]}.

    existing: {name: inspected network or None} for the names of wanted_networks(d); others: the
    other networks of this node (from the network list). NetworkError when the task must not go on:
    a network of that name differs and may not be recreated, containers are attached to what would
    go, or another network already uses the parent."""
    wanted = wanted_networks(d)
    plan = {"remove": [], "create": [], "diff": []}
    ours = set([d["name"], d["name"] + CONFIG_SUFFIX])
    users = sorted(n["Name"] for n in others if n.get("Name") not in ours and parent_of(n) == d["parent"]
                   and (n.get("Driver") in DRIVERS or n.get("ConfigOnly")))
    if users and existing.get(wanted[0][0]) is None:
        raise NetworkError("parent %s is already used by network %s on this node, and a parent takes one macvlan or "
                           "ipvlan network: use that network, or remove it first" % (d["parent"], ", ".join(users)))
    for name, view, body in wanted:
        net = existing.get(name)
        have = network_view(net, d["driver"])
        if net is not None:
            differs = _differences(have, view)
            if not differs:
                continue
            containers = attached(net)
            if containers or not recreate:
                raise NetworkError(
                    "network %s exists with a different configuration: %s. A Docker network cannot be changed in "
                    "place, only removed and created again, %s; nothing was changed"
                    % (name, "; ".join(differs),
                       "and the containers on it (%s) would have to be detached first: detach or remove them, "
                       "then re-run with recreate: true" % ", ".join(containers) if containers
                       else "which recreate: true does (no container is attached to it on this node)"))
            plan["remove"].append((name, net["Id"]))
        plan["create"].append((name, body))
        plan["diff"].append((name, have or {}, view))
    return plan


# ------------------------------------------------------------------ engine calls
def _post(api, path, body):
    # The SDK's create_network has no ConfigOnly/ConfigFrom; this sends the Engine API's own body.
    response = api.post("%s/v%s%s" % (api.base_url, api.api_version, path), data=json.dumps(body),
                        headers={"Content-Type": "application/json"})
    try:
        response.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        raise create_api_error_from_http_exception(exc)
    return response.json()


class Networks:
    """The networks of one engine, through DockerEngine (module_utils/docker.py)."""

    def __init__(self, engine):
        self.engine = engine
        self.api = engine.api

    def list(self):
        return self.engine.call("list the networks", self.api.networks)

    def get(self, name, listing=None):
        """The inspected network of exactly this name (not an ID prefix), or None."""
        for net in (self.list() if listing is None else listing):
            if net.get("Name") == name:
                return self.engine.find("inspect network %s" % name, self.api.inspect_network, net["Id"])
        return None

    def create(self, body):
        return self.engine.call("create network %s" % body["Name"], _post, self.api, "/networks/create", body)

    def remove(self, name, net_id):
        self.engine.call("remove network %s" % name, self.api.remove_network, net_id)
