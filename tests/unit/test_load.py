"""`lakefront load`'s pure parts: the mixes, think times, the fault schedule and targets, the order
account's verdicts and the figures. The run itself, against a real stack, is tests/e2e/test_load.py."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from lakefront.load import faults, mixes
from lakefront.load.account import account
from lakefront.load.stats import Figures, Sample, SampleReader, percentile


@pytest.mark.parametrize(("mix", "share"), [("browsing", 0.95), ("shopping", 0.80), ("ordering", 0.50)])
def test_each_mix_gives_browse_interactions_their_tpcw_share(mix: str, share: float) -> None:
    rng = random.Random(7)
    state = mixes.ShopperState(has_account=True, signed_in=True, viewed=1, cart={1})
    picks = [mixes.next_interaction(rng, mixes.MIXES[mix], state) for _ in range(20_000)]
    browse = sum(p in mixes.BROWSE for p in picks) / len(picks)
    assert abs(browse - share) < 0.015


def test_a_shopper_signs_up_once_then_signs_in_and_never_buys_without_a_cart() -> None:
    rng = random.Random(1)
    assert mixes.next_order(rng, mixes.ShopperState()) == "signup"
    assert mixes.next_order(rng, mixes.ShopperState(has_account=True)) == "signin"
    assert mixes.next_order(rng, mixes.ShopperState(has_account=True, signed_in=True)) == "product"
    assert mixes.next_order(rng, mixes.ShopperState(has_account=True, signed_in=True, viewed=3)) == "add_to_cart"
    with_cart = mixes.ShopperState(has_account=True, signed_in=True, viewed=3, cart={3})
    assert {mixes.next_order(rng, with_cart) for _ in range(500)} == {"add_to_cart", "cart", "checkout", "orders"}


def test_a_shopper_refused_a_sign_up_only_browses() -> None:
    rng = random.Random(2)
    state = mixes.ShopperState(may_sign_up=False)
    assert {mixes.next_interaction(rng, mixes.MIXES["ordering"], state) for _ in range(500)} <= set(mixes.BROWSE)


def test_think_times_are_exponential_with_the_given_mean_and_truncated_at_ten_times_it() -> None:
    rng = random.Random(3)
    times = [mixes.think_time(rng, 2.0) for _ in range(50_000)]
    assert max(times) <= 20.0
    assert abs(sum(times) / len(times) - 2.0) < 0.05
    assert mixes.think_time(rng, 0) == 0.0


def test_the_default_schedule_spreads_faults_after_a_warm_up_and_leaves_time_to_recover() -> None:
    plan = faults.schedule(list(faults.ORDER), 100.0)
    assert [f.target for f in plan] == list(faults.ORDER)
    assert plan[0].at_s == 10.0 and plan[-1].at_s == 80.0
    assert all(a.at_s < b.at_s for a, b in itertools.pairwise(plan))
    assert faults.schedule([], 100.0) == []


def test_chaos_targets_are_parsed_in_order_and_an_unknown_one_is_named() -> None:
    known = faults.targets()
    assert faults.parse_targets("balancer,web", known) == ["balancer", "web"]
    assert faults.parse_targets("all", known) == list(faults.ORDER)
    with pytest.raises(ValueError, match="'dns'"):
        faults.parse_targets("web,dns", known)


STATE = {
    "caddy": {"pid": 10},
    "instances": [{"name": "web-1", "tier": "web", "pid": 21, "state": "in_service"},
                  {"name": "web-2", "tier": "web", "pid": 22, "state": "in_service"},
                  {"name": "app-1", "tier": "app", "pid": 31, "state": "starting"}],
    "servers": [{"name": "redis", "component": "cache", "pid": 41},
                {"name": "mariadb db-2 (standby)", "component": "standby", "pid": 52},
                {"name": "mariadb db-1 (primary)", "component": "database", "pid": 51}],
}


def test_targets_kill_what_the_run_state_names_and_take_instances_in_turn() -> None:
    killed: list[int] = []
    known = faults.targets(killed.append)
    assert "web-1" in known["web"].inject(STATE)
    assert "web-2" in known["web"].inject(STATE)
    known["cache"].inject(STATE)
    assert "primary" in known["database"].inject(STATE)
    known["balancer"].inject(STATE)
    assert killed == [21, 22, 41, 51, 10]


def test_a_target_with_nothing_to_kill_says_why_and_kills_nothing() -> None:
    killed: list[int] = []
    known = faults.targets(killed.append)
    for name in ("app", "cache", "database"):  # app-1 is still starting; no servers in the embedded profile
        with pytest.raises(faults.NotApplicable):
            known[name].inject({"instances": STATE["instances"], "servers": []})
    assert killed == []


def _attempt(key: str, outcome: str, order_id: int | None = None, status: int = 303) -> dict[str, object]:
    return {"key": key, "email": "e", "outcome": outcome, "order_id": order_id, "status": status, "tries": 1, "t": 0}


def test_every_acknowledged_order_found_once_is_an_ok_account() -> None:
    result = account([_attempt("a", "ok", 1), _attempt("b", "unknown", status=503), _attempt("c", "unknown"),
                      _attempt("d", "failed", status=409)], [(1, "a"), (2, "b")])
    assert result.verdict == "ok"
    assert (result.acknowledged, result.kept, result.unknown_placed, result.unknown_not_placed) == (1, 1, 1, 1)


def test_a_missing_acknowledged_order_is_lost_and_fails_the_account() -> None:
    result = account([_attempt("a", "ok", 1), _attempt("b", "ok", 2)], [(1, "a")])
    assert result.verdict == "fail" and result.lost == ["order 2 (key b)"]


def test_an_order_nobody_sent_or_a_key_placed_twice_is_a_duplicate() -> None:
    result = account([_attempt("a", "ok", 1)], [(1, "a"), (5, "a"), (9, "zzz")])
    assert result.verdict == "fail"
    assert len(result.duplicates) == 2


def test_a_refusal_that_was_placed_anyway_fails_the_account() -> None:
    result = account([_attempt("a", "failed", status=409)], [(3, "a")])
    assert result.verdict == "fail" and result.refused_but_placed


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)


def test_the_reader_returns_only_whole_lines_as_the_file_grows(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    line = json.dumps({"t": 1.0, "n": "home", "ms": 5.0, "svc": 5.0, "ok": True, "s": 200, "e": None})
    reader = SampleReader(path)
    assert reader.read_new() == []
    path.write_text(line + "\n" + line[:10])
    assert len(reader.read_new()) == 1
    with open(path, "a") as fh:
        fh.write(line[10:] + "\n")
    assert [s.name for s in reader.read_new()] == ["home"]


def test_figures_bucket_requests_and_errors_per_second_from_the_start() -> None:
    figures = Figures(started=100.0)
    figures.add([Sample(100.2, "home", 10, True, 200, None), Sample(100.8, "home", 30, False, 502, None),
                 Sample(102.5, "product", 20, True, 200, None)])
    rows = figures.per_second()
    assert [(r["rps"], r["eps"]) for r in rows] == [(2.0, 1.0), (0.0, 0.0), (1.0, 0.0)]
    assert figures.by_interaction()["home"]["errors"] == 1
    assert figures.errors_by_kind() == {"home: 502": 1}
