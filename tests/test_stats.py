"""Aggregate statistics against values worked out by hand."""

import numpy as np
import pytest

from lica import stats


def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx((3 + 4 + 5 + 6) / 4)  # 2 cut from each end
    assert stats.iqm([[10, 0], [1, 2]]) == pytest.approx(1.5)  # any shape: {0, 1, 2, 10} -> (1 + 2) / 2


def test_probability_of_improvement_counts_pairs_and_half_ties():
    # task 1: x = {1, 3}, y = {2, 2}: pairs (1>2 no, 1>2 no, 3>2 yes, 3>2 yes) -> 2/4
    # task 2: x = {5}, y = {5, 4}: a tie (1/2) and a win (1) -> 1.5/2
    assert stats.probability_of_improvement([[1, 3], [5]], [[2, 2], [5, 4]]) == pytest.approx((0.5 + 0.75) / 2)
    assert stats.probability_of_improvement([[1, 2]], [[1, 2]]) == pytest.approx(0.5)  # same runs: even


def test_stratified_bootstrap_keeps_tasks_apart_and_brackets_the_estimate():
    # Each task has one score repeated: any resample within a task gives the same scores.
    point, low, high = stats.stratified_bootstrap_ci([[1.0] * 4, [3.0] * 4], statistic=np.mean)
    assert (point, low, high) == (2.0, 2.0, 2.0)
    rng = np.random.default_rng(1)
    runs = [rng.normal(0.0, 1.0, 10), rng.normal(5.0, 1.0, 10)]
    point, low, high = stats.stratified_bootstrap_ci(runs, reps=500)
    assert low < point < high and high - low < 2.0
    assert point == pytest.approx(stats.iqm(np.concatenate(runs)))
