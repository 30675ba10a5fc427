# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one vSphere client, and the VM provisioning logic on top of it.

Everything that talks SOAP to vCenter lives in this file (pyVmomi underneath).
Design rules, because they are what makes it fast against a real vCenter:

* Reads are bulk: one paged PropertyCollector retrieval (RetrievePropertiesEx +
  ContinueRetrievePropertiesEx) over a ContainerView, returning plain dicts.
  Never a lazy ``vm.config.x`` attribute read per VM.
* Tasks are started concurrently (a small thread pool: each vCenter call has
  latency, the tasks themselves run in vCenter) and waited for together with ONE
  WaitForUpdatesEx loop on a private PropertyCollector, never polled one by one.
* Guest IPs are awaited the same way (WaitForUpdatesEx on guest.ipAddress).
* Reads are retried on transient transport faults; calls that change something
  are not (the server may have acted before the connection broke; a re-run
  converges because everything is idempotent by VM name).

Sections: errors and options / connection and client / pure helpers
(validation, planning, diff; unit-tested without vCenter) / the provisioner.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import http.client
import io
import ipaddress
import json
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor

try:
    from pyVim.connect import SmartConnect, Disconnect
    from pyVmomi import vim, vmodl
    from pyVmomi.VmomiSupport import GetWsdlType, ManagedObject
    from pyVmomi.SoapAdapter import SoapResponseDeserializer
    HAS_PYVMOMI = True
    PYVMOMI_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module / plugin, not here
    HAS_PYVMOMI = False
    PYVMOMI_IMPORT_ERROR = exc

try:
    from ansible.module_utils.basic import env_fallback
except ImportError:  # pragma: no cover - ansible-core always has it
    env_fallback = None


# ============================================================== errors, options


class VSphereError(Exception):
    """A failure with a message meant for the user (names the option and the fix).

    ``details`` carries what was done before the failure (e.g. created VMs) so
    the module can report it next to the message.
    """

    def __init__(self, msg, **details):
        super(VSphereError, self).__init__(msg)
        self.msg = msg
        self.details = details


CONNECTION_ENV = {
    "hostname": "VMWARE_HOST",
    "username": "VMWARE_USER",
    "password": "VMWARE_PASSWORD",
    "port": "VMWARE_PORT",
    "validate_certs": "VMWARE_VALIDATE_CERTS",
}


def connection_argument_spec():
    """Argument spec of the connection options (doc fragment containerops.platform.vsphere)."""
    def fb(option):
        return (env_fallback, [CONNECTION_ENV[option]])
    return dict(
        hostname=dict(type="str", fallback=fb("hostname")),
        username=dict(type="str", aliases=["user"], fallback=fb("username")),
        password=dict(type="str", aliases=["pass", "pwd"], no_log=True, fallback=fb("password")),
        port=dict(type="int", default=443, fallback=fb("port")),
        validate_certs=dict(type="bool", default=True, fallback=fb("validate_certs")),
    )


# ============================================================== connection


TRANSIENT_ERRORS = (http.client.RemoteDisconnected, http.client.BadStatusLine,
                    ConnectionResetError, ConnectionAbortedError, BrokenPipeError, socket.timeout)


def _transient(exc):
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    # HostCommunication: vCenter lost its host for a moment; the read can be repeated.
    if HAS_PYVMOMI and isinstance(exc, vmodl.fault.HostCommunication):
        return True
    return False


def with_retries(fn, *args, **kwargs):
    """Call fn; on a transient transport fault wait and try again (3 attempts).

    Only for calls that are safe to repeat (reads, waits, session setup).
    """
    attempts = kwargs.pop("_attempts", 3)
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - filtered right below
            if not _transient(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * 2 ** attempt)


def fault_message(exc):
    """The human part of a vSphere fault or Python exception."""
    msg = getattr(exc, "msg", None) or getattr(exc, "localizedMessage", None)
    if not msg and getattr(exc, "faultMessage", None):
        msg = "; ".join(m.message for m in exc.faultMessage if getattr(m, "message", None))
    name = type(exc).__name__
    if HAS_PYVMOMI and isinstance(exc, vmodl.MethodFault):
        name = exc._wsdlName
    return "%s: %s" % (name, msg) if msg else name


def connect(hostname, username, password, port=443, validate_certs=True, pool_size=32):
    """Log in to vCenter and return a Client; every failure says which option to fix."""
    if not HAS_PYVMOMI:
        raise VSphereError("the pyvmomi Python library is required on the controller "
                           "(pip install pyvmomi): %s" % PYVMOMI_IMPORT_ERROR)
    given = {"hostname": hostname, "username": username, "password": password}
    for option in ("hostname", "username", "password"):
        if not given[option]:
            raise VSphereError("%s is required: set the %s option or the %s environment variable"
                               % (option, option, CONNECTION_ENV[option]))
    where = "%s:%s" % (hostname, port)
    try:
        # An explicit context: pyVmomi silently skips verification for
        # localhost/127.0.0.1 when given none, and validate_certs must mean what it says.
        context = ssl.create_default_context() if validate_certs else ssl._create_unverified_context()
        si = with_retries(SmartConnect, host=hostname, port=int(port), user=username, pwd=password,
                          sslContext=context)
    except vim.fault.InvalidLogin:
        raise VSphereError("vCenter %s rejected the login of user '%s': wrong username or password. "
                           "Fix the username/password options (or VMWARE_USER/VMWARE_PASSWORD)"
                           % (where, username))
    except ssl.SSLCertVerificationError as exc:
        raise VSphereError("cannot verify the TLS certificate of vCenter %s (%s). Install the vCenter "
                           "CA on the controller, or set validate_certs: false (VMWARE_VALIDATE_CERTS=false) "
                           "for a lab or self-signed vCenter" % (where, exc.verify_message or exc))
    except (OSError, http.client.HTTPException) as exc:
        raise VSphereError("cannot connect to vCenter at %s: %s. Check the hostname and port options "
                           "(or VMWARE_HOST/VMWARE_PORT)" % (where, exc))
    except vmodl.MethodFault as exc:
        raise VSphereError("vCenter %s refused the session: %s" % (where, fault_message(exc)))
    # Concurrent calls from the thread pool each take a pooled HTTP connection;
    # keep enough of them open to avoid a TLS handshake per call.
    si._stub.poolSize = pool_size
    return Client(si)


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
    if isinstance(value, str) and type(value) is not str:
        return str(value)  # pyVmomi enums (powerState, ...) are str subclasses
    if isinstance(value, int) and not isinstance(value, bool) and type(value) is not int:
        return int(value)  # pyVmomi's long/short/byte
    if isinstance(value, list):
        item = getattr(value, "Item", None)  # pyVmomi arrays know their item type, even empty
        if item is not None and issubclass(item, (vim.option.OptionValue, vim.CustomFieldsManager.Value)):
            return dict((o.key, getattr(o, "value", None)) for o in value)
        if value and isinstance(value[0], ManagedObject):
            return [v._moId for v in value]
        return list(value)
    return value


