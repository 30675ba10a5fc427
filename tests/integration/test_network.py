"""playbooks/network.yml on the lab fleet: fixed application addresses from the IPAM in etcd.

Two pinned instances of inventories/lab (demo:lab:1 on the vSphere node lab-vs-3, demo:lab:2 on the ECS
node lab-ecs-2) on each node's local macvlan network: they reach each other, other nodes reach them, a node
reaches its own through the shim; the ECS one's address is a secondary IP of lab-ecs-2's ENI (read through
DescribeNetworkInterfaces) and of no other; the IPAM names each container as the holder; the vSphere port
group accepts forged transmits and promiscuous mode. Restarts keep address and MAC; bad input changes
nothing. The module's fixture takes it all away again (network_down)."""
import concurrent.futures
import ipaddress
import json
import os
import secrets
import shutil
import time

import pytest
import yaml
from pyVmomi import vim

from ansible_collections.containerops.platform.plugins.module_utils.ipam import Ipam, Store
from labhelpers import (
    BUSYBOX,
    DEMO_SPECS,
    HTTPD,
    REPO,
    SESSION,
    ArpWatch,
    ansible,
    clone_node_vm,
    destroy_vm,
    docker_state,
    ecs_caller,
    ecs_instance,
    machines,
    network_down,
    put_back_after_failover,
    recap,
    ssh,
    vm_container,
    vsphere_connect,
    vsphere_find,
    wait_for_ssh,
)

NODES = {"lab-vs-1": "10.88.1.11", "lab-vs-3": "10.88.1.13", "lab-ecs-1": "10.88.16.11", "lab-ecs-2": "10.88.17.11"}
LAB_VS_2 = "10.88.1.12"    # not in NODES: the tests above ask only the nodes of NODES
DEMO = {"demo:lab:1": ("lab-vs-3", "lab-vsphere", "demo-lab-1"),
        "demo:lab:2": ("lab-ecs-2", "vsw-bp1lab0hangzhoui00001", "demo-lab-2")}


def network(*args, extra=None):
    if extra is not None:
        args += ("-e", json.dumps(extra))
    return ansible("ansible-playbook", "playbooks/network.yml", *args, timeout=900)


def audit(*args):
    return ansible("ansible-playbook", "playbooks/ipam_audit.yml", *args, timeout=300)


def failover(*args):
    return ansible("ansible-playbook", "playbooks/failover.yml", *args, timeout=600)


# An application instance that runs on a VM of its own until it moves to a container (and back).
ORDERS = {"application": "orders", "environment": "lab", "slot": "1", "node": "lab-vs-2", "pool": "lab-vsphere",
          "image": BUSYBOX, "command": ["httpd", "-f", "-p", "80", "-h", "/etc"],
          "vm": "lab-orders-1", "ip": "10.88.2.98", "vm_port": 80}
WITH_ORDERS = {"network_pinned_instances": DEMO_SPECS + [ORDERS]}
VM_MAC = "00:50:56:3f:02:62"    # the VM's NIC, in VMware's range


def migrate(to, *args, owner="orders:lab:1"):
    return ansible("ansible-playbook", "playbooks/migrate.yml", "-e", f"network_migrate={owner}",
                   "-e", f"network_migrate_to={to}", "-e", json.dumps(WITH_ORDERS), *args, timeout=600)


def ok(result):
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result


def failed(result):
    assert result.returncode != 0, result.stdout[-3000:]
    return " ".join((result.stdout + result.stderr).split())


def changed(result):
    return {host: counts["changed"] for host, counts in recap(result.stdout).items()}


def sh(lab, ip, cmd, timeout=30):
    r = ssh(lab, ip, cmd, timeout=timeout)
    assert r.returncode == 0, f"{ip}: {cmd}: {r.stderr}"
    return r.stdout.strip()


def http_status(lab, from_ip, target):
    """The first line of an HTTP answer from target:80, asked from a node (bash's /dev/tcp)."""
    return http_get(lab, from_ip, target).split("\n", 1)[0].strip()


def http_get(lab, from_ip, target):
    """The whole HTTP answer to GET /hostname from target:80, asked from a node (bash's /dev/tcp)."""
    r = ssh(lab, from_ip, f"timeout 5 bash -c 'exec 3<>/dev/tcp/{target}/80; "
                          f"printf \"GET /hostname HTTP/1.0\\r\\n\\r\\n\" >&3; cat <&3'", timeout=20)
    return r.stdout


def endpoint(lab, node, name):
    out = sh(lab, NODES[node], f"docker inspect {name} --format "
                               "'{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.MacAddress}}{{end}} "
                               "{{.State.Running}} {{.State.StartedAt}}'")
    ip, mac, running, started = out.split()
    return ip, mac, running == "true", started


