#!/usr/bin/env python
"""Bring the local hybrid lab up, down, or report on it.

The lab is one machine pretending to be two clouds on one data-centre L2:
  - vSphere:  vcsim (govmomi simulator, TLS) whose VMs are node containers
  - Aliyun:   our ECS emulator whose instances are node containers
  - etcd:     the platform's state store
  - a Docker bridge network that both "clouds" attach their nodes to.

Everything the lab makes carries the label containerops.lab=true (networks,
images, containers) or lives under .lab/ in the repository, so `down` can
remove exactly what `up` made. Only the standard library is used, so this runs
before the controller venv exists.
"""
import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_DIR = os.path.join(REPO, "lab")
STATE_DIR = os.environ.get("CONTAINEROPS_LAB_STATE", os.path.join(REPO, ".lab"))
LABEL = "containerops.lab=true"

NETWORK = os.environ.get("CONTAINEROPS_LAB_NETWORK", "containerops-lab")
SUBNET = os.environ.get("CONTAINEROPS_LAB_SUBNET", "10.88.0.0/16")
GATEWAY = os.environ.get("CONTAINEROPS_LAB_GATEWAY", "10.88.0.1")
NODE_IMAGE = "containerops-lab/node:bookworm"
# NODE_IMAGE with Salt and the engine packages baked in by playbooks/bake_image.yml
# (lab/images/bake_node.sh): the lab fleet's template, and the ECS custom image GOLDEN_ECS_IMAGE_ID.
GOLDEN_IMAGE = "containerops-lab/node:bookworm-golden"
GOLDEN_ECS_IMAGE_ID = "m-bp1lab0golden0deb12a"
BUSYBOX_IMAGE = "containerops-lab/busybox:latest"
VCSIM_PORT = int(os.environ.get("CONTAINEROPS_LAB_VCSIM_PORT", "8989"))
ECS_PORT = int(os.environ.get("CONTAINEROPS_LAB_ECS_PORT", "8990"))
# The emulator's HTTPS listener, with a certificate signed by the lab CA (.lab/tls/ca.pem).
ECS_TLS_PORT = int(os.environ.get("CONTAINEROPS_LAB_ECS_TLS_PORT", "8991"))
# Seconds before a new ECS instance shows in DescribeInstances, as on the real API (see
# lab/ecs_emulator/README.md); 0 turns the lag off.
ECS_LIST_LAG = os.environ.get("CONTAINEROPS_LAB_ECS_LIST_LAG", "4")
ETCD_PORT = int(os.environ.get("CONTAINEROPS_LAB_ETCD_PORT", "12379"))
ECS_CONTAINER_PREFIX = "containerops-lab-ecs-"

# How a node container must run here: systemd as PID 1 running its own dockerd.
# --privileged fails on this kind of host; these capabilities work. The
# anonymous /var/lib/docker volume gives the inner engine overlay2 and is
# removed with the container (docker rm -v).
NODE_RUN_ARGS = [
    "--label", LABEL,
    "--network", NETWORK,
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns=host",
    "-v", "/var/lib/docker",
]


def path(*parts):
    return os.path.join(STATE_DIR, *parts)


def log(msg):
    print(f"lab: {msg}", flush=True)


def run(cmd, check=True, capture=True, **kw):
    result = subprocess.run(cmd, check=False, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None, **kw)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()
        raise SystemExit(f"lab: command failed ({result.returncode}): {' '.join(cmd)}\n{detail}")
    return result


def docker(*args, check=True):
    return run(["docker", *args], check=check)


# ---------------------------------------------------------------- secrets/keys

