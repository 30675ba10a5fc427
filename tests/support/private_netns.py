"""A network namespace of the test's own (unshare -n), so tests of links and ARP frames touch
nothing of the machine: a veth pair inside it (``d0`` holding an address, ``d1`` its peer, where a
sniffer reads what ``d0`` sends) stands in for a container's interface and its wire."""
import contextlib
import json
import subprocess
import sys

SNIFF = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((sys.argv[1], 0))
s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
for _ in range(int(sys.argv[2])):
    try:
        print(s.recv(2048).hex(), flush=True)
    except socket.timeout:
        break
"""


@contextlib.contextmanager
def private_netns(address="10.199.7.5/24"):
    """The pid of a process alone in a new network namespace with d0 (address) and d1 up."""
    setup = ("ip link set lo up && ip link add d0 type veth peer name d1 && ip addr add %s dev d0 && "
             "ip link set d0 up && ip link set d1 up && echo ready && exec sleep 300" % address)
    proc = subprocess.Popen(["unshare", "--net", "sh", "-c", setup], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def in_netns(pid, *argv, **kwargs):
    """Run argv inside the namespace of pid."""
    return subprocess.run(["nsenter", "-t", str(pid), "-n"] + list(argv), capture_output=True, text=True,
                          check=True, **kwargs).stdout


def mac_of(pid, iface):
    # /sys/class/net shows the namespace sysfs was mounted in, not this one: ask ip.
    return json.loads(in_netns(pid, "ip", "-json", "link", "show", "dev", iface))[0]["address"]


@contextlib.contextmanager
def sniffer(pid, iface="d1", count=3, timeout=5.0):
    """ARP frames iface receives in the namespace of pid: yields a function that returns them (hex)."""
    proc = subprocess.Popen(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", SNIFF, iface, str(count),
                             str(timeout)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"

        def frames():
            out, _err = proc.communicate(timeout=timeout * (count + 1))
            return [line for line in out.split() if line]
        yield frames
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
