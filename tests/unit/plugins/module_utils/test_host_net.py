"""module_utils/_host_net.py: the MAC an address always gets, the gratuitous ARP frame byte for byte,
and that send_garp really sends it from inside another network namespace (the test's own, with a
veth pair, so nothing leaves the test)."""
import pytest
from private_netns import mac_of, private_netns, sniffer

from ansible_collections.containerops.platform.plugins.module_utils._host_net import (
    HostNetError,
    derive_mac,
    desired_shim,
    garp_frame,
    plan_shim,
    send_garp,
)


@pytest.mark.parametrize("ip, mac", [
    ("10.88.32.100", "02:42:0a:58:20:64"),
    ("192.168.1.1", "02:42:c0:a8:01:01"),
    ("10.199.0.255", "02:42:0a:c7:00:ff"),
])
def test_the_mac_of_an_address_is_libnetworks_02_42_and_its_four_bytes(ip, mac):
    assert derive_mac(ip) == mac
    assert derive_mac(ip) == derive_mac(ip)  # the same address keeps its MAC on every node


def test_the_gratuitous_arp_frame_is_a_broadcast_request_for_the_address_itself():
    frame = garp_frame("02:42:0a:58:20:64", "10.88.32.100")
    assert frame.hex() == (
        "ffffffffffff" "02420a582064" "0806"  # to everyone, from the instance's MAC, ARP
        "0001" "0800" "06" "04" "0001"  # Ethernet/IPv4, request (what arping -U and the kernel send)
        "02420a582064" "0a582064"  # sender: the MAC and the address
        "000000000000" "0a582064"  # target: the address itself
    ) + "00" * 18  # padded to Ethernet's 60-byte minimum
    assert len(frame) == 60


def test_send_garp_announces_the_address_from_the_containers_namespace():
    with private_netns("10.199.7.5/24") as pid:
        mac = mac_of(pid, "d0")
        with sniffer(pid, "d1", count=3) as frames:
            sent = send_garp(pid, "10.199.7.5", count=3, interval=0.1)
            got = frames()
    assert sent == {"interface": "d0", "mac_address": mac, "count": 3}
    assert got == [garp_frame(mac, "10.199.7.5").hex()] * 3


def test_send_garp_names_what_is_missing():
    with private_netns("10.199.7.5/24") as pid:
        with pytest.raises(HostNetError) as err:
            send_garp(pid, "10.199.7.6", count=1)
    assert "no interface holds 10.199.7.6" in str(err.value)
    with pytest.raises(HostNetError) as err:
        send_garp(0, "10.199.7.5")
    assert "gratuitous ARP for 10.199.7.5 was not sent: process 0 is not running on this host" in str(err.value)


SHIM = desired_shim("eth0", "10.88.32.2", ["10.88.32.100", "10.88.32.101/32"])


def test_a_missing_shim_is_made_whole_in_order():
    assert plan_shim("mv-shim", None, SHIM) == [
        ("add-link", {"parent": "eth0", "mode": "bridge", "mac": "02:42:0a:58:20:02"}), ("up", None),
        ("add-address", "10.88.32.2/32"), ("add-route", "10.88.32.100/32"), ("add-route", "10.88.32.101/32")]


def test_a_shim_as_wanted_needs_nothing_and_a_moved_instance_loses_its_route():
    assert plan_shim("mv-shim", dict(SHIM), SHIM) == []
    have = dict(SHIM, routes=SHIM["routes"] + ["10.88.32.150/32"])
    assert plan_shim("mv-shim", have, SHIM) == [("delete-route", "10.88.32.150/32")]
    assert plan_shim("mv-shim", have, SHIM, purge_routes=False) == []


def test_a_shim_on_the_wrong_parent_is_made_again_and_a_foreign_link_is_refused():
    steps = plan_shim("mv-shim", dict(SHIM, parent="eth1"), SHIM)
    assert steps[:2] == [("delete-link", None), ("add-link", {"parent": "eth0", "mode": "bridge",
                                                              "mac": "02:42:0a:58:20:02"})]
    with pytest.raises(HostNetError) as err:
        plan_shim("eth0", dict(SHIM, kind="veth"), SHIM)
    assert "is a veth link, not a macvlan shim" in str(err.value)
