"""The Online Retail rules find each batch's distinct codes and their first rows without a sort;
the answers must be ``np.unique``'s."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.order_formats import _distinct, _first_rows


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=300), st.integers(0, 20))
def test_first_rows_and_distinct_equal_unique(values, spare):
    codes = np.asarray(values, dtype=np.int64)
    n_values = (int(codes.max()) + 1 if codes.size else 0) + spare  # codes need not use them all
    distinct, first = _first_rows(codes, n_values)
    ref_distinct, ref_first = np.unique(codes, return_index=True)
    assert np.array_equal(distinct, ref_distinct) and np.array_equal(first, ref_first)
    assert np.array_equal(_distinct(codes, n_values), ref_distinct)
