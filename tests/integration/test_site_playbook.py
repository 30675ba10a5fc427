"""`playbooks/site.yml` runs green against the lab from a plain checkout (what `make demo` runs)."""
import os
import subprocess
import sys

from labhelpers import REPO


def test_site_playbook_runs_against_the_lab(lab, fleet):
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    result = subprocess.run([playbook, "-i", "inventories/lab", "playbooks/site.yml"],
                            cwd=REPO, env=env, text=True, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "failed=0" in result.stdout
    assert "etcd: http://127.0.0.1" in result.stdout and "healthy" in result.stdout
    # Credentials come from .lab/lab.json and must never be printed.
    assert lab["vsphere"]["password"] not in result.stdout
    assert lab["ecs"]["access_key_secret"] not in result.stdout
