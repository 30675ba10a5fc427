"""IPAM rules without etcd (module_utils/_ipam_model.py): pools, owners, requests, record changes."""
import pytest

from ansible_collections.containerops.platform.plugins.module_utils._ipam_model import (
    IpamError,
    allocatable,
    bound,
    check_request,
    is_free_for,
    normalize_pool,
    overlapping_pool,
    owner_key,
    range_size,
    released,
    take,
    unbound,
)

POOL = dict(name="p", subnet="10.0.0.0/24", gateway="10.0.0.1", ranges=["10.0.0.10-10.0.0.20"],
            reserved=["10.0.0.15"], vlan=32, provider="vsphere", zone="a", hold_down=60)


def pool(**changes):
    return normalize_pool(dict(POOL, **changes))


def test_a_valid_pool_is_stored_normalized():
    p = pool(ranges=["10.0.0.30/30", "10.0.0.10-10.0.0.20", "10.0.0.40"])
    assert p["ranges"] == ["10.0.0.10-10.0.0.20", "10.0.0.28-10.0.0.31", "10.0.0.40"]
    assert p["reserved"] == ["10.0.0.15"] and p["vlan"] == 32 and p["provider"] == "vsphere"


def test_without_ranges_the_whole_subnet_but_network_broadcast_and_gateway_is_allocatable():
    p = pool(ranges=None, reserved=[])
    assert p["ranges"] == ["10.0.0.2-10.0.0.254"]
    assert range_size(p) == 253 and "10.0.0.1" not in list(allocatable(p))


@pytest.mark.parametrize("changes, words", [
    ({"subnet": "10.0.0.5/24"}, ["not a network", "host bits"]),
    ({"subnet": "fd00::/64"}, ["IPv6"]),
    ({"gateway": "10.0.1.1"}, ["gateway 10.0.1.1 is outside the subnet"]),
    ({"gateway": "10.0.0.12"}, ["gateway 10.0.0.12 is inside the range 10.0.0.10-10.0.0.20"]),
    ({"ranges": ["10.0.0.200-10.0.1.10"]}, ["range 10.0.0.200-10.0.1.10 is outside the subnet"]),
    ({"ranges": ["10.0.0.250-10.0.0.255"]}, ["includes the broadcast address"]),
    ({"ranges": ["10.0.0.10-10.0.0.20", "10.0.0.18-10.0.0.30"]}, ["overlap"]),
    ({"ranges": ["10.0.0.20-10.0.0.10"]}, ["starts after it ends"]),
    ({"reserved": ["10.9.9.9"]}, ["reserved address 10.9.9.9 is outside the subnet"]),
    ({"vlan": 4095}, ["VLAN ID (1-4094)"]),
    ({"vlan": 0}, ["VLAN ID (1-4094)"]),
    ({"provider": "aws"}, ["vsphere, ecs"]),
    ({"hold_down": -1}, ["hold_down"]),
    ({"name": "bad/name"}, ["pool name"]),
])
def test_a_pool_that_breaks_a_rule_is_refused_naming_it(changes, words):
    with pytest.raises(IpamError) as err:
        pool(**changes)
    for word in words:
        assert word in str(err.value)


def test_pools_whose_subnets_overlap_are_found():
    a, b = pool(), pool(name="q", subnet="10.0.0.128/25", gateway=None, ranges=None, reserved=[])
    c = pool(name="r", subnet="10.0.1.0/24", gateway=None, ranges=None, reserved=[])
    assert overlapping_pool(b, [a]) == "p (10.0.0.0/24)"
    assert overlapping_pool(c, [a, b]) is None
    assert overlapping_pool(a, [a]) is None  # the pool itself, being changed


@pytest.mark.parametrize("owner, key", [
    ({"application": "web", "environment": "prod", "slot": 1}, "web:prod:1"),
    ("web:prod:1", "web:prod:1"),
    ("dns-primary", "dns-primary"),
])
def test_an_owner_dictionary_and_its_string_are_the_same_owner(owner, key):
    assert owner_key(owner) == key


@pytest.mark.parametrize("owner, words", [
    ("3f4e5d6c7b8a", ["container ID"]),
    ("a" * 64, ["container ID"]),
    ({"application": "web", "slot": 1}, ["missing: environment"]),
    ({"application": "web", "environment": "prod", "slot": 1, "host": "x"}, ["unknown keys host"]),
    ({"application": "w/eb", "environment": "prod", "slot": 1}, ["application 'w/eb'"]),
    ("web/prod", ["must be a dictionary"]),
])
def test_an_owner_that_is_not_stable_or_not_a_key_is_refused(owner, words):
    with pytest.raises(IpamError) as err:
        owner_key(owner)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("ip, outside, words", [
    ("10.0.1.5", False, ["outside the subnet"]),
    ("10.0.0.1", False, ["gateway"]),
    ("10.0.0.15", False, ["reserved"]),
    ("10.0.0.0", True, ["network or broadcast"]),
    ("10.0.0.100", False, ["outside the allocatable ranges", "allow_outside_ranges"]),
    ("not-an-ip", False, ["not an IP address"]),
])
def test_an_explicit_request_outside_what_the_pool_hands_out_is_refused(ip, outside, words):
    with pytest.raises(IpamError) as err:
        check_request(pool(), ip, outside)
    for word in words:
        assert word in str(err.value)


def test_an_explicit_request_outside_the_ranges_is_allowed_when_asked():
    assert check_request(pool(), "10.0.0.100", outside_ranges=True) == "10.0.0.100"
    assert check_request(pool(), " 10.0.0.11 ") == "10.0.0.11"


def test_a_held_down_address_is_free_only_for_its_owner_until_the_hold_down_ends():
    rec = released(take(None, "10.0.0.10", "a:b:1", now=100), now=200, hold_down=60)
    assert rec["state"] == "held-down" and rec["hold_until"] == 260
    assert is_free_for(rec, "a:b:1", now=201)
    assert not is_free_for(rec, "c:d:1", now=259)
    assert is_free_for(rec, "c:d:1", now=260)
    back = take(rec, "10.0.0.10", "a:b:1", now=210)
    assert back["state"] == "allocated" and back["hold_until"] is None and back["owner"] == "a:b:1"
    assert take(rec, "10.0.0.10", "c:d:1", now=300)["owner"] == "c:d:1"


def test_holders_change_and_their_history_is_kept_and_capped():
    rec = take(None, "10.0.0.10", "a:b:1", now=0)
    rec = bound(rec, "vm-1", now=1)
    assert bound(rec, "vm-1", now=2) is rec
    for n in range(2, 30):
        rec = bound(rec, "vm-%d" % n, now=n)
    assert rec["holder"] == "vm-29" and len(rec["history"]) == 20
    assert rec["history"][-1] == {"holder": "vm-29", "since": 29, "until": None}
    assert rec["history"][-2] == {"holder": "vm-28", "since": 28, "until": 29}
    rec = unbound(rec, now=40)
    assert rec["holder"] is None and rec["history"][-1]["until"] == 40
    held = released(bound(rec, "vm-x", now=41), now=42, hold_down=5)
    assert held["holder"] is None and held["history"][-1] == {"holder": "vm-x", "since": 41, "until": 42}