class Client(object):
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
        except (socket.error, http.client.HTTPException):
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

    # ---------------------------------------------------------------- tasks

    def start(self, calls, workers=32):
        """Run many task-starting calls concurrently.

        ``calls``: {key: (fn, args, kwargs)}. Returns ({key: task}, {key: error message}).
        Not retried: a retry could clone twice.
        """
        started, failed = {}, {}
        if not calls:
            return started, failed

        def one(item):
            key, (fn, args, kwargs) = item
            try:
                return key, fn(*args, **kwargs), None
            except vmodl.MethodFault as exc:
                return key, None, fault_message(exc)
            except Exception as exc:  # noqa: BLE001 - transport errors are reported per VM
                return key, None, "%s: %s" % (type(exc).__name__, exc)

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(calls)))) as pool:
            for key, task, error in pool.map(one, calls.items()):
                if error is None:
                    started[key] = task
                else:
                    failed[key] = error
        return started, failed

    def run_tasks(self, calls, timeout=None, workers=32):
        """start() then wait_for_tasks(); returns ({key: result}, {key: error message})."""
        tasks, failed = self.start(calls, workers=workers)
        done, errors = self.wait_for_tasks(tasks, timeout=timeout)
        errors.update(failed)
        return done, errors

    def wait_for_tasks(self, tasks, timeout=None):
        """Wait for MANY tasks with one WaitForUpdatesEx loop on info.state of all of them.

        ``tasks``: {key: vim.Task}. Returns ({key: info.result}, {key: error message}).
        """
        if not tasks:
            return {}, {}
        by_moid = dict((t._moId, key) for key, t in tasks.items())
        state = dict((m, {}) for m in by_moid)

        def absorb(object_id, change):
            state[object_id][change.name] = change.val

        def finished():
            return all(s.get("info.state") in ("success", "error") for s in state.values())

        self._watch(list(tasks.values()), vim.Task, ["info.state", "info.error", "info.result"],
                    absorb, finished, timeout, "tasks")
        done, errors = {}, {}
        for object_id, key in by_moid.items():
            s = state[object_id]
            if s.get("info.state") == "success":
                done[key] = s.get("info.result")
            else:
                err = s.get("info.error")
                errors[key] = fault_message(err.fault) if err is not None and err.fault is not None \
                    else (getattr(err, "localizedMessage", None) or "task did not finish (%s)"
                          % s.get("info.state", "unknown"))
        return done, errors

    def wait_for_ips(self, vms, timeout, expected=None):
        """Wait until every VM reports guest.ipAddress (the expected one, if given).

        ``vms``: {key: vim.VirtualMachine}; ``expected``: {key: ip or None}.
        One WaitForUpdatesEx loop for all VMs. Returns ({key: ip}, [keys without one]).
        """
        if not vms:
            return {}, []
        expected = expected or {}
        by_moid = dict((vm._moId, key) for key, vm in vms.items())
        ips = dict((m, None) for m in by_moid)

        def good(object_id):
            ip, want = ips[object_id], expected.get(by_moid[object_id])
            return bool(ip) and (want is None or ip == want)

        def absorb(object_id, change):
            ips[object_id] = change.val

        def finished():
            return all(good(m) for m in ips)

        try:
            self._watch(list(vms.values()), vim.VirtualMachine, ["guest.ipAddress"],
                        absorb, finished, timeout, "guest IPs")
        except _WaitTimeout:
            pass
        got = dict((by_moid[m], ips[m]) for m in ips if good(m))
        missing = sorted(by_moid[m] for m in ips if not good(m))
        return got, missing

    def _wait_collector(self):
        """A private PropertyCollector for waits (created once per session): the session's
        default collector may carry other filters, whose updates would wake us for nothing."""
        if self._collector is None:
            self._collector = with_retries(self.content.propertyCollector.CreatePropertyCollector)
        return self._collector

    def _watch(self, refs, vimtype, paths, absorb, finished, timeout, what):
        """The WaitForUpdatesEx loop: feed every change to absorb() until finished()."""
        P = _pc()
        collector = self._wait_collector()
        deadline = None if timeout is None else time.monotonic() + timeout
        spec = P.FilterSpec(objectSet=[P.ObjectSpec(obj=r) for r in refs],
                            propSet=[P.PropertySpec(type=vimtype, pathSet=paths)])
        property_filter = collector.CreateFilter(spec, True)
        try:
            version = ""
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if version and finished():
                    return
                if remaining is not None and remaining <= 0:
                    raise _WaitTimeout("timed out waiting for %s" % what)
                wait = 60 if remaining is None else max(1, min(60, int(remaining + 0.999)))
                update = with_retries(collector.WaitForUpdatesEx, version,
                                      P.WaitOptions(maxWaitSeconds=wait))
                if update is None:  # maxWaitSeconds passed without a change
                    version = version or "-"
                    continue
                version = update.version
                for filter_update in update.filterSet or []:
                    if filter_update.filter != property_filter:
                        continue  # an earlier wait's filter on the reused collector
                    for obj_update in filter_update.objectSet or []:
                        object_id = obj_update.obj._moId
                        if obj_update.kind == "leave":
                            absorb(object_id, _Change(paths[0], "gone"))
                            continue
                        for change in obj_update.changeSet or []:
                            absorb(object_id, change)
        finally:
            try:
                property_filter.DestroyPropertyFilter()
            except Exception:  # noqa: BLE001 - best effort; the session's end removes it too
                pass


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


class _WaitTimeout(Exception):
    pass


class _Change(object):
    def __init__(self, name, val):
        self.name, self.val = name, val


# ============================================================== pure helpers
# No vCenter needed below this line until the provisioner: unit-tested directly.

STATES = ["present", "poweredon", "poweredoff", "restarted", "absent"]
CUSTOMIZATION_METHODS = ["auto", "linux_prep", "none"]
# Custom attribute in which the module records the static IPs it gave a VM,
# so a later run can refuse to hand the same IP to another VM before the
# first one has even booted and reported it.
IP_ATTRIBUTE = "containerops.ip"


def vm_option_spec():
    """Per-VM options: usable at top level (defaults for all VMs) and inside each vms[] entry."""
    return dict(
        template=dict(type="str"),
        cluster=dict(type="str"),
        resource_pool=dict(type="str"),
        folder=dict(type="str"),
        datastore=dict(type="str"),
        cpus=dict(type="int"),
        memory_mb=dict(type="int"),
        disks=dict(type="list", elements="dict", options=dict(size_gb=dict(type="int", required=True))),
        networks=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            ip=dict(type="str"),
            netmask=dict(type="str"),
            prefix=dict(type="int"),
            gateway=dict(type="str"),
            dns_servers=dict(type="list", elements="str"),
            mac=dict(type="str"),
        )),
        # Not "hostname": at the top level that is vCenter's address (the
        # connection option). Inside a vms[] entry "hostname" is an alias.
        guest_hostname=dict(type="str"),
        domain=dict(type="str"),
        dns_servers=dict(type="list", elements="str"),
        customization=dict(type="str", choices=CUSTOMIZATION_METHODS),
        user_data=dict(type="str"),
        metadata=dict(type="raw"),
        extra_config=dict(type="dict"),
        attributes=dict(type="dict"),
        state=dict(type="str", choices=STATES),
    )


TOP_LEVEL_DEFAULTS = {"state": "poweredon", "customization": "auto"}


def merge_vm_specs(params):
    """One spec per VM: the vms[] entry's value, else the top-level value, else the default.

    Each spec remembers where every value came from (``src``) so that error
    messages name the exact parameter the user wrote (``vms[2].cpus`` or ``cpus``).
    """
    options = vm_option_spec()
    if params.get("vms"):
        entries = [(i, vm) for i, vm in enumerate(params["vms"])]
    else:
        entries = [(None, {"name": params.get("name")})]
    specs = []
    for index, entry in entries:
        spec = {"name": entry.get("name"), "src": {}}
        spec["src"]["name"] = "name" if index is None else "vms[%d].name" % index
        for key in options:
            value = entry.get(key) if index is not None else None
            if value is not None:
                spec[key], spec["src"][key] = value, "vms[%d].%s" % (index, key)
            elif params.get(key) is not None:
                spec[key], spec["src"][key] = params[key], key
            else:
                spec[key], spec["src"][key] = TOP_LEVEL_DEFAULTS.get(key), key
        specs.append(spec)
    return specs


HOSTNAME_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")


def _ip(value):
    try:
        return ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError):
        return None


