# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the vSphere files: the error type, the retry of transient faults, fault text.

The bottom layer of the vSphere client (vsphere.py connects; _vsphere_client.py reads;
_vsphere_waits.py waits): everything here is needed by all of them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import socket
import time

try:
    from pyVmomi import vmodl
    HAS_PYVMOMI = True
    PYVMOMI_IMPORT_ERROR = None
except ImportError as exc:  # reported by connect(), not here
    HAS_PYVMOMI = False
    PYVMOMI_IMPORT_ERROR = exc


class VSphereError(Exception):
    """A failure with a message meant for the user (names the option and the fix).

    ``details`` carries what was done before the failure (e.g. created VMs) so
    the module can report it next to the message.
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


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
