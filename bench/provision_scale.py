#!/usr/bin/env python
"""How long cloning and powering on N VMs takes: ONE vsphere_vm task vs N vmware_guest tasks.

For each pass a private vcsim (.lab/bin/vcsim) is started on a free loopback port with a random
password (given to Ansible only through VMWARE_* environment variables), and both sides clone
the lab template into N powered-on VMs (plain clones, no RUN.container):
  - ours:   one containerops.platform.vsphere_vm task with vms: [N entries] (hosts: localhost)
  - anchor: community.vmware.vmware_guest, one task per VM: N inventory hosts with
            ansible_connection=local and forks N (the way its docs and issues recommend)
Each side is timed as a whole `ansible-playbook` process, then checked: N VMs of its prefix,
all powered on. Passes:
  1. no delay (vcsim answers instantly; the real cost is the client's own work)
  2. --method-delay (default CloneVM_Task:2000,PowerOnVM_Task:500, a crude stand-in for a
     vCenter that takes time to answer those calls; vcsim runs the task inside the call)
  3. --delay (default 50 ms added to EVERY call, i.e. vCenter's per-request latency), with the
     method delays of pass 2
Target: ours >= 5x faster. The last line of the output is one JSON object.

    .venv/bin/python bench/provision_scale.py --vms 20
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "collections"))

from inventory_scale import BIN, REPO, Vcsim, log

TEMPLATE = "debian12-template"


def playbook(path, hosts, task, forks_note=""):
    with open(path, "w") as f:
        json.dump([{"hosts": hosts, "gather_facts": False, "tasks": [task]}], f, indent=1)


def ours_playbook(work, prefix, n):
    path = os.path.join(work, "ours.yml")
    playbook(path, "localhost", {
        "name": "all VMs in one task",
        "containerops.platform.vsphere_vm": {
            "datacenter": "DC0", "template": TEMPLATE, "state": "poweredon",
            "vms": [{"name": "%s%02d" % (prefix, i)} for i in range(n)]}})
    inventory = os.path.join(work, "ours.ini")
    with open(inventory, "w") as f:
        f.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    return path, inventory


def anchor_playbook(work, prefix, n):
    path = os.path.join(work, "anchor.yml")
    playbook(path, "bench_vms", {
        "name": "one vmware_guest task per VM",
        "community.vmware.vmware_guest": {
            "datacenter": "DC0", "cluster": "DC0_C0", "folder": "/DC0/vm", "template": TEMPLATE,
            "name": "{{ inventory_hostname }}", "state": "poweredon"}})
    inventory = os.path.join(work, "anchor.ini")
    with open(inventory, "w") as f:
        f.write("[bench_vms]\n")
        for i in range(n):
            f.write("%s%02d ansible_connection=local ansible_python_interpreter=%s\n" % (prefix, i, sys.executable))
    return path, inventory


def run_playbook(path, inventory, env, forks):
    started = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", inventory, "-f", str(forks), path],
                          cwd=REPO, env=env, text=True, capture_output=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("ansible-playbook %s failed:\n%s\n%s" % (path, proc.stdout[-4000:], proc.stderr[-2000:]))
    return seconds


def powered_on(sim, prefix):
    """How many VMs named prefix* are powered on (one bulk read through our client)."""
    from pyVmomi import vim

    from ansible_collections.containerops.platform.plugins.module_utils.vsphere import connect
    client = connect("127.0.0.1", sim.username, sim.password, sim.port, validate_certs=False)
    try:
        rows = client.retrieve_views(None, {vim.VirtualMachine: ["name", "runtime.powerState"]}, plain=True)
    finally:
        client.close()
    return sum(1 for r in rows if r["name"].startswith(prefix) and r["runtime.powerState"] == "poweredOn")


def one_pass(label, args, method_delay=None, delay=0):
    with Vcsim(method_delay=method_delay, delay=delay) as sim, \
            tempfile.TemporaryDirectory(prefix="bench-provision-") as work:
        env = sim.env()
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.builtin.default"  # no per-task profiling output
        figures = {"vms": args.vms, "method_delay": method_delay, "delay_ms": delay}
        for side, build, forks in (("ours", ours_playbook, 1), ("anchor", anchor_playbook, args.vms)):
            prefix = "b-%s-" % side
            path, inventory = build(work, prefix, args.vms)
            seconds = run_playbook(path, inventory, env, forks)
            on = powered_on(sim, prefix)
            if on != args.vms:
                raise SystemExit("%s: %d of %d VMs powered on" % (side, on, args.vms))
            log("  %-6s %6.2f s  (%d VMs cloned and powered on)" % (side, seconds, on))
            figures["%s_seconds" % side] = round(seconds, 2)
        figures["ratio"] = round(figures["anchor_seconds"] / figures["ours_seconds"], 1)
    log("%s: ours %.2f s, anchor %.2f s: ours is %.1fx faster" % (
        label, figures["ours_seconds"], figures["anchor_seconds"], figures["ratio"]))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--method-delay", default="CloneVM_Task:2000,PowerOnVM_Task:500")
    parser.add_argument("--delay", type=int, default=50, help="ms added to every call in the third pass")
    args = parser.parse_args()
    results = {}
    log("== no delay")
    results["no_delay"] = one_pass("no delay", args)
    log("== method delay %s" % args.method_delay)
    results["method_delay"] = one_pass("method delay", args, method_delay=args.method_delay)
    log("== method delay %s + %d ms per call" % (args.method_delay, args.delay))
    results["method_and_call_delay"] = one_pass("method + call delay", args, method_delay=args.method_delay,
                                                delay=args.delay)
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