def derived_mac(ip):
    return "02:42:" + ":".join("%02x" % b for b in ipaddress.IPv4Address(ip).packed)


def lock(lab, owner, **args):
    """ipam_lock on the lab's etcd, as another run would take it (or, with state=unlocked force=true, free it)."""
    r = ansible("ansible", "localhost", "-m", "containerops.platform.ipam_lock", "-a", json.dumps(
        dict(owner=owner, endpoints=[lab["etcd"]["endpoint"]], **args)), "-o")
    assert r.returncode == 0, r.stdout[-2000:]
    return json.loads(r.stdout.split("=>", 1)[1])


def lab_ipam(lab):
    """The IPAM in the lab's etcd, through the collection's own client, in this process (an `ansible` run of
    ipam_address per read cost 3-4 s)."""
    return Ipam(Store([lab["etcd"]["endpoint"]]))


def ipam_record(lab, pool, owner):
    """The owner's address record (ip, holder, history) as the IPAM has it, {} when it has none."""
    return lab_ipam(lab).record_of(pool, owner) or {}


def ipam_release(lab, pool, owner):
    """The owner's address given back (held down), whatever holds it: what a test made, taken away."""
    lab_ipam(lab).release(pool, owner, force=True)


def eni_secondaries(lab):
    """{instance id: [secondary IPs]} of every primary ENI in cn-hangzhou, as DescribeNetworkInterfaces lists."""
    from aliyunsdkecs.request.v20140526.DescribeNetworkInterfacesRequest import DescribeNetworkInterfacesRequest
    sets = ecs_caller(lab)(DescribeNetworkInterfacesRequest, Type="Primary", MaxResults=500)
    return {eni["InstanceId"]: sorted(p["PrivateIpAddress"] for p in eni["PrivateIpSets"]["PrivateIpSet"]
                                      if not p["Primary"])
            for eni in sets["NetworkInterfaceSets"]["NetworkInterfaceSet"]}


def instance_id(lab, name):
    from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest
    found = ecs_caller(lab)(DescribeInstancesRequest, InstanceName=name)["Instances"]["Instance"]
    return found[0]["InstanceId"]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


@pytest.fixture(scope="module")
def pinned(engines, lab):
    started = time.monotonic()
    first = ok(network())
    print(f"\nnetwork.yml, first run: {time.monotonic() - started:.0f}s")
    SESSION["network_made"] = True
    yield lab, first
    network_down(lab)
    SESSION["network_made"] = False


def test_pinned_instances_reach_each_other_with_their_addresses(pinned):
    lab, first = pinned
    assert "demo:lab:1  10.88.2." in first.stdout and "on lab-vs-3" in first.stdout   # what make demo shows
    ips = {}
    for owner, (node, pool, name) in DEMO.items():
        ip, mac, running, _started = endpoint(lab, node, name)
        assert running and mac == derived_mac(ip), (owner, ip, mac)
        subnet = "10.88.2.0/24" if pool == "lab-vsphere" else "10.88.17.0/24"
        assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(subnet)
        record = ipam_record(lab, pool, owner)
        assert record["ip"] == ip and record["holder"] == f"{node}/{name}", record
        ips[owner] = ip
    # Other nodes of both clouds reach both; each node its own through the shim; container to container.
    for from_ip in NODES.values():
        for ip in ips.values():
            assert http_status(lab, from_ip, ip).startswith("HTTP/1.1 200"), (from_ip, ip)
    reply = sh(lab, NODES["lab-vs-3"], f"docker exec demo-lab-1 sh -c 'printf \"GET /hostname HTTP/1.0\\r\\n\\r\\n\" "
                                       f"| nc {ips['demo:lab:2']} 80 | head -1'")
    assert reply.startswith("HTTP/1.1 200")
    # The ECS instance's address is on lab-ecs-2's ENI and on no other.
    secondaries = eni_secondaries(lab)
    holder = instance_id(lab, "lab-ecs-2")
    assert ips["demo:lab:2"] in secondaries[holder]
    assert [i for i, found in secondaries.items() if ips["demo:lab:2"] in found] == [holder]
    # The port group accepts what macvlan sends, on every host of the cluster.
    si = vsphere_connect(lab)
    cluster = vsphere_find(si, vim.ClusterComputeResource, "DC0_C0")
    for host in cluster.host:
        group = next(p for p in host.config.network.portgroup if p.spec.name == "VM Network")
        assert group.spec.policy.security.forgedTransmits is True, host.name
        assert group.spec.policy.security.allowPromiscuous is True, host.name


