# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one vSphere client: connection, bulk reads, task and guest waits.

Everything that talks SOAP to vCenter lives in this file (pyVmomi underneath).
Design rules, because they are what makes it fast against a real vCenter:

* Reads are bulk: one paged PropertyCollector retrieval (RetrievePropertiesEx +
  ContinueRetrievePropertiesEx) over a ContainerView, returning plain dicts.
  Never a lazy ``vm.config.x`` attribute read per VM.
* Tasks are started concurrently (a small thread pool: each vCenter call has
  latency, the tasks themselves run in vCenter) and waited for together with ONE
  WaitForUpdatesEx loop on a private PropertyCollector, never polled one by one.
* Guest IPs are awaited the same way (WaitForUpdatesEx on guest.ipAddress).
* Every wait has a deadline, and so has every socket read: vCenter can leave a task
  running forever, and the caller must be able to say which ones were still running.
* Reads are retried on transient transport faults; calls that change something
  are not (the server may have acted before the connection broke; a re-run
  converges because everything is idempotent by VM name).

The VM provisioning logic on top of it is private to vsphere_vm: _vsphere_provision.py
(the phases) and the _vsphere_*.py files it uses (_vsphere_spec.py is the pure part).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import io
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


def connect(hostname, username, password, port=443, validate_certs=True, pool_size=32, http_timeout=300):
    """Log in to vCenter and return a Client; every failure says which option to fix.

    ``http_timeout``: seconds one socket read may block (longer than any server-side
    wait we ask for), so that a vCenter that stops answering ends in an error.
    """
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
                          sslContext=context, httpConnectionTimeout=http_timeout)
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

    def run_tasks(self, calls, timeout, workers=32, faults=None, option=None):
        """start() then wait_for_tasks(); returns ({key: result}, {key: error message})."""
        tasks, failed = self.start(calls, workers=workers)
        done, errors = self.wait_for_tasks(tasks, timeout, faults=faults, option=option)
        errors.update(failed)
        return done, errors

    def wait_for_tasks(self, tasks, timeout, faults=None, option=None):
        """Wait for MANY tasks with one WaitForUpdatesEx loop on info.state of all of them.

        ``tasks``: {key: vim.Task}; ``timeout``: seconds for all of them together. Returns
        ({key: info.result}, {key: error message}); a task still queued or running at the
        deadline is an error that names the task (it may yet finish in vCenter) and ``option``,
        the user's setting of the timeout. ``faults``, when given, receives {key: the vSphere
        fault} of the tasks that failed.
        """
        if not tasks:
            return {}, {}
        by_moid = dict((t._moId, key) for key, t in tasks.items())
        state = dict((m, {}) for m in by_moid)

        def absorb(object_id, change):
            state[object_id][change.name] = change.val

        def finished():
            return all(s.get("info.state") in ("success", "error") for s in state.values())

        try:
            self._watch(list(tasks.values()), vim.Task, ["info.state", "info.error", "info.result"],
                        absorb, finished, timeout, "tasks")
        except _WaitTimeout:
            pass  # the unfinished ones are reported below
        done, errors = {}, {}
        for object_id, key in by_moid.items():
            s = state[object_id]
            if s.get("info.state") == "success":
                done[key] = s.get("info.result")
            elif s.get("info.state") == "error":
                err = s.get("info.error")
                # pyVmomi unwraps the LocalizedMethodFault: info.error is the fault itself.
                fault = err if isinstance(err, vmodl.MethodFault) else getattr(err, "fault", None)
                errors[key] = fault_message(fault) if fault is not None \
                    else (getattr(err, "localizedMessage", None) or "task failed")
                if faults is not None and fault is not None:
                    faults[key] = fault
            else:
                errors[key] = "vCenter task %s still %s after %s s%s; it may yet finish there" % (
                    object_id, s.get("info.state") or "queued", timeout, " (%s)" % option if option else "")
        return done, errors

    def server_time(self):
        """vCenter's clock (events carry its timestamps, not ours)."""
        return with_retries(self.si.CurrentTime)

    def customization_events(self, datacenter):
        """{VM moid: [guest customization events, oldest first]} of a datacenter, in ONE QueryEvents.

        vCenter posts CustomizationStartedEvent, CustomizationSucceeded or a failure when the
        guest reports. Each event is {'type', 'message', 'time'}. A server without an
        event history gives {}.
        """
        E = vim.event.EventFilterSpec
        spec = E(entity=E.ByEntity(entity=datacenter, recursion="all"), eventTypeId=list(CUSTOMIZATION_EVENTS))
        try:
            events = with_retries(self.content.eventManager.QueryEvents, spec)
        except (vmodl.fault.NotSupported, vmodl.fault.NotImplemented):
            return {}
        by_vm = {}
        for event in sorted(events or [], key=lambda e: (e.createdTime, e.key)):
            vm = getattr(getattr(event, "vm", None), "vm", None)
            if vm is not None:
                message = getattr(event, "fullFormattedMessage", None) or getattr(event, "reason", None) or ""
                by_vm.setdefault(vm._moId, []).append({"type": type(event).__name__.rpartition(".")[2],
                                                       "message": message, "time": event.createdTime})
        return by_vm

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
        """The WaitForUpdatesEx loop: feed every change to absorb() until finished() or the deadline."""
        P = _pc()
        collector = self._wait_collector()
        deadline = time.monotonic() + timeout
        spec = P.FilterSpec(objectSet=[P.ObjectSpec(obj=r) for r in refs],
                            propSet=[P.PropertySpec(type=vimtype, pathSet=paths)])
        property_filter = collector.CreateFilter(spec, True)
        try:
            version = ""
            while True:
                remaining = deadline - time.monotonic()
                if version and finished():
                    return
                if remaining <= 0:
                    raise _WaitTimeout("timed out waiting for %s" % what)
                wait = max(1, min(60, int(remaining + 0.999)))
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


# Guest customization events, as pyVmomi names their classes (vim.event.<name>).
CUSTOMIZATION_EVENTS = ("CustomizationStartedEvent", "CustomizationSucceeded", "CustomizationFailed",
                        "CustomizationLinuxIdentityFailed", "CustomizationNetworkSetupFailed",
                        "CustomizationSysprepFailed", "CustomizationUnknownFailure")


class _Change(object):
    def __init__(self, name, val):
        self.name, self.val = name, val


# ============================================================== fleet conventions (inventory plugin)


def sanitize_group(value):
    """docs/fleet.md group name rule: lower case; '-' and '.' become '_' (and any other odd char)."""
    return re.sub(r"[^a-z0-9_]", "_", str(value).lower())


def normalise_power_state(power_state):
    """docs/fleet.md platform_power_state: running / stopped, else the cloud's own word."""
    return {"poweredOn": "running", "poweredOff": "stopped"}.get(power_state, power_state)
