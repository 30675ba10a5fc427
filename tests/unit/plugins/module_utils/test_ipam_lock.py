"""module_utils/_ipam_lock.py against a real etcd (conftest's etcd_url): one run at a time holds an owner, also
when ten take it at once; letting go needs the holder's token; a dead run's lock lapses on etcd's clock."""
import multiprocessing
import time

import pytest

from ansible_collections.containerops.platform.plugins.module_utils._ipam_lock import OwnerLock
from ansible_collections.containerops.platform.plugins.module_utils.ipam import IpamError, Store


def lock(url, prefix):
    return OwnerLock(Store([url]), prefix)


def test_a_second_run_is_refused_naming_the_first_and_only_the_holder_s_token_lets_go(etcd_url, ipam_prefix):
    first = lock(etcd_url, ipam_prefix).acquire("orders:prod:1", "migrate to container", 60, by="AWX job 41")
    assert first["changed"] and first["token"] and first["owner"] == "orders:prod:1"
    assert first["lock"]["operation"] == "migrate to container" and first["lock"]["expires_in"] == 60

    with pytest.raises(IpamError) as refused:
        lock(etcd_url, ipam_prefix).acquire({"application": "orders", "environment": "prod", "slot": 1},
                                            "migrate to vm", 60, by="AWX job 42")
    msg = str(refused.value)
    assert "orders:prod:1 is locked: migrate to container by AWX job 41 since " in msg
    assert "Nothing was changed" in msg and "state=unlocked force=true" in msg
    # Its own token again: kept, not refused, not changed.
    again = lock(etcd_url, ipam_prefix).acquire("orders:prod:1", "migrate to container", 60, token=first["token"])
    assert not again["changed"] and again["token"] == first["token"]
    # Another owner is not locked by it.
    assert lock(etcd_url, ipam_prefix).acquire("orders:prod:2", "migrate to vm", 60)["changed"]

    with pytest.raises(IpamError, match="not by the token given"):
        lock(etcd_url, ipam_prefix).release("orders:prod:1", token="0" * 32)
    assert lock(etcd_url, ipam_prefix).read("orders:prod:1")[0]["by"] == "AWX job 41"
    gone = lock(etcd_url, ipam_prefix).release("orders:prod:1", token=first["token"])
    assert gone["changed"] and gone["lock"]["by"] == "AWX job 41"
    assert lock(etcd_url, ipam_prefix).read("orders:prod:1") == (None, 0)
    assert not lock(etcd_url, ipam_prefix).release("orders:prod:1", token=first["token"])["changed"]
    # Free again: the next run takes it, with a token of its own.
    assert lock(etcd_url, ipam_prefix).acquire("orders:prod:1", "migrate to vm", 60)["token"] != first["token"]


def test_force_lets_go_of_a_dead_run_s_lock_and_check_mode_writes_nothing(etcd_url, ipam_prefix):
    owner = "orders:prod:1"
    would = lock(etcd_url, ipam_prefix).acquire(owner, "migrate to vm", 60, check_mode=True)
    assert would["changed"] and would["token"] is None and would["diff"]["after"]["operation"] == "migrate to vm"
    assert lock(etcd_url, ipam_prefix).read(owner) == (None, 0)

    held = lock(etcd_url, ipam_prefix).acquire(owner, "migrate to vm", 60, by="a run that died")
    assert lock(etcd_url, ipam_prefix).release(owner, force=True, check_mode=True)["changed"]
    assert lock(etcd_url, ipam_prefix).read(owner)[0]["token"] == held["token"]
    with pytest.raises(IpamError, match="is locked: migrate to vm by a run that died"):
        lock(etcd_url, ipam_prefix).acquire(owner, "migrate to container", 60, check_mode=True)
    forced = lock(etcd_url, ipam_prefix).release(owner, force=True)
    assert forced["changed"] and forced["diff"]["before"]["by"] == "a run that died" and forced["diff"]["after"] == {}
    assert lock(etcd_url, ipam_prefix).read(owner) == (None, 0)


def test_a_lock_whose_run_died_lapses_after_its_ttl(etcd_url, ipam_prefix):
    with pytest.raises(IpamError, match=r"ttl \(2\) must be at least 5 seconds"):
        lock(etcd_url, ipam_prefix).acquire("orders:prod:1", "migrate to vm", 2)
    assert lock(etcd_url, ipam_prefix).read("orders:prod:1") == (None, 0)
    lock(etcd_url, ipam_prefix).acquire("orders:prod:1", "migrate to vm", 5, by="a run that died")
    held, _mod = lock(etcd_url, ipam_prefix).read("orders:prod:1")
    assert 0 < held["expires_in"] <= 5
    deadline = time.monotonic() + 15
    while lock(etcd_url, ipam_prefix).read("orders:prod:1")[0] is not None:
        assert time.monotonic() < deadline, "the lock did not lapse"
        time.sleep(0.5)
    assert lock(etcd_url, ipam_prefix).acquire("orders:prod:1", "migrate to container", 60)["changed"]


def test_a_lock_that_changed_since_it_was_read_is_let_go_only_when_it_still_is_this_run_s(etcd_url, ipam_prefix):
    """The lease lapses (or the lock is let go and taken again) between release's read and its delete."""
    first = lock(etcd_url, ipam_prefix).acquire("orders:prod:1", "failover from lab-vs-3", 60)
    racing = lock(etcd_url, ipam_prefix)
    read = racing.read

    def stale_read(owner):
        seen = read(owner)
        racing.read = read                       # once: the lock goes, and another run takes it
        lock(etcd_url, ipam_prefix).release(owner, force=True)
        lock(etcd_url, ipam_prefix).acquire(owner, "migrate to vm", 60, by="the next run")
        return seen
    racing.read = stale_read
    with pytest.raises(IpamError, match="locked by another run .migrate to vm by the next run"):
        racing.release("orders:prod:1", token=first["token"])
    assert lock(etcd_url, ipam_prefix).read("orders:prod:1")[0]["by"] == "the next run"

    racing.read = read
    second = lock(etcd_url, ipam_prefix).release("orders:prod:1", force=True)
    assert second["changed"]
    gone = lock(etcd_url, ipam_prefix)
    mine = gone.acquire("orders:prod:1", "failover from lab-vs-3", 60)
    gone_read = gone.read

    def lapsing_read(owner):
        seen = gone_read(owner)
        gone.read = gone_read
        lock(etcd_url, ipam_prefix).release(owner, force=True)      # as if its lease lapsed
        return seen
    gone.read = lapsing_read
    assert not gone.release("orders:prod:1", token=mine["token"])["changed"]


def _take(url, prefix, worker, barrier, out):
    barrier.wait()
    try:
        out.put((worker, lock(url, prefix).acquire("orders:prod:1", "migrate", 60, by="run %d" % worker)["token"]))
    except IpamError as exc:
        out.put((worker, str(exc)))


def test_of_ten_runs_taking_one_owner_at_once_exactly_one_gets_it(etcd_url, ipam_prefix):
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(10), ctx.Queue()
    procs = [ctx.Process(target=_take, args=(etcd_url, ipam_prefix, w, barrier, out)) for w in range(10)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=60) for _p in procs)
    for p in procs:
        p.join(timeout=30)
    winners = [w for w, said in results.items() if "is locked" not in said]
    assert len(winners) == 1, results
    held, _mod = lock(etcd_url, ipam_prefix).read("orders:prod:1")
    assert held["by"] == "run %d" % winners[0] and held["token"] == results[winners[0]]
    for w, said in results.items():
        if w != winners[0]:
            assert "is locked: migrate by run %d" % winners[0] in said, said
