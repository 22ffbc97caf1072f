"""End to end: figures checked against hand-computed values on tiny histories, and the real Olist
order items (through ingest) with counts recomputed from the parsed orders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from evaluation.baselines import CooccurrenceRecommender, PopularityRecommender
from evaluation.report import evaluate, format_table, write_outputs
from evaluation.split import Basket
from models import OrderEvent, OrderLine

T0 = datetime(2024, 1, 1)


def _orders(n: int = 50) -> list[OrderEvent]:
    """Every order buys a 'pair' (p{i%5}, q{i%5}); the later ones let a model learn the pairs."""
    out = []
    for i in range(n):
        lines = [
            OrderLine(product_id=f"p{i % 5}", quantity=1, price=2.0),
            OrderLine(product_id=f"q{i % 5}", quantity=1, price=3.0),
        ]
        out.append(
            OrderEvent(
                order_id=f"o{i:03d}", store_id="s", created_at=T0 + timedelta(hours=i), lines=lines
            )
        )
    return out


def _order(hour: int, *products: str) -> OrderEvent:
    lines = [OrderLine(product_id=p, quantity=1, price=1.0) for p in products]
    return OrderEvent(
        order_id=f"h{hour:02d}", store_id="s", created_at=T0 + timedelta(hours=hour), lines=lines
    )


# Twelve training orders, then the last three (20% of 15) held out. In training a and b are
# always bought together (3 orders), g is the best seller (9 orders) and h the second (4).
# Held out: {a, b} (one of them hidden), {c, d, e} (never sold before), {f} (one item: no case).
HANDMADE = [
    *(_order(hour, "a", "b") for hour in range(3)),
    *(_order(hour, "g", "h") for hour in range(3, 7)),
    *(_order(hour, "g") for hour in range(7, 12)),
    _order(12, "a", "b"),
    _order(13, "c", "d", "e"),
    _order(14, "f"),
]


class AnswerAtRank:
    """A recommender that knows the held-out baskets and ranks each missing item at a set place
    (fillers around it), so every metric of the report has a value known in advance."""

    name = "scripted"

    def __init__(self, rank_of_missing: dict[frozenset[str], int]) -> None:
        self.rank_of_missing = rank_of_missing

    def fit(self, train: Sequence[Basket]) -> AnswerAtRank:
        return self

    def recommend(self, basket: Sequence[str], k: int) -> list[str]:
        return self.recommend_batch([basket], k)[0]

    def recommend_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]:
        out = []
        for given in baskets:
            whole = next(b for b in self.rank_of_missing if set(given) < b)
            (missing,) = whole - set(given)
            fillers = [f"x{i}" for i in range(k)]
            at = self.rank_of_missing[whole] - 1
            out.append([*fillers[:at], missing, *fillers[at:]][:k])
        return out


def test_report_figures_equal_hand_computed_values(tmp_path):
    scripted = AnswerAtRank({frozenset("ab"): 1, frozenset("cde"): 7})
    report = evaluate(
        HANDMADE,
        recommenders=[PopularityRecommender(), CooccurrenceRecommender(), scripted],
        include_engine=False,
        include_rules=False,
        ks=(5, 10),
        dataset_name="hand",
    )
    d = report.dataset
    assert (d["orders"], d["train_orders"], d["test_orders"]) == (15, 12, 3)
    assert d["cutoff"] == (T0 + timedelta(hours=12)).isoformat()
    assert d["eligible_test_baskets"] == 2  # {f} has nothing left to complete
    assert d["hidden_unseen_in_train"] == 1  # c, d and e were never sold before
    assert d["hidden_cooccurred_with_given"] == 1  # only a and b were bought together
    assert d["mean_test_basket_items"] == 2.0
    by = {m.name: m for m in report.methods}
    # {a, b}: the missing half comes after g and h, at rank 3 (NDCG 1/log2(4)); c/d/e: never
    assert by["popularity"].metrics == pytest.approx(
        {"hit_rate@5": 0.5, "ndcg@5": 0.25, "hit_rate@10": 0.5, "ndcg@10": 0.25}
    )
    # {a, b}: the partner first (bought together 3 times); c/d/e: no co-purchase, unseen: miss
    assert by["cooccurrence"].metrics == pytest.approx(
        {"hit_rate@5": 0.5, "ndcg@5": 0.5, "hit_rate@10": 0.5, "ndcg@10": 0.5}
    )
    # bundles (g, h) and (a, b): one of the three held-out baskets, one of the two with 2+ items
    bundle = {
        "bundle_hit_rate": 1 / 3,
        "bundle_hit_rate_multi": 0.5,
        "bundle_hits": 1,
        "bundles": 2,
    }
    assert by["cooccurrence"].bundle == pytest.approx(bundle)
    assert by["popularity"].bundle == pytest.approx(bundle)
    # ranks 1 and 7: HR@5 1/2, HR@10 1, NDCG@10 (1 + 1/log2(8)) / 2
    assert by["scripted"].metrics == pytest.approx(
        {"hit_rate@5": 0.5, "ndcg@5": 0.5, "hit_rate@10": 1.0, "ndcg@10": (1 + 1 / 3) / 2}
    )
    assert by["scripted"].bundle is None  # not a bundle source
    rows = {line.split()[0]: line.split()[1:] for line in format_table(report).splitlines()[2:]}
    assert rows["scripted"][:4] == ["0.5000*", "0.5000*", "1.0000*", "0.6667*"]
    assert rows["popularity"][:4] == ["0.5000*", "0.2500", "0.5000", "0.2500"]
    assert rows["cooccurrence"][4:6] == ["0.3333", "0.5000"]
    written = json.loads(Path(write_outputs(report, tmp_path, stem="hand")["json"]).read_text())
    assert {m["name"]: m["metrics"] for m in written["methods"]} == {
        m.name: m.metrics for m in report.methods
    }
    assert written["dataset"] == json.loads(json.dumps(d, default=str))


def test_evaluate_reports_every_method_and_cooccurrence_learns_pairs(tmp_path):
    report = evaluate(
        _orders(),
        recommenders=[PopularityRecommender(), CooccurrenceRecommender()],
        include_engine=False,
        include_rules=False,
        dataset_name="toy",
    )
    assert report.dataset["train_orders"] == 40 and report.dataset["test_orders"] == 10
    assert report.dataset["eligible_test_baskets"] == 10
    by = {m.name: m for m in report.methods}
    assert by["cooccurrence"].metrics["hit_rate@5"] == 1.0
    assert by["cooccurrence"].metrics["ndcg@5"] == 1.0  # the partner is always ranked first
    assert by["cooccurrence"].bundle["bundle_hit_rate"] == 1.0
    table = format_table(report)
    assert "cooccurrence" in table and "HR@10" in table
    paths = write_outputs(report, tmp_path, stem="toy")
    data = json.loads(Path(paths["json"]).read_text())
    assert {m["name"] for m in data["methods"]} == {"popularity", "cooccurrence"}
    assert Path(paths["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_registers_eval_and_runs(tmp_path, capsys):
    from bundlestream.cli import build_parser

    src = tmp_path / "orders.csv"
    rows = ["order_id,product_id,quantity,price,created_at"]
    for o in _orders(30):
        rows += [
            f"{o.order_id},{ln.product_id},1,{ln.price},{o.created_at.isoformat()}"
            for ln in o.lines
        ]
    src.write_text("\n".join(rows) + "\n")
    args = build_parser().parse_args(
        [
            "eval",
            "--orders",
            str(src),
            "--k",
            "5",
            "10",
            "--out",
            str(tmp_path / "out"),
            "--no-engine",
        ]
    )
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "sar_jaccard" in out and (tmp_path / "out" / "eval_orders.json").exists()


def test_real_olist_holdout_counts(olist_orders):
    report = evaluate(
        olist_orders.events,
        recommenders=[CooccurrenceRecommender()],
        include_engine=False,
        include_rules=False,
    )
    # the time split recomputed here: distinct products per order, the last 20% by (time, id)
    products: dict[str, set[str]] = {}
    created: dict[str, datetime] = {}
    for event in olist_orders.events:
        products.setdefault(event.order_id, set()).update(ln.product_id for ln in event.lines)
        created[event.order_id] = min(
            created.get(event.order_id, event.created_at), event.created_at
        )
    ordered = sorted(products, key=lambda oid: (created[oid].timestamp(), oid))
    test = ordered[len(ordered) - round(len(ordered) * 0.2) :]
    d = report.dataset
    assert d["orders"] == len(ordered) == 98_666  # README: 98,666 distinct orders
    assert d["test_orders"] == len(test) == 19_733
    assert d["cutoff"] == created[test[0]].isoformat()
    assert d["eligible_test_baskets"] == sum(len(products[oid]) >= 2 for oid in test)
    assert d["mean_test_basket_items"] == pytest.approx(
        sum(len(products[oid]) for oid in test) / len(test)
    )
    # most Olist baskets hold one product: few cases, and a co-purchase method rarely hits
    assert 500 < d["eligible_test_baskets"] < 1000
    assert 0.0 < report.methods[0].metrics["hit_rate@10"] < 0.5


def test_engine_runs_through_the_same_protocol():
    """Every partner is only ever bought with its pair, so the engine must rank it first."""
    report = evaluate(_orders(60), recommenders=[], include_rules=False, dataset_name="toy")
    engine = report.methods[0]
    assert engine.name == "engine" and engine.skipped is None, engine.skipped
    assert report.dataset["eligible_test_baskets"] == 12
    assert engine.metrics == {"hit_rate@5": 1.0, "ndcg@5": 1.0, "hit_rate@10": 1.0, "ndcg@10": 1.0}
    assert engine.bundle is not None and engine.bundle["bundle_hit_rate"] == 1.0


def test_validation_split_never_sees_the_test_orders():
    report = evaluate(
        _orders(50),
        recommenders=[PopularityRecommender()],
        include_engine=False,
        include_rules=False,
        validation=True,
    )
    d = report.dataset
    # 50 orders -> 40 train; validation splits those 40 again into 32 / 8
    assert (d["orders"], d["train_orders"], d["test_orders"]) == (40, 32, 8)
    assert d["split"].startswith("validation")
    assert (
        d["hidden_cooccurred_with_given"] == 8
    )  # every hidden partner was bought with its pair before