def network_interface(net):
    """IPv4Interface of a networks[] entry with ip + netmask/prefix, or None."""
    if not net.get("ip"):
        return None
    if net.get("prefix") is not None:
        return ipaddress.IPv4Interface("%s/%d" % (net["ip"], net["prefix"]))
    return ipaddress.IPv4Interface("%s/%s" % (net["ip"], net["netmask"]))


def validate_network(net, where):
    """Errors of one networks[] entry (no vCenter needed). ``where`` is e.g. 'vms[1].networks[0]'."""
    errors = []
    if not net.get("name"):
        errors.append("%s.name: the port group is required" % where)
    ip = net.get("ip")
    if net.get("netmask") and net.get("prefix") is not None:
        errors.append("%s: set netmask or prefix, not both" % where)
    if net.get("netmask"):
        try:
            ipaddress.IPv4Network("0.0.0.0/%s" % net["netmask"])
        except (ValueError, ipaddress.NetmaskValueError):
            errors.append("%s.netmask: '%s' is not a valid IPv4 netmask (e.g. 255.255.255.0)"
                          % (where, net["netmask"]))
            return errors
    if net.get("prefix") is not None and not 0 <= net["prefix"] <= 32:
        errors.append("%s.prefix: %s is not between 0 and 32" % (where, net["prefix"]))
        return errors
    if ip is not None:
        if _ip(ip) is None:
            errors.append("%s.ip: '%s' is not a valid IPv4 address" % (where, ip))
            return errors
        if not net.get("netmask") and net.get("prefix") is None:
            errors.append("%s.ip: a static ip needs %s.netmask or %s.prefix" % (where, where, where))
            return errors
        iface = network_interface(net)
        subnet = iface.network
        if subnet.prefixlen < 31 and iface.ip in (subnet.network_address, subnet.broadcast_address):
            errors.append("%s.ip: %s is the network or broadcast address of %s; choose a host address"
                          % (where, ip, subnet))
        gateway = net.get("gateway")
        if gateway is not None:
            if _ip(gateway) is None:
                errors.append("%s.gateway: '%s' is not a valid IPv4 address" % (where, gateway))
            elif _ip(gateway) not in subnet:
                errors.append("%s.gateway: %s is outside the subnet %s of ip %s; fix the gateway, "
                              "the ip or the netmask/prefix" % (where, gateway, subnet, ip))
            elif _ip(gateway) == iface.ip:
                errors.append("%s.ip: %s is the gateway address" % (where, ip))
    elif net.get("gateway"):
        errors.append("%s.gateway: only meaningful with a static %s.ip" % (where, where))
    for dns in net.get("dns_servers") or []:
        if _ip(dns) is None:
            errors.append("%s.dns_servers: '%s' is not a valid IPv4 address" % (where, dns))
    if net.get("mac") and not MAC_RE.match(net["mac"]):
        errors.append("%s.mac: '%s' is not a MAC address like 00:50:56:01:02:03" % (where, net["mac"]))
    return errors


def validate_spec(spec):
    """Errors of one merged VM spec that need no vCenter lookup."""
    src = spec["src"]
    errors = []
    name = spec.get("name")
    if not name:
        return ["%s: a VM name is required" % src["name"]]
    if len(name) > 80:
        errors.append("%s: '%s' is longer than the 80 characters vSphere allows" % (src["name"], name))
    if spec["state"] == "absent":
        return errors
    cpus, memory = spec.get("cpus"), spec.get("memory_mb")
    if cpus is not None and not 1 <= cpus <= 768:
        errors.append("%s: %s is not a valid CPU count for %s (1 to 768)" % (src["cpus"], cpus, name))
    if memory is not None:
        if memory < 4:
            errors.append("%s: %s MB is too little memory for %s (at least 4)" % (src["memory_mb"], memory, name))
        elif memory % 4:
            errors.append("%s: %s MB for %s is not a multiple of 4 MB, which vSphere requires (e.g. %d)"
                          % (src["memory_mb"], memory, name, memory - memory % 4))
    for i, disk in enumerate(spec.get("disks") or []):
        if disk.get("size_gb") is None or disk["size_gb"] < 1:
            errors.append("%s[%d].size_gb: %s is not a disk size in GB (at least 1)"
                          % (src["disks"], i, disk.get("size_gb")))
    for i, net in enumerate(spec.get("networks") or []):
        errors.extend(validate_network(net, "%s[%d]" % (src["networks"], i)))
    for dns in spec.get("dns_servers") or []:
        if _ip(dns) is None:
            errors.append("%s: '%s' is not a valid IPv4 address" % (src["dns_servers"], dns))
    if spec.get("guest_hostname") and not HOSTNAME_RE.match(spec["guest_hostname"]):
        errors.append("%s: '%s' is not a valid host name (letters, digits, '-', at most 63)"
                      % (src["guest_hostname"], spec["guest_hostname"]))
    for key in (spec.get("extra_config") or {}):
        if not isinstance(key, str) or not key:
            errors.append("%s: key %r must be a non-empty string" % (src["extra_config"], key))
    return errors


def validate_request(specs):
    """Errors across all VMs of one task: per-VM errors, duplicate names, duplicate IPs."""
    errors = []
    names, ips = {}, {}
    for spec in specs:
        errors.extend(validate_spec(spec))
        if not spec.get("name"):
            continue
        if spec["name"] in names:
            errors.append("%s: VM '%s' is listed twice (also %s)" % (spec["src"]["name"], spec["name"],
                                                                    names[spec["name"]]))
        names.setdefault(spec["name"], spec["src"]["name"])
        if spec["state"] == "absent":
            continue
        for i, net in enumerate(spec.get("networks") or []):
            ip = net.get("ip")
            if ip:
                where = "%s[%d].ip" % (spec["src"]["networks"], i)
                if ip in ips and ips[ip][0] != spec["name"]:
                    errors.append("%s: %s is also requested for VM '%s'; every VM needs its own ip"
                                  % (where, ip, ips[ip][0]))
                ips.setdefault(ip, (spec["name"], where))
    return errors


def static_ips(spec):
    return [n["ip"] for n in spec.get("networks") or [] if n.get("ip")]


def managed_extra_config(spec):
    """The extraConfig keys this module owns for a VM, with the values they must have.

    user_data / metadata go to guestinfo as cloud-init's VMware datasource reads
    them: base64 in guestinfo.<x> with guestinfo.<x>.encoding = base64.
    """
    managed = dict((k, "" if v is None else str(v)) for k, v in (spec.get("extra_config") or {}).items())
    metadata = spec.get("metadata")
    if isinstance(metadata, (dict, list)):
        metadata = json.dumps(metadata, sort_keys=True)
    for key, value in (("userdata", spec.get("user_data")), ("metadata", metadata)):
        if value is not None:
            managed["guestinfo.%s" % key] = base64.b64encode(str(value).encode()).decode()
            managed["guestinfo.%s.encoding" % key] = "base64"
    return managed


def wanted_attributes(spec):
    return dict((str(k), "" if v is None else str(v)) for k, v in (spec.get("attributes") or {}).items())


def customization_method(spec):
    """linux_prep or none. auto = Linux prep when a static IP or a guest host name is requested."""
    method = spec.get("customization") or "auto"
    if method == "auto":
        return "linux_prep" if (static_ips(spec) or spec.get("guest_hostname")) else "none"
    return method


def guest_hostname(spec):
    """The host name Linux prep gives the guest: guest_hostname, else the VM name made DNS-safe."""
    if spec.get("guest_hostname"):
        return spec["guest_hostname"]
    name = re.sub(r"[^A-Za-z0-9-]+", "-", spec["name"]).strip("-")[:63].strip("-")
    return name or "vm"


GB_KB = 1024 * 1024


