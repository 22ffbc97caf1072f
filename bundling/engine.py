"""Bundle generation end to end, as one pure function, plus its metrics record.

``generate_bundle_set`` scores objectives, picks how many fit the time budget from the rolling
cost state, runs (objective, type) combos until the budget is spent, falls back to cold-start
rescue below 10 transactions (or when nothing survives), scores with per-category alpha/beta,
applies the five gates, selects 10 with MMR and fills ``GenerationMetrics``. The order of the
steps and every default are in docs/design.md (Mining to Cold start).

The caller (the uploads agent) folds the returned ``ComboRun`` durations into its rolling-cost
table with ``budget.update_many``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ingest.collector import collector_paused
from models.bundles import (
    BadRow,
    Bundle,
    BundleProduct,
    BundleSet,
    BundleType,
    ComboRun,
    DiversitySelection,
    GenerationMetrics,
    PolicyGateCounts,
    TimeBudget,
)
from models.catalog import Product
from models.orders import OrderEvent

from . import budget as B
from .candidates import Draft, generate_candidates
from .coldstart import TXN_THRESHOLD, cold_start_rescue
from .context import StoreContext, bundle_id
from .diversity import LAMBDA, K, select_diverse
from .embeddings import Embedder, EmbeddingCache
from .feedback import Adjustment, apply_feedback, by_products
from .gates import apply_policy_gates
from .objectives import ContinuousObjectiveScorer
from .orderarrays import OrderArrays
from .pricing import ASSUMED_MARGIN, price_bundle
from .scoring import score_draft
from .types import build_combos


def category_transaction_counts(
    catalog: Sequence[Product], orders: Sequence[OrderEvent], arrays: OrderArrays | None = None
) -> dict[str, int]:
    """Orders containing at least one product of each category (the live tally's batch twin).

    A product's category is its catalog category, else the category on its last order line,
    else "uncategorized"; counted with one sparse orders x categories matrix."""
    arrays = arrays if arrays is not None else OrderArrays.from_orders(orders)
    if not arrays.n_orders:
        return {}
    cat = {p.product_id: p.category for p in catalog}
    _, line_cats = (
        arrays.last_text()
        if any(pid not in cat for pid in arrays.product_ids.tolist())
        else (None, None)
    )
    pc = [
        cat.get(pid) or (line_cats[j] if line_cats else None) or "uncategorized"
        for j, pid in enumerate(arrays.product_ids.tolist())
    ]
    M, names = arrays.category_matrix(pc)
    counts = np.diff(M.tocsc().indptr)
    return {c: int(n) for c, n in zip(names, counts.tolist()) if n}


def catalog_from_orders(
    orders: Sequence[OrderEvent], arrays: OrderArrays | None = None
) -> list[Product]:
    """When an upload has order history but no catalog (e.g. UCI Online Retail): one product per
    order-line product id, with its latest title/category and its median unit price; cost and
    inventory unknown (treated as in stock, assumed margin)."""
    arrays = arrays if arrays is not None else OrderArrays.from_orders(orders)
    if not arrays.n_products:
        return []
    med = arrays.median_price()
    titles, cats = arrays.last_text()
    return [
        Product(
            product_id=pid,
            title=(titles[j] or "")[:500],
            category=(cats[j] or "uncategorized")[:200],
            price=float(med[j]),
        )
        for j, pid in enumerate(arrays.product_ids.tolist())
        if med[j] > 0
    ]


def normalise_by_type(drafts: list[Draft]) -> None:
    """Divide each draft's hybrid score by the best score of its bundle type.

    Why: the hybrid score is not comparable across types by construction (a one-product VOLUME
    offer has semantic coherence 1 and always outranked three-category MIX_MATCH sets, so the
    ten slots went to one type). After this each type's best candidate scores 1 and MMR
    (docs/design.md, Diversity) chooses between types on relative strength and overlap. The
    un-normalised components stay in ``score_components``."""
    best: dict[BundleType, float] = {}
    for d in drafts:
        best[d.bundle_type] = max(best.get(d.bundle_type, 0.0), d.score)
    for d in drafts:
        top = best[d.bundle_type]
        if top > 0:
            d.score = round(d.score / top, 6)


def _to_bundle(ctx: StoreContext, d: Draft) -> Bundle:
    return Bundle(
        bundle_id=bundle_id(d.bundle_type.value, d.objective.value, d.product_ids),
        bundle_type=d.bundle_type,
        objective=d.objective,
        products=[
            BundleProduct(
                product_id=pid,
                title=ctx.products[pid].title,
                category=ctx.products[pid].category,
                unit_price=float(ctx.products[pid].price),
                quantity=q,
                role=role,
                image_url=ctx.products[pid].image_url,
            )
            for pid, q, role in d.lines
        ],
        pricing=d.pricing,
        score=d.score,
        score_components=d.components,
        generation_method=d.generation_method,
        cold_start=d.cold_start,
        support=None if d.support is None else min(1.0, d.support),
        confidence=None if d.confidence is None else min(1.0, d.confidence),
        lift=d.lift,
        rationale=d.rationale,
    )


@collector_paused()  # the drafts, views and matrices of one run hold no reference cycles
def generate_bundle_set(
    upload_id: str,
    store_id: str,
    catalog: Sequence[Product],
    orders: Sequence[OrderEvent],
    *,
    category_transactions: Mapping[str, int] | None = None,
    rolling_costs: B.RollingCosts | None = None,
    clock: Callable[[], float] = time.perf_counter,
    budget_ms: float = B.TARGET_BUDGET_MS,
    bad_rows: Sequence[BadRow] = (),
    bad_row_count: int | None = None,
    parse_ms: float = 0.0,
    embedder: Embedder | None = None,
    embedding_cache: EmbeddingCache | None = None,
    assumed_margin: float = ASSUMED_MARGIN,
    currency: str | None = None,
    order_lines: object | None = None,
    feedback: Sequence[Adjustment] = (),
) -> tuple[BundleSet, list[ComboRun]]:
    """Upload -> bundle set. Pure: no I/O; ``clock`` is injectable for deterministic tests.

    ``order_lines`` (e.g. ``ingest.columnar.OrderLines``) may replace ``orders``: the engine then
    reads the history as columns and never builds per-order objects. ``feedback`` (live
    performance of the store's last set, ``bundling.feedback``) multiplies the score of the same
    product sets after the per-type normalisation."""
    t0 = clock()
    adjust = by_products(feedback)

    def elapsed() -> float:
        return (clock() - t0) * 1000.0

    arrays = (
        OrderArrays.from_columnar(order_lines)
        if order_lines is not None
        else OrderArrays.from_orders(orders)
    )
    n_tx = arrays.n_orders
    catalog = list(catalog) or catalog_from_orders(orders, arrays)
    metrics = GenerationMetrics(
        csv_upload_id=upload_id,
        store_id=store_id,
        transactions=n_tx,
        catalog_size=len(catalog),
        parse_ms=parse_ms,
        bad_rows=list(bad_rows)[:1000],
        bad_row_count=len(bad_rows) if bad_row_count is None else bad_row_count,
    )
    if not catalog:
        metrics.time_budget = TimeBudget(
            target_ms=budget_ms,
            rolling_cost_per_combo_ms=B.cost_per_combo(rolling_costs),
            max_objectives=0,
            actual_duration_ms=elapsed(),
        )
        return BundleSet(
            upload_id=upload_id,
            store_id=store_id,
            status="error",
            error="unusable upload: no products in the catalog and no priced order lines",
            metrics=metrics,
        ), []

    cur = currency or catalog[0].currency
    ctx = StoreContext(
        catalog,
        orders,
        embedder=embedder,
        embedding_cache=embedding_cache,
        assumed_margin=assumed_margin,
        arrays=arrays,
    )
    cat_tx = (
        dict(category_transactions)
        if category_transactions is not None
        else category_transaction_counts(catalog, orders, arrays)
    )

    # objectives by priority, as many as the time budget allows
    scorer = ContinuousObjectiveScorer()
    scores = scorer.score(ctx.metrics)
    cost = B.cost_per_combo(rolling_costs)
    max_obj = B.max_objectives(cost, budget_ms)
    selected = scorer.select_objectives_with_budget(scores, max_obj)
    metrics.objective_selection = {o.value: s for o, s in scores.items()}
    metrics.selected_objectives = selected

    runs: list[ComboRun] = []
    drafts: list[Draft] = []
    early = False
    raw = 0
    valid: list[Draft] = []
    gates = PolicyGateCounts()
    cold = n_tx < TXN_THRESHOLD
    if not cold:
        # (objective, type) combos; no new combo starts once the budget is spent
        t_loop = clock()
        for obj, btype in build_combos(selected):
            if B.over_budget((clock() - t_loop) * 1000.0, budget_ms):
                early = True
                break
            c0 = clock()
            cands = generate_candidates(ctx, obj, btype)
            for d in cands:
                d.pricing = price_bundle(
                    d.lines,
                    ctx.products,
                    d.bundle_type,
                    d.objective,
                    assumed_margin=assumed_margin,
                    currency=cur,
                )
                score_draft(ctx, d, cat_tx)
            drafts.extend(cands)
            runs.append(
                ComboRun(
                    objective=obj,
                    type=btype,
                    candidates=len(cands),
                    duration_ms=(clock() - c0) * 1000.0,
                )
            )
        raw = len(drafts)
        normalise_by_type(drafts)
        apply_feedback(drafts, adjust)
        # the same product set may come from two objectives: keep the better-scored one
        best: dict[tuple[BundleType, tuple[str, ...]], Draft] = {}
        for d in drafts:
            if d.key not in best or d.score > best[d.key].score:
                best[d.key] = d
        valid, gates = apply_policy_gates(ctx, list(best.values()))
        gates = gates.model_copy(update={"total_candidates": raw})
    if cold or not valid:
        ctx.use_dense_embeddings()
        # cold-start rescue (also the rescue when the data path yields nothing valid)
        cs, _cs_raw = cold_start_rescue(ctx, cat_tx)
        apply_feedback(cs, adjust)
        valid_cs, gates_cs = apply_policy_gates(ctx, cs)
        if cold or valid_cs:
            cold = True
            valid = valid_cs
            gates = (
                gates_cs
                if not raw
                else gates_cs.model_copy(
                    update={"total_candidates": raw + gates_cs.total_candidates}
                )
            )
    final = select_diverse(
        valid, lambda d: d.score, lambda d: d.product_ids, k=K, lambda_param=LAMBDA
    )
    bundles = [_to_bundle(ctx, d) for d in final]

    metrics.cold_start = cold
    metrics.combos_evaluated = runs
    metrics.policy_gates = gates
    metrics.diversity_selection = DiversitySelection(
        candidates_after_gates=len(valid), mmr_lambda=LAMBDA, final_bundle_count=len(bundles)
    )
    metrics.time_budget = TimeBudget(
        target_ms=budget_ms,
        rolling_cost_per_combo_ms=round(cost, 3),
        max_objectives=max_obj,
        actual_duration_ms=round(elapsed(), 3),
        early_stopped=early,
    )
    return BundleSet(upload_id=upload_id, store_id=store_id, bundles=bundles, metrics=metrics), runs
