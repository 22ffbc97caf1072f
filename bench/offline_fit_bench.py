"""Offline fit + recommend: the engine's basket model against implicit's item-item recommenders.

Both sides run the protocol of ``bundlestream eval`` on the same split: the order history
through ``ingest``, sorted by time, the newest 20% held out, one item hidden per held-out basket
with 2+ items. Each timed run starts from the training baskets and ends with the ranked item ids
of every test case:

* engine: ``bundling.recommend.BasketRecommender`` (the model ``bundlestream eval`` scores as
  "engine"; its bundle set is not part of it), fit then ``recommend_batch``; a second row fixes
  alpha at the value the engine's per-store search picks on this split, so it is the same model
  (the lists are checked equal) minus that search's validation fits;
* implicit: ``implicit.nearest_neighbours`` Cosine / BM25 / TFIDF recommenders (K=20
  neighbours, the library's default, all cores), fit on the binary baskets x items matrix, then
  ``recommend`` of every case's given items with ``filter_already_liked_items``. implicit has no
  popularity fill: a basket whose items have fewer than 10 neighbours gets a shorter list.

Runs are interleaved (engine, fixed alpha, the ``--baseline`` checkout's engine when given,
then each implicit model, each round starting one method further on) in one process so they
share the machine's conditions. Printed per method: median, "fit s" (the part of a run
before the first recommendation), "cpu s" (the process's CPU time over the run, all threads,
kernel included), min, max, the median's ratio to the first implicit model's (cosine by
default), HitRate@10 and NDCG@10. The engine's lists must be the same in every run (and the
same as the baseline's).

    .venv/bin/python bench/offline_fit_bench.py [--orders FILE] [--repeats 5] [--models cosine bm25 tfidf]
        [--baseline OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np

from bundling.measures import hit_ranks, hit_rate_at_k, ndcg_at_k
from bundling.mining import BasketMatrix
from bundling.recommend import BasketRecommender
from evaluation.loaders import load_orders
from evaluation.split import Basket, baskets_from_orders, completion_cases, time_split
from tests.shared_data import shared_data

K = 10


Run = Callable[[Sequence[Basket], Sequence[Sequence[str]]], tuple[list[list[str]], float]]


def engine_run(alpha: float | None = None, recommender: type = BasketRecommender) -> Run:
    """The engine's basket model, exactly as ``bundlestream eval`` runs it; with ``alpha`` given,
    the same model without the per-store alpha search (its validation fits). ``recommender``:
    another checkout's ``BasketRecommender`` (``baseline_recommender``)."""
    params = {} if alpha is None else {"alpha": alpha}

    def run(train: Sequence[Basket], given: Sequence[Sequence[str]]) -> tuple[list, float]:
        started = time.perf_counter()
        model = recommender(**params).fit(train)
        fit_s = time.perf_counter() - started
        return model.recommend_batch(given, K), fit_s

    return run


def baseline_recommender(tree: Path) -> type:
    """``BasketRecommender`` of another checkout's ``bundling/recommend.py`` (and the sibling
    modules it imports), loaded beside this tree's under another package name, so that the
    same process times both on the same machine conditions."""
    package = types.ModuleType("baseline_bundling")
    package.__path__ = [str(tree / "bundling")]  # its __init__ (the whole engine) is not run
    sys.modules["baseline_bundling"] = package
    module = importlib.import_module("baseline_bundling.recommend")
    return module.BasketRecommender