def current_view(details, attribute_names):
    """What a VM is now, in the terms of the module's options (for diff and comparison)."""
    return {
        "cpus": details.get("config.hardware.numCPU"),
        "memory_mb": details.get("config.hardware.memoryMB"),
        "power_state": details.get("runtime.powerState"),
        "disks_gb": [round(d["capacity_kb"] / GB_KB, 2) for d in details.get("disks", [])],
        "networks": [n["network"] for n in details.get("nics", [])],
        "macs": [n["mac"] for n in details.get("nics", [])],
        "attributes": dict(attribute_names),
        "extra_config": dict(details.get("config.extraConfig") or {}),
    }


def desired_power(state, power_state, exists):
    """(power action, resulting power state) for a state option and the current power state."""
    on = power_state == "poweredOn"
    if state == "poweredon":
        return (None, "poweredOn") if on else ("on", "poweredOn")
    if state == "poweredoff":
        return ("off", "poweredOff") if on else (None, power_state or "poweredOff")
    if state == "restarted":
        return ("reset", "poweredOn") if (on and exists) else ("on", "poweredOn")
    return None, power_state or "poweredOff"  # present: leave it as it is (new VMs stay off)


def plan_changes(spec, view):
    """The changes that make ``view`` (current_view) match ``spec``; a pure function.

    Returns (changes, errors). changes keys: cpus, memory_mb, extra_config (only
    keys that differ), attributes (only keys that differ), disks
    ([(index, size_gb)] to grow or add), networks ([(index, entry)] to re-back
    or add), power (None/on/off/reset).
    """
    src = spec["src"]
    changes, errors = {}, []
    if spec.get("cpus") is not None and spec["cpus"] != view["cpus"]:
        changes["cpus"] = spec["cpus"]
    if spec.get("memory_mb") is not None and spec["memory_mb"] != view["memory_mb"]:
        changes["memory_mb"] = spec["memory_mb"]
    extra = dict((k, v) for k, v in managed_extra_config(spec).items()
                 if view["extra_config"].get(k) != v)
    if extra:
        changes["extra_config"] = extra
    attrs = dict((k, v) for k, v in wanted_attributes(spec).items() if view["attributes"].get(k) != v)
    if attrs:
        changes["attributes"] = attrs
    disks = []
    for i, disk in enumerate(spec.get("disks") or []):
        if i < len(view["disks_gb"]):
            have = view["disks_gb"][i]
            if disk["size_gb"] < have:
                errors.append("%s[%d].size_gb: %s GB is smaller than the %s GB disk %s already has; "
                              "vSphere cannot shrink a disk" % (src["disks"], i, disk["size_gb"], have,
                                                                spec["name"]))
            elif disk["size_gb"] > have:
                disks.append((i, disk["size_gb"]))
        else:
            disks.append((i, disk["size_gb"]))
    if disks:
        changes["disks"] = disks
    nets = []
    for i, net in enumerate(spec.get("networks") or []):
        if i >= len(view["networks"]) or view["networks"][i] != net["name"] or \
                (net.get("mac") and view["macs"][i].lower() != net["mac"].lower()):
            nets.append((i, net))
    if nets:
        changes["networks"] = nets
    action, _ = desired_power(spec["state"], view["power_state"], True)
    if action:
        changes["power"] = action
    return changes, errors


def after_view(view, changes, spec):
    """The view after applying changes (for the diff)."""
    after = json.loads(json.dumps(view))
    for key in ("cpus", "memory_mb"):
        if key in changes:
            after[key] = changes[key]
    after["extra_config"].update(changes.get("extra_config", {}))
    after["attributes"].update(changes.get("attributes", {}))
    for i, size in changes.get("disks", []):
        if i < len(after["disks_gb"]):
            after["disks_gb"][i] = size
        else:
            after["disks_gb"].append(size)
    for i, net in changes.get("networks", []):
        if i < len(after["networks"]):
            after["networks"][i] = net["name"]
        else:
            after["networks"].append(net["name"])
    _, after["power_state"] = desired_power(spec["state"], view["power_state"], True)
    if changes.get("power") == "reset":
        after["power_state"] = "poweredOn (reset)"
    return after


def diff_view(view, spec):
    """The part of a view worth showing in a diff: what the spec manages, not every extraConfig key."""
    shown = dict((k, view[k]) for k in ("cpus", "memory_mb", "power_state", "disks_gb", "networks"))
    managed = managed_extra_config(spec)
    shown["extra_config"] = dict((k, view["extra_config"][k]) for k in sorted(managed)
                                 if k in view["extra_config"])
    wanted = wanted_attributes(spec)
    shown["attributes"] = dict((k, view["attributes"][k]) for k in sorted(wanted) if k in view["attributes"])
    return shown


def new_vm_view(spec, template_view):
    """What a VM about to be cloned will look like, for the diff."""
    view = dict(template_view)
    view["extra_config"], view["attributes"] = {}, {}
    view["power_state"] = "poweredOff"
    changes, _ = plan_changes(spec, view)
    after = after_view(view, changes, spec)
    _, after["power_state"] = desired_power(spec["state"], "poweredOff", False)
    return after


def sanitize_group(value):
    """docs/fleet.md group name rule: lower case; '-' and '.' become '_' (and any other odd char)."""
    return re.sub(r"[^a-z0-9_]", "_", str(value).lower())


def normalise_power_state(power_state):
    """docs/fleet.md platform_power_state: running / stopped, else the cloud's own word."""
    return {"poweredOn": "running", "poweredOff": "stopped"}.get(power_state, power_state)


def folder_segments(folder, datacenter):
    """'/DC0/vm/a/b', 'DC0/vm/a/b', 'vm/a/b', '/vm/a/b', 'a/b' -> ['a', 'b'] under the VM root."""
    if folder is None:
        return []
    parts = [p for p in folder.strip().split("/") if p]
    if parts and parts[0] == datacenter:
        parts = parts[1:]
    if parts and parts[0] == "vm":
        parts = parts[1:]
    return parts


# ============================================================== provisioner

def _index_properties():
    return {
        vim.Folder: ["name", "parent"],
        vim.ClusterComputeResource: ["name", "resourcePool"],
        vim.ResourcePool: ["name", "parent", "owner"],
        vim.VirtualMachine: ["name", "parent", "config.template", "guest.ipAddress", "customValue",
                             "runtime.powerState"],
        vim.DistributedVirtualSwitch: ["uuid"],
    }


DETAIL_PATHS = ["name", "parent", "config.uuid", "config.hardware.numCPU", "config.hardware.memoryMB",
                "config.hardware.device", "config.extraConfig", "config.tools.pendingCustomization",
                "runtime.powerState", "guest.ipAddress", "customValue"]


def _copy_device(device):
    """A shallow copy of a device, so that editing it for one VM's spec leaves the
    template's device (shared by every VM cloned from it) untouched."""
    copy = type(device)()
    for prop in device._GetPropertyList():
        setattr(copy, prop.name, getattr(device, prop.name))
    return copy


