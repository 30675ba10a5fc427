#!/usr/bin/env python
"""Accept exactly one minion's key on the salt-master, by fingerprint.

usage: accept_minion_key.py SALT_KEY CONF_DIR MINION_ID EXPECTED_FINGERPRINT [TIMEOUT [PUBKEY_FILE]]

The expected fingerprint is read from the node over SSH by the playbook, so a
key is only accepted when it is the node's own. Prints one JSON line:
{"changed": bool, "msg": str} and exits non-zero on failure.
  - accepted with the expected fingerprint: nothing to do
  - accepted with another fingerprint (the node was re-created): the old key
    is deleted and the node's new key accepted once it is presented
  - pending with the expected fingerprint: accepted
  - pending/rejected/denied with another fingerprint: rejected, failure
  - not presented yet: PUBKEY_FILE (the node's public key, read over SSH) is
    put in front of the master as the pending key when its fingerprint is
    the expected one, so acceptance does not wait for the minion's first
    connection
  - never presented within TIMEOUT seconds: failure naming the likely cause
"""
import json
import os
import subprocess
import sys
import time

import salt.utils.crypt  # run with the salt-master virtualenv's python

STATES = ("minions", "minions_pre", "minions_rejected", "minions_denied")


def main():
    salt_key, conf, minion, expected = sys.argv[1:5]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 90
    pubkey = sys.argv[6] if len(sys.argv) > 6 else None

    def key(*args):
        done = subprocess.run([salt_key, "-c", conf, "--out", "json", "-y", *args],
                              text=True, capture_output=True, check=False)
        if done.returncode != 0:
            # Without this the loop below would retry a failing salt-key without end.
            print(json.dumps({"changed": True, "msg": f"{minion}: salt-key {' '.join(args)} failed: "
                              f"{(done.stderr or done.stdout).strip()}"}))
            sys.exit(1)
        return done

    pki = os.path.join(conf, "pki", "master")

    def listing():
        # The same fingerprint function the node used (salt.utils.crypt.pem_finger,
        # sha256), on the key files themselves.
        found = {}
        for state in STATES:
            path = os.path.join(pki, state, minion)
            if os.path.isfile(path):
                found[state] = salt.utils.crypt.pem_finger(path, sum_type="sha256")
        return found

    changed = False
    notes = []
    deadline = time.monotonic() + timeout
    while True:
        found = listing()
        if found.get("minions") == expected:
            print(json.dumps({"changed": changed, "msg": "; ".join(notes + [f"{minion}: key accepted ({expected})"])}))
            return 0
        if "minions" in found:
            key("-d", minion)
            changed = True
            notes.append(f"deleted the stale accepted key {found['minions']} (node re-created)")
            continue
        if found.get("minions_pre") == expected:
            key("-a", minion)
            changed = True
            continue
        wrong = {state: fp for state, fp in found.items() if fp != expected}
        if "minions_pre" in wrong:
            key("-r", minion)
            print(json.dumps({"changed": True, "msg": (
                f"{minion}: the key presented to the master has fingerprint {wrong['minions_pre']}, the node's "
                f"own key is {expected}: rejected it. Another machine uses this minion id; stop it, then "
                f"delete the rejected key (salt-key -d {minion}) and run bootstrap again.")}))
            return 1
        if found and set(found) <= {"minions_rejected", "minions_denied"}:
            # An old rejection of this id must not block the node's real key.
            key("-d", minion)
            changed = True
            notes.append(f"deleted earlier rejected/denied key(s) {found}")
            continue
        if not found and pubkey and salt.utils.crypt.pem_finger(pubkey, sum_type="sha256") == expected:
            with open(pubkey) as src, open(os.path.join(pki, "minions_pre", minion), "w") as dst:
                dst.write(src.read())
            pubkey = None   # once
            notes.append("seeded the node's key (read over SSH) as pending")
            continue
        if time.monotonic() > deadline:
            print(json.dumps({"changed": changed, "msg": (
                f"{minion}: its key never reached the master within {timeout:.0f}s. Check that the node reaches "
                f"salt_bootstrap_master_address on salt_bootstrap_master_ret_port and "
                f"salt_bootstrap_master_publish_port, and the minion log (journalctl -u containerops-salt-minion).")}))
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
