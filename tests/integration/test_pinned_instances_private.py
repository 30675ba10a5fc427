"""The node data path for fixed IPs, on two nodes of this test's own (not the lab's): real engines,
a real macvlan network, a pinned busybox that other nodes reach at its address and derived MAC, the
host shim, gratuitous ARP seen on the wire, restart and a move to the other node keeping both.

Self-contained: a Docker network on a free 10.199.x.0/24 and two containers of the golden node image
(systemd + the engine), all removed at the end; no lab fixture. The nodes get the Docker SDK for Python
from the controller's venv (mounted read-only) instead of the python3-docker package the swarm role
installs, so nothing is downloaded; the modules run on them through community.docker's connection.
About 90 s.
"""
import ipaddress
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
import yaml

pytestmark = pytest.mark.own_servers   # two node containers of its own; no lab

REPO = pathlib.Path(__file__).resolve().parents[2]
NODE_IMAGE = os.environ.get("CONTAINEROPS_LAB_GOLDEN_IMAGE", "containerops-lab/node:bookworm-golden")
BUSYBOX = "containerops-lab/busybox:latest"
PREFIX = "pinned-test-%d" % os.getpid()
SDK_PACKAGES = ("docker", "requests", "urllib3", "idna", "certifi", "charset_normalizer", "websocket")
NODE_FLAGS = ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
              "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
              "--cgroupns=host"]
# An ARP watcher run on a node: prints the sender MAC of each gratuitous ARP for the address.
SNIFF = r"""
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0)); s.settimeout(0.5)
target = socket.inet_aton(sys.argv[1]); end = time.time() + float(sys.argv[2])
print("ready", flush=True)
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if f[20:22] == b"\x00\x01" and f[28:32] == target and f[38:42] == target:
        print(":".join("%02x" % b for b in f[22:28]), flush=True)
"""


def docker(*args, **kwargs):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=True, **kwargs).stdout


def on(node, command, check=True):
    return subprocess.run(["docker", "exec", node, "sh", "-c", command], capture_output=True, text=True,
                          check=check)


def free_subnet():
    used = [ipaddress.ip_network(c["Subnet"]) for n in json.loads(docker("network", "inspect", *docker(
        "network", "ls", "-q").split())) for c in ((n.get("IPAM") or {}).get("Config") or []) if "Subnet" in c]
    for third in range(10, 60):
        net = ipaddress.ip_network("10.199.%d.0/24" % third)
        if not any(net.overlaps(u) for u in used):
            return net
    raise AssertionError("no free 10.199.x.0/24 for the test network")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    subnet = free_subnet()
    hosts = [str(h) for h in subnet.hosts()]
    site = tmp_path_factory.mktemp("node-site")
    venv_site = pathlib.Path(__import__("docker").__file__).resolve().parents[1]
    for package in SDK_PACKAGES:
        shutil.copytree(venv_site / package, site / package)
    names = ["%s-%d" % (PREFIX, i) for i in (1, 2)]
    net = {"name": PREFIX, "subnet": str(subnet), "gateway": hosts[0], "node_ips": hosts[10:12],
           "shim_ips": hosts[20:22], "ip": hosts[99], "nodes": names}
    try:
        docker("network", "create", "--subnet", str(subnet), "--gateway", hosts[0], "--label",
               "containerops.test=pinned", PREFIX)
        for name, ip in zip(names, net["node_ips"]):
            docker("run", "-d", "--name", name, "--hostname", name, "--label", "containerops.test=pinned",
                   "--network", PREFIX, "--ip", ip, "-v", "%s-docker:/var/lib/docker" % name,
                   "-v", "%s:/opt/test-site:ro" % site, "-e", "PYTHONPATH=/opt/test-site", *NODE_FLAGS, NODE_IMAGE)
        saved = subprocess.run(["docker", "save", BUSYBOX], capture_output=True, check=True).stdout
        for name in names:
            # systemd's bus comes up a moment after the container starts
            on(name, "for i in $(seq 60); do systemctl is-system-running --wait >/dev/null 2>&1 && break; "
                     "case $(systemctl is-system-running 2>/dev/null) in degraded) break;; esac; sleep 1; done; "
                     "systemctl start docker")
            subprocess.run(["docker", "exec", "-i", name, "docker", "load"], input=saved, capture_output=True,
                           check=True)
            subprocess.run(["docker", "exec", "-i", name, "sh", "-c", "cat >/tmp/sniff.py"], input=SNIFF.encode(),
                           check=True)
        yield net
    finally:
        for name in names:
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
            subprocess.run(["docker", "volume", "rm", "%s-docker" % name], capture_output=True, check=False)
        subprocess.run(["docker", "network", "rm", PREFIX], capture_output=True, check=False)


def play(tmp_path, node, tasks):
    """Results by task name of tasks run on node (changed, failed, the module's return values)."""
    path = tmp_path / ("play-%s.yml" % time.monotonic_ns())
    path.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", node + ",",
                          "-c", "community.docker.docker", "-e", "ansible_python_interpreter=/usr/bin/python3",
                          str(path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                         check=False).stdout
    doc = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
    return {t["task"]["name"]: t["hosts"][node] for t in doc["plays"][0]["tasks"]}


