"""vsphere_vm refuses bad input as a module, before it talks to vCenter: each message names the
parameter and the fix, and no secret appears in what the module prints.

The module runs for real (AnsibleModule, its argument spec, main()); no vCenter is configured,
so a case that got past validation would end in "hostname is required" instead.
"""
import base64
import json
import pathlib

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.containerops.platform.plugins.modules import vsphere_vm

REPO = str(pathlib.Path(__file__).resolve().parents[4])

NET = {"name": "VM Network", "ip": "10.20.0.11", "prefix": 24, "gateway": "10.20.0.1"}


def net(**kw):
    return dict(NET, **kw)


def vms(*entries):
    return {"vms": [dict({"name": "vm%d" % i}, **e) for i, e in enumerate(entries)]}


def run_module(monkeypatch, capsys, args):
    for var in ("VMWARE_HOST", "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_PORT", "VMWARE_VALIDATE_CERTS"):
        monkeypatch.delenv(var, raising=False)
    with patch_module_args(dict({"datacenter": "DC1", "template": "debian12"}, **args)):
        with pytest.raises(SystemExit):
            vsphere_vm.main()
    return json.loads(capsys.readouterr().out)


# (case, module args, the parameter the message must start an error with, words of the fix)
CASES = [
    ("absurd memory", vms({}, {}, {"memory_mb": 99999999}), "vms[2].memory_mb", ["24 TB", "in MB"]),
    ("memory written in GB", {"name": "a", "memory_mb": 8}, "memory_mb", ["8192"]),
    ("memory not a multiple of 4", {"name": "a", "memory_mb": 1023}, "memory_mb", ["multiple of 4", "1020"]),
    ("memory not positive", vms({}, {"memory_mb": -512}), "vms[1].memory_mb", ["at least 4"]),
    ("a petabyte disk", {"name": "a", "disks": [{"size_gb": 1024 * 1024}]}, "disks[0].size_gb", ["62 TB", "in GB"]),
    ("an empty disk", vms({"disks": [{"size_gb": 20}, {"size_gb": 0}]}), "vms[0].disks[1].size_gb", ["at least 1"]),
    ("more disks than the controller takes", {"name": "a", "disks": [{"size_gb": 1}] * 16}, "disks", ["15"]),
    ("a MAC above VMware's manual range", {"name": "a", "networks": [net(mac="00:50:56:40:00:00")]},
     "networks[0].mac", ["00:50:56:00:00:00 to 00:50:56:3f:ff:ff"]),
    ("a MAC of another vendor", vms({}, {"networks": [net(mac="02:00:00:00:00:01")]}),
     "vms[1].networks[0].mac", ["manual MACs"]),
    ("not a MAC", {"name": "a", "networks": [net(mac="00-50-56-01-02-03")]}, "networks[0].mac", ["00:50:56:01:02:03"]),
    ("a negative wait_timeout", {"name": "a", "wait_timeout": -5}, "wait_timeout", ["1 to 86400"]),
    ("wait_timeout in milliseconds", {"name": "a", "wait_timeout": 300000}, "wait_timeout", ["24 h"]),
    ("a zero task_timeout", {"name": "a", "task_timeout": 0}, "task_timeout", ["1 to 86400"]),
    ("a name of 81 characters", {"name": "v" * 81}, "name", ["80 characters"]),
    ("a name with a slash", vms({}, {"name": "web/01"}), "vms[1].name", ["'/'", "'-'"]),
    ("a name with a backslash", {"name": "web\\01"}, "name", ["'\\\\'"]),
    ("a name with a percent sign", {"name": "web%01"}, "name", ["'%'"]),
    ("a name with a trailing space", {"name": "web-01 "}, "name", ["space"]),
    ("a blank name", vms({"name": "  "}), "vms[0].name", ["name is required"]),
    ("the same name twice", vms({"name": "web"}, {"name": "web"}), "vms[1].name", ["listed twice", "vms[0].name"]),
    ("one IP for two VMs", vms({"networks": [net()]}, {"networks": [net()]}), "vms[1].networks[0].ip",
     ["also requested for VM 'vm0'", "own ip"]),
    ("one IP on two NICs", {"name": "a", "networks": [net(), net(name="Other")]}, "networks[1].ip",
     ["networks[0]", "own ip"]),
    ("one MAC for two VMs", vms({"networks": [net(mac="00:50:56:01:02:03")]},
                                {"networks": [net(ip="10.20.0.12", mac="00:50:56:01:02:03")]}),
     "vms[1].networks[0].mac", ["vms[0].networks[0]", "own MAC"]),
    ("a netmask that is not one", {"name": "a", "networks": [net(prefix=None, netmask="255.0.255.0")]},
     "networks[0].netmask", ["255.255.255.0"]),
    ("a netmask of everything", {"name": "a", "networks": [net(prefix=None, netmask="0.0.0.0")]},
     "networks[0].netmask", ["every address"]),
    ("a prefix of 0", {"name": "a", "networks": [net(prefix=0)]}, "networks[0].prefix", ["1 and 32"]),
    ("netmask and prefix", {"name": "a", "networks": [net(netmask="255.255.255.0")]}, "networks[0]", ["not both"]),
    ("a gateway outside the subnet", {"name": "a", "networks": [net(gateway="10.20.1.1")]}, "networks[0].gateway",
     ["outside the subnet 10.20.0.0/24"]),
    ("the broadcast address as gateway", {"name": "a", "networks": [net(gateway="10.20.0.255")]},
     "networks[0].gateway", ["broadcast", "router"]),
    ("a gateway without an ip", {"name": "a", "networks": [{"name": "VM Network", "gateway": "10.20.0.1"}]},
     "networks[0].gateway", ["static"]),
    ("an ip with its prefix", {"name": "a", "networks": [net(ip="10.20.0.11/24")]}, "networks[0].ip",
     ["networks[0].prefix"]),
    ("an ip without netmask", {"name": "a", "networks": [net(prefix=None)]}, "networks[0].ip", ["netmask", "prefix"]),
    ("a loopback ip", {"name": "a", "networks": [net(ip="127.0.0.5", prefix=8, gateway=None)]},
     "networks[0].ip", ["loopback"]),
    ("a multicast ip", {"name": "a", "networks": [net(ip="239.1.1.1", gateway=None)]}, "networks[0].ip",
     ["multicast"]),
    ("the network address as ip", {"name": "a", "networks": [net(ip="10.20.0.0")]}, "networks[0].ip",
     ["network or broadcast", "host address"]),
    ("more NICs than a VM has", {"name": "a", "networks": [{"name": "VM Network"}] * 11}, "networks", ["at most 10"]),
    ("no CPU", {"name": "a", "cpus": 0}, "cpus", ["1 to 768"]),
    ("too many CPUs", vms({}, {"cpus": 1000}), "vms[1].cpus", ["1 to 768"]),
    ("a DNS server that is not an address", {"name": "a", "dns_servers": ["8.8.8"]}, "dns_servers", ["IPv4"]),
    ("a domain with a space", {"name": "a", "domain": "example internal"}, "domain", ["example.internal"]),
    ("a host name with an underscore", vms({"guest_hostname": "web_01"}), "vms[0].guest_hostname", ["letters"]),
    ("an empty vms list", {"vms": []}, "vms", ["at least one VM"]),
    ("an empty datacenter", {"name": "a", "datacenter": ""}, "datacenter", ["DC1"]),
    ("extraConfig given as a list", {"name": "a", "extra_config": {"RUN.container": ["--ip", "10.20.0.11"]}},
     "extra_config['RUN.container']", ["to_json"]),
    ("the module's own extraConfig key", {"name": "a", "extra_config": {"containerops.ip": "10.20.0.11"}},
     "extra_config['containerops.ip']", ["remove it"]),
    ("user data twice", {"name": "a", "user_data": "#cloud-config\n", "extra_config": {"guestinfo.userdata": "x"}},
     "extra_config['guestinfo.userdata']", ["user_data", "not both"]),
    ("the module's own attribute", vms({"attributes": {"containerops.customized": "ip=1.2.3.4"}}),
     "vms[0].attributes['containerops.customized']", ["remove it"]),
]


