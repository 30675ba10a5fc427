"""The lab's golden node image, baked by the product's playbooks/bake_image.yml (lab/images/bake_node.sh): Salt and the
engine packages are in it, nothing of the builder's identity is. The lab fleet starts from it (its bootstrap
installs neither: test_bootstrap.py); the plain image's path is test_bootstrap_drift.py's."""
import subprocess

import pytest
import yaml

from labhelpers import REPO

pytestmark = pytest.mark.beside_fleet   # the lab's images, not its fleet: runs beside the fleet's tests

with open(f"{REPO}/roles/salt_bootstrap/defaults/main.yml") as _f:
    SALT_VERSION = yaml.safe_load(_f)["salt_bootstrap_version"]

PROBE = """
/opt/containerops/salt/bin/python -c 'import salt.version; print("salt", salt.version.__version__)' 2>/dev/null \
  || echo salt none
dpkg-query -W -f='engine ${Status}\\n' docker.io 2>/dev/null || echo engine none
echo host-keys $(ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l)
echo machine-id "$(wc -c </etc/machine-id)"
echo salt-identity $(ls -d /etc/salt/pki /etc/salt/minion_id 2>/dev/null | wc -l)
echo node-cache $(ls -d /var/cache/containerops/salt /srv/containerops/salt/pillar 2>/dev/null | wc -l)
echo engine-enabled $(ls /etc/systemd/system/*.wants/docker.service /etc/systemd/system/*.wants/docker.socket \
  2>/dev/null | wc -l)
echo host-key-unit $(ls /etc/systemd/system/multi-user.target.wants/containerops-ssh-host-keys.service \
  2>/dev/null | wc -l)
"""


def probe(image):
    """What the image holds, read from a container with no network that runs only this script."""
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", PROBE],
                         text=True, capture_output=True, timeout=120, check=True).stdout
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


def test_golden_image_holds_salt_and_the_engine_and_nothing_of_the_builder(lab):
    golden = probe(lab["golden_image"])
    assert golden["salt"] == SALT_VERSION, golden
    assert golden["engine"] == "install ok installed", golden
    # Every clone makes its own SSH host keys (at first boot) and machine-id, and its own minion key.
    assert golden["host-keys"] == "0" and golden["host-key-unit"] == "1", golden
    assert golden["machine-id"] == "0", golden
    assert golden["salt-identity"] == "0" and golden["node-cache"] == "0", golden
    # The engine first starts with the inventory's daemon.json, from the first highstate.
    assert golden["engine-enabled"] == "0", golden


def test_plain_image_has_neither(lab):
    plain = probe(lab["node_image"])
    assert plain["salt"] == "none" and plain["engine"] in ("none", "unknown ok not-installed"), plain
