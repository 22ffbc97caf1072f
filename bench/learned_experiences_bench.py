"""Learned experiences on real catalogs: scores of labelled messages, build and turn times.

Builds each store of ``tests/data/learned_experiences.json`` from ../shared/data (the Shopify
samples one by one, all of them as one store, and Olist), builds its category space with the
cold-start embedder exactly as the chat agent does, and prints for every labelled message the
best category score, the categories matched at the threshold and whether that is right. Then
the lowest score of a plan the store serves, the highest of one it does not, and the highest
score of a category sharing no word with the message (what the SVD's smoothing alone gives).

    .venv/bin/python bench/learned_experiences_bench.py [--threshold 0.2] [--no-olist]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bundling.embeddings import fit_reproducibly
from composite.discovery import build_index, norm_category
from composite.learned import (
    LEARNED_EXPERIENCE_THRESHOLD,
    build_category_space,
    category_text,
    message_words,
)
from ingest import build_olist_catalog, parse_catalog
from models.catalog import Product
from tests.shared_data import shared_data

SHOPIFY = ["home-and-garden", "products_export", "jewelery", "apparel", "product_template"]


def load_store(name: str) -> list[Product]:
    if name == "olist":
        d = shared_data("olist")
        return build_olist_catalog(
            d / "olist_products_dataset.csv.gz",
            d / "olist_order_items_dataset.csv.gz",
            None,
            d / "product_category_name_translation.csv.gz",
        ).products
    if name == "shopify-all":
        return [p for n in SHOPIFY for p in load_store(n)]
    return parse_catalog(shared_data("shopify", f"{name}.csv")).products


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=LEARNED_EXPERIENCE_THRESHOLD)
    ap.add_argument("--no-olist", action="store_true")
    args = ap.parse_args()
    cases = json.loads((REPO / "tests/data/learned_experiences.json").read_text())["cases"]
    if args.no_olist:
        cases = [c for c in cases if c["store"] != "olist"]
    pos: list[float] = []  # best score of each plan the store serves
    neg: list[float] = []  # best score of each plan the store does not serve
    hard: list[float] = []  # best score of each hard negative
    unrelated: list[float] = []  # score of a category sharing no word with the message
    wrong = 0
    for store in dict.fromkeys(c["store"] for c in cases):
        products = load_store(store)
        t0 = time.perf_counter()
        index = build_index(products)
        t1 = time.perf_counter()
        space = build_category_space(index.rows, fit_reproducibly)
        t2 = time.perf_counter()
        assert space is not None
        words: dict[str, set[str]] = {}
        for p in index.rows:
            words.setdefault(norm_category(p.category), set()).update(category_text(p).split())
        print(
            f"== {store}: {len(index.rows)} in-stock products, {len(space.keys)} categories, "
            f"space fitted on {len(space.rows)} products; index {1000 * (t1 - t0):.0f} ms, "
            f"space {1000 * (t2 - t1):.0f} ms"
        )
        for c in (c for c in cases if c["store"] == store):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                m = space.match(c["message"], args.threshold)
                times.append(1000 * (time.perf_counter() - t))
            expect = c["expect"]
            scores, _ = space.scores(c["message"])
            said = set(message_words(c["message"]))
            unrelated.extend(s for k, s in zip(space.keys, scores.tolist()) if not said & words[k])
            if c.get("hard"):
                hard.append(m.best)
                ok = not m.categories
            else:
                if expect is None:
                    neg.append(m.best)
                    ok = not m.categories
                else:
                    pos.append(m.best)
                    ok = bool(m.categories) and set(m.categories) <= set(expect)
                wrong += not ok
            got = ",".join(m.categories) or "ask: " + ",".join(m.closest)
            tag = " (hard)" if c.get("hard") else ""
            print(
                f"  {'ok ' if ok else 'BAD'} {m.best:5.2f} {statistics.median(times):5.2f} ms"
                f"  {c['message']!r:48} -> {got}{tag}"
            )
    top = max(unrelated)
    print(f"\nplans the store serves: {len(pos)}, lowest best score {min(pos):.2f}")
    print(f"plans it does not serve: {len(neg)}, highest best score {max(neg):.2f}")
    print(f"categories sharing no word with the message: {len(unrelated)}, highest score {top:.2f}")
    print(
        f"threshold {args.threshold}: {wrong} wrong of {len(pos) + len(neg)} (hard negatives apart)"
    )
    caught = sum(s >= args.threshold for s in hard)
    print(
        f"hard negatives: {len(hard)}, matched anyway: {caught} ({', '.join(f'{s:.2f}' for s in hard)})"
    )


if __name__ == "__main__":
    main()
