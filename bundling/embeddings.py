"""Catalog text embeddings: TF-IDF + truncated SVD by default (no download), pluggable.

* ``TfidfSvdEmbedder`` (default): hand-rolled TF-IDF over title/category/tags/description
  (scipy.sparse), truncated SVD (``truncated_svd``: ARPACK, or with ``exact_up_to`` a dense
  Gram eigensolve that gives the same factors in every process; ``fit_reproducibly`` is the
  learned-experience space's fit), rows L2-normalised. It is fitted on the texts it is given, so its vectors depend on the
  corpus; the cache namespace therefore includes a fingerprint of the whole corpus.
* Any other ``Embedder`` (a protocol: ``name``, ``corpus_dependent``, ``embed``) can be passed
  in instead.

Caching is by ``content_hash(product)``: ``EmbeddingCache`` is a ``get_many/put_many`` protocol
(the agent layer plugs Redis in); ``InMemoryCache`` is the default.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from models.catalog import Product

_TOKEN = re.compile(r"[a-z0-9]+")
_TAG = re.compile(r"<[^>]+>")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "with",
        "our",
        "your",
        "you",
        "we",
        "default",
        "title",
        "p",
        "span",
        "br",
        "div",
    ]
)


def product_text(p: Product) -> str:
    """The text that is embedded: title twice (it matters most), category, tags, description."""
    d = p.description
    desc = _TAG.sub(" ", html.unescape(d))[:2000] if d else ""
    title = p.title
    return " ".join([title, title, p.category.replace("_", " "), " ".join(p.tags), desc])


def content_hash(p: Product) -> str:
    """sha256 of the embedded text: unchanged products hit the cache across uploads."""
    return text_hash(product_text(p))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_TOKEN2 = re.compile(r"[a-z0-9]{2,}")


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric runs of 2+ characters, stop words dropped. (A run of 2+ is a
    ``_TOKEN`` match of length > 1: the regex does the length filter in C.)"""
    stop = _STOP
    return [t for t in _TOKEN2.findall(text.lower()) if t not in stop]


