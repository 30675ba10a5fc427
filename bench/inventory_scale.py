#!/usr/bin/env python
"""How long `ansible-inventory --list` takes with our inventory plugins at fleet scale.

One section per cloud, each a function that returns its figures; `main` runs the sections
asked for and prints, as the LAST line, one JSON object {section: figures}.

vsphere: starts its OWN vcsim (.lab/bin/vcsim, built by lab/vcsim/build.sh when missing) on a
free loopback port with -vms N and a random password, writes temporary inventory configs
(credentials only in the environment, VMWARE_USER / VMWARE_PASSWORD), and times
`ansible-inventory -i CONFIG --list` as whole processes:
  - ours:   containerops.platform.vsphere (default options), --repeat runs, median reported
  - anchor: community.vmware.vmware_vm_inventory with its default options, once, on the
            same simulator in the same run (skip with --skip-anchor)
Targets at 2000 VMs: ours <= 2.5 s and >= 10x faster than the anchor; at 10000 VMs < 8 s.

    .venv/bin/python bench/inventory_scale.py --vms 2000
    .venv/bin/python bench/inventory_scale.py --vms 10000 --skip-anchor
"""

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
VCSIM = os.path.join(REPO, ".lab", "bin", "vcsim")


def log(msg):
    print(msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- vcsim


class Vcsim:
    """A private simulator: started on a free port, always stopped (with its datastore dirs)."""

    def __init__(self, vms=0, method_delay=None, delay=0):
        self.vms, self.method_delay, self.delay = vms, method_delay, delay
        self.port = free_port()
        self.username = "bench@vsphere.local"
        self.password = secrets.token_urlsafe(18)
        self.proc = None

    def __enter__(self):
        if not os.access(VCSIM, os.X_OK):
            subprocess.run(["bash", os.path.join(REPO, "lab", "vcsim", "build.sh"), VCSIM], check=True)
        cmd = [VCSIM, "-listen", "127.0.0.1:%d" % self.port, "-vms", str(self.vms)]
        if self.method_delay:
            cmd += ["-method-delay", self.method_delay]
        if self.delay:
            cmd += ["-delay", str(self.delay)]
        env = dict(os.environ, VCSIM_USERNAME=self.username, VCSIM_PASSWORD=self.password)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        started = time.monotonic()
        line = self.proc.stdout.readline()  # printed once the inventory is populated and serving
        if "listening" not in line:
            self.__exit__()
            self.log.seek(0)
            raise SystemExit("vcsim did not start: %s %s" % (line, self.log.read().decode()[-2000:]))
        log("vcsim with %d VMs up on 127.0.0.1:%d in %.1f s%s" % (
            self.vms, self.port, time.monotonic() - started,
            " (method delay %s, delay %s ms)" % (self.method_delay, self.delay) if self.method_delay or self.delay
            else ""))
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: vcsim removes its temp datastores
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def env(self):
        """Connection for both plugins / modules through their environment fallbacks."""
        return dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                    VMWARE_HOST="127.0.0.1", VMWARE_PORT=str(self.port), VMWARE_USER=self.username,
                    VMWARE_PASSWORD=self.password, VMWARE_VALIDATE_CERTS="false")


def time_inventory(config, env, workdir):
    """Wall-clock seconds of one `ansible-inventory --list`, and the number of hosts it listed."""
    out = os.path.join(workdir, "listing.json")
    started = time.monotonic()
    with open(out, "w") as f:
        proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", config, "--list"],
                              cwd=REPO, env=env, stdout=f, stderr=subprocess.PIPE, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("ansible-inventory -i %s failed:\n%s" % (config, proc.stderr[-3000:]))
    with open(out) as f:
        hosts = len(json.load(f)["_meta"]["hostvars"])
    if "Failed to parse" in proc.stderr or "Unable to parse" in proc.stderr:
        raise SystemExit("ansible-inventory -i %s could not parse the source:\n%s" % (config, proc.stderr[-3000:]))
    return seconds, hosts


# ---------------------------------------------------------------- sections


def vsphere_section(args):
    with Vcsim(vms=args.vms) as sim, tempfile.TemporaryDirectory(prefix="bench-vsphere-") as work:
        ours = os.path.join(work, "bench.vsphere.yml")
        with open(ours, "w") as f:
            f.write("plugin: containerops.platform.vsphere\n")
        anchor = os.path.join(work, "bench.vmware.yml")
        with open(anchor, "w") as f:
            f.write("plugin: community.vmware.vmware_vm_inventory\n")

        runs = []
        for i in range(args.repeat):
            seconds, hosts = time_inventory(ours, sim.env(), work)
            log("  ours   (containerops.platform.vsphere)   run %d: %6.2f s, %d hosts" % (i + 1, seconds, hosts))
            if hosts != args.vms:
                raise SystemExit("ours listed %d hosts, expected %d" % (hosts, args.vms))
            runs.append(seconds)
        figures = {"vms": args.vms, "ours_seconds": round(statistics.median(runs), 2),
                   "ours_runs": [round(r, 2) for r in runs], "ours_target_seconds": 2.5 if args.vms <= 2000 else 8.0}
        if not args.skip_anchor:
            seconds, hosts = time_inventory(anchor, sim.env(), work)
            log("  anchor (community.vmware.vmware_vm_inventory): %6.2f s, %d hosts" % (seconds, hosts))
            figures.update(anchor_seconds=round(seconds, 2), anchor_hosts=hosts,
                           ratio=round(seconds / figures["ours_seconds"], 1))
    log("vsphere, %d VMs: ours %.2f s (median of %d)%s" % (
        args.vms, figures["ours_seconds"], len(runs),
        "; anchor %.2f s; ours is %.1fx faster" % (figures["anchor_seconds"], figures["ratio"])
        if "ratio" in figures else ""))
    return figures


# Another cloud's section goes here: def <cloud>_section(args) -> dict, listed in SECTIONS.
SECTIONS = {"vsphere": vsphere_section}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--vms", type=int, default=2000, help="VMs in the simulator (vsphere)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of our plugin (median reported)")
    parser.add_argument("--skip-anchor", action="store_true", help="do not time the community plugin")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only these sections")
    args = parser.parse_args()
    figures = {}
    for name in args.only or sorted(SECTIONS):
        log("== %s" % name)
        figures[name] = SECTIONS[name](args)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