def test_a_second_run_and_check_mode_change_nothing_and_check_shows_a_new_instance(pinned):
    lab, _first = pinned
    assert set(changed(ok(network())).values()) == {0}
    assert set(changed(ok(network("--check"))).values()) == {0}
    more = [{"application": "demo", "environment": "lab", "slot": "3", "node": "lab-vs-1", "pool": "lab-vsphere",
             "image": BUSYBOX, "command": ["httpd", "-f", "-p", "80"]}]
    preview = ok(network("--check", extra={"network_pinned_instances": DEMO_SPECS + more}))
    assert changed(preview)["lab-vs-1"] > 0 and changed(preview)["lab-vs-3"] == 0
    assert "demo-lab-3" not in sh(lab, NODES["lab-vs-1"], "docker ps -a --format '{{.Names}}'")
    assert ipam_record(lab, "lab-vsphere", "demo:lab:3").get("holder") is None


def test_restarts_keep_the_address_and_the_mac(pinned):
    lab, _first = pinned
    before = {owner: endpoint(lab, node, name) for owner, (node, _pool, name) in DEMO.items()}
    # The instance restarted through the playbook (a gratuitous ARP after the start) ...
    restart = [dict(i, state="restarted") if i["slot"] == "1" else i for i in DEMO_SPECS]
    ok(network("--limit", "control,lab-vs-3", extra={"network_pinned_instances": restart}))
    # ... and the ECS node's engine restarted by hand: the restart policy brings the container back.
    sh(lab, NODES["lab-ecs-2"], "systemctl restart docker", timeout=120)
    wait_for(lambda: endpoint(lab, "lab-ecs-2", "demo-lab-2")[2], 60, "demo-lab-2 running again")
    for owner, (node, _pool, name) in DEMO.items():
        ip, mac, running, started = endpoint(lab, node, name)
        assert (ip, mac, running) == before[owner][:3] and started != before[owner][3], owner
        assert http_status(lab, NODES["lab-vs-1"], ip).startswith("HTTP/1.1 200"), owner
    assert set(changed(ok(network())).values()) == {0}


def test_bad_input_fails_clearly_and_nothing_is_created_or_bound(pinned):
    lab, _first = pinned
    ecs2 = instance_id(lab, "lab-ecs-2")
    eni_before = eni_secondaries(lab)[ecs2]

    # A parent interface the nodes do not have: refused before any network exists.
    msg = failed(network("-e", "network_data_name=apps2", "-e", "network_data_parent=eth9"))
    assert "eth9" in msg and "parent" in msg
    for ip in NODES.values():
        assert "apps2" not in sh(lab, ip, "docker network ls --format '{{.Name}}'")
    for node in NODES:      # nor is a shim address bound for it
        pool = "lab-vsphere" if node.startswith("lab-vs") else DEMO["demo:lab:2"][1] if node == "lab-ecs-2" \
            else "vsw-bp1lab0hangzhouh00001"
        assert ipam_record(lab, pool, f"containerops-shim:apps2:{node}").get("holder") is None, node

    # One owner twice: refused before anything changes.
    twice = [{"application": "demo", "environment": "lab", "slot": "1", "node": n, "pool": "lab-vsphere",
              "image": BUSYBOX} for n in ("lab-vs-1", "lab-vs-3")]
    msg = failed(network(extra={"network_pinned_instances": twice}))
    assert "lists an owner twice" in msg and "demo:lab:1" in msg

    # More addresses than lab-ecs-2's instance type takes on its ENI (ecs.g7.large: 6 with the primary):
    # a clear quota error; the addresses this run bound are given back, no container, the ENI as before.
    crowd = [{"application": "crowd", "environment": "lab", "slot": str(n), "node": "lab-ecs-2",
              "pool": "vsw-bp1lab0hangzhoui00001", "image": BUSYBOX} for n in range(1, 6)]
    msg = failed(network("--limit", "control,lab-ecs-2", extra={"network_pinned_instances": DEMO_SPECS + crowd}))
    assert "quota" in msg.lower() and "ecs.g7.large" in msg, msg[-3000:]
    assert "taken back" in msg
    assert not [n for n in sh(lab, NODES["lab-ecs-2"], "docker ps -a --format '{{.Names}}'").split()
                if n.startswith("crowd-")]
    for n in range(1, 6):
        assert ipam_record(lab, "vsw-bp1lab0hangzhoui00001", f"crowd:lab:{n}").get("holder") is None
    wait_for(lambda: eni_secondaries(lab)[ecs2] == eni_before, 30, "lab-ecs-2's ENI as before")

    # A pool outside the ECS node's vSwitch: its address cannot be on the ENI; refused, nothing bound.
    outside = [{"application": "outside", "environment": "lab", "slot": "1", "node": "lab-ecs-2",
                "pool": "lab-vsphere", "image": BUSYBOX}]
    msg = failed(network("--limit", "control,lab-ecs-2", extra={"network_pinned_instances": outside}))
    assert "10.88.17.0/24" in msg, msg[-3000:]
    assert ipam_record(lab, "lab-vsphere", "outside:lab:1").get("holder") is None
    assert eni_secondaries(lab)[ecs2] == eni_before
    assert set(changed(ok(network())).values()) == {0}