@runtime_checkable
class Embedder(Protocol):
    name: str
    corpus_dependent: bool

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), d) float32, rows L2-normalised."""
        ...


@runtime_checkable
class EmbeddingCache(Protocol):
    def get_many(self, keys: Sequence[str]) -> Mapping[str, np.ndarray]: ...

    def put_many(self, items: Mapping[str, np.ndarray]) -> None: ...


class InMemoryCache:
    def __init__(self) -> None:
        self._d: dict[str, np.ndarray] = {}

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        return {k: self._d[k] for k in keys if k in self._d}

    def put_many(self, items: Mapping[str, np.ndarray]) -> None:
        self._d.update(items)

    def __len__(self) -> int:
        return len(self._d)


def l2_normalise(M: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(M, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return np.asarray(M / n)


def _token_codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(text of each token, code of each token, token -> code) for every ``_TOKEN2`` match of
    every lower-cased text, in reading order, codes numbered in first-seen order.

    A match of ``[a-z0-9]{2,}`` is a maximal run of those characters of length 2 or more. Every
    other byte of the lower-cased texts' UTF-8 becomes a space (a non-ASCII character is bytes
    >= 0x80 only, none of them ``[a-z0-9]``, so the runs stay as they were and every text keeps
    its length), Arrow splits at single spaces (a literal split: several times cheaper than a
    regex one), keeps the pieces of 2+ characters and numbers them with its hash table, which
    gives codes in first-seen order too: a few calls over the catalog instead of a regex scan
    and a dict call per token in Python. The lower-casing stays Python's own (it maps a few
    non-ASCII letters to ASCII ones)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lowered = pa.array([t.lower() for t in texts], pa.string())
    offsets, data = lowered.buffers()[1], lowered.buffers()[2]
    if data is None or not len(data):  # no text has a character
        return np.zeros(0, np.int64), np.zeros(0, np.int64), {}
    raw = np.frombuffer(data, np.uint8)
    spaced = np.where(_TOKEN_BYTE[raw], raw, np.uint8(32))
    pieces = pc.split_pattern(
        pa.StringArray.from_buffers(len(lowered), offsets, pa.py_buffer(spaced)), " "
    )
    flat = pc.list_flatten(pieces)
    row_of = pc.list_parent_indices(pieces)
    long_enough = pc.greater_equal(pc.binary_length(flat), 2)
    encoded = pc.dictionary_encode(flat.filter(long_enough))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    tokens = encoded.dictionary.to_pylist()
    return (
        row_of.filter(long_enough).to_numpy(zero_copy_only=False).astype(np.int64),
        codes,
        dict(zip(tokens, range(len(tokens)))),
    )


# The bytes a ``_TOKEN2`` run is made of: ASCII lower-case letters and digits.
_TOKEN_BYTE = np.zeros(256, bool)
_TOKEN_BYTE[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", np.uint8)] = True


def tfidf_matrix(texts: Sequence[str]) -> sp.csr_matrix:
    """Smooth idf = ln((1 + n) / (1 + df)) + 1, sublinear tf, L2 rows (sklearn's defaults)."""
    return _tfidf_fit(texts)[0]


def _tfidf_fit(texts: Sequence[str]) -> tuple[sp.csr_matrix, dict[str, int], np.ndarray]:
    """``tfidf_matrix`` with the vocabulary (token -> column) and the idf it was built with."""
    # every token of every text, numbered in first-seen order (stop words too, dropped after)
    row_of, codes, index = _token_codes(texts)
    # columns: the non-stop tokens in first-seen order, as the per-text loop numbered them
    column = np.full(len(index), -1, dtype=np.int64)
    kept = [tok for tok in index if tok not in _STOP]
    vocab = dict(zip(kept, range(len(kept))))
    column[[index[tok] for tok in kept]] = np.arange(len(kept))
    cols_all = column[codes]
    keep = cols_all >= 0
    pairs, vals = np.unique(row_of[keep] * max(len(kept), 1) + cols_all[keep], return_counts=True)
    rows, cols = np.divmod(pairs, max(len(kept), 1))
    n = len(texts)
    M = sp.csr_matrix((vals.astype(np.float64), (rows, cols)), shape=(n, max(len(vocab), 1)))
    M.data = 1.0 + np.log(M.data)
    df = np.bincount(M.indices, minlength=M.shape[1])
    idf = np.log((1 + n) / (1 + df)) + 1.0
    weighted = M @ sp.diags(idf)
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ weighted), vocab, idf


class FittedTfidfSvd:
    """A ``TfidfSvdEmbedder`` fitted on a corpus: its rows, and the same map for new texts.

    ``rows`` are exactly what ``TfidfSvdEmbedder.embed`` returns for the corpus. ``transform``
    folds other texts into that space: their TF-IDF row with the corpus' vocabulary and idf
    (tokens the corpus lacks are ignored), projected on the SVD's right singular vectors and
    L2-normalised, which maps a corpus text onto its own row (``U S = M V``). A text without a
    known token gets the zero vector.
    """

    def __init__(
        self,
        rows: np.ndarray,
        vocab: dict[str, int],
        idf: np.ndarray,
        components: np.ndarray | None,
    ) -> None:
        self.rows, self.vocab, self.idf, self.components = rows, vocab, idf, components

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        Q = np.zeros((len(texts), len(self.idf)))
        for r, t in enumerate(texts):
            for tok, c in Counter(x for x in tokenize(t) if x in self.vocab).items():
                j = self.vocab[tok]
                Q[r, j] = (1.0 + np.log(c)) * self.idf[j]
        Q = l2_normalise(Q)
        if self.components is not None:
            Q = l2_normalise(Q @ self.components.T)
        return Q.astype(np.float32)


class TfidfSvdEmbedder:
    """TF-IDF + truncated SVD (LSA); ``dim`` components, fewer when the corpus is tiny."""

    corpus_dependent = True

    def __init__(self, dim: int = 64, exact_up_to: int = 0) -> None:
        self.dim = dim
        self.exact_up_to = exact_up_to  # see ``truncated_svd``
        self.name = f"tfidf-svd-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.fit(texts).rows

    def fit(self, texts: Sequence[str]) -> FittedTfidfSvd:
        """The embedding of ``texts`` and the map that puts other texts in the same space."""
        if not texts:
            return FittedTfidfSvd(np.zeros((0, 1), np.float32), {}, np.zeros(1), None)
        M, vocab, idf = _tfidf_fit(texts)
        k = min(self.dim, min(M.shape) - 1)
        if k < 2 or M.nnz == 0:
            return FittedTfidfSvd(l2_normalise(M.toarray()).astype(np.float32), vocab, idf, None)
        U, S, Vt = truncated_svd(M, k, self.exact_up_to)
        return FittedTfidfSvd(l2_normalise(U * S).astype(np.float32), vocab, idf, Vt)