def network_task(net, shim_ip):
    return {"name": "network", "containerops.platform.macvlan_network": {
        "name": "apps", "parent": "eth0", "subnet": net["subnet"], "gateway": net["gateway"],
        "aux_addresses": {"shim": shim_ip}}}


def instance_task(net, name="instance", state="started"):
    return {"name": name, "containerops.platform.pinned_instance": {
        "name": "web-1", "image": BUSYBOX, "network": "apps", "ip": net["ip"], "owner": "web:test:1",
        "command": ["busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"], "state": state}}


class Watcher:
    """Gratuitous ARP for an address as a node sees it on its eth0."""

    def __init__(self, node, ip, seconds=120):
        self.proc = subprocess.Popen(["docker", "exec", node, "python3", "/tmp/sniff.py", ip, str(seconds)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def macs(self, wait=3.0):
        time.sleep(wait)  # the last of three frames goes two seconds after the first
        self.proc.kill()
        out, _err = self.proc.communicate()
        return out.split()


def reach(node, ip):
    return on(node, "ping -c 1 -W 2 %s >/dev/null && curl -s -m 3 http://%s:8080/hostname" % (ip, ip), check=False)


def test_a_pinned_instance_has_its_address_and_mac_other_nodes_reach_it_and_hear_its_garp(nodes, tmp_path):
    one, two = nodes["nodes"]
    assert play(tmp_path, two, [network_task(nodes, nodes["shim_ips"][1])])["network"]["changed"]
    watcher = Watcher(two, nodes["ip"])
    first = play(tmp_path, one, [network_task(nodes, nodes["shim_ips"][0]), instance_task(nodes)])
    assert first["network"]["changed"] and first["instance"]["changed"]
    assert first["instance"]["mac_address"] == "02:42:" + ":".join(
        "%02x" % int(o) for o in nodes["ip"].split("."))
    assert first["instance"]["garp_sent"]
    assert watcher.macs() == [first["instance"]["mac_address"]] * 3
    inspect = json.loads(on(one, "docker inspect web-1").stdout)[0]["NetworkSettings"]["Networks"]["apps"]
    assert (inspect["IPAddress"], inspect["MacAddress"]) == (nodes["ip"], first["instance"]["mac_address"])
    answer = reach(two, nodes["ip"])
    assert answer.returncode == 0 and answer.stdout.strip() == first["instance"]["container_id"][:12]
    again = play(tmp_path, one, [network_task(nodes, nodes["shim_ips"][0]), instance_task(nodes)])
    assert not again["network"]["changed"] and not again["instance"]["changed"]


def test_the_node_reaches_its_own_instance_only_through_the_shim(nodes, tmp_path):
    one, _two = nodes["nodes"]
    assert reach(one, nodes["ip"]).returncode != 0  # the kernel filters parent <-> macvlan child
    shim = {"name": "shim", "containerops.platform.macvlan_shim": {
        "parent": "eth0", "address": nodes["shim_ips"][0], "routes": [nodes["ip"]]}}
    results = play(tmp_path, one, [shim, dict(shim, name="shim again")])
    assert results["shim"]["changed"] and not results["shim again"]["changed"]
    assert reach(one, nodes["ip"]).returncode == 0


def test_restart_keeps_the_address_and_mac_and_announces_it_again(nodes, tmp_path):
    one, two = nodes["nodes"]
    watcher = Watcher(two, nodes["ip"])
    results = play(tmp_path, one, [instance_task(nodes, "stop", "stopped"), instance_task(nodes, "start"),
                                   instance_task(nodes, "restart", "restarted")])
    assert [results[t]["actions"] for t in ("stop", "start", "restart")] == [["stop"], ["start"], ["restart"]]
    assert len({results[t]["container_id"] for t in ("stop", "start", "restart")}) == 1
    assert len(watcher.macs()) == 6  # three after the start, three after the restart
    inspect = json.loads(on(one, "docker inspect web-1").stdout)[0]["NetworkSettings"]["Networks"]["apps"]
    assert (inspect["IPAddress"], inspect["MacAddress"]) == (nodes["ip"], results["restart"]["mac_address"])


def test_moved_to_the_other_node_it_keeps_its_mac_and_is_reached_at_once(nodes, tmp_path):
    one, two = nodes["nodes"]
    assert play(tmp_path, one, [instance_task(nodes, "gone", "absent")])["gone"]["changed"]
    watcher = Watcher(one, nodes["ip"])
    moved = play(tmp_path, two, [instance_task(nodes)])["instance"]
    assert moved["changed"] and moved["garp_sent"]
    assert watcher.macs() == [moved["mac_address"]] * 3  # the same MAC as on node one
    answer = reach(one, nodes["ip"])  # through node one's shim, to node two's container
    assert answer.returncode == 0 and answer.stdout.strip() == moved["container_id"][:12]