def test_the_audit_finds_what_differs_from_the_ipam_and_nothing_once_network_yml_put_it_right(pinned):
    """demo:lab:2's container removed by hand and its address taken off lab-ecs-2's ENI behind the IPAM's back:
    ipam_audit.yml names both and fails; after network.yml it finds nothing."""
    from aliyunsdkecs.request.v20140526.DescribeNetworkInterfacesRequest import DescribeNetworkInterfacesRequest
    from aliyunsdkecs.request.v20140526.UnassignPrivateIpAddressesRequest import UnassignPrivateIpAddressesRequest
    lab, _first = pinned
    ip = endpoint(lab, "lab-ecs-2", "demo-lab-2")[0]
    call = ecs_caller(lab)
    eni = call(DescribeNetworkInterfacesRequest, InstanceId=instance_id(lab, "lab-ecs-2"), Type="Primary")
    eni_id = eni["NetworkInterfaceSets"]["NetworkInterfaceSet"][0]["NetworkInterfaceId"]
    sh(lab, NODES["lab-ecs-2"], "docker rm -f demo-lab-2 >/dev/null")
    call(UnassignPrivateIpAddressesRequest, NetworkInterfaceId=eni_id, PrivateIpAddresss=[ip])
    wait_for(lambda: ip not in eni_secondaries(lab)[instance_id(lab, "lab-ecs-2")], 30, "the ENI without the address")
    try:
        msg = failed(audit())
        shown = msg[msg.find("Audit - what differs"):][:3000]
        assert (f"The IPAM says lab-ecs-2/demo-lab-2 holds {ip} (owner demo:lab:2), but lab-ecs-2 does not have it"
                in msg), shown
        assert f"{ip} (owner demo:lab:2, held by lab-ecs-2/demo-lab-2) is not a secondary IP of lab-ecs-2's ENI" in msg
        assert "2 difference(s) between the IPAM and the machines" in msg, shown
        # network_audit_fail=false from the command line reports the same and does not fail.
        report = " ".join(ok(audit("-e", "network_audit_fail=false")).stdout.split())
        assert f"{ip} (owner demo:lab:2, held by lab-ecs-2/demo-lab-2) is not a secondary IP" in report, report[-3000:]
    finally:
        ok(network("--limit", "control,lab-ecs-2"))
    clean = ok(audit())
    assert "no difference: " in clean.stdout and "0 found in use" not in clean.stdout, clean.stdout[-3000:]


