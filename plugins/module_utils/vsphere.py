# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one vSphere client: connect() and the connection options.

Everything that talks SOAP to vCenter lives in this file and the private ones under it
(pyVmomi underneath); modules and inventory plugins import from here:

* _vsphere_faults.py: VSphereError, retries of transient transport faults, fault text;
* _vsphere_client.py: Client, the logged-in session, and its bulk reads (one paged
  PropertyCollector retrieval over a ContainerView, returning plain dicts; never a lazy
  ``vm.config.x`` attribute read per VM);
* _vsphere_waits.py: tasks started concurrently and waited for together with ONE
  WaitForUpdatesEx loop, never polled one by one; guest IPs are awaited the same way.

Design rules, because they are what makes it fast against a real vCenter:

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
import ssl

from ansible_collections.containerops.platform.plugins.module_utils._vsphere_client import Client
from ansible_collections.containerops.platform.plugins.module_utils._vsphere_faults import (
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    VSphereError,
    fault_message,
    with_retries,
)

try:
    from pyVim.connect import SmartConnect
    from pyVmomi import vim, vmodl
except ImportError:  # HAS_PYVMOMI says it; connect() reports it
    pass

try:
    from ansible.module_utils.basic import env_fallback
except ImportError:  # pragma: no cover - ansible-core always has it
    env_fallback = None


# ============================================================== options


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
