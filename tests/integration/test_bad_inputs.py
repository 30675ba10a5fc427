"""Bad input, tried as a new user would: one table of inputs the clouds or the roles must refuse, across
vsphere_vm, ecs_instance and the swarm and salt_bootstrap roles. Each fails before anything changes, with a
message that names the parameter and the fix; nothing is created (the clouds list none of the names) and no
node changes (every role case runs the real playbook against the lab fleet, and no host reports a change).

Machine names start with t-bad-; IPs use last octets 230-239."""
import concurrent.futures
import json

import pytest

from labhelpers import ansible, recap, vcsim_vms
from test_ecs_instance import (
    admin,
    base_params,
    run_play,
)
from test_vsphere_vm import LAB_NET, TEMPLATE, play

IP = "10.88.16.23%d"
VM_IP = "10.88.1.23%d"

# (what a new user got wrong, the module's params, words the message must hold: the parameter, the fix)
ECS = [
    ("one IP on two instances of one request",
     dict(instances=[{"name": "t-bad-e1", "private_ip": IP % 0}, {"name": "t-bad-e2", "private_ip": IP % 0}]),
     ["instances[1].private_ip", "its own"]),
    ("an unknown system disk category", dict(name="t-bad-e3", system_disk={"category": "ssd", "size": 40}),
     ["system_disk.category", "cloud_essd"]),
    ("a system disk of a petabyte", dict(name="t-bad-e4", system_disk={"category": "cloud_essd", "size": 1048576}),
     ["system_disk.size", "20 to 2048"]),
    ("a system disk of 0 GiB", dict(name="t-bad-e5", system_disk={"size": 0}), ["system_disk.size", "20 to"]),
    ("a negative timeout", dict(name="t-bad-e6", wait_timeout=-1), ["wait_timeout", "at least 1"]),
    ("a name ECS rejects (a space)", dict(name="t-bad e7"), ["name", "letters"]),
    ("a name of 129 characters", dict(name="t-bad-" + "x" * 123), ["name", "2-128"]),
    ("a name starting with a digit", dict(name="7-t-bad"), ["name", "start"]),
    ("a host name with an underscore", dict(name="t-bad-e8", host_name="t_bad"), ["host_name", "2-64"]),
    ("an IP that is not IPv4", dict(name="t-bad-e9", private_ip="10.88.16"), ["private_ip", "IPv4"]),
    ("a tag key ECS keeps for itself", dict(name="t-bad-e10", tags={"acs:owner": "me"}),
     ["tags key 'acs:owner'", "rename"]),
    ("21 tags", dict(name="t-bad-e11", tags={"k%d" % i: "v" for i in range(21)}), ["tags has 21 tags", "20"]),
    ("bandwidth out of range", dict(name="t-bad-e12", internet_max_bandwidth_out=1000),
     ["internet_max_bandwidth_out", "0 to 100"]),
    ("a security group twice", dict(name="t-bad-e13", security_group_ids=["sg-bp1lab0hangzhou00001"] * 2),
     ["security_group_ids", "once"]),
]


def vm(name, **more):
    """A VM that would be created, but for what `more` gets wrong."""
    args = {"name": name, "template": TEMPLATE, "networks": [dict(LAB_NET, ip=VM_IP % 0)]}
    args.update(more)
    return args


def nic(**more):
    return [dict(LAB_NET, ip=VM_IP % 1, **more)]


