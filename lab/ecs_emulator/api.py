"""The ECS 2014-05-26 actions: parameter parsing, validation and response shapes."""

import base64
import binascii
import hashlib
import ipaddress
import json
import re
import time
import uuid

from . import errors
from .errors import ApiError
from .state import iso_minutes

# Params that describe the call, not the request: left out of ClientToken fingerprints.
COMMON_PARAMS = {
    "Action", "Version", "Format", "AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
    "SignatureNonce", "SignatureType", "Timestamp", "SecurityToken", "ClientToken", "DryRun",
}

STATUSES = ("Pending", "Running", "Starting", "Stopping", "Stopped")


# ---------------------------------------------------------------------- parameter access

class Params:
    """Request parameters; an empty string counts as not given (the SDK sends set_X("") as X=)."""

    def __init__(self, raw):
        self.raw = raw

    def get(self, name, default=None):
        value = self.raw.get(name)
        return default if value is None or value == "" else value

    def has(self, name):
        return self.get(name) is not None

    def required(self, name):
        value = self.get(name)
        if value is None:
            raise errors.missing(name)
        return value

    def bool(self, name, default=False):
        value = self.get(name)
        if value is None:
            return default
        low = value.lower()
        if low == "true":
            return True
        if low == "false":
            return False
        raise errors.invalid(name)

    def int(self, name, default=None, lo=None, hi=None, error=None):
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise error or errors.invalid(name)
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise error or errors.invalid(name)
        return number

    def repeat(self, prefix):
        """Values of prefix.1, prefix.2, ... ordered by N (gaps allowed)."""
        found = []
        pat = re.compile(r"^%s\.(\d+)$" % re.escape(prefix))
        for key, value in self.raw.items():
            m = pat.match(key)
            if m and value != "":
                found.append((int(m.group(1)), value))
        return [v for _, v in sorted(found)]

    def tags(self, prefix="Tag", max_n=20):
        """[(key, value-or-None)] from prefix.N.Key / prefix.N.Value, ordered by N."""
        pat = re.compile(r"^%s\.(\d+)\.(Key|Value)$" % re.escape(prefix))
        entries = {}
        for key, value in self.raw.items():
            m = pat.match(key)
            if m:
                entries.setdefault(int(m.group(1)), {})[m.group(2)] = value
        out = []
        for n in sorted(entries):
            if n < 1 or n > max_n:
                raise ApiError(400, "InvalidTagCount", "The specified tags are beyond the permitted range.")
            key = entries[n].get("Key")
            value = entries[n].get("Value")
            if key is None or key == "":
                if value not in (None, ""):
                    raise ApiError(400, "InvalidTagKey.Malformed", "The specified Tag.%d.Key is not valid." % n)
                continue
            out.append((key, value))
        return out

    def json_list(self, name, error=None, max_items=100):
        value = self.get(name)
        if value is None:
            return None
        try:
            items = json.loads(value)
        except ValueError:
            raise error or errors.invalid(name)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items) or len(items) > max_items:
            raise error or errors.invalid(name)
        return items


