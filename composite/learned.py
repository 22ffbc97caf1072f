"""Learned experiences: a plan outside the configured list, mapped to the store's own categories.

Formula, threshold and calibration are in docs/design.md, Learned experiences.

Without an LLM the planner knows only the configured experiences ("date night", "picnic", ...).
A message such as "a camping weekend" or "set up a home office" is matched here against the
store's categories instead: each category is described by its name and the titles and tags of
its products, embedded with the cold-start embedder, and the message is put in the same space.

    score(c) = CENTROID_WEIGHT * cos(m, centroid(c)) + (1 - CENTROID_WEIGHT) * max cos(m, p), p in c

The centroid says how much the message is about the category as a whole; the best product lets
a word that only a few products carry ("gardening") still point at their category. Categories
at or above the threshold, and within ``RELATIVE_FLOOR`` of the best one, become the plan's
categories (at most ``MAX_LEARNED_CATEGORIES``). Below the threshold the shopper is asked which
of the closest real categories they mean.

The space is built once per catalog version (``build_category_space``; the chat agent caches
it with the catalog's index) and a turn only folds its message in: one sparse row times the
projection, one matrix-vector product over at most ``MAX_FIT_DOCS`` rows.

This package may not import ``bundling`` (sibling layers), so the embedder comes in as a ``Fit``
callable: the agent passes ``bundling.embeddings.fit_reproducibly``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from models.catalog import Product

from .discovery import norm_category, tokenize

# Score a category needs before a plan outside the configured experiences is mapped to it;
# docs/design.md, Learned experiences, says how it was calibrated on the real catalogs.
LEARNED_EXPERIENCE_THRESHOLD = 0.25
CENTROID_WEIGHT = 0.5
RELATIVE_FLOOR = 0.5  # a matched category scores at least this share of the best one
MAX_LEARNED_CATEGORIES = 3  # a built-in experience has 3; the planner asks about each one
CLOSEST_NAMED = 3  # categories named in the clarifying question
PER_CATEGORY = 30  # products per category the space is fitted on (the first by product id)
MAX_FIT_DOCS = 3000  # bound on the fitted corpus: fewer products per category past 100 categories
MAX_LABEL_WORDS = 4
UNNAMED = "uncategorized"  # the ingest's name for products without one: never offered by name

# Chat words that say nothing about what to buy. A catalog may well carry them ("Gift Set",
# "Make-up bag") and a plan would then be mapped on them alone. Dates, budgets and head counts
# are the planner's entities, not things to buy: their words are dropped too.
_FILLER_WORDS = """
    i im ive id want wanna need like love looking look plan planning planned organise organize
    organising organizing set setting up help me my our us we some idea ideas get getting make
    making have having would could should please thinking think going host hosting prepare
    preparing do doing something stuff thing things what how can will just also so very really
    new buy buying find show give got any anything there hi hello hey thanks thank you
    a an the to for of with and or in on at by from is are was were be it its this that these those
    budget spend under around about max people person guests friends family today tonight
    tomorrow next monday tuesday wednesday thursday friday saturday sunday dollars bucks
    actually instead rather maybe perhaps now lets let ok okay well oh no yes
"""
FILLER: frozenset[str] = frozenset(_FILLER_WORDS.split())
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


class FittedSpace(Protocol):
    """What an embedder fitted on the category corpus gives back (``FittedTfidfSvd``)."""

    @property
    def rows(self) -> np.ndarray: ...

    @property
    def vocab(self) -> Mapping[str, int]: ...

    def transform(self, texts: Sequence[str]) -> np.ndarray: ...


Fit = Callable[[Sequence[str]], FittedSpace]


def category_text(p: Product) -> str:
    """A product as its category sees it: category name, title, tags (plurals folded)."""
    return " ".join(tokenize(" ".join([p.category.replace("_", " "), p.title, " ".join(p.tags)])))


def message_words(text: str) -> list[str]:
    """The message's content words: plurals folded, filler and anything with a digit dropped."""
    return [t for t in tokenize(text) if t not in FILLER and not any(ch.isdigit() for ch in t)]


