"""module_utils/ipam.py against a real etcd (a private one, conftest's etcd_url): concurrent
allocation, same owner same address, exhaustion, hold-down, explicit requests, holders, pools."""
import collections
import multiprocessing
import time

import pytest

from ansible_collections.containerops.platform.plugins.module_utils.ipam import Ipam, IpamError, Store
from etcd_server import EtcdServer

WORKERS, PER_WORKER = 10, 50
BIG = dict(name="big", subnet="10.20.0.0/22", gateway="10.20.0.1", ranges=["10.20.0.10-10.20.2.254"],
           provider="vsphere", zone="cluster-a", vlan=20)


def ipam(url, prefix):
    return Ipam(Store([url]), prefix)


def keys_and_revision(url, prefix):
    store = Store([url])
    found, _rev = store.range(prefix + "/", prefix=True)
    return sorted(found), store.revision()


def _allocate_many(url, prefix, worker, barrier, out):
    """One allocator process: PER_WORKER owners, allocated twice (the second round must change nothing)."""
    client = ipam(url, prefix)
    owners = ["shop:prod:%d" % (worker * PER_WORKER + n) for n in range(PER_WORKER)]
    barrier.wait()
    first = [(o, client.allocate("big", o)) for o in owners]
    barrier.wait()
    second = [(o, client.allocate("big", o)) for o in owners]
    out.put(dict(worker=worker, first={o: r["ip"] for o, r in first}, second={o: r["ip"] for o, r in second},
                 changed_again=[o for o, r in second if r["changed"]], retries=client.retries))


