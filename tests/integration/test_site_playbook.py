"""`playbooks/site.yml` runs green against the lab from a plain checkout (what `make demo` runs): from no
swarm as an AWX job would, then again as `make demo` runs it on the fleet it built, which also puts back
what the AWX run set beyond inventory (autolock, lab-ecs-3's remote API)."""
import json
import os
import secrets as tokens
import subprocess
import sys

from labhelpers import DEMO_SPECS, FLEET_IPS, REPO, SESSION, make_pki, salt_master_processes, ssh, stop_salt_master


def test_no_secret_reaches_what_awx_would_store(swarm, tmp_path):
    """The whole site.yml as an AWX job runs it: at -vvv and with every event's data (the ansible.posix.json
    callback), cloud credentials also in the environment, a swarm formed in this run with autolock (join
    tokens and the unlock key are issued), a node's remote API with a TLS key, user data, a pinned instance's
    secret_env (which its container does get). No value of any
    of them appears anywhere in what the run printed, and the salt-master it starts does not inherit the
    credentials from the environment. Runs from no swarm, so every engine restarts at once with the
    inventory's settings (a test before may have left others for the end of the run to put back)."""
    lab = swarm
    leader = "10.88.1.11"
    for ip in FLEET_IPS:
        ssh(lab, ip, "docker swarm leave --force >/dev/null 2>&1")   # so this run initialises the swarm
    stop_salt_master()                                                 # so this run starts it
    node = "10.88.32.11"                                               # lab-ecs-3 gets a remote API
    ca = make_pki(tmp_path, "ca")
    server = make_pki(tmp_path, "server", ip=node, ca=ca)
    overlay = tmp_path / "remote-api.yml"
    overlay.write_text(json.dumps({"all": {"hosts": {"lab-ecs-3": {
        "salt_bootstrap_docker_remote_api_enabled": True, "salt_bootstrap_docker_remote_api_ca_cert": ca[0].read_text(),
        "salt_bootstrap_docker_remote_api_server_cert": server[0].read_text(),
        "salt_bootstrap_docker_remote_api_server_key": server[1].read_text()}}}}))
    # inventories/lab's two pinned instances, the one on lab-ecs-2 with a secret in its environment
    demo_token = tokens.token_urlsafe(16)
    pinned = [DEMO_SPECS[0], dict(DEMO_SPECS[1], secret_env={"DEMO_TOKEN": demo_token})]
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "VMWARE_PASSWORD": lab["vsphere"]["password"], "ALICLOUD_ACCESS_KEY": lab["ecs"]["access_key_id"],
           "ALICLOUD_SECRET_KEY": lab["ecs"]["access_key_secret"]}
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    try:
        run = subprocess.run([playbook, "-vvv", "-i", "inventories/lab", "-i", str(overlay), "playbooks/site.yml",
                              "-e", "swarm_autolock=true", "-e", json.dumps({"network_pinned_instances": pinned})],
                             cwd=REPO, env=env, text=True, capture_output=True,
                             timeout=900, check=False)
        printed = run.stdout + run.stderr
        SESSION["network_made"] = True                # pinned instances, networks, pools (network.yml)
        assert run.returncode == 0, printed[-5000:]
        SESSION["engine_settings_changed"] = False    # every engine restarted with the inventory's settings
        assert '"plays"' in run.stdout and '"invocation"' in run.stdout   # every task's event data is there

        def on_leader(cmd):
            return ssh(lab, leader, cmd).stdout.strip()
        secrets = {
            "vSphere password": lab["vsphere"]["password"],
            "ECS secret": lab["ecs"]["access_key_secret"],
            "worker join token": on_leader("docker swarm join-token -q worker"),
            "manager join token": on_leader("docker swarm join-token -q manager"),
            "unlock key": on_leader("docker swarm unlock-key -q"),
            "user data": lab["user_data"],
            "user data (base64)": lab["user_data_b64"],
            "pinned instance's secret_env": demo_token,
        }
        for n, line in enumerate(server[1].read_text().splitlines()[1:-1]):
            secrets[f"TLS key line {n}"] = line
        assert secrets["worker join token"].startswith("SWMTKN-") and secrets["unlock key"].startswith("SWMKEY-")
        assert f"DEMO_TOKEN={demo_token}" in ssh(lab, "10.88.17.11", "docker inspect demo-lab-2 --format "
                                                                     "'{{json .Config.Env}}'").stdout
        for what, value in secrets.items():
            assert value and value not in printed, f"the {what} was printed"
        for pid in salt_master_processes():
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().decode(errors="replace")
            assert "VMWARE_PASSWORD" not in environ and lab["ecs"]["access_key_secret"] not in environ
        assert salt_master_processes(), "site.yml started no salt-master"
    finally:
        # Autolock on, a remote API on lab-ecs-3: the next test's site.yml from inventory puts both back
        # (or, when it does not run or fails, the end of the run: conftest's `swarm`).
        SESSION["awx_settings_left"] = True


def test_site_playbook_runs_against_the_lab(swarm):
    lab = swarm
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    result = subprocess.run([playbook, "-i", "inventories/lab", "playbooks/site.yml"],
                            cwd=REPO, env=env, text=True, capture_output=True, timeout=300, check=False)
    SESSION["network_made"] = True
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    SESSION["awx_settings_left"] = False     # inventory's settings again: autolock off, lab-ecs-3 without API
    assert "failed=0" in result.stdout
    assert "etcd: http://127.0.0.1" in result.stdout and "healthy" in result.stdout
    assert "demo:lab:1  10.88.2." in result.stdout and "demo:lab:2  10.88.17." in result.stdout   # pinned instances
    # Credentials come from .lab/lab.json and must never be printed.
    assert lab["vsphere"]["password"] not in result.stdout
    assert lab["ecs"]["access_key_secret"] not in result.stdout
