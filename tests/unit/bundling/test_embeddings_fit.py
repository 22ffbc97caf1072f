"""``TfidfSvdEmbedder.fit``: the cold-start embedding and the map that puts new texts beside it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bundling.embeddings import FittedTfidfSvd, TfidfSvdEmbedder, fit_reproducibly, product_text
from composite.discovery import build_index
from composite.learned import build_category_space
from ingest import build_olist_catalog, parse_catalog
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


_FIT_IN_A_FRESH_PROCESS = """
import json, sys
from bundling.embeddings import fit_reproducibly
texts = json.load(open(sys.argv[1]))
fitted = fit_reproducibly(texts)
probe = fitted.transform(["a christmas party", "gaming pc", "garden furniture"])
json.dump((probe @ fitted.rows.T).tolist(), sys.stdout)
"""


@pytest.mark.slow
def test_fit_gives_the_same_space_in_every_process(tmp_path: Path) -> None:
    """The learned-plan threshold is calibrated on these similarities; a fit that changed from
    one worker process to the next would serve a plan in one and refuse it in another. Olist's
    category space is the corpus on which ARPACK wandered (0.12 to 0.35 for one pair); a fresh
    process's fit is compared with this one's."""
    d = shared_data("olist")
    products = build_olist_catalog(
        d / "olist_products_dataset.csv.gz",
        d / "olist_order_items_dataset.csv.gz",
        None,
        d / "product_category_name_translation.csv.gz",
    ).products
    texts: list[str] = []
    here: list[FittedTfidfSvd] = []

    def fit_and_keep_the_corpus(docs: list[str]) -> FittedTfidfSvd:
        texts.extend(docs)
        here.append(fit_reproducibly(docs))
        return here[-1]

    build_category_space(build_index(products).rows, fit_and_keep_the_corpus)
    corpus = tmp_path / "texts.json"
    corpus.write_text(json.dumps(texts))
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen(
        [sys.executable, "-c", _FIT_IN_A_FRESH_PROCESS, str(corpus)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    probe = here[0].transform(["a christmas party", "gaming pc", "garden furniture"])
    in_this_process = probe @ here[0].rows.T
    assert in_this_process.shape == (3, len(texts)) and len(texts) > 1000
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    assert np.abs(np.array(json.loads(out)) - in_this_process).max() < 1e-6
