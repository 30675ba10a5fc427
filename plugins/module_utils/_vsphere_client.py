# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the vSphere files: the logged-in session and its bulk reads (vsphere.connect() makes one).

Reads are bulk: one paged PropertyCollector retrieval (RetrievePropertiesEx +
ContinueRetrievePropertiesEx) over a ContainerView, returning plain dicts, never a lazy
``vm.config.x`` attribute read per VM. With ``plain=True`` the SOAP answer is parsed here
with ElementTree instead of pyVmomi's typed objects (much faster for thousands of VMs).
Starting tasks and waiting for tasks and guest IPs: _vsphere_waits.py (a base of Client).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import io
from xml.etree import ElementTree

from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import VSphereError, with_retries
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_waits import Waits

try:
    from pyVim.connect import Disconnect
    from pyVmomi import vim, vmodl
    from pyVmomi.SoapAdapter import SoapResponseDeserializer
    from pyVmomi.VmomiSupport import GetWsdlType, ManagedObject
except ImportError:  # reported by connect()
    pass


PC = None  # vmodl.query.PropertyCollector, set on first use (pyVmomi may be absent)


def _pc():
    global PC
    if PC is None:
        PC = vmodl.query.PropertyCollector
    return PC


def _plain(value):
    """Turn a property value into plain data: refs -> moid, OptionValue/CustomValue lists -> dict.

    Other data objects (devices, ...) are passed through; callers that need
    them know their pyVmomi type.
    """
    if isinstance(value, ManagedObject):
        return value._moId
    # The exact type is the point here (pylint's unidiomatic-typecheck would have isinstance):
    # a str or int subclass is a pyVmomi type that plain data must not carry.
    if isinstance(value, str) and type(value) is not str:  # pylint: disable=unidiomatic-typecheck
        return str(value)  # pyVmomi enums (powerState, ...) are str subclasses
    if isinstance(value, int) and not isinstance(value, bool) and type(value) is not int:  # pylint: disable=unidiomatic-typecheck
        return int(value)  # pyVmomi's long/short/byte
    if isinstance(value, list):
        item = getattr(value, "Item", None)  # pyVmomi arrays know their item type, even empty
        if item is not None and issubclass(item, (vim.option.OptionValue, vim.CustomFieldsManager.Value)):
            return dict((o.key, getattr(o, "value", None)) for o in value)
        if value and isinstance(value[0], ManagedObject):
            return [v._moId for v in value]
        return list(value)
    return value