@pytest.mark.parametrize("case, args, parameter, fix", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_before_vcenter_naming_the_parameter_and_the_fix(monkeypatch, capsys, case, args,
                                                                         parameter, fix):
    result = run_module(monkeypatch, capsys, args)
    assert result.get("failed") and not result.get("changed"), result
    mine = [e for e in result.get("errors", []) if e.startswith(parameter + ":") or e.startswith(parameter + " ")]
    assert mine, "no error about %s in %s" % (parameter, result.get("errors") or result["msg"])
    for word in fix:
        assert any(word in e for e in mine), "%r not in %s" % (word, mine)
    assert "hostname is required" not in result["msg"], "validation let it through to the connection"
    assert result["created"] == []


def test_valid_input_gets_through_to_the_connection(monkeypatch, capsys):
    """The other side of the table: the same module, good input, stops only at the missing vCenter."""
    args = vms({"networks": [net(mac="00:50:56:3f:ff:ff")], "memory_mb": 4096, "disks": [{"size_gb": 63488}]},
               {"networks": [net(ip="10.20.0.12")], "cpus": 768, "extra_config": {"RUN.container": "[]"}})
    result = run_module(monkeypatch, capsys, dict(args, wait_timeout=86400, task_timeout=1))
    assert result["failed"] and result["msg"].startswith("hostname is required"), result


SECRET = "#cloud-config\nchpasswd: {list: 'root:Sup3r-s3cret'}\n"


@pytest.mark.parametrize("how", ["user_data", "extra_config"])
def test_user_data_never_appears_in_what_the_module_prints(monkeypatch, capsys, how):
    encoded = base64.b64encode(SECRET.encode()).decode()
    if how == "user_data":
        args = {"name": "a", "user_data": SECRET, "cpus": 0}
    else:
        args = {"name": "a", "extra_config": {"guestinfo.userdata": encoded, "guestinfo.userdata.encoding": "base64"},
                "cpus": 0}
    result = run_module(monkeypatch, capsys, args)
    assert result["failed"] and "cpus" in result["msg"]
    printed = json.dumps(result)
    assert "Sup3r-s3cret" not in printed and encoded not in printed, printed