def ensure_state():
    """Keys and credentials are generated per checkout, never stored in git."""
    os.makedirs(path("run"), mode=0o700, exist_ok=True)
    os.makedirs(path("ssh"), mode=0o700, exist_ok=True)
    os.chmod(STATE_DIR, 0o700)
    key = path("ssh", "id_ed25519")
    if not os.path.exists(key):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "containerops-lab", "-f", key])
    creds_file = path("credentials.json")
    creds = {}
    if os.path.exists(creds_file):
        with open(creds_file) as f:
            creds = json.load(f)
    missing = {
        "vsphere": lambda: {"username": "lab-admin@vsphere.local", "password": secrets.token_urlsafe(18)},
        "ecs": ecs_key,
        # A second key of the same account for the tests: the emulator scopes injected faults and its
        # statistics by key, so they never reach playbooks that run on the lab meanwhile.
        "ecs_tests": ecs_key,
    }
    if set(missing) - set(creds):
        creds.update({name: make() for name, make in missing.items() if name not in creds})
        write_private(creds_file, json.dumps(creds, indent=2))
    return creds


def ecs_key():
    return {"access_key_id": "LTAI" + secrets.token_hex(10).upper()[:20],
            "access_key_secret": secrets.token_urlsafe(22)}


def write_private(file, text):
    fd = os.open(file + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(file + ".tmp", file)


def ecs_list_lag():
    """CONTAINEROPS_LAB_ECS_LIST_LAG, checked (a bad value stops `up` before anything starts)."""
    try:
        lag = float(ECS_LIST_LAG)
    except ValueError:
        lag = -1.0
    if lag < 0:
        raise SystemExit(f"lab: CONTAINEROPS_LAB_ECS_LIST_LAG={ECS_LIST_LAG!r} is not a number of seconds >= 0; "
                         "unset it (default 4) or set e.g. 0 to turn the ECS listing lag off")
    return ECS_LIST_LAG


# The lab CA signs the certificate of the ECS emulator's HTTPS listener, so clients can verify
# it as they would a private cloud endpoint (ca_file in .lab/lab.json) instead of turning
# verification off. Made once per checkout, like the SSH key; the server certificate is made
# again when missing or about to expire.
TLS_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = containerops lab
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def tls_files(directory=None):
    directory = directory or path("tls")
    return {name: os.path.join(directory, name) for name in ("ca.pem", "ca.key", "ecs.pem", "ecs.key")}


def ensure_tls(directory=None):
    """The lab CA and the emulator's certificate for 127.0.0.1 / localhost, made with openssl."""
    files = tls_files(directory)
    directory = os.path.dirname(files["ca.pem"])
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    openssl = shutil.which("openssl")
    if not openssl:
        raise SystemExit("lab: openssl is needed to make the lab CA; install it (apt-get install openssl)")
    fresh_ca = not (os.path.exists(files["ca.pem"]) and os.path.exists(files["ca.key"]))
    renew = fresh_ca or not os.path.exists(files["ecs.key"]) or run(
        [openssl, "x509", "-checkend", "86400", "-noout", "-in", files["ecs.pem"]], check=False).returncode != 0
    if not renew:
        return files
    old_umask = os.umask(0o077)  # the keys are never readable by others, not even for a moment
    try:
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            config = os.path.join(tmp, "openssl.cnf")
            with open(config, "w") as f:
                f.write(TLS_CONFIG)
            new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            if fresh_ca:
                run([openssl, "req", "-x509", "-new", "-config", config, "-extensions", "ca", *new_key,
                     "-keyout", files["ca.key"], "-out", files["ca.pem"], "-days", "3650",
                     "-subj", "/CN=containerops lab CA"])
            csr = os.path.join(tmp, "ecs.csr")
            run([openssl, "req", "-new", "-config", config, *new_key, "-keyout", files["ecs.key"], "-out", csr,
                 "-subj", "/CN=localhost"])
            run([openssl, "x509", "-req", "-in", csr, "-CA", files["ca.pem"], "-CAkey", files["ca.key"],
                 "-set_serial", str(secrets.randbits(63)), "-days", "825", "-extfile", config,
                 "-extensions", "server", "-out", files["ecs.pem"]])
    finally:
        os.umask(old_umask)
    for name in ("ca.key", "ecs.key"):
        os.chmod(files[name], 0o600)
    log(f"TLS: {'lab CA and ' if fresh_ca else ''}emulator certificate made in {directory}")
    return files


def public_key():
    with open(path("ssh", "id_ed25519.pub")) as f:
        return f.read().strip()


def user_data():
    """The cloud-config every lab node boots with: the lab's SSH key for root."""
    return "#cloud-config\nssh_authorized_keys:\n  - " + public_key() + "\n"


# ---------------------------------------------------------------- processes

class Service:
    """A lab server run as a background process with a pidfile under .lab/run."""

    def __init__(self, name, port, argv, env=None, ready=None):
        self.name, self.port, self.argv, self.env = name, port, argv, env or {}
        self.ready = ready or (lambda: port_open(port))

    @property
    def pidfile(self):
        return path("run", f"{self.name}.pid")

    def pid(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        if not alive(pid):
            return None
        # A recycled pid belongs to someone else: check it is still our program.
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode()
        except OSError:
            return None
        return pid if os.path.basename(self.argv[0]) in cmdline or self.argv[-1] in cmdline else None

    def start(self, timeout=60):
        if self.pid() and self.ready():
            log(f"{self.name} already running (pid {self.pid()})")
            return False
        self.stop(quiet=True)
        if port_open(self.port):
            raise SystemExit(f"lab: port 127.0.0.1:{self.port} is taken by another program; "
                             f"stop it or set CONTAINEROPS_LAB_{self.name.upper()}_PORT")
        logfile = open(path(f"{self.name}.log"), "ab")
        proc = subprocess.Popen(self.argv, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, **self.env}, cwd=REPO)
        with open(self.pidfile, "w") as f:
            f.write(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"lab: {self.name} exited with {proc.returncode}; last log lines:\n"
                                 + tail(path(f"{self.name}.log")))
            if self.ready():
                log(f"{self.name} started (pid {proc.pid}, 127.0.0.1:{self.port})")
                return True
            time.sleep(0.2)
        raise SystemExit(f"lab: {self.name} not ready after {timeout}s; last log lines:\n"
                         + tail(path(f"{self.name}.log")))

    def stop(self, quiet=False):
        pid = self.pid()
        if pid:
            terminate(pid, group=True)
            if not quiet:
                log(f"{self.name} stopped")
        if os.path.exists(self.pidfile):
            os.remove(self.pidfile)


def alive(pid):
    """True while the process runs. A zombie counts as gone: where PID 1 does not
    reap (containers, CI sandboxes) stopped servers linger as zombies."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def terminate(pid, group=False, grace=10.0):
    """SIGTERM (the whole process group when `group`), SIGKILL after `grace` seconds."""
    send = os.killpg if group else os.kill
    send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid):
        if time.monotonic() > deadline:
            send(pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def port_open(port, host="127.0.0.1"):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def tail(file, lines=20):
    try:
        with open(file, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def services(creds):
    vcsim_bin = path("bin", "vcsim")
    return [
        Service("etcd", ETCD_PORT, [
            shutil.which("etcd") or "etcd", "--name", "containerops-lab",
            "--data-dir", path("etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
            "--advertise-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
            "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PORT + 1}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PORT + 1}",
            "--initial-cluster", f"containerops-lab=http://127.0.0.1:{ETCD_PORT + 1}",
        ], ready=lambda: http_ok(f"http://127.0.0.1:{ETCD_PORT}/health")),
        Service("vcsim", VCSIM_PORT, [vcsim_bin, "-listen", f"127.0.0.1:{VCSIM_PORT}"], env={
            # The shim rewrites the DMI bind mount a non-privileged container cannot make.
            "PATH": os.path.join(LAB_DIR, "vcsim", "bin") + os.pathsep + os.environ["PATH"],
            "VCSIM_BUSYBOX": BUSYBOX_IMAGE,
            "VCSIM_USERNAME": creds["vsphere"]["username"],
            "VCSIM_PASSWORD": creds["vsphere"]["password"],
        }),
        Service("ecs", ECS_PORT, [
            sys.executable, "-m", "ecs_emulator",
            "--listen", f"127.0.0.1:{ECS_PORT}",
            "--tls-listen", f"127.0.0.1:{ECS_TLS_PORT}",
            "--tls-cert", tls_files()["ecs.pem"], "--tls-key", tls_files()["ecs.key"],
            "--list-lag", ECS_LIST_LAG,
            "--credentials", path("ecs-credentials.json"),
            "--state-file", path("ecs-state.json"),
            "--backend", "docker",
            "--node-image", NODE_IMAGE,
            "--image-map", json.dumps({GOLDEN_ECS_IMAGE_ID: GOLDEN_IMAGE}),
            "--docker-run-args", json.dumps(NODE_RUN_ARGS),
            "--container-prefix", ECS_CONTAINER_PREFIX,
        ], env={"PYTHONPATH": LAB_DIR},
            ready=lambda: http_ok(f"http://127.0.0.1:{ECS_PORT}/_emulator/stats") and port_open(ECS_TLS_PORT)),
    ]


# ---------------------------------------------------------------- docker objects

def ensure_network():
    if docker("network", "inspect", NETWORK, check=False).returncode == 0:
        return False
    docker("network", "create", "--driver", "bridge", "--subnet", SUBNET, "--gateway", GATEWAY,
           "--label", LABEL, NETWORK)
    log(f"network {NETWORK} ({SUBNET}) created")
    return True


def lab_containers():
    out = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
    return out


def lab_info(creds):
    return {
        "network": {"name": NETWORK, "subnet": SUBNET, "gateway": GATEWAY},
        "node_image": NODE_IMAGE,
        "node_run_args": NODE_RUN_ARGS,
        "golden_image": GOLDEN_IMAGE,
        "golden_ecs_image_id": GOLDEN_ECS_IMAGE_ID,
        "busybox_image": BUSYBOX_IMAGE,
        "busybox_archive": busybox_archive(),
        "ssh": {"private_key": path("ssh", "id_ed25519"), "public_key": public_key(), "user": "root"},
        "user_data": user_data(),
        "user_data_b64": base64.b64encode(user_data().encode()).decode(),
        "vsphere": {"host": "127.0.0.1", "port": VCSIM_PORT, "validate_certs": False,
                    "datacenter": "DC0", "cluster": "DC0_C0", "datastore": "LocalDS_0",
                    "template": "debian12-template", **creds["vsphere"]},
        "ecs": {"endpoint": f"127.0.0.1:{ECS_PORT}", "admin_url": f"http://127.0.0.1:{ECS_PORT}/_emulator",
                "https_endpoint": f"https://127.0.0.1:{ECS_TLS_PORT}", "ca_file": tls_files()["ca.pem"],
                "list_lag": float(ECS_LIST_LAG), "container_prefix": ECS_CONTAINER_PREFIX, **creds["ecs"],
                "tests": creds["ecs_tests"]},
        "etcd": {"endpoint": f"http://127.0.0.1:{ETCD_PORT}"},
    }


def write_lab_info(info):
    write_private(path("lab.json"), json.dumps(info, indent=2))
    env = {
        "VMWARE_HOST": info["vsphere"]["host"], "VMWARE_PORT": info["vsphere"]["port"],
        "VMWARE_USER": info["vsphere"]["username"], "VMWARE_PASSWORD": info["vsphere"]["password"],
        "VMWARE_VALIDATE_CERTS": "false",
        "ALICLOUD_ACCESS_KEY": info["ecs"]["access_key_id"],
        "ALICLOUD_SECRET_KEY": info["ecs"]["access_key_secret"],
        "ALICLOUD_ECS_ENDPOINT": info["ecs"]["endpoint"],
        "CONTAINEROPS_ETCD_ENDPOINT": info["etcd"]["endpoint"],
    }
    write_private(path("env"), "".join(f"export {k}='{v}'\n" for k, v in env.items()))
    # The aliyun CLI's own config format, so ECS tools can use `profile: containerops-lab`.
    # containerops-lab-tests: the tests' key (see ensure_state).
    write_private(path("aliyun.json"), json.dumps({"current": "containerops-lab", "profiles": [{
        "name": name, "mode": "AK", "region_id": "cn-hangzhou", "output_format": "json",
        "access_key_id": key["access_key_id"], "access_key_secret": key["access_key_secret"]}
        for name, key in (("containerops-lab", info["ecs"]), ("containerops-lab-tests", info["ecs"]["tests"]))]},
        indent=2))


def busybox_archive():
    """The lab's busybox image as a `docker save` archive, as a site whose nodes reach no registry
    hands images to them (network.yml's network_image_archives); saved again when the image changed."""
    archive = path("images", "busybox.tar")
    image_id = docker("image", "inspect", "--format", "{{.Id}}", BUSYBOX_IMAGE).stdout.strip()
    stamp = archive + ".id"
    if os.path.exists(archive) and os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == image_id:
                return archive
    os.makedirs(os.path.dirname(archive), mode=0o700, exist_ok=True)
    docker("save", "-o", archive + ".tmp", BUSYBOX_IMAGE)
    os.replace(archive + ".tmp", archive)
    write_private(stamp, image_id)
    return archive


# ---------------------------------------------------------------- commands

def build(args=None):
    """What the lab runs from, each rebuilt only when its recipe changed: the images and vcsim."""
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    # vcsim compiles (CPU) while the node image is fetched and unpacked (mostly network and disk): on a fresh
    # machine that takes its 45 s off the build.
    vcsim_cmd = ["bash", os.path.join(LAB_DIR, "vcsim", "build.sh"), path("bin", "vcsim")]
    vcsim = subprocess.Popen(vcsim_cmd, text=True)
    try:
        run(["bash", os.path.join(LAB_DIR, "images", "build_busybox.sh"), BUSYBOX_IMAGE], capture=False)
        busybox_archive()
        run(["bash", os.path.join(LAB_DIR, "node", "build.sh"), NODE_IMAGE], capture=False)
        run(["bash", os.path.join(LAB_DIR, "images", "bake_node.sh"), NODE_IMAGE, GOLDEN_IMAGE, STATE_DIR],
            capture=False)
    finally:
        if vcsim.wait() != 0:
            raise SystemExit(f"lab: command failed ({vcsim.returncode}): {' '.join(vcsim_cmd)}")


def up(args):
    started = time.monotonic()
    creds = ensure_state()
    ecs_list_lag()
    ensure_tls()
    write_private(path("ecs-credentials.json"), json.dumps(
        {"access_keys": {key["access_key_id"]: key["access_key_secret"]
                         for key in (creds["ecs"], creds["ecs_tests"])}}))
    build()
    ensure_network()
    for svc in services(creds):
        svc.start()
    info = lab_info(creds)
    write_lab_info(info)
    log(f"up in {time.monotonic() - started:.1f}s; details in {path('lab.json')} (secrets: mode 0600)")


def remove_lab_containers(timeout=60):
    """Remove every lab container and its volumes. vcsim removes its own VM containers
    while it stops, so a removal already in progress or a container already gone is
    expected: look again until none is left."""
    deadline = time.monotonic() + timeout
    removed = set()
    while True:
        ids = lab_containers()
        if not ids:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"lab: containers still present after {timeout}s: {' '.join(ids)}")
        docker("rm", "-f", "-v", *ids, check=False)
        removed.update(ids)
        time.sleep(0.3)
    if removed:
        log(f"removed {len(removed)} container(s) and their volumes")


def lab_volumes():
    """Names of the volumes mounted by lab containers (anonymous and named)."""
    ids = lab_containers()
    if not ids:
        return set()
    out = docker("inspect", "-f", '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}', *ids,
                 check=False).stdout
    return set(out.split())


def remove_volumes(names):
    if not names:
        return
    docker("volume", "rm", "-f", *sorted(names), check=False)
    left = set(docker("volume", "ls", "-q").stdout.split()) & names
    if left:
        raise SystemExit(f"lab: volumes still present: {' '.join(sorted(left))}")


def salt_master_processes(name="master"):
    """PIDs of a lab salt-master and its workers (their command line names its config dir): the fleet's
    (.lab/salt/master), or one a test runs for itself under .lab/salt/<name>."""
    conf = path("salt", name, "etc", "salt")
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "salt-master" in cmdline and conf in cmdline and alive(int(pid)):
            found.append(int(pid))
    return found


def stop_salt_master(name="master"):
    """A salt-master bootstrap.yml started in master mode (inventories/lab runs it as a plain process
    with its pidfile under .lab/salt/master; a test's own inventory under .lab/salt/<name>)."""
    pidfile = path("salt", name, "var", "run", "salt-master.pid")
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        pid = None
    stopped = False
    if pid and alive(pid):
        terminate(pid)    # the master stops its workers and removes its pidfile itself
        stopped = True
    for leftover in salt_master_processes(name):    # workers of a master that died or was killed
        terminate(leftover)
        stopped = True
    if stopped:
        log(f"salt-master stopped ({name})" if name != "master" else "salt-master stopped")
    if os.path.exists(pidfile):
        os.remove(pidfile)


def salt_masters():
    """The fleet's salt-master and those tests set up for themselves (a config dir under .lab/salt)."""
    root = path("salt")
    found = {name for name in (os.listdir(root) if os.path.isdir(root) else [])
             if os.path.isdir(os.path.join(root, name, "etc", "salt"))}
    return ["master"] + sorted(found - {"master"})


def down(args):
    creds_exist = os.path.exists(path("credentials.json"))
    creds = ensure_state() if creds_exist else None
    # Volumes are listed before anything stops: vcsim removes its VM containers when it
    # stops, and a named volume (its DMI one) left behind is then no longer findable.
    volumes = lab_volumes()
    # Stop the clouds first so nothing re-creates a node while we remove it.
    for svc in reversed(services(creds or {"vsphere": {"username": "", "password": ""}})):
        svc.stop()
    for name in salt_masters():
        stop_salt_master(name)
    remove_lab_containers()
    # ... and the labelled ones (lab/vcsim/bin/docker labels vcsim's), should a crashed
    # `down` have lost track of them.
    remove_volumes(volumes | set(docker("volume", "ls", "-q", "--filter", f"label={LABEL}").stdout.split()))
    if docker("network", "inspect", NETWORK, check=False).returncode == 0:
        docker("network", "rm", NETWORK)
        log(f"network {NETWORK} removed")
    # Runtime data goes; keys, credentials, built binaries and images stay as a cache.
    for item in ("etcd", "ecs-state.json", "lab.json", "env", "aliyun.json", "run"):
        p = path(item)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)
    log("down")