class Client(Waits):
    """A logged-in vCenter session. All SOAP traffic of the collection goes through here."""

    def __init__(self, si):
        self.si = si
        self.content = with_retries(si.RetrieveContent)
        self._known = {}  # moid -> pyVmomi ref, for every object a retrieval returned
        self._types = {}  # moid -> type name, from plain retrievals (refs made on demand)
        self._collector = None

    def close(self):
        try:
            if self._collector is not None:
                self._collector.DestroyPropertyCollector()
            Disconnect(self.si)
        except Exception:  # noqa: BLE001 - logging out is best effort
            pass

    def obj(self, object_id):
        """The pyVmomi ref of a moid seen in an earlier retrieval."""
        if object_id not in self._known:
            vimtype = GetWsdlType("urn:vim25", self._types[object_id])
            self._known[object_id] = vimtype(object_id, self.si._stub)
        return self._known[object_id]

    # ---------------------------------------------------------------- reads

    def retrieve(self, filter_specs, page_size=1000, plain=False):
        """One paged RetrievePropertiesEx; returns [{'moid', 'type', <path>: plain value}].

        plain=True parses the response straight into dicts (see _invoke_plain), which is
        several times faster for thousands of objects; data-object values then are dicts
        instead of pyVmomi objects. Use it where nothing needs the pyVmomi objects.
        """
        collector = self.content.propertyCollector
        options = _pc().RetrieveOptions(maxObjects=page_size)
        if plain:
            return self._retrieve_plain(collector, filter_specs, options)
        result = with_retries(collector.RetrievePropertiesEx, filter_specs, options)
        rows = []
        while result is not None:
            for oc in result.objects:
                rows.append(self._row(oc))
            if not result.token:
                break
            result = with_retries(collector.ContinueRetrievePropertiesEx, result.token)
        return rows

    def _retrieve_plain(self, collector, filter_specs, options):
        rows, token = with_retries(self._invoke_plain, collector, "RetrievePropertiesEx", [filter_specs, options])
        while token:
            more, token = with_retries(self._invoke_plain, collector, "ContinueRetrievePropertiesEx", [token])
            rows.extend(more)
        return rows

    def _invoke_plain(self, mo, method, args):
        """Call a PropertyCollector retrieval through pyVmomi's session, parse the answer with ElementTree.

        pyVmomi builds a typed object for every element of the response, which is most of the
        time an inventory of thousands of VMs takes. The request is still serialised by
        pyVmomi and sent on its pooled, logged-in connection; only a successful answer is
        parsed here (faults go through pyVmomi's own deserialiser, so they raise as usual).
        """
        stub = self.si._stub
        info = mo._GetMethodInfo(method)
        body = stub.SerializeRequest(mo, info, args)
        headers = {"Cookie": stub.cookie, "SOAPAction": stub.versionId,
                   "Content-Type": "text/xml; charset=UTF-8"}
        conn = stub.GetConnection()
        try:
            conn.request("POST", stub.path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            stub.DropConnections()
            raise
        stub.ReturnConnection(conn)
        if resp.status == 500:
            fault = SoapResponseDeserializer(stub).Deserialize(io.BytesIO(data), info.result)
            raise fault
        if resp.status != 200:
            raise http.client.HTTPException("%s %s" % (resp.status, resp.reason))
        return self._parse_retrieve_result(data)

    def _parse_retrieve_result(self, data):
        root = ElementTree.fromstring(data)
        returnval = root.find(".//{urn:vim25}returnval")
        rows, token = [], None
        if returnval is None:
            return rows, token
        for child in returnval:
            if child.tag == V25 + "objects":
                rows.append(self._plain_row(child))
            elif child.tag == V25 + "token":
                token = child.text
        return rows, token

    def _plain_row(self, element):
        row = {}
        for child in element:
            if child.tag == V25 + "propSet":
                name, value = None, None
                for part in child:
                    if part.tag == V25 + "name":
                        name = part.text
                    elif part.tag == V25 + "val":
                        xsi = part.get(XSI_TYPE)
                        # The common cases inline; everything else through _xml_value.
                        if xsi == "xsd:string":
                            value = part.text or ""
                        elif xsi == "ManagedObjectReference":
                            value = part.text
                            self._types[value] = part.get("type")
                        else:
                            value = self._xml_value(part)
                row[name] = value
            elif child.tag == V25 + "obj":
                row["moid"], row["type"] = child.text, child.get("type")
                self._types[child.text] = child.get("type")
        return row

    def _xml_value(self, element, pytype=None):
        """A SOAP value as plain data, shaped like _plain() shapes pyVmomi values.

        Types come from xsi:type where the server sends it, else from pyVmomi's type
        description of the enclosing data object (so numbers stay numbers).
        """
        xsi = element.get(XSI_TYPE)
        children = list(element)
        if xsi:
            kind = xsi.rpartition(":")[2]
            if kind in XSD_TYPES:
                return _xsd_value(element.text, XSD_TYPES[kind])
            if kind == "ArrayOfManagedObjectReference":
                return [self._xml_value(c) for c in children]
            pytype = _wsdl_class(kind) or pytype
        if element.get("type") is not None and not children:  # a ManagedObjectReference
            self._types[element.text] = element.get("type")
            return element.text
        if pytype is not None and issubclass(pytype, list):  # ArrayOfX: one element per item
            items = [self._xml_value(c, getattr(pytype, "Item", None)) for c in children]
            if issubclass(getattr(pytype, "Item", type(None)), (vim.option.OptionValue, vim.CustomFieldsManager.Value)):
                return dict((i.get("key"), i.get("value")) for i in items)
            return items
        if not children:
            return _xsd_value(element.text, _primitive_of(pytype))
        fields = _property_types(pytype)
        data = {}
        for c in children:
            key = c.tag.rpartition("}")[2]
            ftype = fields.get(key)
            item_type = getattr(ftype, "Item", None) if ftype is not None and issubclass(ftype, list) else None
            value = self._xml_value(c, item_type or ftype)
            if item_type is not None:
                data.setdefault(key, []).append(value)  # arrays inside data objects repeat the element
            else:
                data[key] = value
        for key, ftype in fields.items():  # unset arrays: [] as pyVmomi gives them
            if key not in data and key != "dynamicProperty" and issubclass(ftype, list):
                data[key] = []
        return data

    def _row(self, oc):
        ref = oc.obj
        self._known[ref._moId] = ref
        row = {"moid": ref._moId, "type": ref._wsdlName}
        for prop in oc.propSet:
            value = prop.val
            if isinstance(value, ManagedObject):
                self._known[value._moId] = value
            elif isinstance(value, list) and value and isinstance(value[0], ManagedObject):
                for v in value:
                    self._known[v._moId] = v
            row[prop.name] = _plain(value)
        return row

    def view_filter(self, view, prop_specs):
        """A FilterSpec selecting every object of a ContainerView."""
        P = _pc()
        traverse = P.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)
        return P.FilterSpec(objectSet=[P.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
                            propSet=prop_specs)

    def objects_filter(self, refs, prop_specs):
        P = _pc()
        return P.FilterSpec(objectSet=[P.ObjectSpec(obj=r, skip=False) for r in refs], propSet=prop_specs)

    @staticmethod
    def props(properties):
        """{vimtype: [paths]} -> [PropertySpec]."""
        return [_pc().PropertySpec(type=t, pathSet=list(paths), all=False) for t, paths in properties.items()]

    def create_view(self, root, types):
        root = root if root is not None else self.content.rootFolder
        return with_retries(self.content.viewManager.CreateContainerView, root, list(types), True)

    def destroy_view(self, view):
        try:
            view.DestroyView()
        except Exception:  # noqa: BLE001 - the session ends soon anyway
            pass

    def retrieve_views(self, roots, properties, extra_specs=(), page_size=1000, plain=False):
        """Everything of the given types under each root (None = whole inventory), in ONE retrieval.

        ``properties``: {vimtype: [paths]}; ``extra_specs``: more FilterSpecs for
        the same RetrievePropertiesEx (e.g. custom field definitions).
        """
        views = [self.create_view(r, properties.keys()) for r in (roots or [None])]
        try:
            specs = [self.view_filter(v, self.props(properties)) for v in views]
            rows = self.retrieve(specs + list(extra_specs), page_size=page_size, plain=plain)
        finally:
            for v in views:
                self.destroy_view(v)
        seen, unique = set(), []
        for row in rows:  # overlapping roots (a cluster inside a chosen folder) list objects twice
            if row["moid"] not in seen:
                seen.add(row["moid"])
                unique.append(row)
        return unique

    def retrieve_objects(self, refs, properties):
        if not refs:
            return []
        return self.retrieve([self.objects_filter(refs, self.props(properties))])

    def field_definitions_spec(self):
        """FilterSpec for the custom attribute definitions (CustomFieldsManager.field)."""
        return self.objects_filter([self.content.customFieldsManager],
                                   self.props({vim.CustomFieldsManager: ["field"]}))

    @staticmethod
    def field_names(rows):
        """{key: name} from a retrieval that included field_definitions_spec()."""
        for row in rows:
            if row["type"] == "CustomFieldsManager":
                fields = {}
                for f in row.get("field") or []:
                    if isinstance(f, dict):  # from a plain retrieval
                        if f.get("managedObjectType") in (None, "VirtualMachine"):
                            fields[f["key"]] = f["name"]
                    elif f.managedObjectType in (None, vim.VirtualMachine):
                        fields[f.key] = f.name
                return fields
        return {}

    def find_datacenter(self, name):
        """The Datacenter ref: one search-index call when it sits in the root folder (the usual
        case), else a search of all datacenters (it may be inside folders)."""
        ref = self.find_by_inventory_path(name)
        if isinstance(ref, vim.Datacenter):
            return ref
        rows = self.retrieve_views(None, {vim.Datacenter: ["name"]}, plain=True)
        found = [r for r in rows if r["name"] == name]
        if not found:
            raise VSphereError("datacenter: '%s' not found; vCenter has: %s"
                               % (name, ", ".join(sorted(r["name"] for r in rows)) or "none"))
        return self.obj(found[0]["moid"])

    def find_by_inventory_path(self, path):
        """A managed entity by inventory path (/DC0/vm/folder/vm), or None."""
        return with_retries(self.content.searchIndex.FindByInventoryPath, path)


XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
XSD_TYPES = {"boolean": bool, "int": int, "long": int, "short": int, "byte": int, "double": float,
             "float": float, "string": str, "dateTime": str, "anyURI": str, "base64Binary": str}
_PROPERTY_TYPES = {}


V25 = "{urn:vim25}"
_WSDL_CLASSES = {}


def _wsdl_class(name):
    if name not in _WSDL_CLASSES:
        try:
            _WSDL_CLASSES[name] = GetWsdlType("urn:vim25", name)
        except Exception:  # noqa: BLE001 - unknown type: handled as untyped data
            _WSDL_CLASSES[name] = None
    return _WSDL_CLASSES[name]


def _property_types(cls):
    """{property name: pyVmomi type} of a data object class (cached)."""
    if cls is None or not hasattr(cls, "_GetPropertyList"):
        return {}
    if cls not in _PROPERTY_TYPES:
        _PROPERTY_TYPES[cls] = dict((p.name, p.type) for p in cls._GetPropertyList())
    return _PROPERTY_TYPES[cls]


def _primitive_of(pytype):
    if pytype is None:
        return str
    for base in (bool, int, float):
        if issubclass(pytype, base):
            return base
    return str


def _xsd_value(text, kind):
    text = text or ""
    if kind is bool:
        return text == "true"
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            return text
    return text