def implicit_run(model_name: str) -> Run:
    """One implicit item-item model on the same baskets: fit, then the top K of every case."""
    from implicit import nearest_neighbours

    model_class = {
        "cosine": nearest_neighbours.CosineRecommender,
        "bm25": nearest_neighbours.BM25Recommender,
        "tfidf": nearest_neighbours.TFIDFRecommender,
    }[model_name]

    def run(train: Sequence[Basket], given: Sequence[Sequence[str]]) -> tuple[list, float]:
        started = time.perf_counter()
        baskets = BasketMatrix.from_baskets([b.items for b in train], sorted_items=True)
        model = model_class(K=20)
        model.fit(baskets.X.astype(np.float32), show_progress=False)
        fit_s = time.perf_counter() - started
        queries = baskets.encode(given).astype(np.float32)
        ids, _scores = model.recommend(
            np.arange(queries.shape[0]), queries, N=K, filter_already_liked_items=True
        )
        items = baskets.items
        return [[str(items[j]) for j in row if j >= 0] for row in ids], fit_s

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", default=None, help="order history (default: Online Retail)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--models", nargs="+", default=["cosine", "bm25", "tfidf"], help="implicit models"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (e.g. a git worktree of an older commit): its engine is timed "
        "in the same rounds and must give the same lists",
    )
    args = parser.parse_args()
    # implicit converts the transposed matrix to CSR itself and says so on every fit
    warnings.filterwarnings("ignore", message="Method expects CSR input")

    path = Path(args.orders) if args.orders else shared_data("online_retail.csv.gz")
    started = time.perf_counter()
    loaded = load_orders(path)
    split = time_split(baskets_from_orders(loaded.orders))
    cases = completion_cases(split.test)
    print(
        f"{path.name}: {len(split.train):,} training baskets, {len(cases):,} test cases "
        f"(loaded and split in {time.perf_counter() - started:.1f} s); K={K}, "
        f"{args.repeats} interleaved runs"
    )

    # the alpha the engine's search picks on this split: the fixed-alpha row is the same model
    chosen = BasketRecommender().fit(split.train).model
    assert chosen is not None
    runners: dict[str, Run] = {
        "engine": engine_run(),
        f"engine, alpha {chosen.params['alpha']}": engine_run(chosen.params["alpha"]),
    }
    if args.baseline:
        runners["engine, baseline"] = engine_run(recommender=baseline_recommender(args.baseline))
    runners |= {f"implicit {m}": implicit_run(m) for m in args.models}
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    fit_seconds: dict[str, list[float]] = {name: [] for name in runners}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in runners}
    lists: dict[str, list[list[str]]] = {}
    names = list(runners)
    for repeat in range(args.repeats):
        # each round starts one method further on: a run's time depends on what ran just
        # before it (memory it freed, threads still winding down), so no method always
        # follows the same one
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            started, cpu_started = time.perf_counter(), time.process_time()
            recs, fit_s = runners[name](split.train, cases.given)
            seconds[name].append(time.perf_counter() - started)
            cpu_seconds[name].append(time.process_time() - cpu_started)
            fit_seconds[name].append(fit_s)
            if name in lists and recs != lists[name]:
                raise SystemExit(f"{name}: the ranked lists changed between runs")
            lists[name] = recs
    if list(lists.values())[1] != lists["engine"]:
        raise SystemExit("the engine with its chosen alpha fixed ranks differently")
    if args.baseline and lists["engine, baseline"] != lists["engine"]:
        raise SystemExit("the baseline engine ranks differently")

    reference = f"implicit {args.models[0]}"
    reference_s = statistics.median(seconds[reference])
    print(
        f"{'method':<20}{'median s':>10}{'fit s':>8}{'cpu s':>8}{'min s':>8}{'max s':>8}"
        f"{'/ ' + reference:>20}{'HR@10':>9}{'NDCG@10':>9}{'short lists':>13}"
    )
    for name, runs in seconds.items():
        ranks = hit_ranks(lists[name], cases.hidden)
        median = statistics.median(runs)
        short = sum(len(r) < K for r in lists[name])
        print(
            f"{name:<20}{median:>10.3f}{statistics.median(fit_seconds[name]):>8.3f}"
            f"{statistics.median(cpu_seconds[name]):>8.3f}"
            f"{min(runs):>8.3f}{max(runs):>8.3f}{median / reference_s:>19.2f}x"
            f"{hit_rate_at_k(ranks, K):>9.4f}{ndcg_at_k(ranks, K):>9.4f}{short:>13}"
        )
    ratio = statistics.median(seconds["engine"]) / reference_s
    print(f"engine / {reference}: {ratio:.2f}x (target: at most 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
