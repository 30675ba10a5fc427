"""What vsphere_vm decides about a VM's identity without vCenter: did the guest take its
customization, which claimant is first, what a diff may show of user data."""
import base64
import datetime
import json
import pathlib

import pytest

from ansible_collections.containerops.platform.plugins.module_utils import _vsphere_spec as V

REPO = str(pathlib.Path(__file__).resolve().parents[4])

STATIC = [{"name": "VM Network", "ip": "10.20.0.11", "prefix": 24}]


def spec(**kw):
    base = dict((k, None) for k in V.vm_option_spec())
    base.update(name="web-01", vms=None, state="poweredon", customization="auto")
    base.update(kw)
    return V.merge_vm_specs(base)[0]


def guest(ips=(), hostname=None, pending=False):
    return {"ips": list(ips), "hostname": hostname, "pending": pending}


@pytest.mark.parametrize("kw, record", [
    ({"networks": STATIC}, "ip=10.20.0.11"),
    ({"networks": STATIC + [{"name": "Backup", "ip": "10.30.0.11", "prefix": 24}]}, "ip=10.20.0.11,10.30.0.11"),
    ({"guest_hostname": "web"}, "hostname=web"),
    ({}, None),
    ({"networks": STATIC, "customization": "none"}, None),
])
def test_the_record_is_what_the_guest_can_show(kw, record):
    assert V.customization_record(spec(**kw)) == record


@pytest.mark.parametrize("kw, seen, event, verdict, why", [
    ({"networks": STATIC}, guest(["10.20.0.11"]), None, "confirmed", None),
    ({"networks": STATIC}, guest(["fe80::1", "10.20.0.11"]), {"type": "CustomizationSucceeded"}, "confirmed", None),
    ({"networks": STATIC}, guest(["10.20.0.99"]), None, "failed", "reports 10.20.0.99, not 10.20.0.11"),
    ({"networks": STATIC}, guest(["10.20.0.11"]), {"type": "CustomizationFailed", "message": "no Perl"}, "failed",
     "vCenter reported CustomizationFailed: no Perl"),
    ({"networks": STATIC}, guest([]), {"type": "CustomizationNetworkSetupFailed"}, "failed",
     "CustomizationNetworkSetupFailed"),
    ({"networks": STATIC}, guest([]), None, "unknown", "no IP address yet"),
    ({"networks": STATIC}, guest(["10.20.0.11"], pending=True), None, "unknown", "not run in the guest yet"),
    ({"networks": STATIC}, guest(["10.20.0.11"]), {"type": "CustomizationStartedEvent"}, "confirmed", None),
    ({"guest_hostname": "web"}, guest(hostname="web.example.internal"), None, "confirmed", None),
    ({"guest_hostname": "web"}, guest(hostname="localhost"), None, "failed", "host name is localhost, not web"),
])
def test_the_verdict_on_a_guest(kw, seen, event, verdict, why):
    got, reason = V.customization_verdict(spec(**kw), seen, event)
    assert got == verdict and (why is None and reason is None or why in reason), (got, reason)


def test_only_events_of_this_boot_count_when_asked():
    t0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
    events = [{"type": "CustomizationFailed", "time": t0},
              {"type": "CustomizationStartedEvent", "time": t0 + datetime.timedelta(minutes=5)}]
    assert V.latest_event(events)["type"] == "CustomizationStartedEvent"
    assert V.latest_event(events[:1], since=t0 + datetime.timedelta(minutes=1)) is None
    assert V.latest_event([]) is None


def test_vcenter_registration_order_compares_numbers_not_text():
    moids = ["vm-100", "vm-99", "vm-1001", "vm-7"]
    assert sorted(moids, key=V.moid_order) == ["vm-7", "vm-99", "vm-100", "vm-1001"]


def test_a_claim_round_trips():
    assert V.claimed_ips(V.claim_value(["10.0.0.1", "10.0.0.2"])) == ["10.0.0.1", "10.0.0.2"]
    assert V.claimed_ips(None) == [] and V.claimed_ips(" 10.0.0.1 ,") == ["10.0.0.1"]


SECRET = "#cloud-config\npassword: hunter2-secret\n"


def view(extra):
    return {"cpus": 1, "memory_mb": 1024, "power_state": "poweredOn", "disks_gb": [10.0], "networks": ["VM Network"],
            "macs": ["00:50:56:00:00:01"], "attributes": {}, "extra_config": extra}


def test_a_diff_says_user_data_changes_but_never_what_it_is():
    old = V.managed_extra_config(spec(user_data="#cloud-config\n"))
    s = spec(user_data=SECRET, extra_config={"guestinfo.vendordata": "c2VjcmV0"})
    current = view(dict(old, **{"guestinfo.vendordata": "c2VjcmV0"}))
    changes = V.plan_changes(s, current)[0]
    before, after = V.diff_pair(current, V.after_view(current, changes, s), s)
    assert after["extra_config"]["guestinfo.userdata"] == V.HIDDEN_CHANGED
    assert before["extra_config"]["guestinfo.userdata"] == V.HIDDEN
    assert after["extra_config"]["guestinfo.vendordata"] == V.HIDDEN, "unchanged user data shows as unchanged"
    shown = json.dumps([before, after])
    assert "hunter2" not in shown and base64.b64encode(SECRET.encode()).decode() not in shown
    assert "c2VjcmV0" not in shown


def test_the_secret_values_include_every_encoding_written():
    values = V.secret_values([spec(user_data=SECRET, extra_config={"guestinfo.userdata": "x"})])
    assert SECRET in values and base64.b64encode(SECRET.encode()).decode() in values