def test_a_lost_node_s_instance_comes_back_on_another_node_with_its_address_only_after_fencing(pinned):
    """lab-vs-3 loses its network; failover.yml powers its VM off through the vSphere API, then demo:lab:1
    runs on another vSphere node with the same address and MAC, and the IPAM's holder moved in one step. While
    another run holds the instance's lock, the failover is refused before it fences anything."""
    lab, _first = pinned
    ip, mac, _running, _started = endpoint(lab, "lab-vs-3", "demo-lab-1")
    ecs2 = instance_id(lab, "lab-ecs-2")
    eni_before = eni_secondaries(lab)[ecs2]

    # Checked before anything changes: a node that answers is not lost; an ECS node with no other node in its
    # vSwitch has nowhere to send its instance. Neither is fenced.
    msg = failed(failover("-e", "network_failover_node=lab-vs-3"))
    assert "lab-vs-3 still answers on SSH" in msg and "network_failover_reachable_ok" in msg
    msg = failed(failover("-e", "network_failover_node=lab-ecs-2"))
    assert "can take the addresses of pool vsw-bp1lab0hangzhoui00001" in msg and "vsw-bp1lab0hangzhoui00001" in msg
    msg = failed(failover("-e", "network_failover_node=lab-vs-3", "-e", "network_failover_to=lab-ecs-1"))
    assert "network_failover_to (lab-ecs-1) cannot take the addresses of pool lab-vsphere" in msg
    assert docker_state(vm_container("lab-vs-3")) == "running" and endpoint(lab, "lab-vs-3", "demo-lab-1")[2]
    assert eni_secondaries(lab)[ecs2] == eni_before

    # An instance that runs on lab-vs-2 while the list still puts it on lab-vs-1 (an earlier move not written
    # back yet): where its holder runs counts, for the choice of the new node and for what the new node starts.
    stale = {"application": "stale", "environment": "lab", "slot": "1", "pool": "lab-vsphere", "image": BUSYBOX,
             "command": HTTPD}
    on_vs_2 = {"network_pinned_instances": DEMO_SPECS + [dict(stale, node="lab-vs-2")]}
    ok(network("--limit", "control,lab-vs-2", extra=on_vs_2))
    stale_listed = json.dumps({"network_pinned_instances": DEMO_SPECS + [dict(stale, node="lab-vs-1")]})
    try:
        # The node is lost: its network goes (the cloud still says it runs).
        ssh(lab, NODES["lab-vs-3"], "nohup sh -c 'sleep 1; ip link set eth0 down' >/dev/null 2>&1 &")
        wait_for(lambda: ssh(lab, NODES["lab-vs-3"], "true", timeout=3).returncode != 0, 30, "lab-vs-3 unreachable")
        # Another run moves demo:lab:1 (a migration, a failover an alert started twice): refused, nothing fenced.
        lock(lab, "demo:lab:1", operation="migrate to vm", by="the test's other run", ttl=120)
        msg = failed(failover("-e", "network_failover_node=lab-vs-3"))
        assert "demo:lab:1 is locked: migrate to vm by the test's other run" in msg, msg[-3000:]
        assert docker_state(vm_container("lab-vs-3")) == "running"
        assert lock(lab, "demo:lab:1", state="unlocked", force=True)["lock"]["by"] == "the test's other run"
        # A --limit without the node the instance would go to: the play would fence and start nothing. Refused.
        msg = failed(failover("-e", "network_failover_node=lab-vs-3", "--limit", "control"))
        assert "--limit control leaves out lab-vs-1" in msg, msg[-3000:]
        assert docker_state(vm_container("lab-vs-3")) == "running"
        # Who answers for the address on the L2, asked five times a second through the move.
        with ArpWatch(lab, ip) as watch:
            moved = ok(failover("-e", "network_failover_node=lab-vs-3", "-e", stale_listed))
            wait_for(lambda: watch.rounds and watch.rounds[-1], 10, "the moved instance answering ARP")
        assert watch.most_answers() == 1 and watch.macs() == [mac], (watch.most_answers(), watch.macs())
        assert "demo:lab:1  %s  lab-vs-3 (powered_off) -> lab-vs-1" % ip in moved.stdout, moved.stdout[-3000:]
        assert lock(lab, "demo:lab:1", state="unlocked")["changed"] is False     # the run let its locks go
        assert lock(lab, "failover:lab-vs-3", state="unlocked")["changed"] is False
        # lab-vs-1 ran no instance (stale:lab:1 is lab-vs-2's), so it got demo:lab:1, and did not start stale:lab:1.
        assert "stale-lab-1" not in sh(lab, NODES["lab-vs-1"], "docker ps -a --format '{{.Names}}'")
        assert sh(lab, LAB_VS_2, "docker inspect -f '{{.State.Running}}' stale-lab-1") == "true"
        assert ipam_record(lab, "lab-vsphere", "stale:lab:1")["holder"] == "lab-vs-2/stale-lab-1"
        # Fenced through the cloud's API: the VM is off, so its container (the "machine") is stopped.
        assert docker_state(vm_container("lab-vs-3")) == "exited"
        now = endpoint(lab, "lab-vs-1", "demo-lab-1")
        assert now[:3] == (ip, mac, True)
        record = ipam_record(lab, "lab-vsphere", "demo:lab:1")
        assert record["ip"] == ip and record["holder"] == "lab-vs-1/demo-lab-1", record
        for from_ip in (LAB_VS_2, NODES["lab-ecs-1"], NODES["lab-vs-1"]):   # lab-vs-1 through its shim
            assert http_status(lab, from_ip, ip).startswith("HTTP/1.1 200"), from_ip
        # Run again: the holder is lab-vs-1's container now, so there is nothing to move and nothing is fenced.
        again = ok(failover("-e", "network_failover_node=lab-vs-3"))
        assert set(changed(again).values()) == {0}, again.stdout[-3000:]
    finally:
        ok(network("--limit", "control,lab-vs-2", extra={"network_pinned_instances": DEMO_SPECS + [
            dict(stale, node="lab-vs-2", state="absent")]}))
        # lab-vs-3 comes back while lab-vs-1 runs the instance: its boot guard holds its old demo-lab-1
        # (restart policy off before the engine starts), so the address is not on the L2 twice.
        with ArpWatch(lab, ip) as back:
            held = put_back_after_failover(lab)
    assert held == "false no demo-lab-1", held
    assert back.most_answers() == 1 and back.macs() == [mac], (back.most_answers(), back.macs())
    assert endpoint(lab, "lab-vs-3", "demo-lab-1")[:3] == (ip, mac, True)
    assert sh(lab, NODES["lab-vs-3"], "docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' demo-lab-1") \
        == "unless-stopped"
    assert ipam_record(lab, "lab-vsphere", "demo:lab:1")["holder"] == "lab-vs-3/demo-lab-1"
    assert set(changed(ok(network())).values()) == {0}


