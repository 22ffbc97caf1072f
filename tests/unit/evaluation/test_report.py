"""End to end on a small synthetic history and on the real Olist order items (through ingest)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from evaluation.baselines import CooccurrenceRecommender, PopularityRecommender
from evaluation.report import evaluate, format_table, write_outputs
from models import OrderEvent, OrderLine

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA = Path(REPO_ROOT).parent / "shared" / "data"


def _orders(n: int = 50) -> list[OrderEvent]:
    """Every order buys a 'pair' (p{i%5}, q{i%5}); the later ones let a model learn the pairs."""
    t0 = datetime(2024, 1, 1)
    out = []
    for i in range(n):
        lines = [
            OrderLine(product_id=f"p{i % 5}", quantity=1, price=2.0),
            OrderLine(product_id=f"q{i % 5}", quantity=1, price=3.0),
        ]
        out.append(
            OrderEvent(
                order_id=f"o{i:03d}", store_id="s", created_at=t0 + timedelta(hours=i), lines=lines
            )
        )
    return out


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


def test_real_olist_holdout_counts():
    from evaluation.loaders import load_orders

    loaded = load_orders(DATA / "olist" / "olist_order_items_dataset.csv.gz", "olist")
    report = evaluate(
        loaded.orders,
        recommenders=[CooccurrenceRecommender()],
        include_engine=False,
        include_rules=False,
    )
    d = report.dataset
    assert d["orders"] == 98_666  # README: 98,666 distinct orders
    assert d["test_orders"] == round(98_666 * 0.2)
    assert 500 < d["eligible_test_baskets"] < 1000  # most Olist orders have one distinct product
    assert 0.0 < report.methods[0].metrics["hit_rate@10"] < 0.5


def test_engine_runs_through_the_same_protocol():
    report = evaluate(_orders(60), recommenders=[], include_rules=False, dataset_name="toy")
    engine = report.methods[0]
    assert engine.name == "engine" and engine.skipped is None, engine.skipped
    assert 0.0 <= engine.metrics["hit_rate@10"] <= 1.0 and engine.bundle is not None


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
