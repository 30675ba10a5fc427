"""The actions on the fixed part of the cloud: regions, zones, VPCs, vSwitches, security groups,
images and instance types (the world file). A mixin of Api, which provides self.world and self.state."""

from .eni_api import DEFAULT_ENI_IP_QUANTITY
from .params import paginate


class WorldActions:
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
        for _key, v in page:
            vsws = [s["VSwitchId"] for s in self.world.vswitches.values() if s["VpcId"] == v["VpcId"]]
            out.append({
                "VpcId": v["VpcId"], "RegionId": region_id, "Status": "Available", "VpcName": v["VpcName"],
                "VSwitchIds": {"VSwitchId": vsws}, "CidrBlock": v["CidrBlock"], "VRouterId": v["VRouterId"],
                "Description": v.get("Description", ""), "IsDefault": bool(v.get("IsDefault")),
                "CreationTime": v["CreationTime"], "UserCidrs": {"UserCidr": []},
            })
        return dict(fields, Vpcs={"Vpc": out})

    def describe_vswitches(self, p, region_id):
        vsws = [s for s in self.world.vswitches.values() if region_id in (None, s["RegionId"])]
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
            } for _key, s in page]
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
        } for _key, g in page]
        return dict(fields, RegionId=region_id, SecurityGroups={"SecurityGroup": out})

    def describe_images(self, p, region_id):
        images = list(self.world.images.values())
        if p.has("ImageId"):
            wanted = [i.strip() for i in p.get("ImageId").split(",")]
            images = [i for i in images if i["ImageId"] in wanted]
        for name in ("ImageName", "ImageFamily", "OSType", "Architecture"):
            if p.has(name):
                images = [i for i in images if i.get(name) == p.get(name)]
        if p.has("ImageOwnerAlias"):
            images = [i for i in images if i.get("ImageOwnerAlias", "system") == p.get("ImageOwnerAlias")]
        statuses = (p.get("Status") or "Available").split(",")
        if "Available" not in statuses:
            images = []
        page, fields = paginate(list(enumerate(images)), p, key=lambda e: e[0], max_size=100, allow_token=False)
        out = [{
            "ImageId": i["ImageId"], "ImageName": i["ImageName"], "ImageFamily": i.get("ImageFamily", ""),
            "ImageVersion": "", "Description": "", "Size": i.get("Size", 20),
            "Architecture": i.get("Architecture", "x86_64"), "OSType": i.get("OSType", "linux"),
            "Platform": i.get("Platform", ""), "OSName": i.get("OSName", ""), "OSNameEn": i.get("OSNameEn", ""),
            "ImageOwnerAlias": i.get("ImageOwnerAlias", "system"), "Status": "Available", "Progress": "100%",
            "Usage": "instance", "IsPublic": i.get("ImageOwnerAlias", "system") == "system", "IsSelfShared": "",
            "IsSubscribed": False, "IsCopied": False,
            "IsSupportCloudinit": True, "IsSupportIoOptimized": True, "CreationTime": i["CreationTime"],
            "BootMode": "BIOS", "ProductCode": "", "ImageOwnerId": 0,
            "DiskDeviceMappings": {"DiskDeviceMapping": [{
                "Type": "system", "Device": "/dev/xvda", "Size": str(i.get("Size", 20)), "Format": "", "SnapshotId": "",
            }]},
            "Tags": {"Tag": []},
        } for _key, i in page]
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
            "EniQuantity": 3, "EniIpv6AddressQuantity": 1,
            "EniPrivateIpAddressQuantity": t.get("EniPrivateIpAddressQuantity", DEFAULT_ENI_IP_QUANTITY),
            "InstanceBandwidthRx": 2048000, "InstanceBandwidthTx": 2048000,
            "InstancePpsRx": 300000, "InstancePpsTx": 300000, "PrimaryEniQueueNumber": 2,
        } for t in types]
        return {"InstanceTypes": {"InstanceType": out}, "NextToken": ""}
