"""``TfidfSvdEmbedder.fit``: the cold-start embedding and the map that puts new texts beside it."""

from __future__ import annotations

import numpy as np

from bundling.embeddings import TfidfSvdEmbedder, product_text
from ingest import parse_catalog
from tests.shared_data import shared_data


def _texts() -> list[str]:
    products = parse_catalog(shared_data("shopify", "home-and-garden.csv")).products
    return [product_text(p) for p in products]


def test_fit_rows_are_the_embedding() -> None:
    texts = _texts()
    fitted = TfidfSvdEmbedder().fit(texts)
    assert np.array_equal(fitted.rows, TfidfSvdEmbedder().embed(texts))
    assert fitted.components is not None and fitted.components.shape[0] == fitted.rows.shape[1]


def test_transform_puts_a_corpus_text_on_its_own_row() -> None:
    texts = _texts()
    fitted = TfidfSvdEmbedder().fit(texts)
    again = fitted.transform(texts)
    assert again.dtype == np.float32 and np.allclose(again, fitted.rows, atol=1e-5)


def test_transform_ignores_unknown_words_and_gives_zero_for_none_known() -> None:
    fitted = TfidfSvdEmbedder().fit(_texts())
    zero, sofa, sofa_noise = fitted.transform(["quantum zebra", "sofa", "sofa quantum zebra"])
    assert not zero.any()
    assert np.isclose(np.linalg.norm(sofa), 1.0) and np.allclose(sofa, sofa_noise)


def test_a_tiny_corpus_stays_in_tfidf_space() -> None:
    fitted = TfidfSvdEmbedder().fit(["red sofa", "blue sofa"])
    assert fitted.components is None
    assert np.allclose(fitted.transform(["red sofa"])[0], fitted.rows[0])


def test_an_empty_corpus() -> None:
    fitted = TfidfSvdEmbedder().fit([])
    assert fitted.rows.shape == (0, 1)
    assert not fitted.transform(["anything"]).any()