class DatacenterIndex(object):
    """One datacenter's inventory, read in one retrieval: the names the module resolves."""

    def __init__(self, client, datacenter):
        self.client = client
        dc_ref = client.find_datacenter(datacenter)
        self.name = datacenter
        # The datacenter itself and, through it, its datastores and networks (a view of the
        # datacenter does not list every datastore on every server) ride in the same call.
        P = _pc()
        P_ = [P.TraversalSpec(name=path, type=vim.Datacenter, path=path, skip=False)
              for path in ("datastore", "network")]
        objects = P.FilterSpec(
            objectSet=[P.ObjectSpec(obj=dc_ref, skip=False, selectSet=P_)],
            propSet=client.props({
                vim.Datacenter: ["name", "vmFolder", "hostFolder"], vim.Datastore: ["name"], vim.Network: ["name"],
                vim.dvs.DistributedVirtualPortgroup: ["name", "key", "config.distributedVirtualSwitch"]}))
        rows = client.retrieve_views([dc_ref], _index_properties(),
                                     extra_specs=[objects, client.field_definitions_spec()], plain=True)
        self.dc = next(r for r in rows if r["moid"] == dc_ref._moId)
        self.fields = client.field_names(rows)  # key -> name
        self.by_type = {}
        for row in rows:
            self.by_type.setdefault(row["type"], []).append(row)
        self.folders = dict((r["moid"], r) for r in self.by_type.get("Folder", []))
        self.vms = self.by_type.get("VirtualMachine", [])
        self.switch_uuid = dict((r["moid"], r.get("uuid")) for r in self.by_type.get("VmwareDistributedVirtualSwitch", []) +
                                self.by_type.get("DistributedVirtualSwitch", []))
        self.networks = {}
        for row in self.by_type.get("Network", []) + self.by_type.get("DistributedVirtualPortgroup", []) + \
                self.by_type.get("OpaqueNetwork", []):
            self.networks.setdefault(row["name"], {})[row["moid"]] = row
        self.datastores = dict((r["name"], r["moid"]) for r in self.by_type.get("Datastore", []))
        self._ip_pools = None

    # -- lookups

    def folder_path(self, folder_moid):
        """'/DC0/vm/a/b' for a VM folder moid."""
        parts = []
        current = folder_moid
        while current in self.folders:
            parts.append(self.folders[current]["name"])
            current = self.folders[current].get("parent")
        return "/" + "/".join([self.name] + list(reversed(parts)))

    def find_folder(self, segments):
        current = self.dc["vmFolder"]
        for seg in segments:
            children = [m for m, f in self.folders.items() if f.get("parent") == current and f["name"] == seg]
            if not children:
                return None
            current = children[0]
        return current

    def vms_named(self, name):
        return [v for v in self.vms if v.get("name") == name]

    def attributes_of(self, custom_values):
        """customValue {key: value} -> {attribute name: value}."""
        return dict((self.fields[k], v) for k, v in (custom_values or {}).items() if k in self.fields)

    def ip_owners(self):
        """{ip: VM name} from guest.ipAddress and the containerops.ip attribute of every VM."""
        owners = {}
        for vm in self.vms:
            if vm.get("guest.ipAddress"):
                owners.setdefault(vm["guest.ipAddress"], (vm["name"], "guest IP"))
            recorded = self.attributes_of(vm.get("customValue")).get(IP_ATTRIBUTE)
            for ip in (recorded or "").split(","):
                if ip:
                    owners.setdefault(ip.strip(), (vm["name"], "%s attribute" % IP_ATTRIBUTE))
        return owners

    def ip_pools(self):
        """Subnets vSphere knows for port groups (IP pools / network protocol profiles): {network moid: net}."""
        if self._ip_pools is None:
            self._ip_pools = {}
            try:
                pools = with_retries(self.client.content.ipPoolManager.QueryIpPools,
                                     self.client.obj(self.dc["moid"]))
            except vmodl.MethodFault:
                pools = []  # not every vCenter edition has IP pools; fall back to netmask checks
            for pool in pools or []:
                cfg = pool.ipv4Config
                if not cfg or not cfg.subnetAddress or not cfg.netmask:
                    continue
                try:
                    net = ipaddress.IPv4Network("%s/%s" % (cfg.subnetAddress, cfg.netmask), strict=False)
                except ValueError:
                    continue
                for assoc in pool.networkAssociation or []:
                    if assoc.network is not None:
                        self._ip_pools[assoc.network._moId] = (net, pool.name)
        return self._ip_pools


