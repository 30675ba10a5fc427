# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to ipam_lock: one run at a time changes an owner's form (migration, failover).

Key ``<prefix>/locks/<owner-key>``, value JSON ``{operation, by, since, token}``, attached to an etcd
lease of ``ttl`` seconds: a run that dies without letting go (killed, its controller lost) holds the
owner no longer than that, and the expiry is etcd's clock, never a controller's. Taking it is one
transaction that requires the key not to exist; letting go needs the token the taker got back, so a
run never frees another's lock unless told to (force).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import os
import socket
import time
import uuid

from ansible_collections.containerops.platform.plugins.module_utils._ipam_etcd import same_mod
from ansible_collections.containerops.platform.plugins.module_utils._ipam_model import IpamError, owner_key


def default_by():
    """Who takes the lock, as a reader of the refusal needs it: user@host. No process id: the module's own
    process is gone once it returns, and a dead pid would invite forcing a lock a live run holds."""
    try:
        user = getpass.getuser()
    except Exception:  # pylint: disable=broad-except  # no user name is no reason to fail
        user = "uid %d" % os.getuid()
    return "%s@%s" % (user, socket.gethostname())


class OwnerLock:
    def __init__(self, store, prefix, clock=time.time):
        self.store, self.prefix, self.clock = store, prefix.rstrip("/"), clock

    def key(self, owner):
        return "%s/locks/%s" % (self.prefix, owner_key(owner))

    def read(self, owner):
        """(record with expires_in, mod) of the owner's lock; (None, 0) when nobody holds it."""
        found = self.store.range(self.key(owner))[0].get(self.key(owner))
        if not found:
            return None, 0
        record, mod, _version = found
        record = dict(record)
        record["expires_in"] = self.store.lease_ttl(record.get("lease"))
        return record, mod

    def acquire(self, owner, operation, ttl, by=None, token=None, check_mode=False):
        """Take the owner's lock (or keep the one ``token`` names); refused while another run has it."""
        if ttl < 5:
            raise IpamError("ttl (%s) must be at least 5 seconds: the longest the owner stays locked when the run "
                            "holding it dies. Nothing was changed." % ttl)
        key = self.key(owner)
        held, _mod = self.read(owner)
        if held is not None and token and held.get("token") == token:
            return self._result(False, owner, held, held, token)
        if held is None and check_mode:
            return self._result(True, owner, None, {"operation": operation, "by": by or default_by()}, None)
        if held is None:
            lease = self.store.lease_grant(ttl)
            record = {"operation": operation, "by": by or default_by(), "token": uuid.uuid4().hex,
                      "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())), "lease": lease}
            if self.store.txn([same_mod(key, 0)], puts=[(key, record)], lease=lease):
                record["expires_in"] = ttl
                return self._result(True, owner, None, record, record["token"])
            self.store.lease_revoke(lease)      # another run took it between the read and the write
            held, _mod = self.read(owner)
        if held is None:    # taken and let go again in the meantime: this run raced and lost; say so
            raise IpamError("%s was locked and let go by another run while this one took the lock. Nothing was "
                            "changed. Fix: run again." % owner_key(owner))
        raise IpamError(
            "%s is locked: %s by %s since %s (the lock lapses in %s s unless that run lets it go first). Nothing "
            "was changed. Fix: wait for that run to end and run again; if it died, wait for the lapse or let the "
            "lock go with containerops.platform.ipam_lock state=unlocked force=true."
            % (owner_key(owner), held.get("operation"), held.get("by"), held.get("since"), held["expires_in"]))

    def release(self, owner, token=None, force=False, check_mode=False):
        """Let the owner's lock go: the one ``token`` names, or whichever with ``force``. No lock: no change."""
        key = self.key(owner)
        held, mod = self.read(owner)
        if held is None:
            return self._result(False, owner, None, None, None)
        if not force and held.get("token") != token:
            raise IpamError(
                "%s is locked by another run (%s by %s since %s), not by the token given. Nothing was changed. "
                "Fix: give the token the run that took it got back, or force=true to take it away from that run."
                % (owner_key(owner), held.get("operation"), held.get("by"), held.get("since")))
        if check_mode:
            return self._result(True, owner, held, None, None, shown=held)
        if self.store.txn([same_mod(key, mod)], deletes=[key]):
            self.store.lease_revoke(held.get("lease"))
            return self._result(True, owner, held, None, None, shown=held)
        # Changed between the read and the delete (lapsed, or let go and taken again): look again.
        return self.release(owner, token=token, force=force, check_mode=check_mode)

    @staticmethod
    def _result(changed, owner, before, after, token, shown=None):
        return dict(changed=changed, owner=owner_key(owner), token=token, lock=_shown(shown or after),
                    diff={"before": _shown(before) or {}, "after": _shown(after) or {}})


def _shown(record):
    if not record:
        return None
    return {k: record.get(k) for k in ("operation", "by", "since", "expires_in")}