def status(args):
    creds = ensure_state()
    healthy = True
    print(f"{'component':<10} {'state':<8} detail")
    for svc in services(creds):
        pid = svc.pid()
        ok = bool(pid) and svc.ready()
        healthy &= ok
        print(f"{svc.name:<10} {'up' if ok else 'down':<8} 127.0.0.1:{svc.port}" + (f" pid {pid}" if pid else ""))
    net_ok = docker("network", "inspect", NETWORK, check=False).returncode == 0
    healthy &= net_ok
    print(f"{'network':<10} {'up' if net_ok else 'down':<8} {NETWORK} {SUBNET}")
    rows = docker("ps", "-a", "--filter", f"label={LABEL}", "--format",
                  "{{.Names}}\t{{.Status}}").stdout.strip().splitlines()
    print(f"{'nodes':<10} {len(rows):<8} " + ("" if rows else "(none)"))
    for row in sorted(rows):
        name, state = row.split("\t")
        ip = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name,
                    check=False).stdout.strip()
        print(f"{'':<10} {'':<8} {name:<48} {ip:<15} {state}")
    return 0 if healthy else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build the node images and vcsim when their recipes changed").set_defaults(
        func=build)
    sub.add_parser("up", help="start the lab (idempotent)").set_defaults(func=up)
    sub.add_parser("down", help="remove every container, volume, network and process of the lab").set_defaults(
        func=down)
    sub.add_parser("status", help="show what runs; exit 1 when something is down").set_defaults(func=status)
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