# Bound on the smaller side of a corpus fitted by ``fit_reproducibly``: the learned-experience
# space fits at most this many texts. The exact route costs about 3 CPU s at 2,000 and 10 at
# 3,000, against under 1 for ARPACK, so catalogs embedded at upload keep ARPACK.
REPRODUCIBLE_MAX_SIDE = 3000


def fit_reproducibly(texts: Sequence[str]) -> FittedTfidfSvd:
    """The default embedder fitted with the exact SVD: the same space in every worker process,
    which a similarity threshold calibrated once needs (the learned experiences)."""
    return TfidfSvdEmbedder(exact_up_to=REPRODUCIBLE_MAX_SIDE).fit(texts)


def truncated_svd(
    M: sp.csr_matrix, k: int, exact_up_to: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``k`` singular triplets of ``M``; the same in every process when the smaller
    side of ``M`` is at most ``exact_up_to``.

    ARPACK's Lanczos iteration is sensitive to rounding, and from one process to the next it
    settled on different factors of the same TF-IDF matrix (one learned similarity moved
    between 0.12 and 0.35 across runs). The exact route is a dense symmetric eigensolve of the
    small Gram matrix: the top-k eigenpairs of ``M Mᵀ`` (or ``Mᵀ M``) are ``U, S²`` (or
    ``V, S²``), and the other side follows by one product. Squaring costs precision only in
    the smallest singular values, which the truncation throws away.
    """
    n_rows, n_cols = M.shape
    small = min(n_rows, n_cols)
    if small > exact_up_to:
        v0 = np.full(small, 1.0 / np.sqrt(small))
        return svds(M, k=k, v0=v0, random_state=0)
    by_rows = n_rows <= n_cols
    gram = (M @ M.T if by_rows else M.T @ M).toarray()
    # numpy's eigh releases the GIL for the whole solve (scipy's LAPACK wrappers keep it, ~1 s at
    # 2,000), and the chat worker runs this in a thread beside its event loop and heartbeats
    eigenvalues, vectors = np.linalg.eigh(gram)
    eigenvalues, vectors = eigenvalues[small - k :], vectors[:, small - k :]
    S = np.sqrt(np.clip(eigenvalues, 0.0, None))
    inverse = np.divide(1.0, S, out=np.zeros_like(S), where=1e-12 * max(S.max(), 1e-300) < S)
    if by_rows:
        U = vectors
        Vt = (M.T @ U).T * inverse[:, None]
    else:
        Vt = vectors.T
        U = (M @ vectors) * inverse
    return U, S, Vt


def embed_catalog(
    catalog: Sequence[Product],
    embedder: Embedder | None = None,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """Embeddings aligned with ``catalog``; cached by (embedder namespace, content hash)."""
    embedder = embedder or TfidfSvdEmbedder()
    texts = [product_text(p) for p in catalog]
    hashes = [text_hash(t) for t in texts]
    ns = embedder.name
    if embedder.corpus_dependent:
        ns += ":" + hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()[:16]
    keys = [f"emb:{ns}:{h}" for h in hashes]
    if cache is not None:
        hit = cache.get_many(keys)
        if len(hit) == len(set(keys)) and keys:  # same text, same key
            return np.stack([hit[k] for k in keys])
    E = embedder.embed(texts)
    if cache is not None and len(keys):
        cache.put_many({k: E[i] for i, k in enumerate(keys)})
    return E


def _as_float32_words(row: np.ndarray) -> np.ndarray:
    """A float64 vector's bytes read as twice as many float32s: a cache that stores float32
    bytes (the Redis one) then keeps every bit of the float64 values."""
    return np.ascontiguousarray(row, dtype=np.float64).view(np.float32)


def _from_float32_words(words: np.ndarray) -> np.ndarray:
    """The float64 vector ``_as_float32_words`` encoded, bit for bit."""
    return np.ascontiguousarray(words, dtype=np.float32).view(np.float64)


def cached_tfidf(catalog: Sequence[Product], cache: EmbeddingCache | None = None) -> sp.csr_matrix:
    """``tfidf_matrix`` of the catalog's texts, rows cached by content hash.

    TF-IDF rows depend on the whole corpus (idf, and the column of each term is its first-seen
    position in the catalog order), so the namespace is a fingerprint of the ordered content
    hashes: the same catalog in the same order (a store re-uploading, the steady state) hits, and
    a hit rebuilds exactly the matrix a fresh computation gives. Each cached value is one float64
    vector ``[n_columns, nnz, column indices..., values...]`` (the row as stored, index order
    kept), handed to the cache as float32 pairs (``_as_float32_words``): caches that store
    float32 bytes (the agent's Redis cache) then keep every bit. A partial hit
    recomputes everything (rows of different corpora do not mix)."""
    texts = [product_text(p) for p in catalog]
    if cache is None or not texts:
        return tfidf_matrix(texts)
    hashes = [text_hash(t) for t in texts]
    ns = "tfidf:" + hashlib.sha256("|".join(hashes).encode()).hexdigest()[:16]
    keys = [f"emb:{ns}:{h}" for h in hashes]
    hit = cache.get_many(keys)
    if len(hit) == len(set(keys)):  # products with the same text share a key (and a row)
        vecs = [_from_float32_words(hit[k]) for k in keys]
        nnz = np.fromiter((int(v[1]) for v in vecs), np.int64, len(vecs))
        indptr = np.concatenate(([0], np.cumsum(nnz)))
        flat = np.concatenate([v[2:] for v in vecs]) if vecs else np.zeros(0)
        # per vector: indices then values; split the flat buffer back with one boolean mask
        is_idx = np.repeat(np.tile([True, False], len(vecs)), np.repeat(nnz, 2))
        return sp.csr_matrix(
            (flat[~is_idx], flat[is_idx].astype(np.int32), indptr),
            shape=(len(vecs), int(vecs[0][0])),
        )
    M = tfidf_matrix(texts)
    ncol = float(M.shape[1])
    ind, dat, ptr = M.indices, M.data, M.indptr
    cache.put_many(
        {
            k: _as_float32_words(
                np.concatenate(
                    (
                        [ncol, ptr[r + 1] - ptr[r]],
                        ind[ptr[r] : ptr[r + 1]],
                        dat[ptr[r] : ptr[r + 1]],
                    )
                )
            )
            for r, k in enumerate(keys)
        }
    )
    return M


def coherence(E: np.ndarray | sp.csr_matrix | sp.csr_array, idx: Iterable[int]) -> float:
    """Mean pairwise cosine of the rows ``idx`` clipped to [0, 1]; 1.0 for a single product."""
    ii = list(idx)
    if len(ii) < 2:
        return 1.0
    if isinstance(E, sp.csr_matrix | sp.csr_array):
        # a bundle has 2-3 products: pairwise sparse dots on the rows' own slices are ~10x
        # cheaper than fancy-indexing E and a sparse Gram product
        n = len(ii)
        ind, dat, ptr = E.indices, E.data, E.indptr
        rows = [(ind[ptr[i] : ptr[i + 1]], dat[ptr[i] : ptr[i + 1]]) for i in ii]
        total = 0.0
        for a in range(n):
            ca, da = rows[a]
            for b in range(a + 1, n):
                cb, db = rows[b]
                _, ia, ib = np.intersect1d(ca, cb, assume_unique=True, return_indices=True)
                total += float(da[ia] @ db[ib])
        mean = 2.0 * total / (n * (n - 1))
        return float(min(1.0, max(0.0, mean)))
    S = E[ii] @ E[ii].T
    S = np.asarray(S.toarray() if hasattr(S, "toarray") else S)
    n = len(ii)
    mean = (S.sum() - np.trace(S)) / (n * (n - 1))
    return float(min(1.0, max(0.0, mean)))
