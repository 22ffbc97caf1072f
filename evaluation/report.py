"""Run every recommender on one time holdout and report them side by side (table, JSON, PNG)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bundling.measures import hit_ranks
from models.catalog import Product
from models.orders import OrderEvent

from .baselines import default_baselines
from .metrics import ranking_metrics
from .protocol import BundleSource, Recommender
from .rules import AssociationRulesRecommender, MissingDependency
from .split import (
    DEFAULT_SEED,
    HOLDOUT_FRACTION,
    baskets_from_orders,
    bundle_hit_rate,
    completion_cases,
    time_split,
)

BUNDLES_PER_SET = 10  # a BundleSet holds at most 10 bundles; baselines get the same budget


@dataclass
class MethodResult:
    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    bundle: dict[str, float | int] | None = None
    fit_seconds: float = 0.0
    recommend_seconds: float = 0.0
    skipped: str | None = None
    notes: str = ""


@dataclass
class EvalReport:
    dataset: dict[str, Any]
    methods: list[MethodResult]
    ks: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "ks": self.ks,
            "methods": [asdict(m) for m in self.methods],
        }


def evaluate(
    orders: Sequence[OrderEvent],
    catalog: Sequence[Product] = (),
    *,
    ks: Sequence[int] = (5, 10),
    seed: int = DEFAULT_SEED,
    holdout: float = HOLDOUT_FRACTION,
    recommenders: Sequence[Recommender] | None = None,
    include_engine: bool = True,
    include_rules: bool = True,
    dataset_name: str = "",
    validation: bool = False,
) -> EvalReport:
    """Time-split ``orders``, fit each recommender on the train part, score the held-out part.

    ``validation=True`` first drops the test part and splits the training part again (its last
    20% becomes the held-out set), so hyper-parameters can be chosen without seeing the test.
    """
    baskets = baskets_from_orders(orders)
    if validation:
        baskets = time_split(baskets, holdout).train
        keep = {b.order_id for b in baskets}
        orders = [o for o in orders if o.order_id in keep]
    split = time_split(baskets, holdout)
    cases = completion_cases(split.test, seed)
    train_items = {i for b in split.train for i in b.items}
    k_max = max(ks)
    dataset = {
        "name": dataset_name,
        "orders": len(baskets),
        "train_orders": len(split.train),
        "test_orders": len(split.test),
        "cutoff": split.cutoff.isoformat() if split.cutoff else None,
        "train_multi_item_orders": sum(len(b.items) >= 2 for b in split.train),
        "eligible_test_baskets": len(cases),
        "hidden_unseen_in_train": sum(h not in train_items for h in cases.hidden),
        "hidden_cooccurred_with_given": _reachable(split.train, cases),
        "mean_test_basket_items": (sum(len(b.items) for b in split.test) / len(split.test))
        if split.test
        else 0.0,
        "holdout": holdout,
        "split": "validation (inside train)" if validation else "test",
        "seed": seed,
    }
    methods: list[MethodResult] = []
    candidates: list[Recommender | MethodResult] = []
    if include_engine:
        candidates.append(_engine(orders, catalog))
    candidates.extend(recommenders if recommenders is not None else default_baselines())
    if include_rules:
        candidates.append(AssociationRulesRecommender())
    for rec in candidates:
        if isinstance(rec, MethodResult):  # could not be built; carry the reason
            methods.append(rec)
            continue
        methods.append(_run_one(rec, split.train, split.test, cases, ks, k_max))
    return EvalReport(dataset, methods, list(ks))


def _reachable(train, cases) -> int:
    """Cases whose hidden item was bought with at least one given item in training: the ceiling of
    any purely co-purchase-based method (the rest can only be hit through the popularity fill)."""
    pairs: dict[str, set[str]] = {}
    needed = set(cases.hidden)
    for b in train:
        hit = needed.intersection(b.items)
        for h in hit:
            pairs.setdefault(h, set()).update(b.items)
    return sum(1 for g, h in zip(cases.given, cases.hidden) if pairs.get(h, set()).intersection(g))


def _engine(orders: Sequence[OrderEvent], catalog: Sequence[Product]) -> Recommender | MethodResult:
    try:
        from .engine_adapter import EngineRecommender, EngineUnavailable
    except ImportError as exc:
        return MethodResult("engine", skipped=f"engine adapter unavailable: {exc}")
    try:
        return EngineRecommender(orders, catalog)
    except EngineUnavailable as exc:
        return MethodResult("engine", skipped=str(exc))


def _run_one(rec: Recommender, train, test, cases, ks, k_max) -> MethodResult:
    result = MethodResult(rec.name)
    started = time.perf_counter()
    try:
        rec.fit(train)
    except MissingDependency as exc:
        result.skipped = str(exc)
        return result
    result.fit_seconds = getattr(rec, "fit_seconds", 0.0) or (time.perf_counter() - started)
    started = time.perf_counter()
    recs = rec.recommend_batch(cases.given, k_max)
    result.recommend_seconds = time.perf_counter() - started
    result.metrics = ranking_metrics(hit_ranks(recs, cases.hidden), ks)
    if isinstance(rec, BundleSource):
        result.bundle = bundle_hit_rate(test, rec.bundles(BUNDLES_PER_SET))
    result.notes = getattr(rec, "notes", "")
    return result


def format_table(report: EvalReport) -> str:
    """Fixed-width side-by-side table; best value per metric column marked with '*'."""
    cols = [m for k in report.ks for m in (f"hit_rate@{k}", f"ndcg@{k}")]
    heads = [c.replace("hit_rate", "HR").replace("ndcg", "NDCG") for c in cols] + [
        "bundleHR",
        "bundleHR2+",
        "fit s",
    ]
    best = {
        c: max((m.metrics.get(c, -1) for m in report.methods if not m.skipped), default=-1)
        for c in cols
    }
    d = report.dataset
    lines = [
        f"dataset {d['name'] or '?'}: {d['orders']} orders, train {d['train_orders']}, test {d['test_orders']} "
        f"(cutoff {d['cutoff']}), eligible test baskets (2+ items) {d['eligible_test_baskets']}, "
        f"hidden item unseen in train {d['hidden_unseen_in_train']}, "
        f"hidden item co-bought with a given item in train {d['hidden_cooccurred_with_given']}"
        f"{' [VALIDATION split inside train]' if d.get('split', 'test') != 'test' else ''}",
        f"{'method':<16}" + "".join(f"{h:>11}" for h in heads),
    ]
    for m in report.methods:
        if m.skipped:
            lines.append(f"{m.name:<16}  skipped: {m.skipped}")
            continue
        cells = []
        for c in cols:
            v = m.metrics.get(c, 0.0)
            cells.append(f"{v:.4f}{'*' if v == best[c] and v > 0 else ' '}")
        if m.bundle:
            cells += [
                f"{m.bundle['bundle_hit_rate']:.4f} ",
                f"{m.bundle['bundle_hit_rate_multi']:.4f} ",
            ]
        else:
            cells += ["n/a ", "n/a "]
        cells.append(f"{m.fit_seconds:.3f} ")
        lines.append(f"{m.name:<16}" + "".join(f"{c:>11}" for c in cells))
    return "\n".join(lines)


def write_outputs(report: EvalReport, out_dir: str | Path, stem: str = "eval") -> dict[str, str]:
    """JSON always; the PNG chart only if matplotlib is installed (its absence is reported)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": str(out / f"{stem}.json")}
    Path(paths["json"]).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    try:
        paths["png"] = str(_chart(report, out / f"{stem}.png"))
    except ImportError:
        paths["png"] = "skipped: matplotlib is not installed (pip install 'bundlestream[eval]')"
    return paths


def _chart(report: EvalReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in report.methods if not m.skipped]
    cols = [m for k in report.ks for m in (f"hit_rate@{k}", f"ndcg@{k}")]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(cols) * len(methods) / 3), 4.5))
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        xs = [j + i * width for j in range(len(cols))]
        ax.bar(xs, [m.metrics.get(c, 0.0) for c in cols], width, label=m.name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cols))], cols)
    ax.set_ylabel("score")
    name = report.dataset.get("name") or "dataset"
    ax.set_title(
        f"Basket completion on the {int(report.dataset['holdout'] * 100)}% time holdout: {name}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