# A spare ECS node in lab-ecs-2's vSwitch (cn-hangzhou-i), of this test alone: the one an ECS node is lost from.
SPARE = "t-net-spare"
SPARE_IP = "10.88.17.150"
SPARE_INVENTORY = os.path.join(REPO, ".lab", "failover-test-inventory")   # two levels down, like inventories/lab
SPARE_POOL = "vsw-bp1lab0hangzhoui00001"
SPARE_TOKEN = secrets.token_urlsafe(16)
ON_SPARE = {"application": "demo", "environment": "lab", "slot": "3", "node": SPARE, "pool": SPARE_POOL,
            "image": BUSYBOX, "command": HTTPD, "secret_env": {"SPARE_TOKEN": SPARE_TOKEN}}


def test_after_an_ecs_failover_the_address_is_a_secondary_ip_of_the_new_node_s_eni_and_of_no_other(pinned):
    """demo:lab:3 runs on a fresh ECS node in lab-ecs-2's vSwitch, its address a secondary IP of that node's ENI. The
    node loses its network; failover.yml stops the instance through the ECS API (ForceStop), takes the address off
    its ENI, and lab-ecs-2's ENI gets it before the container starts there with the same address and MAC. Read back
    through DescribeNetworkInterfaces: the address is on lab-ecs-2's ENI and on no other; later failovers go by where
    the IPAM says it runs, not by the list. The list of instances comes
    as extra vars, as from AWX, with a secret_env that the moved container gets and that no line of the run shows,
    not at -vvv."""
    lab, _first = pinned
    os.makedirs(SPARE_INVENTORY, exist_ok=True)
    with open(os.path.join(SPARE_INVENTORY, "hosts.yml"), "w") as f:
        yaml.safe_dump({"fleet": {"children": {"fleet_ecs": {"hosts": {SPARE: {
            "ansible_host": SPARE_IP, "platform_role": "worker", "ecs_region": "cn-hangzhou",
            "ecs_vswitch_id": SPARE_POOL, "ecs_security_group_ids": ["sg-bp1lab0hangzhou00001"]}}}}}}, f)
    inv = ("-i", SPARE_INVENTORY)
    with_spare = {"network_pinned_instances": DEMO_SPECS + [ON_SPARE]}
    moved = [dict(ON_SPARE, node="lab-ecs-2")]
    try:
        ok(ansible("ansible-playbook", *inv, "playbooks/provision.yml", "--limit", f"control,{SPARE}"))
        ok(ansible("ansible-playbook", *inv, "playbooks/bootstrap.yml", "--limit", SPARE, timeout=900))
        ok(network(*inv, "--limit", f"control,{SPARE}", extra=with_spare))
        spare_id, ecs2 = instance_id(lab, SPARE), instance_id(lab, "lab-ecs-2")
        ip = ipam_record(lab, SPARE_POOL, "demo:lab:3")["ip"]
        assert ip in eni_secondaries(lab)[spare_id] and ip not in eni_secondaries(lab)[ecs2]
        mac = sh(lab, SPARE_IP, "docker inspect demo-lab-3 --format "
                                "'{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}'")
        assert mac == derived_mac(ip)

        # The node is lost: its network goes (the cloud still says it runs).
        ssh(lab, SPARE_IP, "nohup sh -c 'sleep 1; ip link set eth0 down' >/dev/null 2>&1 &")
        wait_for(lambda: ssh(lab, SPARE_IP, "true", timeout=3).returncode != 0, 30, f"{SPARE} unreachable")
        with ArpWatch(lab, ip) as watch:
            result = ok(failover("-vvv", *inv, "-e", f"network_failover_node={SPARE}", "-e", json.dumps(with_spare)))
            wait_for(lambda: watch.rounds and watch.rounds[-1], 10, "the moved instance answering ARP")
        assert watch.most_answers() == 1 and watch.macs() == [mac], (watch.most_answers(), watch.macs())
        assert f"demo:lab:3  {ip}  {SPARE} (powered_off) -> lab-ecs-2" in result.stdout, result.stdout[-3000:]
        assert SPARE_TOKEN not in result.stdout + result.stderr
        env = sh(lab, NODES["lab-ecs-2"], "docker inspect demo-lab-3 -f '{{json .Config.Env}}'")
        assert f"SPARE_TOKEN={SPARE_TOKEN}" in env

        # Fenced through the cloud's API, and the address is where the cloud forwards it: lab-ecs-2's ENI alone.
        assert ecs_instance(ecs_caller(lab), spare_id)["Status"] == "Stopped"
        holding = [instance for instance, ips in eni_secondaries(lab).items() if ip in ips]
        assert holding == [ecs2], holding
        assert endpoint(lab, "lab-ecs-2", "demo-lab-3")[:3] == (ip, mac, True)
        assert ipam_record(lab, SPARE_POOL, "demo:lab:3")["holder"] == "lab-ecs-2/demo-lab-3"
        for from_ip in (NODES["lab-vs-1"], NODES["lab-ecs-1"], NODES["lab-ecs-2"]):   # lab-ecs-2 through its shim
            assert http_status(lab, from_ip, ip).startswith("HTTP/1.1 200"), from_ip

        # The list still names the spare, but the IPAM's holder says where demo:lab:3 runs: a failover of the spare
        # moves nothing now, and one of lab-ecs-2 would move demo:lab:3 too - refused here, as the spare that could
        # take them is stopped; nothing fenced.
        again = ok(failover(*inv, "-e", f"network_failover_node={SPARE}", "-e", json.dumps(with_spare)))
        assert f"{SPARE} runs no pinned instance: nothing is fenced or moved." in again.stdout, again.stdout[-3000:]
        msg = failed(failover(*inv, "-e", "network_failover_node=lab-ecs-2", "-e", "network_failover_reachable_ok=true",
                              "-e", json.dumps(with_spare)))
        assert "No node that answers can take demo:lab:2, demo:lab:3 " in msg, msg[-3000:]
        assert ecs_instance(ecs_caller(lab), ecs2)["Status"] == "Running"
    finally:
        # demo:lab:3 off lab-ecs-2 (container, holder, ENI address), then the spare goes with its shim's address.
        ok(network(*inv, "--limit", "control,lab-ecs-2", extra={
            "network_pinned_instances": DEMO_SPECS + [dict(moved[0], state="absent")]}))
        for owner in ("demo:lab:3", f"containerops-shim:apps:{SPARE}"):
            ipam_release(lab, SPARE_POOL, owner)
        gone = machines("absent", [SPARE], inventory=inv)
        shutil.rmtree(SPARE_INVENTORY, ignore_errors=True)
        assert gone.returncode == 0, gone.stdout[-3000:]
    assert ip not in [a for ips in eni_secondaries(lab).values() for a in ips]


