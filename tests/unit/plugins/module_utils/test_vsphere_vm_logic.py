"""Pure parts of the vSphere module_utils: option merging, validation, planning, diff."""
import base64
import pathlib

import pytest

from ansible_collections.containerops.platform.plugins.module_utils import _vsphere_spec as V

REPO = str(pathlib.Path(__file__).resolve().parents[4])


def params(**kw):
    base = dict((k, None) for k in V.vm_option_spec())
    base.update(name=None, vms=None, state="poweredon", customization="auto")
    base.update(kw)
    return base


def spec(**kw):
    return V.merge_vm_specs(params(name="vm1", **kw))[0]


def view(**kw):
    base = {"cpus": 1, "memory_mb": 1024, "power_state": "poweredOff", "disks_gb": [10.0],
            "networks": ["VM Network"], "macs": ["00:50:56:00:00:01"], "attributes": {}, "extra_config": {}}
    base.update(kw)
    return base


# ---------------------------------------------------------------- merging


def test_vms_entries_override_top_level_defaults_and_remember_the_source():
    specs = V.merge_vm_specs(params(cpus=2, memory_mb=1024, vms=[{"name": "a"}, {"name": "b", "cpus": 4}]))
    assert [(s["name"], s["cpus"], s["memory_mb"]) for s in specs] == [("a", 2, 1024), ("b", 4, 1024)]
    assert specs[0]["src"]["cpus"] == "cpus" and specs[1]["src"]["cpus"] == "vms[1].cpus"
    assert specs[1]["state"] == "poweredon" and specs[1]["customization"] == "auto"


def test_single_name_mode_uses_top_level_names_in_messages():
    s = spec(cpus=0)
    assert V.validate_spec(s) == ["cpus: 0 is not a valid CPU count for vm1 (1 to 768)"]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("value, fragment", [
    (1023, "not a multiple of 4 MB"),
    (2, "too little memory"),
])
def test_memory_must_be_a_multiple_of_4(value, fragment):
    (error,) = V.validate_spec(spec(memory_mb=value))
    assert error.startswith("memory_mb: ") and fragment in error


def test_per_vm_errors_name_the_vms_entry():
    specs = V.merge_vm_specs(params(vms=[{"name": "a"}, {"name": "b", "memory_mb": 1023, "cpus": 0}]))
    errors = V.validate_request(specs)
    assert any(e.startswith("vms[1].memory_mb:") for e in errors)
    assert any(e.startswith("vms[1].cpus:") for e in errors)


def test_absent_vms_need_no_valid_hardware():
    assert V.validate_spec(spec(state="absent", cpus=0)) == []


@pytest.mark.parametrize("net, fragment", [
    ({"name": "n", "ip": "10.0.0.300", "prefix": 24}, ".ip: '10.0.0.300' is not a valid IPv4"),
    ({"name": "n", "ip": "10.0.0.5"}, ".ip: a static ip needs"),
    ({"name": "n", "ip": "10.0.0.5", "netmask": "255.0.255.0"}, ".netmask: '255.0.255.0' is not a valid"),
    ({"name": "n", "ip": "10.0.0.5", "netmask": "255.255.255.0", "prefix": 24}, "set netmask or prefix, not both"),
    ({"name": "n", "ip": "10.0.0.5", "prefix": 24, "gateway": "10.0.1.1"},
     ".gateway: 10.0.1.1 is outside the subnet 10.0.0.0/24"),
    ({"name": "n", "ip": "10.0.0.0", "prefix": 24}, "network or broadcast address"),
    ({"name": "n", "ip": "10.0.0.255", "prefix": 24}, "network or broadcast address"),
    ({"name": "n", "ip": "10.0.0.1", "prefix": 24, "gateway": "10.0.0.1"}, "is the gateway address"),
    ({"name": "n", "prefix": 33, "ip": "10.0.0.5"}, ".prefix: 33 is not between 1 and 32"),
    ({"name": "n", "gateway": "10.0.0.1"}, ".gateway: only meaningful with a static"),
    ({"name": "n", "mac": "00:50:56"}, ".mac: '00:50:56' is not a MAC address"),
    ({"name": "n", "ip": "10.0.0.5", "prefix": 24, "dns_servers": ["dns1"]}, ".dns_servers: 'dns1'"),
])
def test_network_entries_are_checked_before_vcenter_is_asked(net, fragment):
    errors = V.validate_network(net, "vms[0].networks[1]")
    assert len(errors) == 1 and errors[0].startswith("vms[0].networks[1]") and fragment in errors[0], errors


def test_a_consistent_network_entry_passes():
    assert V.validate_network({"name": "n", "ip": "10.88.1.5", "netmask": "255.255.0.0", "gateway": "10.88.0.1",
                               "dns_servers": ["10.88.0.1"], "mac": "00:50:56:2a:bb:cc"}, "networks[0]") == []


def test_duplicate_names_and_ips_in_one_request():
    specs = V.merge_vm_specs(params(vms=[
        {"name": "a", "networks": [{"name": "n", "ip": "10.0.0.5", "prefix": 24}]},
        {"name": "b", "networks": [{"name": "n", "ip": "10.0.0.5", "prefix": 24}]},
        {"name": "a"}]))
    errors = V.validate_request(specs)
    assert any(e.startswith("vms[1].networks[0].ip: 10.0.0.5 is also requested for VM 'a'") for e in errors)
    assert any(e.startswith("vms[2].name: VM 'a' is listed twice") for e in errors)