VSPHERE = [
    ("an absurd memory size", dict(vms=[vm("t-bad-v1"), vm("t-bad-v2", memory_mb=99999999)]),
     ["vms[1].memory_mb", "in MB"]),
    ("memory given in GB", vm("t-bad-v3", memory_mb=8), ["memory_mb", "8192"]),
    ("a disk of a petabyte", vm("t-bad-v4", disks=[{"size_gb": 1024 * 1024}]), ["disks[0].size_gb", "in GB"]),
    ("a MAC outside VMware's manual range", vm("t-bad-v5", networks=nic(mac="00:50:56:40:00:00")),
     ["networks[0].mac", "00:50:56:3f:ff:ff"]),
    ("a negative timeout", vm("t-bad-v6", wait_timeout=-5), ["wait_timeout", "1 to 86400"]),
    ("a name of 81 characters", vm("t-bad-" + "v" * 75), ["name", "80 characters"]),
    ("a name with a slash", vm("t-bad/v7"), ["name", "'/'"]),
    ("one IP on two VMs of one request",
     dict(vms=[vm("t-bad-v8", networks=nic()), vm("t-bad-v9", networks=nic())]), ["vms[1].networks[0].ip"]),
    ("a VM listed twice", dict(vms=[vm("t-bad-v10"), vm("t-bad-v10")]), ["vms[1].name", "t-bad-v10"]),
    ("a gateway outside the subnet", vm("t-bad-v11", networks=nic(gateway="192.168.1.1")),
     ["networks[0].gateway"]),
    ("no CPU", vm("t-bad-v12", cpus=0), ["cpus"]),
    ("a netmask that is no netmask", vm("t-bad-v13", networks=[{"name": "VM Network", "ip": VM_IP % 2,
                                                                "netmask": "255.0.255.0"}]),
     ["networks[0].netmask"]),
]

# (what, playbook, extra vars, words the message must hold)
ROLES = [
    ("salt: unknown salt_bootstrap_mode", "bootstrap.yml", {"salt_bootstrap_mode": "agentless"},
     ["salt_bootstrap_mode", "masterless"]),
    ("salt: a log size dockerd cannot parse", "bootstrap.yml", {"salt_bootstrap_docker_log_max_size": "10 MB"},
     ["salt_bootstrap_docker_log_max_size", "e.g. 10m"]),
    ("salt: an address pool that holds the node network", "bootstrap.yml",
     {"salt_bootstrap_docker_default_address_pools": [{"base": "10.88.0.0/16", "size": 24}]},
     ["salt_bootstrap_docker_default_address_pools", "holds the node's own address", "Fix"]),
    ("salt: a pool size shorter than its base", "bootstrap.yml",
     {"salt_bootstrap_docker_default_address_pools": [{"base": "172.30.0.0/16", "size": 8}]},
     ["salt_bootstrap_docker_default_address_pools"]),
    ("salt: a user both present and absent", "bootstrap.yml",
     {"salt_bootstrap_platform_users": [{"name": "ops"}], "salt_bootstrap_platform_users_absent": ["ops"]},
     ["in both salt_bootstrap_platform_users and salt_bootstrap_platform_users_absent", "Fix"]),
    ("salt: an SSH key with an embedded newline", "bootstrap.yml",
     {"salt_bootstrap_platform_users": [
         {"name": "ops", "ssh_keys": ["ssh-ed25519 AAAAC3 ops\nssh-rsa AAAAB3 intruder"]}]},
     ["salt_bootstrap_platform_users entry 'ops'", "line break"]),
    ("salt: a port out of range", "bootstrap.yml", {"salt_bootstrap_master_publish_port": 70000},
     ["salt_bootstrap_master_publish_port", "1 to 65535"]),
    ("salt: publish and return port the same", "bootstrap.yml", {"salt_bootstrap_master_publish_port": 14506},
     ["must differ"]),
    ("salt: a sysctl that is no sysctl", "bootstrap.yml", {"salt_bootstrap_platform_sysctls": {"swappiness": 10}},
     ["salt_bootstrap_platform_sysctls['swappiness']"]),
    ("salt: a daemon.json key another variable owns", "bootstrap.yml",
     {"salt_bootstrap_docker_daemon_extra": {"hosts": ["tcp://0.0.0.0:2375"]}},
     ["salt_bootstrap_docker_daemon_extra sets hosts"]),
    ("salt: remote API without TLS material", "bootstrap.yml", {"salt_bootstrap_docker_remote_api_enabled": True},
     ["salt_bootstrap_docker_remote_api_ca_cert", "set all three"]),
    ("salt: a negative splay", "bootstrap.yml", {"salt_bootstrap_highstate_splay_seconds": -1},
     ["salt_bootstrap_highstate_splay_seconds"]),
    ("swarm: a manager listed twice", "cluster.yml", {"swarm_managers": ["lab-vs-1", "lab-vs-1", "lab-ecs-1"]},
     ["swarm_managers lists lab-vs-1 more than once", "Fix"]),
    ("swarm: an even number of managers", "cluster.yml", {"swarm_managers": ["lab-vs-1", "lab-vs-2"]},
     ["2 managers", "swarm_manager_counts"]),
    ("swarm: a manager outside the fleet", "cluster.yml", {"swarm_managers": ["nope"]},
     ["swarm_managers names nope", "Fix"]),
    ("swarm: a port out of range", "cluster.yml", {"swarm_port": 0}, ["swarm_port is '0'", "1 to 65535"]),
    ("swarm: an advertise address with a port", "cluster.yml", {"swarm_advertise_addr": "10.88.1.11:2377"},
     ["swarm_advertise_addr", "without a port"]),
    ("swarm: a reserved node label", "cluster.yml", {"swarm_node_labels": {"containerops.zone": "x"}},
     ["reserved key", "Fix"]),
    ("swarm: rotating a key it does not keep", "cluster.yml", {"swarm_unlock_key_rotate": True},
     ["swarm_unlock_key_rotate=true needs swarm_autolock=true"]),
    ("swarm: a negative drain timeout", "cluster.yml", {"swarm_drain_timeout": -5}, ["swarm_drain_timeout"]),
    ("swarm: no worker batch", "cluster.yml", {"swarm_engine_restart_batch": 0}, ["swarm_engine_restart_batch"]),
    ("swarm: the unlock key in an AWX job's home", "cluster.yml",
     {"swarm_autolock": True, "awx_job_id": 7, "swarm_unlock_key_dir": "~/.containerops/swarm"},
     ["AWX job", "swarm_unlock_key_dir"]),
]


