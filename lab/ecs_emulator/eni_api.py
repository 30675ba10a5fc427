"""The primary ENI of each instance and its secondary private IPs: AssignPrivateIpAddresses,
UnassignPrivateIpAddresses, DescribeNetworkInterfaces (network.md section 1). API state only: no
address moves on a backend. A mixin of Api, which provides self.world and self.state.

Each secondary IP is an entry {"PrivateIpAddress", "ListedAt"} in the instance's "SecondaryIps";
an unassigned one moves to "UnassignedIps" with "ListedUntil". The listings (DescribeNetworkInterfaces,
DescribeInstances with NETWORK_PRIMARY_ENI_IP) follow the same listing lag as new instances, so a
caller must poll, as real callers do; the address itself is taken or free at once.

An ENI stays busy for a short while after each Assign or Unassign it took ("EniBusyUntil" in its
instance): a second one meanwhile gets Operation.Conflict (403), as from the real API, so callers
must retry it. The window is delays["eni_busy"] (default ENI_BUSY_SECONDS), times the time scale.
"""

import ipaddress
import json
import time

from . import errors
from .errors import ApiError
from .params import client_token, paginate
from .views import iso_seconds

# EniPrivateIpAddressQuantity when world.json gives none for a type.
DEFAULT_ENI_IP_QUANTITY = 6

# Seconds (before the time scale) an ENI stays busy after an Assign or Unassign. Real ECS publishes
# no number; Terway and Terraform retry Operation.Conflict, so it happens. One second is our choice.
ENI_BUSY_SECONDS = 1.0


def listed_secondary_ips(inst, now=None):
    """The secondary IPs of the instance's primary ENI as the listings show them right now."""
    now = time.time() if now is None else now
    shown = [(e["ListedAt"], e["PrivateIpAddress"]) for e in inst.get("SecondaryIps", []) if e["ListedAt"] <= now]
    shown += [(e["AssignedAt"], e["PrivateIpAddress"]) for e in inst.get("UnassignedIps", [])
              if e["ListedUntil"] > now]
    return [ip for _at, ip in sorted(shown)]


def secondary_quota(world, instance_type):
    """Secondary IPs the primary ENI may hold: EniPrivateIpAddressQuantity counts the primary IP too."""
    itype = world.instance_types.get(instance_type, {})
    return max(0, int(itype.get("EniPrivateIpAddressQuantity", DEFAULT_ENI_IP_QUANTITY)) - 1)


