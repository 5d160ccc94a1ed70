"""Metric functions on hand-made cases: punctuation, case, empty answers, ties, empty inputs."""

import pytest

from core.evaluation.metrics import drawdown, edit_success, locality, mean, percentile, prefers, routing_quality
from core.rates import share
from core.text import same_answer


def test_edit_success_ignores_case_spaces_and_edge_punctuation():
    answers = ["  english, mostly.", '"English"', "English!", "Englishman", "French", ""]
    assert edit_success(answers, ["English"] * 6) == pytest.approx(3 / 6)


def test_edit_success_needs_a_word_boundary_and_a_nonempty_target():
    assert edit_success(["New Yorker"], ["New York"]) == 0.0
    assert edit_success(["New York City"], ["New York"]) == 1.0
    assert edit_success(["anything"], ["..."]) == 0.0  # a target of punctuation only can never be met
    assert edit_success([], []) is None


def test_edit_success_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        edit_success(["a"], ["a", "b"])


def test_locality_compares_normalised_answers_and_empty_answers():
    assert same_answer("Paris.", " paris ") and same_answer("", None) and not same_answer("", "Paris")
    assert locality(["Paris.", "Rome", ""], ["paris", "Milan", ""]) == pytest.approx(2 / 3)
    assert drawdown(locality(["Paris.", "Rome", ""], ["paris", "Milan", ""])) == pytest.approx(1 / 3)
    assert locality([], []) is None and drawdown(None) is None


def test_prefers_counts_ties_as_no_preference():
    assert prefers([-1.0, -2.0, -3.0], [-2.0, -2.0, -1.0]) == pytest.approx(1 / 3)
    assert prefers([], []) is None


def test_share_mean_and_percentile():
    assert share([True, False, True, True]) == 0.75 and share([]) is None
    assert mean([1.0, 2.0, 6.0]) == 3.0 and mean([]) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert percentile([7.0], 95) == 7.0 and percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_routing_quality():
    got = routing_quality([True, True, False, True], [False, True])
    assert got == {"in_scope_recall": 0.75, "out_of_scope_rejection": 0.5}
    assert routing_quality([], []) == {"in_scope_recall": None, "out_of_scope_rejection": None}