def test_ten_processes_allocating_fifty_each_at_once_get_distinct_addresses_and_keep_them(etcd_url, ipam_prefix):
    ipam(etcd_url, ipam_prefix).pool_present(BIG)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_allocate_many, args=(etcd_url, ipam_prefix, w, barrier, out))
             for w in range(WORKERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _p in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    first = {o: ip for r in results for o, ip in r["first"].items()}
    ips = [ip for r in results for ip in r["first"].values()]
    assert len(first) == WORKERS * PER_WORKER and None not in ips
    duplicates = [ip for ip, n in collections.Counter(ips).items() if n > 1]
    assert duplicates == []
    # The same owners again: the same addresses, nothing written.
    assert {o: ip for r in results for o, ip in r["second"].items()} == first
    assert [o for r in results for o in r["changed_again"]] == []
    # What etcd holds agrees: one record per owner, each with its owner's address.
    client = ipam(etcd_url, ipam_prefix)
    for owner in ("shop:prod:0", "shop:prod:499", "shop:prod:250"):
        assert client.lookup("big", owner) == first[owner]
    found, _rev = client.store.range(client.addresses("big"), prefix=True)
    assert len(found) == WORKERS * PER_WORKER
    print("IPAM concurrency: %d allocations, %d duplicates, %d retries after lost races"
          % (len(ips), len(duplicates), sum(r["retries"] for r in results)))


def test_an_exhausted_pool_is_a_clear_error_that_writes_nothing(etcd_url, ipam_prefix):
    client = ipam(etcd_url, ipam_prefix)
    client.pool_present(dict(name="small", subnet="10.30.0.0/24", ranges=["10.30.0.10-10.30.0.17"],
                             provider="ecs", zone="cn-hangzhou-h"))
    got = {client.allocate("small", "api:prod:%d" % n)["ip"] for n in range(8)}
    assert len(got) == 8
    before = keys_and_revision(etcd_url, ipam_prefix)
    with pytest.raises(IpamError) as err:
        client.allocate("small", "api:prod:8")
    assert "pool small is exhausted: 8 allocatable address(es), 8 allocated, 0 held down" in str(err.value)
    assert "api:prod:8" in str(err.value)
    assert keys_and_revision(etcd_url, ipam_prefix) == before


def test_a_released_address_is_held_down_for_others_but_returns_to_its_owner(etcd_url, ipam_prefix):
    client = ipam(etcd_url, ipam_prefix)
    client.pool_present(dict(name="hd", subnet="10.40.0.0/24", ranges=["10.40.0.10-10.40.0.11"],
                             provider="vsphere", hold_down=2))
    a = client.allocate("hd", "a:prod:0")["ip"]
    client.allocate("hd", "b:prod:0")
    released = client.release("hd", "a:prod:0")
    assert released["changed"] and released["address"]["state"] == "held-down"
    assert client.release("hd", "a:prod:0")["changed"] is False
    assert client.lookup("hd", "a:prod:0") is None
    # Within the hold-down: not for another owner, neither by choice nor on request.
    with pytest.raises(IpamError) as err:
        client.allocate("hd", "c:prod:0")
    assert "1 held down" in str(err.value) and "first hold-down ends" in str(err.value)
    with pytest.raises(IpamError) as err:
        client.allocate("hd", "c:prod:0", ip=a)
    assert "held down until" in str(err.value)
    # Its owner gets it back at once, and releases it again.
    again = client.allocate("hd", "a:prod:0")
    assert again["ip"] == a and again["changed"] and again["address"]["state"] == "allocated"
    client.release("hd", "a:prod:0")
    time.sleep(2.2)
    # After the hold-down another owner gets it, and the first owner's claim is gone.
    taken = client.allocate("hd", "c:prod:0")
    assert taken["ip"] == a and taken["address"]["owner"] == "c:prod:0"
    assert client.lookup("hd", "c:prod:0") == a
    with pytest.raises(IpamError):
        client.allocate("hd", "a:prod:0")


def test_explicit_requests(etcd_url, ipam_prefix):
    client = ipam(etcd_url, ipam_prefix)
    client.pool_present(dict(name="ex", subnet="10.50.0.0/24", gateway="10.50.0.1", ranges=["10.50.0.10-10.50.0.20"],
                             reserved=["10.50.0.12"], provider="vsphere"))
    assert client.allocate("ex", "dns:prod:0", ip="10.50.0.15")["ip"] == "10.50.0.15"
    assert client.allocate("ex", "dns:prod:0", ip="10.50.0.15")["changed"] is False
    assert client.allocate("ex", "dns:prod:0")["ip"] == "10.50.0.15"
    for owner, ip, words in [("dns:prod:1", "10.50.0.15", "allocated to owner dns:prod:0"),
                             ("dns:prod:0", "10.50.0.16", "already has 10.50.0.15"),
                             ("dns:prod:1", "10.50.0.12", "reserved"),
                             ("dns:prod:1", "10.50.0.1", "gateway"),
                             ("dns:prod:1", "10.50.1.1", "outside the subnet"),
                             ("dns:prod:1", "10.50.0.100", "outside the allocatable ranges")]:
        with pytest.raises(IpamError) as err:
            client.allocate("ex", owner, ip=ip)
        assert words in str(err.value)
    assert client.allocate("ex", "vip:prod:0", ip="10.50.0.100", outside_ranges=True)["ip"] == "10.50.0.100"


def test_a_holder_is_bound_separately_from_the_owner_and_taken_over_only_when_asked(etcd_url, ipam_prefix):
    client = ipam(etcd_url, ipam_prefix)
    client.pool_present(dict(name="h", subnet="10.60.0.0/24", provider="ecs"))
    first = client.allocate("h", {"application": "db", "environment": "prod", "slot": 0}, holder="node-1/db-0")
    assert first["changed"] and first["address"]["holder"] == "node-1/db-0"
    assert client.allocate("h", "db:prod:0", holder="node-1/db-0")["changed"] is False
    with pytest.raises(IpamError) as err:
        client.allocate("h", "db:prod:0", holder="node-2/db-0")
    assert "bound to node-1/db-0" in str(err.value) and "takeover" in str(err.value)
    moved = client.allocate("h", "db:prod:0", holder="node-2/db-0", takeover=True)
    assert moved["ip"] == first["ip"] and moved["address"]["owner"] == "db:prod:0"
    assert [h["holder"] for h in moved["address"]["history"]] == ["node-1/db-0", "node-2/db-0"]
    # The old holder's late unbind leaves the new binding alone.
    assert client.unbind("h", "db:prod:0", holder="node-1/db-0")["changed"] is False
    with pytest.raises(IpamError) as err:
        client.release("h", "db:prod:0")
    assert "still bound to node-2/db-0" in str(err.value)
    assert client.unbind("h", "db:prod:0")["address"]["holder"] is None
    assert client.release("h", "db:prod:0")["address"]["state"] == "held-down"


def test_takeover_from_a_fenced_machine_takes_only_from_that_machine(etcd_url, ipam_prefix):
    client = ipam(etcd_url, ipam_prefix)
    client.pool_present(dict(name="f", subnet="10.61.0.0/24", provider="vsphere"))
    first = client.allocate("f", "web:prod:1", holder="node-10/web-1")
    # node-1 is not node-10: a prefix of the name is not the machine.
    with pytest.raises(IpamError) as err:
        client.allocate("f", "web:prod:1", holder="node-2/web-1", takeover="node-1")
    assert "takeover_from is node-1, so it stays with node-10/web-1" in str(err.value)
    moved = client.allocate("f", "web:prod:1", holder="node-2/web-1", takeover="node-10")
    assert moved["changed"] and moved["ip"] == first["ip"] and moved["address"]["holder"] == "node-2/web-1"
    # Failover run twice: the second run's holder is already the new one, nothing changes.
    assert client.allocate("f", "web:prod:1", holder="node-2/web-1", takeover="node-10")["changed"] is False
    # A third node cannot take it from node-2 by naming the machine fenced earlier.
    with pytest.raises(IpamError):
        client.allocate("f", "web:prod:1", holder="node-3/web-1", takeover="node-10")
    vm = client.allocate("f", "vm:prod:1", holder="node-vm-4")
    assert client.allocate("f", "vm:prod:1", holder="node-5/vm-1", takeover="node-vm-4")["ip"] == vm["ip"]


@pytest.mark.parametrize("pool, words", [
    (dict(name="x", subnet="10.70.0.0/24", ranges=["10.70.1.1-10.70.1.5"], provider="vsphere"), "outside the subnet"),
    (dict(name="x", subnet="10.70.0.0/24", ranges=["10.70.0.10-10.70.0.20", "10.70.0.15-10.70.0.30"],
          provider="vsphere"), "overlap"),
    (dict(name="x", subnet="10.70.0.0/24", gateway="10.70.0.11", ranges=["10.70.0.10-10.70.0.20"],
          provider="vsphere"), "inside the range"),
    (dict(name="x", subnet="10.80.0.0/16", provider="ecs"), "overlaps pool taken"),
])
def test_bad_pools_are_clear_errors_and_create_nothing(etcd_url, ipam_prefix, pool, words):
    client = ipam(etcd_url, ipam_prefix)
    client.pool_present(dict(name="taken", subnet="10.80.4.0/24", provider="ecs"))
    before = keys_and_revision(etcd_url, ipam_prefix)
    with pytest.raises(IpamError) as err:
        client.pool_present(pool)
    assert words in str(err.value)
    assert keys_and_revision(etcd_url, ipam_prefix) == before


def test_a_pool_with_allocations_is_deleted_only_with_force(etcd_url, ipam_prefix):
    client = ipam(etcd_url, ipam_prefix)
    client.pool_present(dict(name="gone", subnet="10.90.0.0/24", provider="vsphere"))
    ip = client.allocate("gone", "web:dev:0")["ip"]
    with pytest.raises(IpamError) as err:
        client.pool_absent("gone")
    assert "1 allocated address(es): %s (web:dev:0)" % ip in str(err.value)
    assert client.pool_absent("gone", force=True)["changed"]
    assert keys_and_revision(etcd_url, ipam_prefix)[0] == []
    assert client.pool_absent("gone")["changed"] is False


def test_a_change_that_strands_addresses_in_use_is_refused(etcd_url, ipam_prefix):
    client = ipam(etcd_url, ipam_prefix)
    spec = dict(name="grow", subnet="10.91.0.0/24", provider="vsphere", zone="a")
    client.pool_present(spec)
    ip = client.allocate("grow", "web:dev:0")["ip"]
    assert client.pool_present(dict(spec, zone="b"))["changed"]
    with pytest.raises(IpamError) as err:
        client.pool_present(dict(spec, reserved=[ip]))
    assert "%s (web:dev:0)" % ip in str(err.value)


def test_an_unreachable_etcd_is_named_in_the_error():
    with pytest.raises(IpamError) as err:
        Ipam(Store(["http://127.0.0.1:9"], timeout=2)).get_pool("p")
    assert "http://127.0.0.1:9" in str(err.value) and "CONTAINEROPS_ETCD_ENDPOINTS" in str(err.value)


def test_an_etcd_with_authentication_takes_user_and_password_and_says_when_they_are_missing(tmp_path):
    server = EtcdServer(str(tmp_path / "auth")).start()
    try:
        admin = Store([server.url])
        for path, body in [("/auth/user/add", {"name": "root", "password": "pw"}),
                           ("/auth/user/grant", {"user": "root", "role": "root"}), ("/auth/enable", {})]:
            admin._post(path, body)
        for kw, words in [({}, "user name is empty. Set user and password"),
                          ({"user": "root", "password": "bad"}, "refused the login of user root")]:
            with pytest.raises(IpamError) as err:
                Ipam(Store([server.url], **kw)).get_pool("p")
            assert words in str(err.value) and server.url in str(err.value)
        client = Ipam(Store([server.url], user="root", password="pw"))
        client.pool_present(dict(name="p", subnet="10.99.0.0/24", provider="ecs"))
        assert client.allocate("p", "web:prod:0")["ip"]
    finally:
        server.stop()


def test_overlapping_pools_created_at_once_one_wins(etcd_url, ipam_prefix):
    """The overlap check and the create are one transaction: of racing creators exactly one succeeds."""
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(6), ctx.Queue()

    def create(n):
        client = ipam(etcd_url, ipam_prefix)
        barrier.wait()
        try:
            client.pool_present(dict(name="race%d" % n, subnet="10.77.%d.0/24" % n if n else "10.77.0.0/16",
                                     provider="vsphere"))
            out.put(("ok", n))
        except IpamError as exc:
            out.put(("refused", str(exc)))

    procs = [ctx.Process(target=create, args=(n,)) for n in range(6)]
    for p in procs:
        p.start()
    answers = [out.get(timeout=60) for _p in procs]
    for p in procs:
        p.join(timeout=30)
    assert sorted(a[0] for a in answers) == ["ok"] * 5 + ["refused"] or \
        sorted(a[0] for a in answers) == ["ok"] + ["refused"] * 5
    assert all("overlaps pool" in a[1] for a in answers if a[0] == "refused")
    pools, _rev = Store([etcd_url]).range(ipam_prefix + "/pools/", prefix=True)
    assert len(pools) == sum(1 for a in answers if a[0] == "ok")
