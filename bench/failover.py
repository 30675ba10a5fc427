#!/usr/bin/env python
"""From a node's loss to its instance answering again on another node: our failover with fencing
against Swarm rescheduling a service task from the same lost node, in one run on the lab.

Needs the lab as `make demo` leaves it (fleet, engines, swarm, network.yml's pinned instances; the
script runs `make demo`'s playbook when demo-lab-1 is not running on lab-vs-3). Then:

- anchor: a replicated Swarm service (busybox httpd, one task) placed on lab-vs-3 with its port
  published in host mode; lab-vs-1 is then allowed too. Swarm finds the lost node by its
  heartbeats and starts the task on lab-vs-1, at lab-vs-1's address: the address does not survive.
- ours: demo:lab:1 pinned on lab-vs-3 (10.88.2.x). A detector like an alert rule (SSH of the node
  unanswered 3 times, 1 s apart) runs playbooks/failover.yml, which fences the VM through the vSphere
  API and starts the instance on lab-vs-1 with the same address and MAC.

Both clocks start when lab-vs-3 loses its network (its eth0 goes down; the clouds still say it
runs) and stop when HTTP answers at the instance's address: ours at the pinned address, the anchor
at lab-vs-1's published port. Afterwards the lab is put back as it was (the service and labels go,
demo:lab:1 back on lab-vs-3). Traffic goes only to the lab's nodes and their containers.

    .venv/bin/python bench/failover.py

The last line of the output is one JSON object with ours_s and anchor_s.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "lab"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

# A script, not a test: the lab helpers are found through the sys.path entries above.
from labhelpers import BUSYBOX, ansible, load_lab, put_back_after_failover, ssh  # noqa: E402

LOST, TAKER, WITNESS = "10.88.1.13", "10.88.1.11", "10.88.1.12"     # lab-vs-3, lab-vs-1, lab-vs-2
PORT = 18080
SERVICE = "bench-failover"


def sh(lab, ip, cmd, timeout=60):
    r = ssh(lab, ip, cmd, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"{ip}: {cmd}: {r.stderr.strip()}")
    return r.stdout.strip()


def ok(result, what):
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
    return result


def answers(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def port_open(ip, port, timeout=1.0):
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def until(predicate, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def pinned_ip(lab):
    return sh(lab, LOST, "docker inspect demo-lab-1 --format "
                         "'{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'")


def demo_ready(lab):
    r = ssh(lab, LOST, "docker inspect -f '{{.State.Running}}' demo-lab-1 && "
                       "docker info -f '{{.Swarm.LocalNodeState}}'")
    return r.returncode == 0 and r.stdout.split() == ["true", "active"]


def start_anchor(lab):
    for ip in (LOST, TAKER):     # the nodes pull from nowhere: the lab's image, as test_cluster loads it
        subprocess.run(f"docker save {BUSYBOX} | ssh -i {lab['ssh']['private_key']} -o StrictHostKeyChecking=no "
                       f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR {lab['ssh']['user']}@{ip} docker load",
                       shell=True, check=True, capture_output=True)
    sh(lab, TAKER, f"docker node update --label-add {SERVICE}=yes lab-vs-3 >/dev/null && "
                   f"docker service create -d --name {SERVICE} --replicas 1 --no-resolve-image "
                   f"--constraint node.labels.{SERVICE}==yes --publish mode=host,target=80,published={PORT} "
                   f"{BUSYBOX} httpd -f -p 80 -h /etc >/dev/null")
    until(lambda: answers(f"http://{LOST}:{PORT}/hostname"), 120, "the anchor's task answering on lab-vs-3")
    # Now lab-vs-1 may run it too; a label change moves no running task.
    sh(lab, TAKER, f"docker node update --label-add {SERVICE}=yes lab-vs-1 >/dev/null")


def stop_anchor(lab):
    ssh(lab, TAKER, f"docker service rm {SERVICE} >/dev/null 2>&1; for n in lab-vs-1 lab-vs-3; do "
                    f"docker node update --label-rm {SERVICE} $n >/dev/null 2>&1; done", timeout=60)


def main():
    lab = load_lab()
    if not demo_ready(lab):
        print("the lab is not as make demo leaves it: running playbooks/site.yml", flush=True)
        ok(ansible("ansible-playbook", "playbooks/site.yml", timeout=3600), "site.yml")
    address = pinned_ip(lab)
    print(f"pinned demo:lab:1 at {address} on lab-vs-3; starting the anchor service", flush=True)
    start_anchor(lab)
    marks = {}

    def anchor():
        marks["anchor"] = until(lambda: answers(f"http://{TAKER}:{PORT}/hostname"), 300,
                                "the anchor's task answering on lab-vs-1", interval=0.2)

    def ours():
        misses = 0
        while misses < 3:        # the detector: three unanswered SSH connects, 1 s apart
            misses = 0 if port_open(LOST, 22) else misses + 1
            time.sleep(1)
        marks["detected"] = time.monotonic()
        run = ansible("ansible-playbook", "playbooks/failover.yml", "-e", "network_failover_node=lab-vs-3", timeout=600)
        marks["playbook_done"] = time.monotonic()
        marks["playbook"] = run
        if run.returncode == 0:
            marks["ours"] = until(lambda: answers(f"http://{address}/hostname"), 120, "demo:lab:1 answering again")

    try:
        ssh(lab, LOST, "nohup sh -c 'sleep 1; ip link set eth0 down' >/dev/null 2>&1 &")
        lost_at = time.monotonic() + 1.0
        until(lambda: not answers(f"http://{address}/hostname", timeout=0.5), 30, "lab-vs-3's instance gone quiet")
        threads = [threading.Thread(target=anchor, daemon=True), threading.Thread(target=ours, daemon=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(900)
        ok(marks["playbook"], "failover.yml")
        moved_to = sh(lab, TAKER, "docker inspect demo-lab-1 --format "
                                  "'{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'")
        if moved_to != address:
            raise SystemExit(f"demo:lab:1 came back at {moved_to}, not {address}")
        if not answers(f"http://{address}/hostname") or not answers(f"http://{TAKER}:{PORT}/hostname"):
            raise SystemExit("an instance stopped answering after it came back")
    finally:
        stop_anchor(lab)
        put_back_after_failover(lab)

    ours_s, anchor_s = marks["ours"] - lost_at, marks["anchor"] - lost_at
    detect_s, playbook_s = marks["detected"] - lost_at, marks["playbook_done"] - marks["detected"]
    print(f"ours:   {ours_s:6.1f} s from the loss to demo:lab:1 answering at {address} (same address) on lab-vs-1: "
          f"{detect_s:.1f} s to detect, {playbook_s:.1f} s of failover.yml (fence included)")
    print(f"anchor: {anchor_s:6.1f} s from the loss to the Swarm task answering on lab-vs-1 at {TAKER}:{PORT} "
          f"(a new address)")
    print(json.dumps({"benchmark": "failover", "ours_s": round(ours_s, 2), "anchor_s": round(anchor_s, 2),
                      "ratio": round(ours_s / anchor_s, 2), "ours_detect_s": round(detect_s, 2),
                      "ours_playbook_s": round(playbook_s, 2), "address_kept": {"ours": True, "anchor": False},
                      "anchor": "Swarm rescheduling a replicated task from the lost node"}))


if __name__ == "__main__":
    main()