def test_an_instance_moves_from_its_vm_to_a_container_and_back_keeping_its_address(pinned):
    """orders:lab:1 runs on the VM lab-orders-1 (10.88.2.98). migrate.yml powers the VM off through the vSphere
    API and starts the instance as a container on lab-vs-2 with the VM's address, the IPAM holder going from the
    VM to the container in one transaction; then back. Never two MACs answer for the address. Of two runs at once,
    one moves it and the other is refused by the instance's lock; a run that fails lets the lock go."""
    lab, _first = pinned
    vm, ip = ORDERS["vm"], ORDERS["ip"]
    si = vsphere_connect(lab)
    moved_back = False
    try:
        # No VM yet: nothing to move to, refused before anything changes.
        msg = failed(migrate("vm"))
        assert f"The VM {vm} does not exist in DC0" in msg and "Nothing was changed" in msg, msg[-2000:]
        assert ipam_record(lab, "lab-vsphere", "orders:lab:1").get("holder") is None
        clone_node_vm(si, lab, vm, ip)
        wait_for_ssh(lab, ip, timeout=120)
        # The guest: its application (a unit serving /srv/orders) and, as a vSphere VM has, a NIC MAC of VMware's
        # range, set at every boot (vcsim's container would keep Docker's, derived from the address as the
        # instance's is). The MAC changes a second after this command returns.
        sh(lab, ip, "mkdir -p /srv/orders && echo 'vm lab-orders-1' > /srv/orders/hostname && printf '%s\\n' "
                    "'[Service]' 'ExecStart=/usr/bin/python3 -m http.server 80 --directory /srv/orders' "
                    "'[Install]' 'WantedBy=multi-user.target' > /etc/systemd/system/orders.service "
                    "&& printf '%s\\n' '[Service]' 'Type=oneshot' "
                    f"'ExecStart=/sbin/ip link set dev eth0 address {VM_MAC}' '[Install]' 'WantedBy=multi-user.target' "
                    "> /etc/systemd/system/vmware-mac.service && systemctl enable --now orders.service >/dev/null 2>&1 "
                    "&& systemctl enable vmware-mac.service >/dev/null 2>&1 "
                    "&& (nohup sh -c 'sleep 1; systemctl start vmware-mac.service' >/dev/null 2>&1 &)")
        wait_for(lambda: "vm lab-orders-1" in http_get(lab, LAB_VS_2, ip), 30, "the VM's application answering")
        vm_mac = VM_MAC

        # network.yml leaves an instance on its VM alone (and says so).
        shown = ok(network("--limit", "control,lab-vs-2", extra=WITH_ORDERS))
        assert f"orders:lab:1  {ip}  on its VM {vm}" in shown.stdout, shown.stdout[-3000:]
        assert "orders-lab-1" not in sh(lab, LAB_VS_2, "docker ps -a --format '{{.Names}}'")

        # Checked before anything changes.
        msg = failed(migrate("sideways"))
        assert "network_migrate_to ('sideways') must be container or vm" in msg
        msg = failed(migrate("container", owner="demo:lab:1"))
        assert "demo:lab:1 has no vm" in msg
        msg = failed(migrate("container", "--limit", "control"))    # the container's node left out: half a move
        assert "--limit control leaves out lab-vs-2" in msg, msg[-3000:]
        assert docker_state(vm_container(vm)) == "running"

        # Two runs at once (two AWX jobs): one moves it, the other is refused, naming the first, and changes nothing.
        with ArpWatch(lab, ip) as there:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                runs = list(pool.map(lambda _n: migrate("container"), range(2)))
            wait_for(lambda: there.rounds and there.rounds[-1] == [derived_mac(ip)], 10, "the container answering ARP")
        assert sorted(r.returncode == 0 for r in runs) == [False, True], [r.stdout[-2000:] for r in runs]
        moved = next(r for r in runs if r.returncode == 0)
        refused = failed(next(r for r in runs if r.returncode != 0))
        assert "orders:lab:1 is locked: migrate to container by " in refused and "Nothing was changed" in refused, \
            refused[-3000:]
        assert there.most_answers() == 1 and there.macs() == sorted([derived_mac(ip), vm_mac]), there.rounds
        assert f"orders:lab:1 {ip} {vm} -> lab-vs-2/orders-lab-1 (container; VM {vm} powered_off)" \
            in " ".join(moved.stdout.split()), moved.stdout[-3000:]
        assert docker_state(vm_container(vm)) == "exited"      # the VM is off: its "machine" stopped
        record = ipam_record(lab, "lab-vsphere", "orders:lab:1")
        assert record["ip"] == ip and record["holder"] == "lab-vs-2/orders-lab-1", record
        for from_ip in (NODES["lab-vs-1"], NODES["lab-ecs-1"], LAB_VS_2):    # lab-vs-2 through its shim
            answer = http_get(lab, from_ip, ip)
            assert answer.startswith("HTTP/1.") and " 200 " in answer and "vm lab-orders-1" not in answer, from_ip
        assert set(changed(ok(migrate("container"))).values()) == {0}
        assert set(changed(ok(network("--limit", "control,lab-vs-2", extra=WITH_ORDERS))).values()) == {0}

        with ArpWatch(lab, ip) as back:
            returned = ok(migrate("vm"))
            wait_for(lambda: back.rounds and back.rounds[-1] == [vm_mac], 10, "the VM answering ARP")
        assert back.most_answers() == 1 and back.macs() == sorted([vm_mac, derived_mac(ip)]), back.rounds
        assert f"orders:lab:1 {ip} lab-vs-2/orders-lab-1 -> {vm} (VM, powered on)" \
            in " ".join(returned.stdout.split()), returned.stdout[-3000:]
        assert "orders-lab-1" not in sh(lab, LAB_VS_2, "docker ps -a --format '{{.Names}}'")
        record = ipam_record(lab, "lab-vsphere", "orders:lab:1")
        # VM (recorded before it let the address go), container, VM: each change one transaction.
        assert [h["holder"] for h in record["history"]][-3:] == [vm, "lab-vs-2/orders-lab-1", vm], record
        # Neighbours that knew the container's MAC learn the VM's at their next ARP request.
        wait_for(lambda: "vm lab-orders-1" in http_get(lab, NODES["lab-vs-1"], ip), 30, "the VM answering lab-vs-1")
        assert set(changed(ok(migrate("vm"))).values()) == {0}
        # The audit agrees: the VM (on) holds it, no container does.
        assert "no difference: " in ok(audit("-e", json.dumps(WITH_ORDERS))).stdout
        moved_back = True      # lab-vs-2's shim is as inventory has it again (migrate.yml ran its node tasks)
    finally:
        destroy_vm(si, vm)
        ssh(lab, LAB_VS_2, "docker rm -f orders-lab-1 >/dev/null 2>&1")
        ipam_release(lab, "lab-vsphere", "orders:lab:1")
        if not moved_back:
            ok(network("--limit", "control,lab-vs-2"))    # lab-vs-2's shim as inventory has it
