# Managed by Salt (containerops.docker.config): the pinned instances' boot guard.
#
# dockerd starts every container whose restart policy says so as soon as it starts. After the node
# was lost and powered on again, its pinned instances (label containerops.ip) may meanwhile run on
# another node with the same addresses (playbooks/failover.yml), and the engine cannot know that.
# So at boot, before dockerd reads its containers, their restart policy is set to "no" in the
# engine's own files: they stay down until network.yml binds each address to this node in the IPAM
# (refused while another node holds it) and starts them, which puts the policy back.
#
# Runs before every start of dockerd (ExecStartPre) and acts only on the first of a boot: /run is
# emptied by a boot, not by an engine restart, and dockerd leaves its exec root (/run/docker) there,
# so `systemctl restart docker` (also the first one after Salt installed this guard) brings the
# instances back as before.
# Usage: python3 pinned-boot-guard DATA_ROOT EXEC_ROOT (dockerd's data-root and exec-root)
import json
import os
import sys

MARK = "/run/containerops/pinned-boot-guard"


def hold(data_root):
    """Restart policy "no" for every pinned instance that has another; their names."""
    held = []
    containers = os.path.join(data_root, "containers")
    for cid in sorted(os.listdir(containers)) if os.path.isdir(containers) else ():
        config_path = os.path.join(containers, cid, "config.v2.json")
        host_path = os.path.join(containers, cid, "hostconfig.json")
        try:
            with open(config_path) as f:
                config = json.load(f)
            with open(host_path) as f:
                host = json.load(f)
        except (OSError, ValueError):
            continue
        if "containerops.ip" not in ((config.get("Config") or {}).get("Labels") or {}):
            continue
        if (host.get("RestartPolicy") or {}).get("Name", "no") in ("", "no"):
            continue
        host["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
        with open(host_path + ".guard", "w") as f:
            json.dump(host, f)
        os.replace(host_path + ".guard", host_path)
        held.append(config.get("Name", cid).lstrip("/"))
    return held


def main(data_root, exec_root):
    if os.path.exists(MARK):
        return
    # dockerd makes its exec root in /run: there already, this is not the first start of the boot.
    held = [] if os.path.isdir(exec_root) else hold(data_root)
    os.makedirs(os.path.dirname(MARK), exist_ok=True)
    with open(MARK, "w") as f:
        f.write("\n".join(held) + ("\n" if held else ""))
    if held:
        print("held at boot until network.yml binds their addresses here again: " + ", ".join(held))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/var/lib/docker", sys.argv[2] if len(sys.argv) > 2 else "/run/docker")