def test_guest_hostname_must_be_a_dns_label():
    (error,) = V.validate_spec(spec(guest_hostname="bad_name"))
    assert error.startswith("guest_hostname: 'bad_name'")


# ---------------------------------------------------------------- planning


def test_nothing_to_do_when_the_vm_matches():
    s = spec(cpus=1, memory_mb=1024, state="poweredoff", networks=[{"name": "VM Network"}], disks=[{"size_gb": 10}])
    assert V.plan_changes(s, view()) == ({}, [])


def test_only_managed_keys_are_compared():
    s = spec(extra_config={"a": 1}, attributes={"role": "worker"}, state="present")
    current = view(extra_config={"a": "1", "other": "x"}, attributes={"role": "worker", "owner": "ops"})
    assert V.plan_changes(s, current) == ({}, [])


def test_changes_are_listed_per_kind():
    s = spec(cpus=2, memory_mb=2048, attributes={"role": "manager"}, disks=[{"size_gb": 20}, {"size_gb": 5}],
             networks=[{"name": "Other"}], state="poweredon")
    changes, errors = V.plan_changes(s, view(attributes={"role": "worker"}))
    assert errors == []
    assert changes["cpus"] == 2 and changes["memory_mb"] == 2048
    assert changes["attributes"] == {"role": "manager"}
    assert changes["disks"] == [(0, 20), (1, 5)]
    assert [i for i, _network in changes["networks"]] == [0]
    assert changes["power"] == "on"


def test_a_disk_cannot_shrink():
    errors = V.plan_changes(spec(disks=[{"size_gb": 5}]), view())[1]
    assert errors and errors[0].startswith("disks[0].size_gb: 5 GB is smaller than the 10.0 GB")


def test_a_different_mac_is_a_change_but_case_is_not():
    s = spec(networks=[{"name": "VM Network", "mac": "00:50:56:00:00:01".upper()}], state="present")
    assert V.plan_changes(s, view())[0] == {}
    s = spec(networks=[{"name": "VM Network", "mac": "00:50:56:00:00:02"}], state="present")
    assert "networks" in V.plan_changes(s, view())[0]


@pytest.mark.parametrize("state, power, exists, expected", [
    ("poweredon", "poweredOff", True, ("on", "poweredOn")),
    ("poweredon", "poweredOn", True, (None, "poweredOn")),
    ("poweredoff", "poweredOn", True, ("off", "poweredOff")),
    ("poweredoff", "poweredOff", True, (None, "poweredOff")),
    ("restarted", "poweredOn", True, ("reset", "poweredOn")),
    ("restarted", "poweredOff", True, ("on", "poweredOn")),
    ("restarted", "poweredOff", False, ("on", "poweredOn")),
    ("present", "poweredOn", True, (None, "poweredOn")),
    ("present", "poweredOff", False, (None, "poweredOff")),
    ("poweredon", "suspended", True, ("on", "poweredOn")),
])
def test_power_transitions(state, power, exists, expected):
    assert V.desired_power(state, power, exists) == expected


def test_user_data_and_metadata_go_to_guestinfo_base64():
    managed = V.managed_extra_config(spec(user_data="#cloud-config\n", metadata={"local-hostname": "a"},
                                          extra_config={"RUN.container": "x"}))
    assert base64.b64decode(managed["guestinfo.userdata"]) == b"#cloud-config\n"
    assert managed["guestinfo.userdata.encoding"] == "base64"
    assert base64.b64decode(managed["guestinfo.metadata"]) == b'{"local-hostname": "a"}'
    assert managed["RUN.container"] == "x"


def test_customization_method_auto():
    assert V.customization_method(spec()) == "none"
    assert V.customization_method(spec(networks=[{"name": "n", "ip": "10.0.0.5", "prefix": 24}])) == "linux_prep"
    assert V.customization_method(spec(guest_hostname="h")) == "linux_prep"
    assert V.customization_method(spec(guest_hostname="h", customization="none")) == "none"


def test_guest_hostname_defaults_to_a_dns_safe_vm_name():
    assert V.guest_hostname(V.merge_vm_specs(params(name="Web_01.prod"))[0]) == "Web-01-prod"


def test_diff_shows_only_what_the_task_manages():
    s = spec(cpus=2, extra_config={"a": "2"}, attributes={"role": "worker"}, state="present")
    current = view(extra_config={"a": "1", "noise": "x"}, attributes={"role": "manager", "owner": "ops"})
    changes = V.plan_changes(s, current)[0]
    before = V.diff_view(current, s)
    after = V.diff_view(V.after_view(current, changes, s), s)
    assert before["extra_config"] == {"a": "1"} and after["extra_config"] == {"a": "2"}
    assert before["attributes"] == {"role": "manager"} and after["attributes"] == {"role": "worker"}
    assert (before["cpus"], after["cpus"]) == (1, 2)
    assert current["extra_config"] == {"a": "1", "noise": "x"}, "after_view must not modify the view"


@pytest.mark.parametrize("folder, segments", [
    (None, []), ("/DC0/vm", []), ("/DC0/vm/a/b", ["a", "b"]), ("DC0/vm/a", ["a"]), ("vm/a", ["a"]),
    ("/vm/a/", ["a"]), ("a/b", ["a", "b"]),
])
def test_folder_forms(folder, segments):
    assert V.folder_segments(folder, "DC0") == segments