class EniActions:
    def _eni(self, region_id, eni_id):
        for inst in self.state.instances.values():
            if inst.get("NetworkInterfaceId") == eni_id and inst["RegionId"] == region_id:
                return inst
        raise ApiError(404, "InvalidEniId.NotFound",
                       "The specified NetworkInterfaceId does not exist. NetworkInterfaceId: %s" % eni_id)

    @staticmethod
    def _eni_instance_ready(inst):
        if inst["Status"] not in ("Running", "Stopped"):
            raise ApiError(400, "InvalidOperation.InvalidEcsState",
                           "The current status of the instance does not support this operation. InstanceId: %s, "
                           "current status: %s" % (inst["InstanceId"], inst["Status"]))

    @staticmethod
    def _parse_ips(values):
        out = []
        for value in values:
            try:
                out.append(ipaddress.IPv4Address(value))
            except ValueError:
                raise ApiError(400, "InvalidPrivateIpAddress.Malformed",
                               'The specified parameter "PrivateIpAddress" is not valid: %s' % value)
        return out

    def _claim_eni(self, inst, eni_id, now):
        """Operation.Conflict while the ENI is still busy with the previous Assign/Unassign; caller holds the lock."""
        if inst.get("EniBusyUntil", 0) > now:
            raise ApiError(403, "Operation.Conflict",
                           "The operation conflicts with another task in progress on the network interface; "
                           "try again later. NetworkInterfaceId: %s" % eni_id)

    def _mark_busy(self, inst, now):
        inst["EniBusyUntil"] = now + self.state.delays.get("eni_busy", ENI_BUSY_SECONDS) * self.state.time_scale

    def _prune_unassigned(self, inst, now):
        if inst.get("UnassignedIps"):
            inst["UnassignedIps"] = [e for e in inst["UnassignedIps"] if e["ListedUntil"] > now]

    def assign_private_ip_addresses(self, p, region_id):
        eni_id = p.required("NetworkInterfaceId")
        wanted = p.repeat("PrivateIpAddress")
        count = p.get("SecondaryPrivateIpAddressCount")
        if wanted and count is not None:
            raise ApiError(400, "InvalidParameter.Conflict",
                           'The specified parameter "PrivateIpAddress.N" and "SecondaryPrivateIpAddressCount" '
                           'cannot be specified at the same time.')
        if not wanted and count is None:
            raise errors.missing("PrivateIpAddress.N or SecondaryPrivateIpAddressCount")
        if count is not None:
            count = p.int("SecondaryPrivateIpAddressCount", lo=1, hi=49,
                          error=errors.invalid("SecondaryPrivateIpAddressCount"))
        if len(wanted) > 49:
            raise errors.invalid("PrivateIpAddress.N")
        ips = self._parse_ips(wanted)
        if len(set(ips)) != len(ips):
            dup = next(ip for ip in ips if ips.count(ip) > 1)
            raise ApiError(403, "InvalidIp.IpRepeated",
                           "The specified private IP address is duplicated in the request. PrivateIpAddress: %s"
                           % dup)
        token, token_key, fingerprint = client_token(p, "AssignPrivateIpAddresses", region_id)
        with self.state.lock:
            previous = self.state.remembered_token(token_key) if token is not None else None
            if previous is not None:
                if previous["fingerprint"] != fingerprint:
                    raise ApiError(400, "IdempotentParameterMismatch",
                                   "Request uses a client token in a previous request but is not identical to "
                                   "that request. ClientToken: %s" % token)
                return json.loads(json.dumps(previous["result"]))
            inst = self._eni(region_id, eni_id)
            self._eni_instance_ready(inst)
            now = time.time()
            self._claim_eni(inst, eni_id, now)
            vsw = self.world.vswitches[inst["VSwitchId"]]
            held = inst.get("SecondaryIps", [])
            amount = len(ips) if ips else count
            quota = secondary_quota(self.world, inst["InstanceType"])
            if len(held) + amount > quota:
                raise ApiError(403, "QuotaExceeded.PrivateIpAddress",
                               "The private IP addresses of the network interface exceed the quota of the instance "
                               "type. InstanceType: %s, secondary private IP addresses: %d held, %d asked, %d "
                               "allowed." % (inst["InstanceType"], len(held), amount, quota))
            used = self.state.used_ips(inst["VSwitchId"])
            lo, hi = self.world.usable_hosts(vsw)
            if ips:
                for ip in ips:
                    if ip not in vsw["_net"] or not lo <= int(ip) <= hi:
                        raise ApiError(403, "InvalidVSwitchId.IpInvalid",
                                       "The specified private IP address is not in the CIDR block of the virtual "
                                       "switch or is reserved by it. PrivateIpAddress: %s, CidrBlock: %s (the first "
                                       "and the last three addresses are reserved)" % (ip, vsw["CidrBlock"]))
                    if str(ip) in used:
                        raise ApiError(403, "InvalidIp.IpAssigned",
                                       "The specified private IP address is already assigned. PrivateIpAddress: %s"
                                       % ip)
                chosen = [str(ip) for ip in ips]
            else:
                chosen = self.state.free_ips(inst["VSwitchId"], lo, hi, amount)
                if len(chosen) < amount:
                    raise ApiError(403, "InvalidVSwitchId.IpNotEnough",
                                   "The specified virtual switch does not have enough IP addresses. VSwitchId: %s"
                                   % inst["VSwitchId"])
            self._prune_unassigned(inst, now)
            self._mark_busy(inst, now)
            listed_at = now + p.list_lag
            inst["SecondaryIps"] = held + [{"PrivateIpAddress": ip, "AssignedAt": now, "ListedAt": listed_at}
                                           for ip in chosen]
            result = {"AssignedPrivateIpAddressesSet": {
                "NetworkInterfaceId": eni_id,
                "PrivateIpSet": {"PrivateIpAddress": chosen},
                "Ipv4PrefixSet": {"Ipv4Prefixes": []},
            }}
            if token is not None:
                self.state.remember_token(token_key, fingerprint, result)
            else:
                self.state.save()
            return json.loads(json.dumps(result))

    def unassign_private_ip_addresses(self, p, region_id):
        eni_id = p.required("NetworkInterfaceId")
        wanted = p.repeat("PrivateIpAddress")
        if not wanted:
            raise errors.missing("PrivateIpAddress.N")
        if len(wanted) > 32:
            raise errors.invalid("PrivateIpAddress.N")
        ips = [str(ip) for ip in self._parse_ips(wanted)]
        with self.state.lock:
            inst = self._eni(region_id, eni_id)
            self._eni_instance_ready(inst)
            now = time.time()
            self._claim_eni(inst, eni_id, now)
            held = {e["PrivateIpAddress"]: e for e in inst.get("SecondaryIps", [])}
            for ip in ips:
                if ip not in held:
                    raise ApiError(403, "InvalidIp.IpUnassigned",
                                   "The specified private IP address is not assigned to the network interface as a "
                                   "secondary address. PrivateIpAddress: %s, NetworkInterfaceId: %s" % (ip, eni_id))
            self._prune_unassigned(inst, now)
            self._mark_busy(inst, now)
            gone = set(ips)
            until = now + p.list_lag
            inst["SecondaryIps"] = [e for e in inst["SecondaryIps"] if e["PrivateIpAddress"] not in gone]
            # Listed until the lag has passed, unless it was never listed in the first place.
            inst.setdefault("UnassignedIps", []).extend(
                dict(held[ip], ListedUntil=until) for ip in dict.fromkeys(ips) if held[ip]["ListedAt"] <= now)
            self.state.save()
        return {}

    def describe_network_interfaces(self, p, region_id):
        eni_ids = p.repeat("NetworkInterfaceId")
        addresses = p.repeat("PrivateIpAddress")
        if len(eni_ids) > 100:
            raise errors.invalid("NetworkInterfaceId.N")
        if len(addresses) > 100:
            raise errors.invalid("PrivateIpAddress.N")
        if p.has("Type") and p.get("Type") not in ("Primary", "Secondary", "Trunk", "Member"):
            raise errors.invalid("Type")
        if p.has("MaxResults"):
            p.int("MaxResults", lo=1, hi=500, error=errors.invalid("MaxResults"))
        now = time.time()
        with self.state.lock:
            rows = []
            for inst in self.state.listed(region_id):
                secondaries = listed_secondary_ips(inst, now)
                if p.get("Type", "Primary") != "Primary" or p.get("Status", "InUse") != "InUse":
                    continue
                if eni_ids and inst["NetworkInterfaceId"] not in eni_ids:
                    continue
                if any(p.has(name) and p.get(name) != inst[name] for name in ("InstanceId", "VSwitchId", "VpcId")):
                    continue
                if p.has("PrimaryIpAddress") and p.get("PrimaryIpAddress") != inst["PrivateIpAddress"]:
                    continue
                if addresses and not set(addresses) & ({inst["PrivateIpAddress"]} | set(secondaries)):
                    continue
                rows.append((inst["Seq"], render_primary_eni(inst, secondaries)))
            page, fields = paginate(rows, p, key=lambda r: r[0], max_size=100, token_max=500)
        return dict(fields, NetworkInterfaceSets={"NetworkInterfaceSet": [r for _seq, r in page]})


def render_primary_eni(inst, secondaries):
    ip = inst["PrivateIpAddress"]
    ip_sets = [{"PrivateIpAddress": ip, "Primary": True}]
    ip_sets += [{"PrivateIpAddress": s, "Primary": False} for s in secondaries]
    return {
        "NetworkInterfaceId": inst["NetworkInterfaceId"],
        "NetworkInterfaceName": "",
        "Description": "",
        "Status": "InUse",
        "Type": "Primary",
        "InstanceId": inst["InstanceId"],
        "MacAddress": inst["MacAddress"],
        "PrivateIpAddress": ip,
        "PrivateIpSets": {"PrivateIpSet": ip_sets},
        "Ipv6Sets": {"Ipv6Set": []},
        "Ipv4PrefixSets": {"Ipv4PrefixSet": []},
        "VSwitchId": inst["VSwitchId"],
        "VpcId": inst["VpcId"],
        "ZoneId": inst["ZoneId"],
        "SecurityGroupIds": {"SecurityGroupId": list(inst["SecurityGroupIds"])},
        "CreationTime": iso_seconds(inst["CreationTime"]),
        "ResourceGroupId": "",
        "ServiceManaged": False,
        "Tags": {"Tag": []},
    }