def plan_label(text: str) -> str:
    """What the shopper called the plan: its first content words as written ("home office")."""
    words = [
        w
        for w in _WORD.findall(text.lower())
        if w.replace("'", "") not in FILLER and not any(ch.isdigit() for ch in w) and tokenize(w)
    ]
    return " ".join(words[:MAX_LABEL_WORDS])[:60]


@dataclass(frozen=True)
class LearnedMatch:
    """``categories`` drive discovery when not empty; otherwise ``closest`` are offered."""

    categories: list[str]  # normalised category keys, best first
    closest: list[str]  # normalised keys of the closest categories (or the largest ones)
    label: str  # what the shopper called the plan, e.g. "home office"
    best: float  # the best score (0 when no word of the message is in the catalog)


@dataclass(frozen=True, eq=False)
class CategorySpace:
    """The store's categories in the cold-start embedder's space. Read-only once built."""

    keys: tuple[str, ...]  # normalised category keys
    names: dict[str, str]  # key -> the catalog's own spelling, for questions
    sizes: np.ndarray  # in-stock products per category (orders the fallback question)
    centroids: np.ndarray  # (categories, d), L2 rows
    rows: np.ndarray  # (fitted products, d), grouped by category in ``keys`` order
    starts: np.ndarray  # first row of each category in ``rows``
    fitted: FittedSpace

    def scores(self, text: str) -> tuple[np.ndarray, list[str]]:
        """(score per category, the message words the catalog knows)."""
        words = message_words(text)
        known = [w for w in dict.fromkeys(words) if w in self.fitted.vocab]
        if not known:
            return np.zeros(len(self.keys)), []
        q = self.fitted.transform([" ".join(words)])[0].astype(np.float64)
        best_product = np.maximum.reduceat(self.rows @ q, self.starts)
        return CENTROID_WEIGHT * (self.centroids @ q) + (1 - CENTROID_WEIGHT) * best_product, known

    def match(self, text: str, threshold: float) -> LearnedMatch:
        s, known = self.scores(text)
        # best score first; ties (all zero for an unknown message) to the larger category
        order = sorted(range(len(self.keys)), key=lambda i: (-s[i], -self.sizes[i], self.keys[i]))
        best = float(s[order[0]]) if order else 0.0
        cats: list[str] = []
        if known and best >= threshold:
            floor = max(threshold, RELATIVE_FLOOR * best)
            cats = [self.keys[i] for i in order if s[i] >= floor][:MAX_LEARNED_CATEGORIES]
        named = [self.keys[i] for i in order if self.keys[i] != UNNAMED] or list(self.keys)
        return LearnedMatch(cats, named[:CLOSEST_NAMED], plan_label(text), best)

    def display(self, key: str) -> str:
        return self.names.get(key, key).replace("_", " ")


def build_category_space(products: Sequence[Product], fit: Fit) -> CategorySpace | None:
    """Fit ``fit`` on up to ``PER_CATEGORY`` products of each category (fewer when there are
    many categories, ``MAX_FIT_DOCS`` in all) and keep each category's rows and centroid.
    None for a catalog without products."""
    by_cat: dict[str, list[Product]] = {}
    names: dict[str, str] = {}
    for p in products:
        key = norm_category(p.category)
        if key:
            by_cat.setdefault(key, []).append(p)
            names.setdefault(key, p.category)
    if not by_cat:
        return None
    biggest = sorted(by_cat, key=lambda k: (-len(by_cat[k]), k))[:MAX_FIT_DOCS]
    keys = tuple(sorted(biggest))
    per = max(1, min(PER_CATEGORY, MAX_FIT_DOCS // len(keys)))
    docs: list[str] = []
    starts: list[int] = []
    for key in keys:
        starts.append(len(docs))
        sample = sorted(by_cat[key], key=lambda p: p.product_id)[:per]
        docs.extend(category_text(p) for p in sample)
    fitted = fit(docs)
    rows = np.asarray(fitted.rows, dtype=np.float64)
    start = np.asarray(starts)
    centroids = np.add.reduceat(rows, start, axis=0)
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return CategorySpace(
        keys=keys,
        names={k: names[k] for k in keys},
        sizes=np.asarray([len(by_cat[k]) for k in keys]),
        centroids=centroids / norms,
        rows=rows,
        starts=start,
        fitted=fitted,
    )
