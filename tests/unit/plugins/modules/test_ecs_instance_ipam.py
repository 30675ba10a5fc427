"""ecs_instance takes node addresses from the IPAM: the in-process ECS emulator and a private etcd
(conftest's etcd_url), both real. An instance's address belongs to node:<region>:<name>, is allocated
before RunInstances, bound to the instance id after it, and released into hold-down once it is gone."""
import pytest

from ansible_collections.containerops.platform.plugins.module_utils import _ecs_instance_spec as ispec
from ansible_collections.containerops.platform.plugins.module_utils import ecs
from ansible_collections.containerops.platform.plugins.module_utils.ipam import Ipam, IpamError, Store
from ecs_emulator import Emulator
from test_ecs_instance_runner import KEY, SECRET, runner, world_with_a_second_vpc

POOL = {"name": "hz-nodes", "subnet": "10.88.16.0/24", "gateway": "10.88.16.1",
        "ranges": ["10.88.16.200-10.88.16.209"], "provider": "ecs", "hold_down": 600}


@pytest.fixture
def emu(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    made = Emulator({"access_keys": {KEY: SECRET}}, world=world_with_a_second_vpc(), time_scale=0.01).start()
    yield made
    made.close()


@pytest.fixture
def ipam(etcd_url, ipam_prefix):
    made = Ipam(Store([etcd_url]), ipam_prefix)
    made.pool_present(POOL)
    return made


def ipam_runner(emu, ipam, check=False, **params):
    options = {"endpoints": [ipam.store.clients[0][0]], "prefix": ipam.prefix, "timeout": 10}
    return runner(emu, check=check, ipam=options, **params)


def record(ipam, pool, ip):
    found, _rev = ipam.store.range(ipam.addresses(pool) + ip)
    return found[ipam.addresses(pool) + ip][0]


def listed_ips(r):
    return dict((i["InstanceName"], ecs.private_ip(i)) for i in r.client.describe_instances())


def test_two_instances_get_distinct_pool_addresses_bound_to_their_ids_and_a_rerun_writes_nothing(emu, ipam):
    items = [{"name": "n-1"}, {"name": "n-2"}]
    first = ipam_runner(emu, ipam, instances=items, ipam_pool="hz-nodes")
    first.run()
    assert sorted(first.created) == ["n-1", "n-2"]
    owned = dict((n, ipam.lookup("hz-nodes", "node:cn-hangzhou:%s" % n)) for n in ("n-1", "n-2"))
    assert len(set(owned.values())) == 2 and all(ip.startswith("10.88.16.20") for ip in owned.values())
    assert listed_ips(first) == owned, "ECS reports the IPAM's addresses as the instances' PrivateIpAddress"
    ids = dict((row["name"], row["instance_id"]) for row in first.results())
    for name, ip in owned.items():
        rec = record(ipam, "hz-nodes", ip)
        assert (rec["owner"], rec["state"], rec["holder"]) == ("node:cn-hangzhou:%s" % name, "allocated", ids[name])
    rows = dict((row["name"], row) for row in first.nodes.result())
    assert rows["n-1"]["ip"] == owned["n-1"] and rows["n-1"]["holder"] == ids["n-1"]

    revision = ipam.store.revision()
    again = ipam_runner(emu, ipam, instances=items, ipam_pool="hz-nodes")
    again.run()
    assert not again.changed and not again.nodes.changed and again.nodes.diff == []
    assert "RunInstances" not in again.client.calls
    assert ipam.store.revision() == revision, "a re-run allocates and binds nothing"


def test_deleting_releases_into_hold_down_and_the_name_gets_its_address_back(emu, ipam):
    made = ipam_runner(emu, ipam, name="gone-1", ipam_pool="hz-nodes")
    made.run()
    ip = ipam.lookup("hz-nodes", "node:cn-hangzhou:gone-1")
    removed = ipam_runner(emu, ipam, name="gone-1", ipam_pool="hz-nodes", state="absent", force=True)
    removed.run()
    assert not emu.state.instances
    rec = record(ipam, "hz-nodes", ip)
    assert rec["state"] == "held-down" and rec["holder"] is None and rec["hold_until"] >= rec["released_at"] + 600
    assert rec["history"][-1]["until"] is not None, "the deleted instance is no longer the holder"
    assert removed.nodes.diff[0]["after"]["state"] == "held-down"
    assert ipam.lookup("hz-nodes", "node:cn-hangzhou:gone-1") is None

    emu.state.wait_backend_idle(5)
    back = ipam_runner(emu, ipam, name="gone-1", ipam_pool="hz-nodes", list_lag_timeout=2)
    back.run()
    assert listed_ips(back) == {"gone-1": ip}, "the same name gets its address back"


def test_a_pool_outside_the_vswitch_fails_before_run_instances(emu, ipam):
    ipam.pool_present(dict(POOL, name="elsewhere", subnet="10.99.0.0/24", gateway="10.99.0.1",
                           ranges=["10.99.0.10-10.99.0.20"]))
    r = ipam_runner(emu, ipam, instances=[{"name": "far-1"}], ipam_pool="elsewhere")
    revision = ipam.store.revision()
    with pytest.raises(ispec.Failure) as info:
        r.run()
    text = str(info.value)
    for words in ("nothing was created", "far-1", "ipam_pool elsewhere", "10.99.0.0/24", "10.88.16.0/24",
                  "vsw-bp1lab0hangzhouh00001"):
        assert words in text, text
    assert "RunInstances" not in r.client.calls and not emu.state.instances
    assert ipam.store.revision() == revision


def test_a_pool_that_hands_out_addresses_ecs_keeps_fails_naming_them(emu, ipam):
    ipam.pool_present(dict(POOL, ranges=["10.88.16.250-10.88.16.254"], gateway=None))
    r = ipam_runner(emu, ipam, name="edge-1", ipam_pool="hz-nodes")
    with pytest.raises(ispec.Failure, match="hand out 10.88.16.253, 10.88.16.254, which ECS keeps.*reserved addresses"):
        r.run()
    assert "RunInstances" not in r.client.calls


def test_an_exhausted_pool_fails_before_anything_is_created_or_allocated(emu, ipam):
    ipam.pool_present(dict(POOL, ranges=["10.88.16.220-10.88.16.221"]))
    revision = ipam.store.revision()
    r = ipam_runner(emu, ipam, instances=[{"name": "t-%d" % i} for i in range(3)], ipam_pool="hz-nodes")
    with pytest.raises(ispec.Failure) as info:
        r.run()
    assert "pool hz-nodes is exhausted" in str(info.value) and "nothing was created" in str(info.value)
    assert "RunInstances" not in r.client.calls and not emu.state.instances
    assert ipam.store.revision() == revision, "the two addresses that were free are not allocated either"


def test_check_mode_shows_the_addresses_and_allocates_nothing(emu, ipam):
    revision = ipam.store.revision()
    r = ipam_runner(emu, ipam, check=True, instances=[{"name": "c-1"}, {"name": "c-2"}], ipam_pool="hz-nodes")
    r.run()
    assert sorted(r.created) == ["c-1", "c-2"] and not emu.state.instances
    shown = [entry["after"]["ip"] for entry in r.nodes.diff]
    assert len(set(shown)) == 2, "two new instances are shown two different addresses"
    assert [entry["before"] for entry in r.nodes.diff] == [{"state": "absent"}] * 2
    assert ipam.store.revision() == revision
    # The addresses check mode showed are the ones a real run then allocates.
    real = ipam_runner(emu, ipam, instances=[{"name": "c-1"}, {"name": "c-2"}], ipam_pool="hz-nodes")
    real.run()
    assert sorted(listed_ips(real).values()) == sorted(shown)


def test_an_existing_instance_keeps_its_address_and_is_not_given_one(emu, ipam):
    runner(emu, name="old-1", private_ip="10.88.16.150").run()
    revision = ipam.store.revision()
    r = ipam_runner(emu, ipam, name="old-1", ipam_pool="hz-nodes")
    r.run()
    assert "RunInstances" not in r.client.calls and ipam.store.revision() == revision
    warnings = r.warn.__self__.warnings  # the FakeModule's
    assert any("no address allocated to its owner node:cn-hangzhou:old-1" in w and "ipam_address" in w
               for w in warnings), warnings
    # Once its address is recorded for the owner, the next run binds it to the instance.
    ipam.allocate("hz-nodes", "node:cn-hangzhou:old-1", ip="10.88.16.150", outside_ranges=True)
    bound = ipam_runner(emu, ipam, name="old-1", ipam_pool="hz-nodes")
    bound.run()
    assert record(ipam, "hz-nodes", "10.88.16.150")["holder"] == bound.results()[0]["instance_id"]


def test_private_ip_and_ipam_pool_at_one_level_are_refused_before_any_call(emu, ipam):
    with pytest.raises(ispec.Failure, match="private_ip and ipam_pool: set one of them"):
        ipam_runner(emu, ipam, name="x-1", private_ip="10.88.16.50", ipam_pool="hz-nodes")
    with pytest.raises(ispec.Failure, match=r"instances\[0\].private_ip and instances\[0\].ipam_pool"):
        ipam_runner(emu, ipam, instances=[{"name": "x-1", "private_ip": "10.88.16.50", "ipam_pool": "hz-nodes"}])
    # An item's own address beats the task's pool (and no etcd is needed for it).
    r = ipam_runner(emu, ipam, instances=[{"name": "x-1", "private_ip": "10.88.16.50"}], ipam_pool="hz-nodes")
    assert r.desired[0]["ipam_pool"] is None and r.nodes is None


def test_a_name_that_cannot_make_an_owner_fails_before_any_call(emu, ipam):
    r = ipam_runner(emu, ipam, instances=[{"name": "ok-1"}, {"name": "节点-1", "host_name": "node-1"}],
                    ipam_pool="hz-nodes")
    with pytest.raises(IpamError, match=r"instances\[1\].name: '节点-1' cannot be part of the IPAM owner"):
        r.run()
    assert not r.client.calls


def test_a_missing_pool_or_one_of_the_other_cloud_fails_before_run_instances(emu, ipam):
    ipam.pool_present(dict(POOL, name="vs-nodes", subnet="10.77.0.0/24", gateway="10.77.0.1",
                           ranges=["10.77.0.10-10.77.0.20"], provider="vsphere"))
    r = ipam_runner(emu, ipam, instances=[{"name": "m-1", "ipam_pool": "missing-pool"},
                                          {"name": "m-2", "ipam_pool": "vs-nodes"}])
    with pytest.raises(ispec.Failure) as info:
        r.run()
    text = str(info.value)
    assert "m-1: ipam_pool: pool missing-pool does not exist" in text and "ipam_pool" in text
    assert "m-2: ipam_pool: pool vs-nodes is a pool of provider vsphere; name a pool of provider ecs" in text
    assert "RunInstances" not in r.client.calls and not emu.state.instances


def test_an_address_another_task_takes_meanwhile_is_replaced_before_run_instances(emu, ipam):
    r = ipam_runner(emu, ipam, instances=[{"name": "r-1"}, {"name": "r-2"}], ipam_pool="hz-nodes")
    commit, stolen = r.nodes.commit, []

    def another_task_allocates_first():  # a concurrent task, between this one's proposal and its commit
        stolen.append(r.nodes.proposed[("hz-nodes", "node:cn-hangzhou:r-1")])
        ipam.allocate("hz-nodes", "node:cn-hangzhou:other-1", ip=stolen[0])
        return commit()

    r.nodes.commit = another_task_allocates_first
    r.run()
    got = listed_ips(r)
    assert got["r-1"] != stolen[0] and got["r-1"] == ipam.lookup("hz-nodes", "node:cn-hangzhou:r-1")
    assert len(set(got.values())) == 2 and r.client.calls["RunInstances"] >= 1
