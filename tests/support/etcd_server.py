"""A private etcd for tests: Debian's etcd binary on free loopback ports with a throw-away data
directory (never the lab's etcd)."""
import json
import shutil
import socket
import subprocess
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdServer:
    def __init__(self, data_dir):
        self.binary = shutil.which("etcd")
        self.data_dir = data_dir
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = "http://127.0.0.1:%d" % self.client_port
        self.proc = None
        self.log = None

    def start(self, timeout=30):
        peer = "http://127.0.0.1:%d" % self.peer_port
        self.log = open(self.data_dir + ".log", "w")
        self.proc = subprocess.Popen(
            [self.binary, "--name", "test", "--data-dir", self.data_dir,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "test=" + peer, "--max-txn-ops", "128"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("etcd exited with %s; see %s.log" % (self.proc.returncode, self.data_dir))
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as answer:
                    if json.loads(answer.read()).get("health") in ("true", True):
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("etcd did not become healthy in %ss; see %s.log" % (timeout, self.data_dir))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
