"""``_tfidf_fit`` numbers tokens for the whole corpus at once; it must give exactly the matrix,
vocabulary and idf of the per-text loop it replaced (below), on real catalog texts."""

from __future__ import annotations

import gzip
from collections import Counter
from itertools import islice

import numpy as np
import pytest
import scipy.sparse as sp

from bundling.embeddings import _tfidf_fit, product_text, tokenize
from ingest import parse_catalog


def _per_text(texts: list[str]) -> tuple[sp.csr_matrix, dict[str, int], np.ndarray]:
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[int] = []
    for r, t in enumerate(texts):
        counts = Counter(tokenize(t))
        rows.extend([r] * len(counts))
        cols.extend([vocab.setdefault(tok, len(vocab)) for tok in counts])
        vals.extend(counts.values())
    n = len(texts)
    M = sp.csr_matrix((np.asarray(vals, np.float64), (rows, cols)), shape=(n, max(len(vocab), 1)))
    M.data = 1.0 + np.log(M.data)
    idf = np.log((1 + n) / (1 + np.bincount(M.indices, minlength=M.shape[1]))) + 1.0
    weighted = M @ sp.diags(idf)
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ weighted), vocab, idf


def _online_retail_titles(data_dir, n: int) -> list[str]:
    with gzip.open(data_dir / "online_retail.csv.gz", "rt", encoding="utf-8") as fh:
        return [line.split(",")[2] for line in islice(fh, 1, n + 1)]


@pytest.mark.parametrize("source", ["shopify", "online_retail", "edge"])
def test_tfidf_fit_equals_per_text_loop(data_dir, source):
    if source == "shopify":
        products = parse_catalog(data_dir / "shopify" / "products_export.csv").products
        texts = [product_text(p) for p in products]
    elif source == "online_retail":
        texts = _online_retail_titles(data_dir, 3000)
    else:
        texts = ["", "the and of", "Red red RED mug 2x", "mug", "a b"]
        # non-ASCII letters that lower-case to ASCII (dotted I, Kelvin sign), accents, full-width
        # digits, emoji, control characters and separators at either end
        texts += [
            "\u0130stanbul KELVIN \u212a9",
            "Caf\u00e9 cr\u00e8me na\u00efve",
            "\uff21\uff22\uff11 ab12",
        ]
        texts += ["\U0001f381gift\U0001f381 box", "\ttab\nnew\x00nul\r", "--x--yy--", "99"]
    got, ref = _tfidf_fit(texts), _per_text(texts)
    assert list(got[1].items()) == list(ref[1].items())
    assert np.array_equal(got[2], ref[2])
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(got[0], name), getattr(ref[0], name)), name
    assert got[0].shape == ref[0].shape


def test_tfidf_fit_of_no_texts():
    got, ref = _tfidf_fit([]), _per_text([])
    assert got[0].shape == ref[0].shape == (0, 1) and got[1] == ref[1] == {}


@pytest.mark.parametrize("texts", [[""], ["", ""], ["", "-", "a"]])
def test_tfidf_fit_of_texts_without_tokens(texts):
    got, ref = _tfidf_fit(texts), _per_text(texts)
    assert got[1] == ref[1] == {} and np.array_equal(got[2], ref[2])
    assert got[0].shape == ref[0].shape and got[0].nnz == ref[0].nnz == 0