class Provisioner(object):
    """Plans and applies vsphere_vm for many VMs: resolve, plan, then act in bulk phases."""

    def __init__(self, client, datacenter, specs, check_mode=False, force=False,
                 wait_for_ip=False, wait_timeout=300, warn=None):
        self.client = client
        self.specs = specs
        self.check_mode = check_mode
        self.force = force
        self.wait_for_ip = wait_for_ip
        self.wait_timeout = wait_timeout
        self.warn = warn or (lambda msg: None)
        self.index = DatacenterIndex(client, datacenter)
        self.results = dict((s["name"], {"name": s["name"], "changed": False, "created": False})
                            for s in specs)
        self.created, self.deleted = [], []
        self.diffs = []

    # ---------------------------------------------------------------- resolve

    def resolve(self):
        """Turn names into vSphere objects for every spec; raise one error listing every problem."""
        errors = []
        self.details = self._details([v["moid"] for s in self.specs for v in self.index.vms_named(s["name"])])
        self.templates = {}
        ip_owners = None
        for spec in self.specs:
            spec["folder_moid"] = self._resolve_folder(spec, errors)
            spec["existing"] = self._resolve_existing(spec, errors)
            if spec["state"] == "absent":
                continue
            if static_ips(spec):
                ip_owners = self.index.ip_owners() if ip_owners is None else ip_owners
            self._resolve_networks(spec, errors, ip_owners)
            if spec["existing"] is None:
                self._resolve_placement(spec, errors)
        if errors:
            raise VSphereError("; ".join(errors), errors=errors)
        template_moids = sorted(set(s["template_moid"] for s in self.specs if s.get("template_moid")))
        self.details.update(self._details(template_moids))

    def _resolve_folder(self, spec, errors):
        segments = folder_segments(spec.get("folder"), self.index.name)
        moid_ = self.index.find_folder(segments)
        if moid_ is None:
            errors.append("%s: VM folder '%s' not found in datacenter %s; create it first or fix the path "
                          "(e.g. /%s/vm/<folder>)" % (spec["src"]["folder"], spec["folder"], self.index.name,
                                                     self.index.name))
        return moid_

    def _resolve_existing(self, spec, errors):
        same_name = self.index.vms_named(spec["name"])
        here = [v for v in same_name if v.get("parent") == spec["folder_moid"]]
        if here:
            vm = here[0]
            if vm.get("config.template"):
                errors.append("%s: '%s' is a template, not a VM; choose another name" % (spec["src"]["name"],
                                                                                         spec["name"]))
            return vm
        if same_name and spec["folder_moid"] is not None:
            where = ", ".join(sorted(self.index.folder_path(v.get("parent")) for v in same_name))
            errors.append("%s: a VM named '%s' already exists in folder %s, not in %s (%s). Set %s to that "
                          "folder to manage it, or choose another name"
                          % (spec["src"]["name"], spec["name"], where,
                             self.index.folder_path(spec["folder_moid"]), spec["src"]["folder"],
                             spec["src"]["folder"]))
        return None

    def _resolve_networks(self, spec, errors, ip_owners):
        for i, net in enumerate(spec.get("networks") or []):
            where = "%s[%d]" % (spec["src"]["networks"], i)
            found = self.index.networks.get(net["name"])
            if not found:
                errors.append("%s.name: port group '%s' not found in datacenter %s; available: %s"
                              % (where, net["name"], self.index.name,
                                 ", ".join(sorted(self.index.networks)) or "none"))
                continue
            net["network_row"] = sorted(found.values(), key=lambda r: r["moid"])[0]
            if not net.get("ip"):
                continue
            iface = network_interface(net)
            pool = self.index.ip_pools().get(net["network_row"]["moid"])
            if pool and iface.ip not in pool[0]:
                errors.append("%s.ip: %s is outside the subnet %s that vSphere has for port group '%s' "
                              "(IP pool '%s'); choose an address in %s" % (where, net["ip"], pool[0],
                                                                          net["name"], pool[1], pool[0]))
            owner = ip_owners.get(net["ip"])
            if owner and owner[0] != spec["name"]:
                errors.append("%s.ip: %s is already used by VM '%s' (%s); choose a free address"
                              % (where, net["ip"], owner[0], owner[1]))

    def _resolve_placement(self, spec, errors):
        src = spec["src"]
        if not spec.get("template"):
            errors.append("%s: required to create VM '%s' (it does not exist in %s)"
                          % (src["template"], spec["name"], self.index.folder_path(spec["folder_moid"])
                             if spec["folder_moid"] else self.index.name))
        else:
            spec["template_moid"] = self._find_template(spec, errors)
        spec["pool_moid"] = self._find_pool(spec, errors)
        if spec.get("datastore"):
            spec["datastore_moid"] = self.index.datastores.get(spec["datastore"])
            if spec["datastore_moid"] is None:
                errors.append("%s: datastore '%s' not found in datacenter %s; available: %s"
                              % (src["datastore"], spec["datastore"], self.index.name,
                                 ", ".join(sorted(self.index.datastores)) or "none"))

    def _find_template(self, spec, errors):
        template = spec["template"]
        if "/" in template:
            segments = folder_segments(template, self.index.name)
            folder = self.index.find_folder(segments[:-1])
            found = [v for v in self.index.vms_named(segments[-1] if segments else "")
                     if folder is not None and v.get("parent") == folder]
        else:
            found = self.index.vms_named(template)
        if not found:
            errors.append("%s: template '%s' not found in datacenter %s; give its name or inventory path "
                          "(e.g. /%s/vm/<template>)" % (spec["src"]["template"], template, self.index.name,
                                                       self.index.name))
            return None
        if len(found) > 1:
            errors.append("%s: %d VMs/templates are named '%s' in datacenter %s (%s); give the inventory "
                          "path instead" % (spec["src"]["template"], len(found), template, self.index.name,
                                           ", ".join(self.index.folder_path(v.get("parent")) for v in found)))
            return None
        return found[0]["moid"]

    def _find_pool(self, spec, errors):
        src = spec["src"]
        clusters = self.index.by_type.get("ClusterComputeResource", [])
        cluster = None
        if spec.get("cluster"):
            matching = [c for c in clusters if c["name"] == spec["cluster"]]
            if not matching:
                errors.append("%s: cluster '%s' not found in datacenter %s; available: %s"
                              % (src["cluster"], spec["cluster"], self.index.name,
                                 ", ".join(sorted(c["name"] for c in clusters)) or "none"))
                return None
            cluster = matching[0]
        pools = self.index.by_type.get("ResourcePool", [])
        if spec.get("resource_pool"):
            name = spec["resource_pool"].strip("/").split("/")[-1]
            matching = [p for p in pools if p["name"] == name and
                        (cluster is None or p.get("owner") == cluster["moid"])]
            if len(matching) == 1:
                return matching[0]["moid"]
            errors.append("%s: resource pool '%s' %s in datacenter %s%s" % (
                src["resource_pool"], spec["resource_pool"], "not found" if not matching else "is ambiguous",
                self.index.name, "" if cluster is None else " cluster %s" % cluster["name"]) +
                ("; set cluster too" if matching else ""))
            return None
        if cluster is not None:
            return cluster.get("resourcePool")
        if len(clusters) == 1:
            return clusters[0].get("resourcePool")
        errors.append("%s: required to create VM '%s': datacenter %s has %s clusters (%s); set cluster or "
                      "resource_pool" % (src["cluster"], spec["name"], self.index.name, len(clusters),
                                         ", ".join(sorted(c["name"] for c in clusters)) or "no"))
        return None

    def _details(self, moids):
        """Full properties of the given VMs in one retrieval: {moid: details}."""
        if not moids:
            return {}
        rows = self.client.retrieve_objects([self.client.obj(m) for m in moids],
                                            {vim.VirtualMachine: DETAIL_PATHS})
        return dict((row["moid"], self._with_devices(row)) for row in rows)

    def _with_devices(self, row):
        """Add ordered disks/nics lists (plain) next to the raw device objects."""
        devices = row.get("config.hardware.device") or []
        networks_by_moid = {}
        for by_moid in self.index.networks.values():
            networks_by_moid.update(by_moid)
        dvpg_by_key = dict((r.get("key"), r) for r in networks_by_moid.values() if r.get("key"))
        row["disks"], row["nics"] = [], []
        for dev in sorted(devices, key=lambda d: d.key):
            if isinstance(dev, vim.vm.device.VirtualDisk):
                row["disks"].append({"key": dev.key, "capacity_kb": dev.capacityInKB, "device": dev})
            elif isinstance(dev, vim.vm.device.VirtualEthernetCard):
                backing = dev.backing
                network = None
                if isinstance(backing, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo):
                    network = backing.deviceName or (backing.network and
                                                     networks_by_moid.get(backing.network._moId, {}).get("name"))
                elif isinstance(backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
                    network = dvpg_by_key.get(backing.port.portgroupKey, {}).get("name")
                row["nics"].append({"key": dev.key, "network": network, "mac": dev.macAddress or "",
                                    "device": dev})
        row["attributes"] = self.index.attributes_of(row.get("customValue"))
        return row

    # ---------------------------------------------------------------- plan

    def plan(self):
        """Per VM: action create/update/delete/none, the changes, and the before/after diff."""
        errors = []
        for spec in self.specs:
            existing = spec["existing"]
            if spec["state"] == "absent":
                spec["action"] = "delete" if existing else "none"
                if existing:
                    details = self.details[existing["moid"]]
                    if details.get("runtime.powerState") == "poweredOn" and not self.force:
                        errors.append("%s: VM '%s' is powered on; set force: true to power it off and delete it"
                                      % (spec["src"]["state"], spec["name"]))
                    self._diff(spec["name"], {"state": "present", "power_state": details.get("runtime.powerState")},
                               {"state": "absent"})
                continue
            if existing is None:
                spec["action"] = "create"
                template = self.details[spec["template_moid"]]
                template_view = current_view(template, {})
                spec["template_view"] = template_view
                changes, errs = plan_changes(spec, dict(template_view, extra_config={}, attributes={},
                                                         power_state="poweredOff"))
                errors.extend(errs)
                spec["changes"] = changes
                self._diff(spec["name"], {"state": "absent"},
                           dict(diff_view(new_vm_view(spec, template_view), spec), state="present"))
                continue
            details = self.details[existing["moid"]]
            view = current_view(details, details["attributes"])
            changes, errs = plan_changes(spec, view)
            errors.extend(errs)
            spec["changes"] = changes
            spec["action"] = "update" if changes else "none"
            if changes:
                self._diff(spec["name"], diff_view(view, spec), diff_view(after_view(view, changes, spec), spec))
        if errors:
            raise VSphereError("; ".join(errors), errors=errors)

    def _diff(self, name, before, after):
        self.diffs.append({"before_header": "%s (before)" % name, "after_header": "%s (after)" % name,
                           "before": before, "after": after})

    # ---------------------------------------------------------------- apply

    def apply(self):
        """Act in phases; each phase starts all its tasks, then waits for all of them together."""
        for spec in self.specs:
            if spec["action"] != "none":
                self._mark(spec["name"], created=spec["action"] == "create")
        if self.check_mode:
            return self.report()
        self._delete([s for s in self.specs if s["action"] == "delete"])
        self._ensure_fields()
        new = self._clone([s for s in self.specs if s["action"] == "create"])
        self._converge_new(new)
        self._reconfigure([s for s in self.specs if s["action"] == "update"])
        self._set_attributes([s for s in self.specs if s["action"] in ("create", "update")])
        self._power([s for s in self.specs if s["state"] != "absent"])
        self._wait_ips()
        return self.report()

    def _mark(self, name, created=False):
        self.results[name]["changed"] = True
        if created:
            self.results[name]["created"] = True

    def _fail(self, what, errors):
        """Stop with the per-VM errors, reporting what this run already created."""
        lines = ["%s: %s" % (name, err) for name, err in sorted(errors.items())]
        self.report()
        raise VSphereError("%s failed for %d VM(s): %s" % (what, len(errors), "; ".join(lines)),
                           created=self.created, deleted=self.deleted, vms=self._result_list())

    def _delete(self, specs):
        if not specs:
            return
        on = dict((s["name"], (self.client.obj(s["existing"]["moid"]).PowerOffVM_Task, (), {})) for s in specs
                  if self.details[s["existing"]["moid"]].get("runtime.powerState") == "poweredOn")
        _, errors = self.client.run_tasks(on)
        if errors:
            self._fail("power off before delete", errors)
        calls = dict((s["name"], (self.client.obj(s["existing"]["moid"]).Destroy_Task, (), {})) for s in specs)
        done, errors = self.client.run_tasks(calls)
        self.deleted.extend(sorted(done))
        for name in done:
            self.results[name].update(state="absent", power_state=None, moid=None)
        if errors:
            self._fail("delete", errors)

    def _ensure_fields(self):
        """Create the custom attribute definitions the VMs need (one call per missing name)."""
        wanted = set()
        for spec in self.specs:
            if spec["action"] in ("create", "update"):
                wanted.update(spec.get("changes", {}).get("attributes", {}))
                if spec["action"] == "create" and static_ips(spec):
                    wanted.add(IP_ATTRIBUTE)
        manager = self.client.content.customFieldsManager
        for name in sorted(wanted - set(self.index.fields.values())):
            try:
                field = manager.AddCustomFieldDef(name=name, moType=vim.VirtualMachine)
            except vim.fault.DuplicateName:
                continue  # created meanwhile by a parallel run; re-read below
            except vmodl.MethodFault as exc:
                raise VSphereError("attributes: cannot create the custom attribute '%s': %s"
                                   % (name, fault_message(exc)))
            self.index.fields[field.key] = name
        if wanted - set(self.index.fields.values()):
            rows = self.client.retrieve([self.client.field_definitions_spec()])
            self.index.fields.update(self.client.field_names(rows))

    def _clone(self, specs):
        if not specs:
            return []
        calls = {}
        for spec in specs:
            template = self.client.obj(spec["template_moid"])
            calls[spec["name"]] = (template.CloneVM_Task, (),
                                   dict(folder=self.client.obj(spec["folder_moid"]), name=spec["name"],
                                        spec=self._clone_spec(spec)))
        done, errors = self.client.run_tasks(calls)
        for name, ref in done.items():
            self.client._known[ref._moId] = ref
            self.created.append(name)
            self.results[name]["moid"] = ref._moId
        self.created.sort()
        if errors:
            self._fail("clone (CloneVM_Task)", errors)
        return [s for s in specs if s["name"] in done]

    def _clone_spec(self, spec):
        """CloneSpec with everything vCenter applies during the clone (hardware, extraConfig, customization)."""
        template = self.details[spec["template_moid"]]
        config = self._config_spec(spec, spec["changes"], template)
        relocate = vim.vm.RelocateSpec(pool=self.client.obj(spec["pool_moid"]))
        if spec.get("datastore_moid"):
            relocate.datastore = self.client.obj(spec["datastore_moid"])
        # vCenter powers the clone on itself (one call less per VM; customization runs at
        # first boot). Servers that ignore powerOn (vcsim) get it in the power phase.
        power_on = desired_power(spec["state"], "poweredOff", False)[0] == "on"
        return vim.vm.CloneSpec(location=relocate, powerOn=power_on, template=False, config=config,
                                customization=self._customization(spec, template))

    def _config_spec(self, spec, changes, details):
        config = vim.vm.ConfigSpec()
        if "cpus" in changes:
            config.numCPUs = changes["cpus"]
        if "memory_mb" in changes:
            config.memoryMB = changes["memory_mb"]
        if changes.get("extra_config"):
            config.extraConfig = [vim.option.OptionValue(key=k, value=v)
                                  for k, v in sorted(changes["extra_config"].items())]
        device_changes = self._disk_changes(changes.get("disks", []), details) + \
            self._nic_changes(changes.get("networks", []), details)
        if device_changes:
            config.deviceChange = device_changes
        return config

    def _disk_changes(self, disks, details):
        E = vim.vm.device.VirtualDeviceSpec
        out = []
        existing = details.get("disks", [])
        new_unit = 0
        controller = None
        for dev in details.get("config.hardware.device") or []:
            if isinstance(dev, vim.vm.device.VirtualSCSIController):
                controller = dev
                break
        used_units = set(d["device"].unitNumber for d in existing
                         if controller is not None and d["device"].controllerKey == controller.key)
        for i, size in disks:
            if i < len(existing):
                dev = _copy_device(existing[i]["device"])
                dev.capacityInKB = size * GB_KB
                out.append(E(operation=E.Operation.edit, device=dev))
                continue
            if controller is None:
                raise VSphereError("disks[%d]: the template has no SCSI controller to attach a new disk to" % i)
            while new_unit in used_units or new_unit == 7:  # unit 7 is the controller itself
                new_unit += 1
            used_units.add(new_unit)
            disk = vim.vm.device.VirtualDisk(
                key=-100 - i, controllerKey=controller.key, unitNumber=new_unit, capacityInKB=size * GB_KB,
                backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent", thinProvisioned=True))
            out.append(E(operation=E.Operation.add, fileOperation=E.FileOperation.create, device=disk))
        return out

    def _nic_backing(self, row):
        if row["type"] == "DistributedVirtualPortgroup":
            switch = self.index.switch_uuid.get(row.get("config.distributedVirtualSwitch"))
            port = vim.dvs.PortConnection(portgroupKey=row["key"], switchUuid=switch)
            return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(port=port)
        return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(
            deviceName=row["name"], network=self.client.obj(row["moid"]))

    def _nic_changes(self, nets, details):
        E = vim.vm.device.VirtualDeviceSpec
        out = []
        existing = details.get("nics", [])
        for i, net in nets:
            if i < len(existing):
                dev = _copy_device(existing[i]["device"])
                operation = E.Operation.edit
            else:
                dev = vim.vm.device.VirtualVmxnet3(key=-200 - i, addressType="generated")
                dev.connectable = vim.vm.device.VirtualDevice.ConnectInfo(startConnected=True, connected=True,
                                                                          allowGuestControl=True)
                operation = E.Operation.add
            dev.backing = self._nic_backing(net["network_row"])
            if net.get("mac"):
                dev.addressType, dev.macAddress = "manual", net["mac"]
            out.append(E(operation=operation, device=dev))
        return out

    def _customization(self, spec, template):
        """Linux prep CustomizationSpec (static IPs, gateway, DNS, host name), or None."""
        if customization_method(spec) != "linux_prep":
            return None
        C = vim.vm.customization
        nets = spec.get("networks") or []
        nic_count = max(len(nets), len(template.get("nics", [])))
        mappings = []
        for i in range(nic_count):
            net = nets[i] if i < len(nets) else {}
            if net.get("ip"):
                iface = network_interface(net)
                adapter = C.IPSettings(ip=C.FixedIp(ipAddress=net["ip"]), subnetMask=str(iface.netmask))
                if net.get("gateway"):
                    adapter.gateway = [net["gateway"]]
                if net.get("dns_servers"):
                    adapter.dnsServerList = net["dns_servers"]
            else:
                adapter = C.IPSettings(ip=C.DhcpIpGenerator())
            mappings.append(C.AdapterMapping(adapter=adapter))
        dns = spec.get("dns_servers") or []
        identity = C.LinuxPrep(hostName=C.FixedName(name=guest_hostname(spec)),
                               domain=spec.get("domain") or "localdomain", hwClockUTC=True)
        return C.Specification(
            identity=identity, nicSettingMap=mappings,
            globalIPSettings=C.GlobalIPSettings(dnsServerList=dns, dnsSuffixList=[spec["domain"]]
                                                if spec.get("domain") else []))

    def _converge_new(self, specs):
        """Apply, after the clone, whatever the server did not take from the CloneSpec.

        vCenter applies config and customization during the clone, so on vCenter
        this finds nothing to do. Simpler servers (the govmomi simulator) copy the
        template's hardware and ignore the customization; one more reconfigure /
        CustomizeVM_Task per such VM (all concurrent) makes the result the same.
        """
        if not specs:
            return
        details = self._details([self.results[s["name"]]["moid"] for s in specs])
        reconfigure, customize = {}, {}
        for spec in specs:
            vm = self.client.obj(self.results[spec["name"]]["moid"])
            current = details[vm._moId]
            spec["power_after_clone"] = current.get("runtime.powerState")
            changes, _ = plan_changes(spec, current_view(current, {}))
            changes = dict((k, v) for k, v in changes.items() if k not in ("attributes", "power"))
            if changes:
                reconfigure[spec["name"]] = (vm.ReconfigVM_Task, (self._config_spec(spec, changes, current),), {})
            custom = self._customization(spec, current)
            if custom is not None and not current.get("config.tools.pendingCustomization"):
                if spec["power_after_clone"] == "poweredOn":
                    self.warn("VM %s was powered on by the clone without its guest customization; "
                              "it is not customized" % spec["name"])
                else:
                    customize[spec["name"]] = (vm.CustomizeVM_Task, (custom,), {})
        _, errors = self.client.run_tasks(reconfigure)
        if errors:
            self._fail("reconfigure after clone", errors)
        _, errors = self.client.run_tasks(customize)
        if errors:
            self._fail("guest customization (CustomizeVM_Task)", errors)

    def _reconfigure(self, specs):
        calls = {}
        for spec in specs:
            changes = dict((k, v) for k, v in spec["changes"].items() if k not in ("attributes", "power"))
            if changes:
                vm = self.client.obj(spec["existing"]["moid"])
                details = self.details[spec["existing"]["moid"]]
                calls[spec["name"]] = (vm.ReconfigVM_Task, (self._config_spec(spec, changes, details),), {})
        _, errors = self.client.run_tasks(calls)
        if errors:
            hint = " (CPU/memory of a powered-on VM change only with hot add enabled; set state: poweredoff first)"
            self._fail("reconfigure", dict((k, v + hint) for k, v in errors.items()))

    def _set_attributes(self, specs):
        """SetField per attribute: vSphere has no bulk call for custom values, so run them concurrently."""
        by_name = dict((name, key) for key, name in self.index.fields.items())
        manager = self.client.content.customFieldsManager
        calls = {}
        for spec in specs:
            values = dict(spec["changes"].get("attributes", {}))
            if spec["action"] == "create" and static_ips(spec):
                values[IP_ATTRIBUTE] = ",".join(static_ips(spec))
            ref = self.client.obj(self.results[spec["name"]].get("moid") or spec["existing"]["moid"])
            for attr, value in values.items():
                calls[(spec["name"], attr)] = (manager.SetField, (), dict(entity=ref, key=by_name[attr], value=value))
        _, errors = self.client.start(calls)
        if errors:
            self._fail("setting custom attributes", dict(("%s %s" % k, v) for k, v in errors.items()))

    def _power(self, specs):
        actions = {"on": "PowerOnVM_Task", "off": "PowerOffVM_Task", "reset": "ResetVM_Task"}
        calls = {}
        for spec in specs:
            if spec["action"] == "create":
                action, _ = desired_power(spec["state"], "poweredOff", False)
                if spec.get("power_after_clone") == "poweredOn":
                    action = None  # the clone powered it on already (vCenter)
            else:
                action = spec.get("changes", {}).get("power")
            if action:
                vm = self.client.obj(self.results[spec["name"]].get("moid") or spec["existing"]["moid"])
                calls[spec["name"]] = (getattr(vm, actions[action]), (), {})
        _, errors = self.client.run_tasks(calls)
        if errors:
            self._fail("power operation", errors)

    def _wait_ips(self):
        if not self.wait_for_ip:
            return
        vms, expected = {}, {}
        for spec in self.specs:
            if spec["state"] in ("poweredon", "restarted") or (
                    spec["state"] == "present" and spec["existing"] and
                    self.details[spec["existing"]["moid"]].get("runtime.powerState") == "poweredOn"):
                vm_moid = self.results[spec["name"]].get("moid") or spec["existing"]["moid"]
                vms[spec["name"]] = self.client.obj(vm_moid)
                ips = static_ips(spec)
                # Customization runs only for VMs created now; an existing VM keeps the
                # address it has, so for it any address will do (a warning below says so).
                created = spec["action"] == "create"
                expected[spec["name"]] = ips[0] if (ips and created) else None
        got, missing = self.client.wait_for_ips(vms, self.wait_timeout, expected)
        for spec in self.specs:
            ips = static_ips(spec)
            if spec["name"] in got and ips and got[spec["name"]] != ips[0]:
                self.warn("VM %s reports IP %s, not %s as in networks[0].ip: guest customization only "
                          "applies when the module creates the VM" % (spec["name"], got[spec["name"]], ips[0]))
        if missing:
            self.report()
            detail = ", ".join("%s%s" % (n, " (expected %s)" % expected[n] if expected[n] else "") for n in missing)
            raise VSphereError("wait_timeout: no guest IP address within %s s for %d VM(s): %s. The VMs are "
                               "powered on; check VMware Tools and the guest network, or raise wait_timeout"
                               % (self.wait_timeout, len(missing), detail),
                               created=self.created, deleted=self.deleted, vms=self._result_list())

    # ---------------------------------------------------------------- report

    def report(self):
        """Final per-VM results from one retrieval of the VMs that exist."""
        moids = {}
        for spec in self.specs:
            result = self.results[spec["name"]]
            vm_moid = result.get("moid") or (spec.get("existing") or {}).get("moid")
            if vm_moid and spec["name"] not in self.deleted:
                moids[spec["name"]] = vm_moid
        details = {} if self.check_mode else self._details(list(moids.values()))
        for spec in self.specs:
            result = self.results[spec["name"]]
            if spec["name"] in moids:
                d = details.get(moids[spec["name"]]) or self.details.get(moids[spec["name"]]) or {}
                result.update(moid=moids[spec["name"]], uuid=d.get("config.uuid"), ip=d.get("guest.ipAddress"),
                              power_state=d.get("runtime.powerState"), state="present")
            elif spec["name"] not in self.deleted:
                result.update(moid=None, uuid=None, ip=None, power_state=None,
                              state="present" if result["created"] else "absent")
            else:
                result.update(moid=None, uuid=None, ip=None, power_state=None, state="absent")
        return self._result_list()

    def _result_list(self):
        return [self.results[s["name"]] for s in self.specs]


def run_vsphere_vm(params, check_mode=False, warn=None):
    """Entry point of the vsphere_vm module: returns the result dict, raises VSphereError."""
    specs = merge_vm_specs(params)
    errors = validate_request(specs)
    if errors:
        raise VSphereError("; ".join(errors), errors=errors)
    client = connect(params["hostname"], params["username"], params["password"], params["port"],
                     params["validate_certs"])
    try:
        prov = Provisioner(client, params["datacenter"], specs, check_mode=check_mode, force=params["force"],
                           wait_for_ip=params["wait_for_ip"], wait_timeout=params["wait_timeout"], warn=warn)
        prov.resolve()
        prov.plan()
        vms = prov.apply()
    finally:
        client.close()
    result = {
        "changed": any(v["changed"] for v in vms),
        "vms": vms,
        "created": [v["name"] for v in vms if v["created"]],
        "changed_vms": [v["name"] for v in vms if v["changed"]],
        "deleted": list(prov.deleted),
        "diff": prov.diffs,
    }
    if params.get("name") and not params.get("vms"):
        result["vm"] = vms[0]
    return result
