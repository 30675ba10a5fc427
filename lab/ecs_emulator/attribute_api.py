"""The actions on one instance's attributes: user data, name, host name, description, security
groups (ModifyInstanceAttribute, Join/LeaveSecurityGroup) and its system disk (DescribeDisks).
A mixin of Api, which provides self.world, self.state, self._instance and self._user_data."""

from . import errors
from .errors import ApiError
from .params import paginate, valid_description, valid_host_name, valid_instance_name
from .views import render_disk


class AttributeActions:
    def describe_user_data(self, p, region_id):
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            return {"RegionId": region_id, "InstanceId": inst["InstanceId"], "UserData": inst.get("UserData", "")}

    def modify_instance_attribute(self, p, region_id):
        name = p.get("InstanceName")
        if name is not None and not valid_instance_name(name):
            raise errors.malformed_name("InstanceName", name)
        host = p.get("HostName")
        description = p.get("Description")
        if description is not None and not valid_description(description):
            raise ApiError(400, "InvalidDescription.Malformed", 'The specified parameter "Description" is not valid.')
        user_data = self._user_data(p) if p.has("UserData") else None
        with self.state.lock:
            inst = self._instance(region_id, p.required("InstanceId"))
            os_type = self.world.images.get(inst["ImageId"], {}).get("OSType", "linux")
            if host is not None and not valid_host_name(host, os_type):
                raise errors.malformed_name("HostName", host, os_type)
            sgs = p.repeat("SecurityGroupIds")
            if sgs:
                for sg_id in sgs:
                    sg = self.world.security_groups.get(sg_id)
                    if sg is None or sg["RegionId"] != inst["RegionId"]:
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

    def _sg_member(self, p, region_id):
        """The instance of Join/LeaveSecurityGroup, which must be Running or Stopped."""
        inst = self._instance(region_id, p.required("InstanceId"))
        if inst["Status"] not in ("Running", "Stopped"):
            raise errors.incorrect_status(inst["InstanceId"], inst["Status"])
        return inst

    def join_security_group(self, p, region_id):
        sg_id = p.required("SecurityGroupId")
        with self.state.lock:
            inst = self._sg_member(p, region_id)
            sg = self.world.security_groups.get(sg_id)
            if sg is None or sg["RegionId"] != inst["RegionId"]:
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
            inst = self._sg_member(p, region_id)
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
        """The system disk of each instance (the lab has no data disks), with the fields real ECS returns."""
        disk_ids = p.json_list("DiskIds")
        tags = p.tags("Tag")
        with self.state.lock:
            insts = [i for i in self.state.instances.values() if i["RegionId"] == region_id]
            if p.has("InstanceId"):
                insts = [i for i in insts if i["InstanceId"] == p.get("InstanceId")]
            if p.get("DiskType", "all") not in ("all", "system"):
                insts = []
            disks = []
            for inst in insts:
                disk = render_disk(self.world, inst)
                if disk_ids is not None and disk["DiskId"] not in disk_ids:
                    continue
                if any(p.has(name) and disk[name] != p.get(name) for name in ("ZoneId", "Category", "DiskName")):
                    continue
                if p.has("Status") and p.get("Status") not in ("All", disk["Status"]):
                    continue
                if not all(any(k == key and value in (None, "", v) for k, v in inst["Tags"]) for key, value in tags):
                    continue
                disks.append((inst["Seq"], disk))
            page, fields = paginate(disks, p, key=lambda d: d[0], max_size=100)
        return dict(fields, Disks={"Disk": [d for _key, d in page]})
