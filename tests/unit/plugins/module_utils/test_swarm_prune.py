"""module_utils/docker.py: which Swarm node entries swarm_node_prune removes (pure planning)."""
import pathlib

from ansible_collections.containerops.platform.plugins.module_utils.docker import (
    active_tasks,
    plan_node_prune,
    removal_refusal,
)

REPO = pathlib.Path(__file__).resolve().parents[4]

LABEL = "containerops.managed"


def node(node_id, hostname, state="ready", role="worker", labels=None):
    return {"ID": node_id, "Description": {"Hostname": hostname}, "Status": {"State": state},
            "Spec": {"Role": role, "Availability": "active",
                     "Labels": labels if labels is not None else {LABEL: "true"}}}


def ids(entries):
    return sorted(e["id"] for e in entries)


def test_nodes_in_inventory_with_their_live_id_are_kept():
    plan = plan_node_prune([node("a", "m1", role="manager"), node("b", "w1")], {"m1": "a", "w1": "b"}, "a", LABEL)
    assert plan == {"stale": [], "departed": [], "foreign": [], "kept_duplicates": []}


def test_down_entry_of_a_recreated_machine_is_stale():
    nodes = [node("a", "m1", role="manager"), node("old", "m2", state="down", role="manager"), node("b", "w1")]
    plan = plan_node_prune(nodes, {"m1": "a", "m2": "", "w1": "b"}, "a", LABEL)
    assert ids(plan["stale"]) == ["old"] and plan["stale"][0]["role"] == "manager"
    # once the new machine joined, its old entry is still stale, the new one kept
    plan = plan_node_prune(nodes + [node("new", "m2")], {"m1": "a", "m2": "new", "w1": "b"}, "a", LABEL)
    assert ids(plan["stale"]) == ["old"]


def test_same_hostname_other_id_not_down_is_left_alone_and_reported():
    plan = plan_node_prune([node("a", "m1"), node("x", "w1"), node("b", "w1")], {"m1": "a", "w1": "b"}, "a", LABEL)
    assert plan["stale"] == [] and ids(plan["kept_duplicates"]) == ["x"]


def test_managed_node_that_left_inventory_departs_foreign_node_stays():
    nodes = [node("a", "m1"), node("gone", "w9"), node("other", "x1", labels={})]
    plan = plan_node_prune(nodes, {"m1": "a"}, "a", LABEL)
    assert ids(plan["departed"]) == ["gone"] and ids(plan["foreign"]) == ["other"]
    plan = plan_node_prune(nodes, {"m1": "a"}, "a", LABEL, remove_unmanaged=True)
    assert ids(plan["departed"]) == ["gone", "other"]
    plan = plan_node_prune(nodes, {"m1": "a"}, "a", LABEL, remove_departed=False)
    assert plan["departed"] == [] and ids(plan["foreign"]) == ["gone", "other"]


def test_the_node_the_plan_runs_on_is_never_removed():
    plan = plan_node_prune([node("a", "not-in-inventory", state="down")], {}, "a", LABEL, remove_unmanaged=True)
    assert plan == {"stale": [], "departed": [], "foreign": [], "kept_duplicates": []}


def test_only_tasks_that_still_occupy_the_node_count():
    tasks = [{"Status": {"State": s}} for s in ("running", "starting", "shutdown", "complete", "failed", "rejected")]
    assert [t["Status"]["State"] for t in active_tasks(tasks)] == ["running", "starting"]


def test_fleet_hosts_outside_the_run_are_never_touched_even_when_down():
    # keep None: the host belongs to the fleet but was not examined (not in the play).
    nodes = [node("a", "m1", role="manager"), node("v", "vs-1", state="down", role="manager"), node("w", "vs-3")]
    plan = plan_node_prune(nodes, {"m1": "a", "vs-1": None, "vs-3": None}, "a", LABEL)
    assert plan == {"stale": [], "departed": [], "foreign": [], "kept_duplicates": []}


def test_more_departures_than_allowed_need_each_one_confirmed():
    nodes = [node("a", "m1"), node("g1", "w8"), node("g2", "w9"), node("new", "m2", state="down")]
    plan = plan_node_prune(nodes, {"m1": "a", "m2": ""}, "a", LABEL)
    assert ids(plan["departed"]) == ["g1", "g2"] and ids(plan["stale"]) == ["new"]   # stale entries do not count
    why = removal_refusal(plan, 1, [])
    assert "2 nodes left the inventory's fleet" in why and "w8, w9" in why and "nothing was changed" in why
    assert '"swarm_remove_confirm": ["w8", "w9"]' in why
    assert "w9" in removal_refusal(plan, 1, ["w8"])            # every one must be named
    assert removal_refusal(plan, 1, ["w8", "w9"]) is None
    assert removal_refusal(plan, 2, []) is None
