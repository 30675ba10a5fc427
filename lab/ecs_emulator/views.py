"""Response shapes of instances and disks, as DescribeInstances and DescribeDisks return them."""

import time

from .state import iso_minutes


def iso_seconds(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def render_instance(world, inst, secondary_ips=None):
    """secondary_ips: the primary ENI's listed secondary IPs, shown only when DescribeInstances asks for them."""
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
            "PrivateIpSets": {"PrivateIpSet": [{"PrivateIpAddress": ip, "Primary": True}]
                              + [{"PrivateIpAddress": s, "Primary": False} for s in secondary_ips or []]},
            "Ipv6Sets": {"Ipv6Set": []},
        }]},
        "OperationLocks": {"LockReason": []},
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in inst.get("Tags", [])]},
        "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "optional", "HttpPutResponseHopLimit": 1},
        "CpuOptions": {"CoreCount": max(1, itype.get("CpuCoreCount", 2) // 2), "ThreadsPerCore": 2, "Numa": ""},
    }


# Rough per-category performance, from the published formulas (baseline + per GiB, capped);
# nothing in the lab depends on the figures, clients only expect the fields to be there.
_PERF = {  # category or category:level -> (iops base, iops per GiB, iops cap, MB/s base, per GiB, cap)
    "cloud": (300, 0, 300, 30, 0, 30),
    "cloud_efficiency": (1800, 8, 5000, 100, 0.15, 140),
    "cloud_ssd": (1800, 30, 25000, 120, 0.5, 300),
    "cloud_essd:PL0": (1800, 12, 10000, 100, 0.25, 180),
    "cloud_essd:PL1": (1800, 50, 50000, 120, 0.5, 350),
    "cloud_essd:PL2": (1800, 50, 100000, 120, 0.5, 750),
    "cloud_essd:PL3": (1800, 50, 1000000, 120, 0.5, 4000),
    "cloud_essd_entry": (1800, 8, 6000, 100, 0.15, 150),
    "cloud_auto": (3000, 50, 50000, 125, 0.25, 350),
}


def system_disk_of(world, inst):
    """The instance's system disk record; instances saved before disks were stored get the old answer."""
    disk = inst.get("SystemDisk")
    if disk is None:
        image = world.images.get(inst["ImageId"], {})
        disk = {"Category": "cloud_essd", "Size": max(20, image.get("Size", 20)), "PerformanceLevel": "PL0",
                "DiskName": "", "Description": ""}
    return dict(disk, DiskId=disk.get("DiskId") or "d-" + inst["InstanceId"][2:])


def render_disk(world, inst):
    disk = system_disk_of(world, inst)
    category, size, level = disk["Category"], disk["Size"], disk.get("PerformanceLevel", "")
    base, per, cap, mb_base, mb_per, mb_cap = _PERF.get(category + ":" + level, _PERF.get(category, _PERF["cloud"]))
    iops = int(min(base + per * size, cap))
    mbps = int(min(mb_base + mb_per * size, mb_cap))
    created = iso_seconds(inst["CreationTime"])
    device = "/dev/xvda"
    return {
        "DiskId": disk["DiskId"],
        "DiskName": disk.get("DiskName", ""),
        "Description": disk.get("Description", ""),
        "Type": "system",
        "Category": category,
        "PerformanceLevel": level,
        "Size": size,
        "IOPS": iops,
        "IOPSRead": iops // 2,
        "IOPSWrite": iops // 2,
        "Throughput": mbps,
        "ThroughputRead": mbps // 2,
        "ThroughputWrite": mbps // 2,
        "ProvisionedIops": 0,
        "BurstingEnabled": False,
        "Device": device,
        "Status": "In_use",
        "InstanceId": inst["InstanceId"],
        "RegionId": inst["RegionId"],
        "ZoneId": inst["ZoneId"],
        "ImageId": inst["ImageId"],
        "SourceSnapshotId": "",
        "SourceDiskId": "",
        "DataSource": {"Id": "", "Type": ""},
        "Placement": {"ZoneIds": inst["ZoneId"]},
        "Portable": False,
        "DeleteWithInstance": True,
        "DeleteAutoSnapshot": False,
        "EnableAutoSnapshot": False,
        "EnableAutomatedSnapshotPolicy": False,
        "AutoSnapshotPolicyId": "",
        "Encrypted": False,
        "KMSKeyId": "",
        "DiskChargeType": inst.get("InstanceChargeType", "PostPaid"),
        "CreationTime": created,
        "AttachedTime": created,
        "DetachedTime": "",
        "ExpiredTime": "2999-09-08T16:00Z",
        "SerialNumber": disk["DiskId"][2:],
        "ResourceGroupId": "",
        "ProductCode": "",
        "StorageSetId": "",
        "StorageSetPartitionNumber": 0,
        "StorageClusterId": "",
        "BdfId": "",
        "MultiAttach": "Disabled",
        "MountInstanceNum": 0,
        "MountInstances": {"MountInstance": []},
        "Attachments": {"Attachment": [{"InstanceId": inst["InstanceId"], "Device": device, "AttachedTime": created}]},
        "OperationLocks": {"OperationLock": []},
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in inst.get("Tags", [])]},
    }