def words_in(text, words):
    flat = " ".join(text.split())
    return [w for w in words if w not in flat]


@pytest.mark.beside_fleet   # creates nothing, leaves the fleet alone
def test_ecs_instance_refuses_bad_input_and_creates_nothing(ecs_lab, tmp_path):
    lab = ecs_lab
    admin(lab, "/stats", "DELETE")
    results = run_play(lab, tmp_path, [dict(base_params(lab, **params), _name=what) for what, params, _words in ECS])
    for (what, _params, words), result in zip(ECS, results):
        assert result.get("failed"), f"{what}: went through: {result}"
        assert not words_in(result["msg"], words), f"{what}: {result['msg']}"
        assert result["created"] == [] and result["api_calls"] == {}, what
    assert not [i for i in admin(lab, "/instances")["instances"] if i["InstanceName"].startswith("t-bad")]
    assert "RunInstances" not in admin(lab, "/stats")["calls"]


@pytest.mark.beside_fleet   # creates nothing, leaves the fleet alone
def test_vsphere_vm_refuses_bad_input_and_creates_nothing(lab, tmp_path):
    results = play(tmp_path, [(what, args) for what, args, _words in VSPHERE])
    for what, _args, words in VSPHERE:
        result = results[what]
        assert result.get("failed"), f"{what}: went through: {result}"
        assert not words_in(result["msg"], words), f"{what}: {result['msg']}"
    assert not [v for v in vcsim_vms(lab) if v["name"].startswith("t-bad")]


def role_run(case):
    what, playbook, extra, words = case
    return case, ansible("ansible-playbook", f"playbooks/{playbook}", "-e", json.dumps(extra), timeout=300)


@pytest.mark.usefixtures("fleet")
def test_the_roles_refuse_bad_input_before_any_node_changes():
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(role_run, ROLES))
    for (what, _playbook, _extra, words), run in runs:
        out = run.stdout + run.stderr
        assert run.returncode != 0, f"{what}: went through"
        assert not words_in(out, words), f"{what}: {words_in(out, words)} not in {out[-2500:]}"
        assert all(c["changed"] == 0 for c in recap(run.stdout).values()), f"{what}: {run.stdout[-2500:]}"