def validate_tags(tags):
    keys = set()
    for key, value in tags:
        low = key.lower()
        if len(key) > 128 or low.startswith("aliyun") or low.startswith("acs:") or "http://" in low or "https://" in low:
            raise ApiError(400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid.")
        if value is not None:
            lowv = value.lower()
            if len(value) > 128 or lowv.startswith("acs:") or "http://" in lowv or "https://" in lowv:
                raise ApiError(400, "InvalidTagValue.Malformed", "The specified Tag.n.Value is not valid.")
        if key in keys:
            raise ApiError(400, "Duplicate.TagKey", "The Tag.N.Key contain duplicate key.")
        keys.add(key)


# ---------------------------------------------------------------------- paging

def _encode_token(seq):
    head = "%016x" % seq
    return head + hashlib.md5(("ecs-emulator:" + head).encode()).hexdigest()[:16]


def _decode_token(token):
    if not re.match(r"^[0-9a-f]{32}$", token or "") or _encode_token(int(token[:16], 16)) != token:
        raise errors.invalid("NextToken")
    return int(token[:16], 16)


def paginate(items, p, key, default_size=10, max_size=100, allow_token=True, token_max=100):
    """Page items (already in stable order, key(item) increasing) in either style.

    Page style: PageNumber (from 1) / PageSize. Token style (MaxResults or NextToken given):
    PageNumber/PageSize are ignored, MaxResults is clamped to 10..token_max as documented.
    Returns (page, response-fields).
    """
    if allow_token and (p.has("MaxResults") or p.has("NextToken")):
        size = p.int("MaxResults", default=default_size)
        size = min(max(size, 10), token_max)
        start = 0
        if p.has("NextToken"):
            seq = _decode_token(p.get("NextToken"))
            start = next((i for i, it in enumerate(items) if key(it) >= seq), len(items))
        page = items[start:start + size]
        rest = items[start + size:]
        return page, {"TotalCount": len(items), "NextToken": _encode_token(key(rest[0])) if rest else ""}
    number = p.int("PageNumber", default=1, lo=1)
    size = p.int("PageSize", default=default_size, lo=1, hi=max_size)
    start = (number - 1) * size
    page = items[start:start + size]
    fields = {"TotalCount": len(items), "PageNumber": number, "PageSize": size}
    if allow_token:
        rest = items[start + size:]
        fields["NextToken"] = _encode_token(key(rest[0])) if rest else ""
    return page, fields


# ---------------------------------------------------------------------- name rules

_INSTANCE_NAME = re.compile(r"^[A-Za-z\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5:_.\-]{1,127}$")
_HOST_SEGMENT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?$")
_SEQ_PATTERN = re.compile(r"\[(\d+),(\d+)\]")


def valid_instance_name(name):
    return bool(_INSTANCE_NAME.match(name)) and not name.lower().startswith(("http://", "https://"))


def valid_host_name(name):
    # Linux rules: 2-64 chars, dot-separated segments of letters, digits and inner hyphens.
    if not 2 <= len(name) <= 64 or "--" in name:
        return False
    return all(_HOST_SEGMENT.match(seg) for seg in name.split("."))


def valid_description(text):
    return 2 <= len(text) <= 256 and not text.lower().startswith(("http://", "https://"))


def expand_name(template, index, count, instance_id, unique_suffix):
    """name_prefix[begin,bits]suffix sequential naming, ${instance_id}, UniqueSuffix."""
    name = template.replace("${instance_id}", instance_id)
    m = _SEQ_PATTERN.search(name)
    if m:
        begin, bits = int(m.group(1)), int(m.group(2))
        return name[:m.start()] + str(begin + index).zfill(bits) + name[m.end():]
    if unique_suffix:
        return name + "%03d" % (index + 1)
    return name


# ---------------------------------------------------------------------- views

def render_instance(world, inst):
    itype = world.instance_types.get(inst["InstanceType"], {})
    image = world.images.get(inst["ImageId"], {})
    ip = inst["PrivateIpAddress"]
    # Key order matters to footmark (yaml.safe_load + __setattr__): EipAddress before PublicIpAddress.
    return {
        "InstanceId": inst["InstanceId"],
        "InstanceName": inst["InstanceName"],
        "Description": inst.get("Description", ""),
        "HostName": inst["HostName"],
        "ImageId": inst["ImageId"],
        "InstanceType": inst["InstanceType"],
        "InstanceTypeFamily": itype.get("InstanceTypeFamily", ""),
        "Cpu": itype.get("CpuCoreCount", 0),
        "Memory": int(itype.get("MemorySize", 0) * 1024),
        "OSType": image.get("OSType", "linux"),
        "OSName": image.get("OSName", ""),
        "OSNameEn": image.get("OSNameEn", ""),
        "Status": inst["Status"],
        "RegionId": inst["RegionId"],
        "ZoneId": inst["ZoneId"],
        "InstanceNetworkType": "vpc",
        "CreationTime": iso_minutes(inst["CreationTime"]),
        "StartTime": iso_minutes(inst["StartTime"]) if inst.get("StartTime") else "",
        "ExpiredTime": "2099-12-31T15:59Z",
        "AutoReleaseTime": "",
        "InstanceChargeType": inst.get("InstanceChargeType", "PostPaid"),
        "InternetChargeType": inst.get("InternetChargeType", "PayByTraffic"),
        "InternetMaxBandwidthIn": inst.get("InternetMaxBandwidthIn", 0),
        "InternetMaxBandwidthOut": inst.get("InternetMaxBandwidthOut", 0),
        "IoOptimized": True,
        "KeyPairName": inst.get("KeyPairName", ""),
        "SerialNumber": inst.get("SerialNumber", ""),
        "StoppedMode": inst.get("StoppedMode", "Not-applicable"),
        "SpotStrategy": "NoSpot",
        "DeletionProtection": bool(inst.get("DeletionProtection", False)),
        "DeviceAvailable": True,
        "GPUAmount": 0,
        "GPUSpec": "",
        "LocalStorageAmount": 0,
        "LocalStorageCapacity": 0,
        "ResourceGroupId": "",
        "Recyclable": False,
        "CreditSpecification": "",
        "DeploymentSetId": "",
        "HpcClusterId": "",
        "VlanId": "",
        "ClusterId": "",
        "SaleCycle": "",
        "EipAddress": {"AllocationId": "", "IpAddress": "", "Bandwidth": 0, "InternetChargeType": "",
                       "IsSupportUnassociate": False},
        "PublicIpAddress": {"IpAddress": []},
        "InnerIpAddress": {"IpAddress": []},
        "RdmaIpAddress": {"IpAddress": []},
        "VpcAttributes": {
            "VpcId": inst["VpcId"],
            "VSwitchId": inst["VSwitchId"],
            "NatIpAddress": "",
            "PrivateIpAddress": {"IpAddress": [ip]},
        },
        "SecurityGroupIds": {"SecurityGroupId": list(inst["SecurityGroupIds"])},
        "NetworkInterfaces": {"NetworkInterface": [{
            "NetworkInterfaceId": inst["NetworkInterfaceId"],
            "Type": "Primary",
            "MacAddress": inst["MacAddress"],
            "PrimaryIpAddress": ip,
            "PrivateIpSets": {"PrivateIpSet": [{"PrivateIpAddress": ip, "Primary": True}]},
            "Ipv6Sets": {"Ipv6Set": []},
        }]},
        "OperationLocks": {"LockReason": []},
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in inst.get("Tags", [])]},
        "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "optional", "HttpPutResponseHopLimit": 1},
        "CpuOptions": {"CoreCount": max(1, itype.get("CpuCoreCount", 2) // 2), "ThreadsPerCore": 2, "Numa": ""},
    }


# ---------------------------------------------------------------------- the actions

class Api:
    """One method per action; each returns the response body without RequestId."""

    # Actions that work with any (even unknown) RegionId: the inventory plugin asks cn-beijing.
    REGIONLESS = {"DescribeRegions"}

    def __init__(self, state):
        self.state = state
        self.world = state.world
        self.actions = {
            "DescribeRegions": self.describe_regions,
            "DescribeZones": self.describe_zones,
            "DescribeVpcs": self.describe_vpcs,
            "DescribeVSwitches": self.describe_vswitches,
            "DescribeSecurityGroups": self.describe_security_groups,
            "DescribeImages": self.describe_images,
            "DescribeInstanceTypes": self.describe_instance_types,
            "RunInstances": self.run_instances,
            "DescribeInstances": self.describe_instances,
            "DescribeInstanceStatus": self.describe_instance_status,
            "DescribeInstanceAttribute": self.describe_instance_attribute,
            "StartInstance": self.start_instance,
            "StopInstance": self.stop_instance,
            "RebootInstance": self.reboot_instance,
            "DeleteInstance": self.delete_instance,
            "StartInstances": self.start_instances,
            "StopInstances": self.stop_instances,
            "RebootInstances": self.reboot_instances,
            "DeleteInstances": self.delete_instances,
            "DescribeUserData": self.describe_user_data,
            "ModifyInstanceAttribute": self.modify_instance_attribute,
            "JoinSecurityGroup": self.join_security_group,
            "LeaveSecurityGroup": self.leave_security_group,
            "DescribeDisks": self.describe_disks,
            "TagResources": self.tag_resources,
            "UntagResources": self.untag_resources,
            "ListTagResources": self.list_tag_resources,
        }

    def call(self, action, raw_params, region_id):
        p = Params(raw_params)
        if action not in self.REGIONLESS:
            if not region_id:
                raise errors.missing("RegionId")
            if region_id not in self.world.regions:
                raise errors.region_not_found()
        return self.actions[action](p, region_id)

    # ------------------------------------------------------------------ world resources

    @staticmethod
    def _lang_name(obj, p):
        lang = (p.get("AcceptLanguage") or "zh-CN").lower()
        return obj.get("LocalNameEn", obj["LocalName"]) if lang.startswith("en") else obj["LocalName"]

    def describe_regions(self, p, region_id):
        regions = [{
            "RegionId": r["RegionId"],
            "LocalName": self._lang_name(r, p),
            "RegionEndpoint": r["RegionEndpoint"],
            "Status": "available",
        } for r in self.world.regions.values()]
        return {"Regions": {"Region": regions}}

    def describe_zones(self, p, region_id):
        types = list(self.world.instance_types)
        zones = [{
            "ZoneId": z["ZoneId"],
            "LocalName": self._lang_name(z, p),
            "ZoneType": "AvailabilityZone",
            "AvailableResourceCreation": {"ResourceTypes": ["VSwitch", "IoOptimized", "Instance", "Disk"]},
            "AvailableInstanceTypes": {"InstanceTypes": types},
            "AvailableDiskCategories": {"DiskCategories": ["cloud_essd", "cloud_auto", "cloud_efficiency"]},
            "AvailableVolumeCategories": {"VolumeCategories": ["cloud_essd", "cloud_auto", "cloud_efficiency"]},
            "AvailableResources": {"ResourcesInfo": []},
            "AvailableDedicatedHostTypes": {"DedicatedHostType": []},
        } for z in self.world.zones.values() if z["RegionId"] == region_id]
        return {"Zones": {"Zone": zones}}

    def describe_vpcs(self, p, region_id):
        vpcs = [v for v in self.world.vpcs.values() if v["RegionId"] == region_id]
        if p.has("VpcId"):
            wanted = set(p.get("VpcId").split(","))
            vpcs = [v for v in vpcs if v["VpcId"] in wanted]
        if p.has("IsDefault"):
            is_default = p.bool("IsDefault")
            vpcs = [v for v in vpcs if bool(v.get("IsDefault")) == is_default]
        page, fields = paginate(list(enumerate(vpcs)), p, key=lambda e: e[0], max_size=50, allow_token=False)
        out = []
        for _, v in page:
            vsws = [s["VSwitchId"] for s in self.world.vswitches.values() if s["VpcId"] == v["VpcId"]]
            out.append({
                "VpcId": v["VpcId"], "RegionId": region_id, "Status": "Available", "VpcName": v["VpcName"],
                "VSwitchIds": {"VSwitchId": vsws}, "CidrBlock": v["CidrBlock"], "VRouterId": v["VRouterId"],
                "Description": v.get("Description", ""), "IsDefault": bool(v.get("IsDefault")),
                "CreationTime": v["CreationTime"], "UserCidrs": {"UserCidr": []},
            })
        return dict(fields, Vpcs={"Vpc": out})

    def describe_vswitches(self, p, region_id):
        vsws = [s for s in self.world.vswitches.values() if s["RegionId"] == region_id]
        for name in ("VpcId", "ZoneId", "VSwitchId"):
            if p.has(name):
                vsws = [s for s in vsws if s[name] == p.get(name)]
        if p.has("IsDefault"):
            is_default = p.bool("IsDefault")
            vsws = [s for s in vsws if bool(s.get("IsDefault")) == is_default]
        page, fields = paginate(list(enumerate(vsws)), p, key=lambda e: e[0], max_size=50, allow_token=False)
        with self.state.lock:
            out = [{
                "VSwitchId": s["VSwitchId"], "VpcId": s["VpcId"], "Status": "Available",
                "CidrBlock": s["CidrBlock"], "ZoneId": s["ZoneId"],
                "AvailableIpAddressCount": self.state.available_ip_count(s["VSwitchId"]),
                "Description": s.get("Description", ""), "VSwitchName": s["VSwitchName"],
                "CreationTime": s["CreationTime"], "IsDefault": bool(s.get("IsDefault")),
            } for _, s in page]
        return dict(fields, VSwitches={"VSwitch": out})

    def describe_security_groups(self, p, region_id):
        sgs = [g for g in self.world.security_groups.values() if g["RegionId"] == region_id]
        if p.has("VpcId"):
            sgs = [g for g in sgs if g["VpcId"] == p.get("VpcId")]
        if p.has("SecurityGroupId"):
            sgs = [g for g in sgs if g["SecurityGroupId"] == p.get("SecurityGroupId")]
        ids = p.json_list("SecurityGroupIds")
        if ids is not None:
            sgs = [g for g in sgs if g["SecurityGroupId"] in ids]
        if p.has("SecurityGroupName"):
            sgs = [g for g in sgs if g["SecurityGroupName"] == p.get("SecurityGroupName")]
        page, fields = paginate(list(enumerate(sgs)), p, key=lambda e: e[0], max_size=50)
        with self.state.lock:
            counts = {}
            for inst in self.state.instances.values():
                for sg in inst["SecurityGroupIds"]:
                    counts[sg] = counts.get(sg, 0) + 1
        out = [{
            "SecurityGroupId": g["SecurityGroupId"], "SecurityGroupName": g["SecurityGroupName"],
            "Description": g.get("Description", ""), "VpcId": g["VpcId"],
            "SecurityGroupType": g.get("SecurityGroupType", "normal"), "CreationTime": g["CreationTime"],
            "EcsCount": counts.get(g["SecurityGroupId"], 0), "AvailableInstanceAmount": 2000,
            "ResourceGroupId": "", "ServiceManaged": False, "Tags": {"Tag": []},
        } for _, g in page]
        return dict(fields, RegionId=region_id, SecurityGroups={"SecurityGroup": out})

    def describe_images(self, p, region_id):
        images = list(self.world.images.values())
        if p.has("ImageId"):
            wanted = [i.strip() for i in p.get("ImageId").split(",")]
            images = [i for i in images if i["ImageId"] in wanted]
        for name in ("ImageName", "ImageFamily", "OSType", "Architecture"):
            if p.has(name):
                images = [i for i in images if i.get(name) == p.get(name)]
        if p.has("ImageOwnerAlias") and p.get("ImageOwnerAlias") != "system":
            images = []
        statuses = (p.get("Status") or "Available").split(",")
        if "Available" not in statuses:
            images = []
        page, fields = paginate(list(enumerate(images)), p, key=lambda e: e[0], max_size=100, allow_token=False)
        out = [{
            "ImageId": i["ImageId"], "ImageName": i["ImageName"], "ImageFamily": i.get("ImageFamily", ""),
            "ImageVersion": "", "Description": "", "Size": i.get("Size", 20),
            "Architecture": i.get("Architecture", "x86_64"), "OSType": i.get("OSType", "linux"),
            "Platform": i.get("Platform", ""), "OSName": i.get("OSName", ""), "OSNameEn": i.get("OSNameEn", ""),
            "ImageOwnerAlias": "system", "Status": "Available", "Progress": "100%", "Usage": "instance",
            "IsPublic": True, "IsSelfShared": "", "IsSubscribed": False, "IsCopied": False,
            "IsSupportCloudinit": True, "IsSupportIoOptimized": True, "CreationTime": i["CreationTime"],
            "BootMode": "BIOS", "ProductCode": "", "ImageOwnerId": 0,
            "DiskDeviceMappings": {"DiskDeviceMapping": [{
                "Type": "system", "Device": "/dev/xvda", "Size": str(i.get("Size", 20)), "Format": "", "SnapshotId": "",
            }]},
            "Tags": {"Tag": []},
        } for _, i in page]
        return dict(fields, RegionId=region_id, Images={"Image": out})

    def describe_instance_types(self, p, region_id):
        types = list(self.world.instance_types.values())
        wanted = p.repeat("InstanceTypes")
        if wanted:
            types = [t for t in types if t["InstanceTypeId"] in wanted]
        if p.has("InstanceTypeFamily"):
            types = [t for t in types if t["InstanceTypeFamily"] == p.get("InstanceTypeFamily")]
        out = [{
            "InstanceTypeId": t["InstanceTypeId"], "InstanceTypeFamily": t["InstanceTypeFamily"],
            "CpuCoreCount": t["CpuCoreCount"], "MemorySize": float(t["MemorySize"]),
            "InstanceFamilyLevel": "EnterpriseLevel", "CpuArchitecture": "X86",
            "GPUAmount": 0, "GPUSpec": "", "LocalStorageCategory": "",
            "EniQuantity": 3, "EniPrivateIpAddressQuantity": 6, "EniIpv6AddressQuantity": 1,
            "InstanceBandwidthRx": 2048000, "InstanceBandwidthTx": 2048000,
            "InstancePpsRx": 300000, "InstancePpsTx": 300000, "PrimaryEniQueueNumber": 2,
        } for t in types]
        return {"InstanceTypes": {"InstanceType": out}, "NextToken": ""}

    # ------------------------------------------------------------------ instance helpers

    def _instance(self, region_id, instance_id):
        """Look up an instance of this region (caller holds the state lock)."""
        inst = self.state.instances.get(instance_id)
        if inst is None or inst["RegionId"] != region_id:
            raise errors.instance_not_found(instance_id)
        return inst

    def _security_groups(self, p, region_id, vpc_id):
        single = p.get("SecurityGroupId")
        many = p.repeat("SecurityGroupIds")
        if single and many:
            raise ApiError(400, "InvalidParameter.Conflict",
                           'The specified parameter "SecurityGroupId" and "SecurityGroupIds.N" cannot be '
                           'specified at the same time.')
        ids = [single] if single else many
        if not ids:
            raise errors.missing("SecurityGroupId")
        for sg_id in ids:
            sg = self.world.security_groups.get(sg_id)
            if sg is None or sg["RegionId"] != region_id:
                raise ApiError(404, "InvalidSecurityGroupId.NotFound",
                               "The SecurityGroupId provided does not exist in our records. SecurityGroupId: %s" % sg_id)
            if sg["VpcId"] != vpc_id:
                raise ApiError(400, "InvalidParameter.Mismatch",
                               "Specified security group and virtual switch are not in the same VPC.")
        if len(set(ids)) != len(ids):
            raise errors.invalid("SecurityGroupIds")
        return ids

    def _user_data(self, p):
        value = p.get("UserData")
        if value is None:
            return ""
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "InvalidUserData.Base64FormatInvalid", 'The specified parameter "UserData" is not valid base64.')
        if len(raw) > 32 * 1024:
            raise ApiError(400, "InvalidUserData.SizeExceeded", 'The specified parameter "UserData" exceeds the size.')
        return value

    def _allocate_ips(self, vsw, first_ip, amount, min_amount):
        used = self.state.used_ips(vsw["VSwitchId"])
        lo, hi = self.world.usable_hosts(vsw)
        net = vsw["_net"]
        if first_ip is not None:
            try:
                start = ipaddress.IPv4Address(first_ip)
            except ValueError:
                raise ApiError(400, "InvalidPrivateIpAddress.Malformed",
                               'The specified parameter "PrivateIpAddress" is not valid.')
            ips = [start + i for i in range(amount)]
            for ip in ips:
                if ip not in net:
                    raise ApiError(400, "InvalidPrivateIpAddress",
                                   "Specified private IP address is not in the CIDR block of virtual switch. "
                                   "PrivateIpAddress: %s, CidrBlock: %s" % (ip, vsw["CidrBlock"]))
                if not lo <= int(ip) <= hi:
                    # Guess: the docs list InvalidVSwitchId.IpInvalid for an unusable address.
                    raise ApiError(403, "InvalidVSwitchId.IpInvalid",
                                   'The specified parameter "PrivateIpAddress" %s is reserved by the virtual switch '
                                   '(the first and the last three addresses of %s are reserved).' % (ip, vsw["CidrBlock"]))
                if str(ip) in used:
                    raise ApiError(400, "InvalidPrivateIpAddress.Duplicated",
                                   "Specified private IP address is duplicated. PrivateIpAddress: %s" % ip)
            return [str(ip) for ip in ips]
        free = []
        for n in range(lo, hi + 1):
            ip = str(ipaddress.IPv4Address(n))
            if ip not in used:
                free.append(ip)
                if len(free) == amount:
                    break
        if len(free) < min_amount:
            raise ApiError(400, "QuotaExceeded.PrivateIpAddress", "Don't have enough private IPs in this switch")
        return free

    # ------------------------------------------------------------------ RunInstances

    def run_instances(self, p, region_id):
        dry_run = p.bool("DryRun")
        amount = p.int("Amount", default=1, lo=1, hi=100)
        min_error = ApiError(400, "InvalidMinAmount.Malformed", 'The specified parameter "MinAmount" is not valid.')
        min_amount = p.int("MinAmount", default=None, lo=1, hi=100, error=min_error)
        if min_amount is not None and min_amount > amount:
            raise min_error
        token = p.get("ClientToken")
        if token is not None and (len(token) > 64 or not all(32 <= ord(c) < 127 for c in token)):
            raise ApiError(400, "InvalidClientToken.ValueNotSupported", "The ClientToken provided is invalid.")

        fingerprint = json.dumps({k: v for k, v in sorted(p.raw.items()) if k not in COMMON_PARAMS}, sort_keys=True)
        token_key = "RunInstances|%s|%s" % (region_id, token)
        with self.state.lock:
            if token is not None and not dry_run and token_key in self.state.tokens:
                previous = self.state.tokens[token_key]
                if previous["fingerprint"] != fingerprint:
                    # Guess for the status and text; the code is documented.
                    raise ApiError(400, "IdempotentParameterMismatch",
                                   "Request uses a client token in a previous request but is not identical to "
                                   "that request. ClientToken: %s" % token)
                return json.loads(json.dumps(previous["result"]))

            if p.has("LaunchTemplateId") or p.has("LaunchTemplateName"):
                raise ApiError(404, "InvalidLaunchTemplate.NotFound",
                               "The specified launch template does not exist (the emulator has none).")
            image_id = p.required("ImageId")
            type_id = p.required("InstanceType")
            vsw_id = p.required("VSwitchId")

            name_tpl = p.get("InstanceName")
            host_tpl = p.get("HostName")
            host_names = p.repeat("HostNames")
            if host_tpl and host_names:
                raise ApiError(400, "InvalidParameter.Conflict",
                               'The specified parameter "HostName" and "HostNames.N" cannot be specified at the same time.')
            if host_names and len(host_names) != amount:
                raise errors.invalid("HostNames.N")
            unique_suffix = p.bool("UniqueSuffix")
            description = p.get("Description", "")
            if description and not valid_description(description):
                raise ApiError(400, "InvalidDescription.Malformed", 'The specified parameter "Description" is not valid.')
            user_data = self._user_data(p)
            tags = p.tags("Tag")
            validate_tags(tags)
            charge = p.get("InstanceChargeType", "PostPaid")
            if charge not in ("PostPaid", "PrePaid"):
                raise ApiError(404, "InvalidInstanceChargeType.NotFound",
                               'The specified parameter "InstanceChargeType" does not exist in our records.')
            net_charge = p.get("InternetChargeType", "PayByTraffic")
            if net_charge not in ("PayByTraffic", "PayByBandwidth"):
                raise ApiError(400, "InvalidInternetChargeType.ValueNotSupported",
                               'The specified parameter "InternetChargeType" is not valid.')
            bw_out = p.int("InternetMaxBandwidthOut", default=0, lo=0, hi=100)
            bw_in = p.int("InternetMaxBandwidthIn", default=0, lo=0, hi=10000)
            deletion_protection = p.bool("DeletionProtection")

            if image_id not in self.world.images:
                raise ApiError(404, "InvalidImageId.NotFound",
                               "The specified ImageId does not exist. ImageId: %s" % image_id)
            if type_id not in self.world.instance_types:
                raise ApiError(400, "InvalidInstanceType.ValueNotSupported",
                               'The specified parameter "InstanceType" does not exist or beyond the permitted range. '
                               'InstanceType: %s' % type_id)
            vsw = self.world.vswitches.get(vsw_id)
            if vsw is None or vsw["RegionId"] != region_id:
                raise ApiError(404, "InvalidVSwitchId.NotFound",
                               "Specified virtual switch does not exist. VSwitchId: %s" % vsw_id)
            zone_id = p.get("ZoneId")
            if zone_id is not None:
                zone = self.world.zones.get(zone_id)
                if zone is None or zone["RegionId"] != region_id:
                    raise ApiError(404, "InvalidZoneId.NotFound", 'The specified parameter "ZoneId" does not exist.')
                if zone_id != vsw["ZoneId"]:
                    raise ApiError(400, "InvalidParameter.Mismatch",
                                   "Specified virtual switch is not in the specified zone. "
                                   "VSwitchId %s is in %s, ZoneId is %s." % (vsw_id, vsw["ZoneId"], zone_id))
            sg_ids = self._security_groups(p, region_id, vsw["VpcId"])

            ids = []
            while len(ids) < amount:
                iid = self.state.new_id("i-", region_id)
                if iid not in self.state.instances and iid not in self.state.releasing and iid not in ids:
                    ids.append(iid)
            names, hosts = [], []
            for i, iid in enumerate(ids):
                name = expand_name(name_tpl, i, amount, iid, unique_suffix) if name_tpl else iid
                if not valid_instance_name(name):
                    raise ApiError(400, "InvalidInstanceName.Malformed",
                                   'The specified parameter "InstanceName" is not valid.')
                if host_names:
                    host = host_names[i]
                elif host_tpl:
                    host = expand_name(host_tpl, i, amount, iid, unique_suffix)
                else:
                    # Real ECS defaults to iZ<id>Z; the lab uses the instance id (container hostname too).
                    host = iid
                if not valid_host_name(host):
                    raise ApiError(400, "InvalidHostName.Malformed", 'The specified parameter "HostName" is not valid.')
                names.append(name)
                hosts.append(host)

            ips = self._allocate_ips(vsw, p.get("PrivateIpAddress"), amount,
                                     amount if min_amount is None else min_amount)
            if dry_run:
                raise errors.dry_run_operation()

            specs = []
            for i, ip in enumerate(ips):
                specs.append({
                    "InstanceId": ids[i],
                    "RegionId": region_id,
                    "ZoneId": vsw["ZoneId"],
                    "VpcId": vsw["VpcId"],
                    "VSwitchId": vsw_id,
                    "SecurityGroupIds": list(sg_ids),
                    "ImageId": image_id,
                    "InstanceType": type_id,
                    "InstanceName": names[i],
                    "HostName": hosts[i],
                    "Description": description,
                    "Tags": [[k, v or ""] for k, v in tags],
                    "UserData": user_data,
                    "PrivateIpAddress": ip,
                    "InstanceChargeType": charge,
                    "InternetChargeType": net_charge,
                    "InternetMaxBandwidthOut": bw_out,
                    "InternetMaxBandwidthIn": bw_in,
                    "KeyPairName": p.get("KeyPairName", ""),
                    "DeletionProtection": deletion_protection,
                    "NetworkInterfaceId": self.state.new_id("eni-", region_id),
                    "MacAddress": self.state.new_mac(),
                    "SerialNumber": str(uuid.uuid4()),
                    "ClientToken": token,
                })
            created = self.state.create_instances(specs)
            result = {"InstanceIdSets": {"InstanceIdSet": [c["InstanceId"] for c in created]}}
            if charge == "PrePaid":
                result["OrderId"] = str(200000000000000 + self.state.seq)
            if token is not None:
                self.state.tokens[token_key] = {"fingerprint": fingerprint, "result": result, "time": time.time()}
                self.state.save()
            return json.loads(json.dumps(result))

    # ------------------------------------------------------------------ DescribeInstances

    def _filter_instances(self, p, region_id):
        insts = [i for i in self.state.instances.values() if i["RegionId"] == region_id]
        ids = p.json_list("InstanceIds", error=ApiError(
            400, "InvalidInstanceIds.Malformed", 'The specified parameter "InstanceIds" is not valid.'))
        if ids is not None:
            wanted = set(ids)
            insts = [i for i in insts if i["InstanceId"] in wanted]
        for name in ("ZoneId", "VpcId", "VSwitchId", "ImageId", "InstanceType", "InstanceChargeType",
                     "InternetChargeType", "KeyPairName"):
            if p.has(name):
                insts = [i for i in insts if i.get(name) == p.get(name)]
        if p.has("Status"):
            insts = [i for i in insts if i["Status"] == p.get("Status")]
        if p.has("InstanceTypeFamily"):
            fam = p.get("InstanceTypeFamily")
            insts = [i for i in insts
                     if self.world.instance_types.get(i["InstanceType"], {}).get("InstanceTypeFamily") == fam]
        if p.has("SecurityGroupId"):
            insts = [i for i in insts if p.get("SecurityGroupId") in i["SecurityGroupIds"]]
        if p.has("InstanceName"):
            pattern = re.compile("^" + ".*".join(re.escape(part) for part in p.get("InstanceName").split("*")) + "$")
            insts = [i for i in insts if pattern.match(i["InstanceName"])]
        ips = p.json_list("PrivateIpAddresses")
        if ips is not None:
            insts = [i for i in insts if i["PrivateIpAddress"] in ips]
        for name in ("PublicIpAddresses", "EipAddresses", "InnerIpAddresses"):
            values = p.json_list(name)
            if values:
                insts = []  # the lab has no public, EIP or classic addresses
        tags = p.tags("Tag")
        for key, value in tags:
            insts = [i for i in insts if any(k == key and (value in (None, "") or v == value) for k, v in i["Tags"])]
        return insts

    def describe_instances(self, p, region_id):
        with self.state.lock:
            insts = self._filter_instances(p, region_id)
            page, fields = paginate(insts, p, key=lambda i: i["Seq"])
            rendered = [render_instance(self.world, i) for i in page]
        return dict(fields, Instances={"Instance": rendered})

    def describe_instance_status(self, p, region_id):
        ids = p.repeat("InstanceId")
        if len(ids) > 100:
            raise errors.invalid("InstanceId.N")
        with self.state.lock:
            insts = [i for i in self.state.instances.values() if i["RegionId"] == region_id]
            if ids:
                insts = [i for i in insts if i["InstanceId"] in ids]
            if p.has("ZoneId"):
                insts = [i for i in insts if i["ZoneId"] == p.get("ZoneId")]
            page, fields = paginate(insts, p, key=lambda i: i["Seq"], max_size=50, allow_token=False)
            out = [{"InstanceId": i["InstanceId"], "Status": i["Status"]} for i in page]
        return dict(fields, InstanceStatuses={"InstanceStatus": out})

    def describe_instance_attribute(self, p, region_id):
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            full = render_instance(self.world, inst)
        keep = ("InstanceId", "InstanceName", "Description", "HostName", "ImageId", "InstanceType", "Cpu",
                "Memory", "Status", "RegionId", "ZoneId", "InstanceNetworkType", "CreationTime",
                "InstanceChargeType", "InternetChargeType", "InternetMaxBandwidthIn", "InternetMaxBandwidthOut",
                "StoppedMode", "ExpiredTime", "SerialNumber", "EipAddress", "PublicIpAddress", "InnerIpAddress",
                "VpcAttributes", "SecurityGroupIds", "OperationLocks", "ClusterId", "VlanId", "CreditSpecification",
                "DeploymentSetId")
        return {k: full[k] for k in keep}

    # ------------------------------------------------------------------ lifecycle

    # status -> allowed from; Delete handled separately (Stopped, or anything with Force).
    _ALLOWED = {"start": ("Stopped",), "stop": ("Running",), "reboot": ("Running",)}

    def _check(self, inst, op):
        if inst["Status"] not in self._ALLOWED[op]:
            raise errors.incorrect_status(inst["InstanceId"], inst["Status"])

    def _apply(self, inst, op, p):
        if op == "start":
            self.state.start(inst)
        elif op == "stop":
            self.state.stop(inst, p.get("StoppedMode", "KeepCharging"))
        elif op == "reboot":
            self.state.reboot(inst)

    def _single(self, p, region_id, op):
        dry_run = p.bool("DryRun")
        if op == "stop" and p.has("StoppedMode") and p.get("StoppedMode") not in ("StopCharging", "KeepCharging"):
            raise errors.invalid("StoppedMode")
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            self._check(inst, op)
            if dry_run:
                raise errors.dry_run_operation()
            self._apply(inst, op, p)
        return {}

    def start_instance(self, p, region_id):
        return self._single(p, region_id, "start")

    def stop_instance(self, p, region_id):
        return self._single(p, region_id, "stop")

    def reboot_instance(self, p, region_id):
        return self._single(p, region_id, "reboot")

    def delete_instance(self, p, region_id):
        dry_run = p.bool("DryRun")
        force = p.bool("Force")
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            self._check_delete(inst, force)
            if dry_run:
                raise errors.dry_run_operation()
            self.state.delete(inst)
        return {}

    def _check_delete(self, inst, force):
        if not force and inst["Status"] != "Stopped":
            raise errors.incorrect_status(inst["InstanceId"], inst["Status"])
        if inst.get("DeletionProtection"):
            raise ApiError(403, "InvalidOperation.DeletionProtection",
                           "The specified instance has deletion protection enabled. InstanceId: %s" % inst["InstanceId"])

    def _plural_ids(self, p):
        ids = p.repeat("InstanceId")
        if not ids:
            raise errors.missing("InstanceId.N")
        if len(ids) > 100:
            raise ApiError(403, "InvalidParameter.TooManyInstanceIds", "Instance ids cannot be more than 100.")
        return ids

    def _plural(self, p, region_id, op):
        ids = self._plural_ids(p)
        dry_run = p.bool("DryRun")
        mode = p.get("BatchOptimization", "AllTogether")
        if mode not in ("AllTogether", "SuccessFirst"):
            raise errors.invalid("BatchOptimization")
        responses = []
        with self.state.lock:
            if mode == "AllTogether":
                insts = [self._instance(region_id, iid) for iid in ids]
                for inst in insts:
                    self._check(inst, op)
                if dry_run:
                    raise errors.dry_run_success()
                for inst in insts:
                    before = inst["Status"]
                    self._apply(inst, op, p)
                    responses.append(self._ok(inst["InstanceId"], before, inst["Status"]))
            else:
                if dry_run:
                    raise errors.dry_run_success()
                for iid in ids:
                    try:
                        inst = self._instance(region_id, iid)
                        before = inst["Status"]
                        self._check(inst, op)
                    except ApiError as exc:
                        current = self.state.instances.get(iid, {}).get("Status", "")
                        responses.append({"InstanceId": iid, "Code": exc.code, "Message": exc.message,
                                          "PreviousStatus": current, "CurrentStatus": current})
                        continue
                    self._apply(inst, op, p)
                    responses.append(self._ok(iid, before, inst["Status"]))
        return {"InstanceResponses": {"InstanceResponse": responses}}

    @staticmethod
    def _ok(iid, before, after):
        return {"InstanceId": iid, "Code": "200", "Message": "success", "PreviousStatus": before, "CurrentStatus": after}

    def start_instances(self, p, region_id):
        return self._plural(p, region_id, "start")

    def stop_instances(self, p, region_id):
        if p.has("StoppedMode") and p.get("StoppedMode") not in ("StopCharging", "KeepCharging"):
            raise errors.invalid("StoppedMode")
        return self._plural(p, region_id, "stop")

    def reboot_instances(self, p, region_id):
        return self._plural(p, region_id, "reboot")

    def delete_instances(self, p, region_id):
        ids = self._plural_ids(p)
        dry_run = p.bool("DryRun")
        force = p.bool("Force")
        with self.state.lock:
            insts = [self._instance(region_id, iid) for iid in ids]
            for inst in insts:
                self._check_delete(inst, force)
            if dry_run:
                raise errors.dry_run_success()
            for inst in insts:
                self.state.delete(inst)
        return {}

    # ------------------------------------------------------------------ attributes

    def describe_user_data(self, p, region_id):
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            return {"RegionId": region_id, "InstanceId": inst["InstanceId"], "UserData": inst.get("UserData", "")}

    def modify_instance_attribute(self, p, region_id):
        name = p.get("InstanceName")
        if name is not None and not valid_instance_name(name):
            raise ApiError(400, "InvalidInstanceName.Malformed", 'The specified parameter "InstanceName" is not valid.')
        host = p.get("HostName")
        if host is not None and not valid_host_name(host):
            raise ApiError(400, "InvalidHostName.Malformed", 'The specified parameter "HostName" is not valid.')
        description = p.get("Description")
        if description is not None and not valid_description(description):
            raise ApiError(400, "InvalidDescription.Malformed", 'The specified parameter "Description" is not valid.')
        user_data = self._user_data(p) if p.has("UserData") else None
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            sgs = p.repeat("SecurityGroupIds")
            if sgs:
                for sg_id in sgs:
                    sg = self.world.security_groups.get(sg_id)
                    if sg is None or sg["RegionId"] != region_id:
                        raise ApiError(404, "InvalidSecurityGroupId.NotFound",
                                       "The SecurityGroupId provided does not exist in our records. "
                                       "SecurityGroupId: %s" % sg_id)
                    if sg["VpcId"] != inst["VpcId"]:
                        raise ApiError(400, "InvalidParameter.Mismatch",
                                       "Specified security group and instance are not in the same VPC.")
            if user_data is not None and inst["Status"] != "Stopped":
                # UserData may only change while the instance is Stopped.
                raise errors.incorrect_status(inst["InstanceId"], inst["Status"])
            if name is not None:
                inst["InstanceName"] = name
            if host is not None:
                # Like the real service, a new HostName takes effect on the next (re)start; the docker
                # backend keeps the hostname the container was created with.
                inst["HostName"] = host
            if description is not None:
                inst["Description"] = description
            if user_data is not None:
                inst["UserData"] = user_data
            if sgs:
                inst["SecurityGroupIds"] = list(dict.fromkeys(sgs))
            if p.has("DeletionProtection"):
                inst["DeletionProtection"] = p.bool("DeletionProtection")
            self.state.save()
        return {}

    def join_security_group(self, p, region_id):
        sg_id = p.required("SecurityGroupId")
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            sg = self.world.security_groups.get(sg_id)
            if sg is None or sg["RegionId"] != region_id:
                raise ApiError(404, "InvalidSecurityGroupId.NotFound",
                               "The SecurityGroupId provided does not exist in our records.")
            if sg["VpcId"] != inst["VpcId"]:
                raise ApiError(400, "InvalidParameter.Mismatch",
                               "Specified security group and instance are not in the same VPC.")
            if sg_id in inst["SecurityGroupIds"]:
                raise ApiError(403, "InvalidInstanceId.AlreadyExists",
                               "The instance already exists in the specified security group.")
            inst["SecurityGroupIds"].append(sg_id)
            self.state.save()
        return {}

    def leave_security_group(self, p, region_id):
        sg_id = p.required("SecurityGroupId")
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            if sg_id not in inst["SecurityGroupIds"]:
                raise ApiError(404, "InvalidSecurityGroupId.NotFound",
                               "The SecurityGroupId provided does not exist in our records.")
            if len(inst["SecurityGroupIds"]) == 1:
                raise ApiError(403, "InvalidOperation.InstanceLastSecurityGroup",
                               "The instance must belong to at least one security group.")
            inst["SecurityGroupIds"].remove(sg_id)
            self.state.save()
        return {}

    def describe_disks(self, p, region_id):
        """Only the system disk of each instance: enough for tools that list disks per instance."""
        with self.state.lock:
            insts = [i for i in self.state.instances.values() if i["RegionId"] == region_id]
            if p.has("InstanceId"):
                insts = [i for i in insts if i["InstanceId"] == p.get("InstanceId")]
            if p.has("ZoneId"):
                insts = [i for i in insts if i["ZoneId"] == p.get("ZoneId")]
            disk_ids = p.json_list("DiskIds")
            if p.has("DiskType") and p.get("DiskType") not in ("all", "system"):
                insts = []
            disks = []
            for inst in insts:
                disk_id = "d-" + inst["InstanceId"][2:]
                if disk_ids is not None and disk_id not in disk_ids:
                    continue
                image = self.world.images.get(inst["ImageId"], {})
                disks.append((inst["Seq"], {
                    "DiskId": disk_id, "DiskName": "", "Description": "", "Type": "system",
                    "Category": "cloud_essd", "PerformanceLevel": "PL0", "Size": max(20, image.get("Size", 20)),
                    "Device": "/dev/xvda", "Status": "In_use", "InstanceId": inst["InstanceId"],
                    "RegionId": region_id, "ZoneId": inst["ZoneId"], "ImageId": inst["ImageId"],
                    "Portable": False, "DeleteWithInstance": True, "Encrypted": False,
                    "DiskChargeType": "PostPaid", "CreationTime": iso_minutes(inst["CreationTime"]),
                    "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in inst.get("Tags", [])]},
                }))
            page, fields = paginate(disks, p, key=lambda d: d[0], max_size=100)
        return dict(fields, Disks={"Disk": [d for _, d in page]})

    # ------------------------------------------------------------------ tags

    def _tag_targets(self, p, region_id):
        rtype = p.required("ResourceType")
        if rtype.lower() != "instance":
            raise ApiError(403, "InvalidResourceType.NotSupported",
                           "This resource type is not supported. Please try other resource types.")
        ids = p.repeat("ResourceId")
        if not ids:
            raise errors.missing("ResourceId.N")
        if len(ids) > 50:
            raise errors.invalid("ResourceId.N")
        targets = []
        for iid in ids:
            inst = self.state.instances.get(iid)
            if inst is None or inst["RegionId"] != region_id:
                raise ApiError(404, "InvalidResourceId.NotFound",
                               "The specified ResourceIds are not found in our records. ResourceId: %s" % iid)
            targets.append(inst)
        return targets

    def tag_resources(self, p, region_id):
        tags = p.tags("Tag")
        if not tags:
            raise errors.missing("Tag.N.Key")
        validate_tags(tags)
        with self.state.lock:
            targets = self._tag_targets(p, region_id)
            for inst in targets:
                merged = dict((k, v) for k, v in inst["Tags"])
                merged.update((k, v or "") for k, v in tags)
                if len(merged) > 20:
                    raise ApiError(400, "OperationDenied.QuotaExceed",
                                   "The quota of tags on resource is beyond permitted range.")
            for inst in targets:
                current = [list(t) for t in inst["Tags"]]
                for key, value in tags:
                    for t in current:
                        if t[0] == key:
                            t[1] = value or ""
                            break
                    else:
                        current.append([key, value or ""])
                inst["Tags"] = current
            self.state.save()
        return {}

    def untag_resources(self, p, region_id):
        keys = p.repeat("TagKey")
        remove_all = p.bool("All")
        with self.state.lock:
            targets = self._tag_targets(p, region_id)
            for inst in targets:
                if remove_all and not keys:
                    inst["Tags"] = []
                else:
                    inst["Tags"] = [t for t in inst["Tags"] if t[0] not in keys]
            self.state.save()
        return {}

    def list_tag_resources(self, p, region_id):
        rtype = p.required("ResourceType")
        if rtype.lower() != "instance":
            raise ApiError(403, "InvalidResourceType.NotSupported",
                           "This resource type is not supported. Please try other resource types.")
        ids = p.repeat("ResourceId")
        tags = p.tags("Tag")
        with self.state.lock:
            rows = []
            for inst in self.state.instances.values():
                if inst["RegionId"] != region_id or (ids and inst["InstanceId"] not in ids):
                    continue
                if tags and not all(any(k == key and (value in (None, "") or v == value) for k, v in inst["Tags"])
                                    for key, value in tags):
                    continue
                for k, v in inst["Tags"]:
                    rows.append({"ResourceId": inst["InstanceId"], "ResourceType": "instance",
                                 "TagKey": k, "TagValue": v})
        return {"TagResources": {"TagResource": rows}, "NextToken": ""}
