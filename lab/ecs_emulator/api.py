"""The ECS 2014-05-26 actions: what each does to the state and the body it answers with."""

import base64
import binascii
import ipaddress
import json
import re
import uuid

from . import errors
from .attribute_api import AttributeActions
from .eni_api import EniActions, listed_secondary_ips
from .errors import ApiError
from .params import (
    Params,
    client_token,
    expand_name,
    paginate,
    system_disk,
    valid_description,
    valid_host_name,
    valid_instance_name,
    validate_tags,
)
from .tag_api import TagActions
from .views import render_instance
from .world_api import WorldActions

STATUSES = ("Pending", "Running", "Starting", "Stopping", "Stopped")

# What DescribeInstances answers at most when filtering by Tag.N (documented: 1,000 resources).
TAG_FILTER_MAX = 1000


class Api(WorldActions, AttributeActions, TagActions, EniActions):
    """One method per action; each returns the response body without RequestId."""

    # RegionId as the API reference has it (aliyun.md 2.6; request models of the current SDK):
    # these answer for any RegionId, even an unknown one (the inventory plugin asks cn-beijing) ...
    REGION_IGNORED = {"DescribeRegions", "DescribeInstanceTypes"}
    # ... these find the instance by its id and take RegionId only as an optional check, so a
    # client that sends none (the current SDK for StopInstance & co.) works. The rest require it.
    REGION_OPTIONAL = {"StartInstance", "StopInstance", "RebootInstance", "DeleteInstance",
                       "DescribeInstanceAttribute", "ModifyInstanceAttribute", "JoinSecurityGroup",
                       "LeaveSecurityGroup", "DescribeVSwitches"}
    # Actions that change instances, and the parameters that name them: two of these on one
    # instance at the same time -> OperationConflict for the second.
    CHANGING = {
        "StartInstance": "InstanceId", "StopInstance": "InstanceId", "RebootInstance": "InstanceId",
        "DeleteInstance": "InstanceId", "ModifyInstanceAttribute": "InstanceId",
        "JoinSecurityGroup": "InstanceId", "LeaveSecurityGroup": "InstanceId",
        "StartInstances": "InstanceId.N", "StopInstances": "InstanceId.N", "RebootInstances": "InstanceId.N",
        "DeleteInstances": "InstanceId.N", "TagResources": "ResourceId.N", "UntagResources": "ResourceId.N",
    }

    def __init__(self, state, tag_filter_max=TAG_FILTER_MAX):
        self.state = state
        self.world = state.world
        self.tag_filter_max = int(tag_filter_max)
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
            "AssignPrivateIpAddresses": self.assign_private_ip_addresses,
            "UnassignPrivateIpAddresses": self.unassign_private_ip_addresses,
            "DescribeNetworkInterfaces": self.describe_network_interfaces,
        }

    def call(self, action, raw_params, region_id, caller=None, list_lag=None):
        """caller: the AccessKeyId; list_lag: the listing lag of what this call makes (default: the state's)."""
        p = Params(raw_params, caller=caller, list_lag=self.state.list_lag if list_lag is None else list_lag)
        if action in self.REGION_IGNORED:
            pass
        elif region_id:
            if region_id not in self.world.regions:
                raise errors.region_not_found()
        elif action in self.REGION_OPTIONAL:
            region_id = None  # any region
        else:
            raise errors.missing("RegionId")
        return self.actions[action](p, region_id)

    def changed_instances(self, action, raw_params):
        """Ids of the instances a changing action works on (empty for the others)."""
        name = self.CHANGING.get(action)
        if name is None:
            return []
        p = Params(raw_params)
        if name.endswith(".N"):
            return list(dict.fromkeys(p.repeat(name[:-2])))
        return [p.get(name)] if p.has(name) else []

    # ------------------------------------------------------------------ instance helpers

    def _instance(self, region_id, instance_id):
        """Look up an instance of this region, or of any when region_id is None (caller holds the lock)."""
        inst = self.state.instances.get(instance_id)
        if inst is None or region_id not in (None, inst["RegionId"]):
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
                               "The SecurityGroupId provided does not exist in our records. SecurityGroupId: %s"
                               % sg_id)
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
            raise ApiError(400, "InvalidUserData.Base64FormatInvalid",
                           'The specified parameter "UserData" is not valid base64.')
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
                                   '(the first and the last three addresses of %s are reserved).'
                                   % (ip, vsw["CidrBlock"]))
                if str(ip) in used:
                    raise ApiError(400, "InvalidPrivateIpAddress.Duplicated",
                                   "Specified private IP address is duplicated. PrivateIpAddress: %s" % ip)
            return [str(ip) for ip in ips]
        free = self.state.free_ips(vsw["VSwitchId"], lo, hi, amount)
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
        token, token_key, fingerprint = client_token(p, "RunInstances", region_id)
        with self.state.lock:
            previous = self.state.remembered_token(token_key) if token is not None and not dry_run else None
            if previous is not None:
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
                               'The specified parameter "HostName" and "HostNames.N" cannot be specified '
                               'at the same time.')
            if host_names and len(host_names) != amount:
                raise errors.invalid("HostNames.N")
            unique_suffix = p.bool("UniqueSuffix")
            description = p.get("Description", "")
            if description and not valid_description(description):
                raise ApiError(400, "InvalidDescription.Malformed",
                               'The specified parameter "Description" is not valid.')
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
            image = self.world.images[image_id]
            disk = system_disk(p, image.get("Size", 20))
            os_type = image.get("OSType", "linux")

            ids = []
            while len(ids) < amount:
                iid = self.state.new_id("i-", region_id)
                if iid not in self.state.instances and iid not in self.state.releasing and iid not in ids:
                    ids.append(iid)
            names, hosts = [], []
            for i, iid in enumerate(ids):
                name = expand_name(name_tpl, i, amount, iid, unique_suffix) if name_tpl else iid
                if unique_suffix and name_tpl and len(name) > 128:
                    raise ApiError(403, "InvalidParams.InstanceNameExceed",
                                   "The uniqueSuffix takes three naming places, please shorten your InstanceName.")
                if not valid_instance_name(name):
                    raise errors.malformed_name("InstanceName", name)
                if host_names:
                    host = host_names[i]
                elif host_tpl:
                    host = expand_name(host_tpl, i, amount, iid, unique_suffix)
                else:
                    # Real ECS defaults to iZ<id>Z; the lab uses the instance id (container hostname too).
                    host = iid
                if not valid_host_name(host, os_type):
                    raise errors.malformed_name("HostNames.N" if host_names else "HostName", host, os_type)
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
                    # Derived from the instance id, so stable and unique like it.
                    "NetworkInterfaceId": "eni-" + ids[i][2:],
                    "MacAddress": self.state.new_mac(),
                    "SerialNumber": str(uuid.uuid4()),
                    "ClientToken": token,
                    "SystemDisk": dict(disk, DiskId="d-" + ids[i][2:]),
                })
            created = self.state.create_instances(specs, list_lag=p.list_lag, caller=p.caller)
            result = {"InstanceIdSets": {"InstanceIdSet": [c["InstanceId"] for c in created]}}
            if charge == "PrePaid":
                result["OrderId"] = str(200000000000000 + self.state.seq)
            if token is not None:
                self.state.remember_token(token_key, fingerprint, result)
            return json.loads(json.dumps(result))

    # ------------------------------------------------------------------ DescribeInstances

    def _filter_instances(self, p, region_id):
        # A new instance is listed only once the listing lag has passed (by id too), like the real API.
        insts = self.state.listed(region_id)
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
        if tags:
            # Filtering by tag answers at most this many instances (the oldest), TotalCount included;
            # the documented way past it is ListTagResources.
            insts = insts[:self.tag_filter_max]
        return insts

    def describe_instances(self, p, region_id):
        with self.state.lock:
            insts = self._filter_instances(p, region_id)
            page, fields = paginate(insts, p, key=lambda i: i["Seq"])
            # The primary ENI's secondary IPs only when asked for (the API reference of DescribeInstances).
            eni_ips = "NETWORK_PRIMARY_ENI_IP" in p.repeat("AdditionalAttributes")
            rendered = [render_instance(self.world, i, listed_secondary_ips(i) if eni_ips else None) for i in page]
        return dict(fields, Instances={"Instance": rendered})

    def describe_instance_status(self, p, region_id):
        ids = p.repeat("InstanceId")
        if len(ids) > 100:
            raise errors.invalid("InstanceId.N")
        with self.state.lock:
            insts = self.state.listed(region_id)
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

    # op -> the statuses it is allowed from (the API reference of each action). Any other status,
    # the transitional ones included, answers IncorrectInstanceStatus (403). Delete: see _check_delete.
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
        """Stopped, or Running with Force. Pending answers IncorrectInstanceStatus.Initializing."""
        status = inst["Status"]
        if status == "Pending":
            raise errors.initializing(inst["InstanceId"])
        if status != "Stopped" and not (force and status == "Running"):
            raise errors.incorrect_status(inst["InstanceId"], status)
        if inst.get("DeletionProtection"):
            raise ApiError(403, "InvalidOperation.DeletionProtection",
                           "The specified instance has deletion protection enabled. InstanceId: %s"
                           % inst["InstanceId"])

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
        return {"InstanceId": iid, "Code": "200", "Message": "success",
                "PreviousStatus": before, "CurrentStatus": after}

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
