"""Partner sampling: another cell of the same group, uniformly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skpci.featurizer.training import encode_groups, pairable_cells, sample_partners


@given(st.lists(st.integers(0, 6), min_size=2, max_size=200), st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_partner_is_another_cell_of_the_same_group(groups, seed):
    codes = encode_groups(groups, len(groups))
    partners = sample_partners(codes, np.random.default_rng(seed))
    sizes = np.bincount(codes)
    pairable = sizes[codes] >= 2
    assert (partners[~pairable] == -1).all()
    assert (partners[pairable] != np.flatnonzero(pairable)).all()
    assert (codes[partners[pairable]] == codes[pairable]).all()


def test_partners_are_uniform_over_the_other_cells():
    codes = np.zeros(4, dtype=np.int64)
    rng = np.random.default_rng(0)
    counts = np.zeros((4, 4))
    for _ in range(3000):
        counts[np.arange(4), sample_partners(codes, rng)] += 1
    assert np.all(np.diag(counts) == 0)
    off_diagonal = counts[~np.eye(4, dtype=bool)] / 3000
    np.testing.assert_allclose(off_diagonal, 1 / 3, atol=0.04)


def test_single_cell_groups_are_skipped_with_a_warning():
    codes = np.array([0, 0, 1, 2, 2])
    with pytest.warns(UserWarning, match="2 of 3 groups|1 of 3 groups"):
        pairable = pairable_cells(codes)
    assert list(pairable) == [0, 1, 3, 4]


def test_no_pairable_group_is_an_error_that_explains_pairing():
    with pytest.raises(ValueError, match="No cell can be paired"):
        pairable_cells(np.array([0, 1, 2]))


def test_groups_of_wrong_length_are_rejected():
    with pytest.raises(ValueError, match="one id per cell: got 3 ids for 4 cells"):
        encode_groups(["a", "b", "a"], 4)


def test_min_group_size_leaves_out_small_groups_and_counts_them():
    codes = np.array([0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 3])
    with pytest.warns(UserWarning, match=r"3 of 4 groups hold fewer than min_group_size=5 cells \(6 cells\)"):
        pairable = pairable_cells(codes, min_group_size=5)
    assert list(pairable) == [2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match=r"fewer than min_group_size=6 cells \(the largest holds 5\)"):
        pairable_cells(codes, min_group_size=6)
