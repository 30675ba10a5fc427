"""roles/salt_bootstrap run through ansible-playbook on localhost (no connection, no change): one of its task
files, with extra variables standing in for inventory, and the pillar it renders."""
import json
import os
import pathlib
import subprocess
import sys

REPO = str(pathlib.Path(__file__).resolve().parents[2])
BIN = os.path.dirname(sys.executable)

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: containerops.platform.salt_bootstrap
        tasks_from: {tasks_from}
{extra}
"""

SHOW_PILLAR = """
    - ansible.builtin.copy:
        dest: "{out}"
        content: "{{{{ _salt_bootstrap_pillar | to_json }}}}"
        mode: "0600"
      no_log: true
"""


def run_role(tmp_path, tasks_from, extra_vars=None, extra=""):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(tasks_from=tasks_from, extra=extra))
    args = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
    if extra_vars:
        args += ["-e", json.dumps(extra_vars)]
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    return subprocess.run(args, cwd=REPO, env=env, text=True, capture_output=True, timeout=120, check=False)


def rendered_pillar(tmp_path, inventory_vars):
    """The pillar the role renders for a host with these variables (as the node's pillar file holds it)."""
    out = tmp_path / "pillar.json"
    result = run_role(tmp_path, "pillar_data", inventory_vars, extra=SHOW_PILLAR.format(out=out))
    assert result.returncode == 0, result.stdout[-3000:]
    return json.loads(out.read_text())
