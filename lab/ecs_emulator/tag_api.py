"""The tag actions (TagResources, UntagResources, ListTagResources) on instances.
A mixin of Api, which provides self.state."""

from . import errors
from .errors import ApiError
from .params import validate_tags


class TagActions:
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
