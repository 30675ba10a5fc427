"""ipam_audit's comparison (module_utils/_ipam_audit.py): the IPAM's records against the addresses found in use."""
import pytest

from ansible_collections.containerops.platform.plugins.module_utils._ipam_audit import check_observations, compare

POOLS = {"vs": {"name": "vs", "subnet": "10.88.2.0/24"}, "hz": {"name": "hz", "subnet": "10.88.17.0/24"}}


def rec(ip, owner, holder=None, state="allocated"):
    return {"ip": ip, "owner": owner, "holder": holder, "state": state}


RECORDS = {
    "vs": {"10.88.2.10": rec("10.88.2.10", "demo:lab:1", "lab-vs-3/demo-lab-1"),
           "10.88.2.11": rec("10.88.2.11", "containerops-shim:apps:lab-vs-3", "lab-vs-3/mv-shim"),
           "10.88.2.98": rec("10.88.2.98", "orders:lab:1", "lab-orders-1")},
    "hz": {"10.88.17.200": rec("10.88.17.200", "demo:lab:2", "lab-ecs-2/demo-lab-2"),
           "10.88.17.201": rec("10.88.17.201", "containerops-shim:apps:lab-ecs-2", "lab-ecs-2/mv-shim")},
}
IN_SHAPE = [
    {"ip": "10.88.2.10", "holder": "lab-vs-3/demo-lab-1", "source": "container"},
    {"ip": "10.88.2.11", "holder": "lab-vs-3/mv-shim", "source": "shim"},
    {"ip": "10.88.2.98", "holder": "lab-orders-1", "source": "vm"},
    {"ip": "10.88.17.200", "holder": "lab-ecs-2/demo-lab-2", "source": "container"},
    {"ip": "10.88.17.200", "holder": "lab-ecs-2", "source": "eni"},
    {"ip": "10.88.17.201", "holder": "lab-ecs-2/mv-shim", "source": "shim"},
]
CHECKED = ["lab-vs-3", "lab-ecs-2", "lab-orders-1"]


def audit(observed, checked=None, eni_checked=("lab-ecs-2",), records=None):
    return compare(POOLS, records or RECORDS, check_observations(observed), checked or CHECKED, eni_checked)


def kinds(found):
    return [(d["kind"], d["ip"]) for d in found]


def test_a_fleet_as_the_ipam_has_it_shows_no_difference():
    found, unchecked = audit(IN_SHAPE)
    assert found == [] and unchecked == []


def test_a_container_gone_by_hand_and_an_address_off_the_eni_are_missing():
    observed = [o for o in IN_SHAPE if o["holder"] not in ("lab-vs-3/demo-lab-1", "lab-ecs-2")]
    found = audit(observed)[0]
    assert kinds(found) == [("not_found", "10.88.2.10"), ("not_on_eni", "10.88.17.200")]
    assert "demo-lab-1 holds 10.88.2.10 (owner demo:lab:1), but lab-vs-3 does not have it" in found[0]["message"]
    assert "not a secondary IP of lab-ecs-2's ENI" in found[1]["message"]


def test_an_old_container_that_came_back_is_on_another_holder_and_answers_twice():
    observed = IN_SHAPE + [{"ip": "10.88.2.10", "holder": "lab-vs-1/demo-lab-1", "source": "container"}]
    found = audit(observed, checked=CHECKED + ["lab-vs-1"])[0]
    assert kinds(found) == [("other_holder", "10.88.2.10"), ("twice", "10.88.2.10")]
    assert found[0]["seen"] == ["lab-vs-1/demo-lab-1 (container)"]
    assert "lab-vs-1/demo-lab-1, lab-vs-3/demo-lab-1" in found[1]["message"]
    # Stopped (a boot guard held it): on the wrong holder still, but not answering twice.
    observed[-1] = dict(observed[-1], running=False)
    found = audit(observed, checked=CHECKED + ["lab-vs-1"])[0]
    assert kinds(found) == [("other_holder", "10.88.2.10")]
    assert found[0]["seen"] == ["lab-vs-1/demo-lab-1 (container, stopped)"]


def test_addresses_in_use_that_the_ipam_did_not_hand_out_or_holds_down():
    records = {"vs": dict(RECORDS["vs"], **{"10.88.2.20": rec("10.88.2.20", "old:lab:1", state="held-down")}),
               "hz": RECORDS["hz"]}
    observed = IN_SHAPE + [{"ip": "10.88.2.20", "holder": "lab-vs-3/old-lab-1", "source": "container"},
                           {"ip": "10.88.17.230", "holder": "lab-ecs-2", "source": "eni"},
                           {"ip": "10.99.0.5", "holder": "lab-vs-3/other", "source": "container"}]   # no pool's
    found = audit(observed, records=records)[0]
    assert kinds(found) == [("not_in_ipam", "10.88.2.20"), ("not_in_ipam", "10.88.17.230")]
    assert "held down since its release" in found[0]["message"] and "has no allocation" in found[1]["message"]
    assert found[1]["pool"] == "hz"


def test_an_eni_address_counts_for_its_node_and_another_node_s_eni_is_a_difference():
    observed = IN_SHAPE + [{"ip": "10.88.17.200", "holder": "lab-ecs-3", "source": "eni"}]
    found = audit(observed, eni_checked=("lab-ecs-2", "lab-ecs-3"))[0]
    assert kinds(found) == [("other_holder", "10.88.17.200")]
    assert found[0]["seen"] == ["lab-ecs-3 (eni)"] and found[0]["ipam_holder"] == "lab-ecs-2/demo-lab-2"


def test_holders_on_machines_nobody_looked_at_are_unchecked_not_missing():
    found, unchecked = audit([o for o in IN_SHAPE if o["holder"] != "lab-orders-1"],
                             checked=["lab-vs-3", "lab-ecs-2"])
    assert found == [] and unchecked == ["lab-orders-1"]


@pytest.mark.parametrize("entry, words", [
    ({"ip": "10.88.2.10", "holder": "x"}, "observed[0]: source missing"),
    ({"ip": "10.88.2.300", "holder": "x", "source": "vm"}, "is not an IPv4 address"),
    ({"ip": "10.88.2.10", "holder": "x", "source": "nic"}, "source 'nic' is none of container, shim, vm, eni"),
    ("10.88.2.10", "is not a dictionary"),
])
def test_bad_observations_are_named(entry, words):
    with pytest.raises(ValueError) as exc:
        check_observations([entry])
    assert words in str(exc.value)
