#!/usr/bin/env python
"""Forget, on the salt-master, the minions this role once accepted that are no longer
master-mode hosts of the inventory: delete their keys, their pillar and the public key
the role kept for them.

usage: forget_departed_minions.py SALT_KEY STATE_DIR CHECK MAX CONFIRMED [KEEP_ID ...]

"Ours" are the minions the role seeded a key for (STATE_DIR/var/run/<id>.pub, the id with
"." as "_"); keys of other minions on a shared master are never touched. KEEP_IDs are the
master-mode hosts of the inventory's fleet. CHECK=1 only reports. More than MAX departed
minions are forgotten only when each is in CONFIRMED (comma-separated ids); otherwise
nothing is, and the exit status is 3. Prints one JSON line:
{"changed": bool, "forgotten": [ids], "msg": str}.
"""
import json
import os
import subprocess
import sys

STATES = ("minions", "minions_pre", "minions_rejected", "minions_denied")


def id_file(minion):
    return minion.replace(".", "_")


def main():
    salt_key, state_dir, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    most, confirmed = int(sys.argv[4]), {id_file(m) for m in sys.argv[5].split(",") if m}
    keep = {id_file(m) for m in sys.argv[6:]}
    run_dir = os.path.join(state_dir, "var", "run")
    pillar_dir = os.path.join(state_dir, "srv", "pillar", "hosts")
    conf = os.path.join(state_dir, "etc", "salt")
    if not os.path.isfile(os.path.join(conf, "master")) or not os.access(salt_key, os.X_OK):
        print(json.dumps({"changed": False, "forgotten": [], "msg": "no salt-master set up here"}))
        return 0
    ours = {f[:-4] for f in os.listdir(run_dir) if f.endswith(".pub")} if os.path.isdir(run_dir) else set()
    departed_files = ours - keep

    listed = subprocess.run([salt_key, "-c", conf, "-L", "--out", "json"], text=True, capture_output=True, check=False)
    if listed.returncode != 0:
        print(json.dumps({"changed": False, "forgotten": [], "msg": "salt-key -L failed: " + listed.stderr.strip()}))
        return 1
    keys = json.loads(listed.stdout)
    departed_keys = sorted({m for state in STATES for m in keys.get(state, []) if id_file(m) in departed_files})
    departed = sorted(set(departed_keys) | departed_files)
    if len(departed) > most and not {id_file(m) for m in departed} <= confirmed:
        print(json.dumps({"changed": False, "forgotten": [], "msg": (
            f"{len(departed)} minions left the inventory's fleet and would be forgotten: {', '.join(departed)}. "
            f"That is more than salt_bootstrap_master_forget_max {most}, so none was. If these machines really left, "
            f"confirm them: -e '{{\"salt_bootstrap_master_forget_confirm\": {json.dumps(departed)}}}' (or raise "
            f"salt_bootstrap_master_forget_max); if not, fix the inventory (salt_bootstrap_fleet_group)")}))
        return 3

    if not check:
        for minion in departed_keys:
            deleted = subprocess.run([salt_key, "-c", conf, "-y", "-d", minion],
                                     text=True, capture_output=True, check=False)
            if deleted.returncode != 0:
                print(json.dumps({"changed": True, "forgotten": [], "msg": f"salt-key -d {minion} failed: "
                                  + deleted.stderr.strip()}))
                return 1
        for name in departed_files:
            for leftover in (os.path.join(pillar_dir, name + ".sls"), os.path.join(run_dir, name + ".pub")):
                if os.path.exists(leftover):
                    os.remove(leftover)
    forgotten = sorted(set(departed_keys) | departed_files)
    verb = "would forget" if check else "forgot"
    msg = (f"{verb} {', '.join(forgotten)}: not a master-mode host of the inventory any more"
           if forgotten else "no departed minions")
    print(json.dumps({"changed": bool(forgotten), "forgotten": forgotten, "msg": msg}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
