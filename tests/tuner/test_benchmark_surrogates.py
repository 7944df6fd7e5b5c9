"""The early-stopping benchmark's problems and measures behave as its docstrings say.

The benchmark's figures are only as good as these pieces: curves that cross where they should
and not elsewhere, noise that is the same for the same configuration, a curve table that
replays its real curves exactly, an emulated pool that stops a peer's trial where it said, and
measures that give full training a share of 1 and a gap of 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import surrogates
from bench_early_stopping import emulate, measure


def _at(problem: surrogates.Problem, *u: float) -> dict:
    return problem.from_unit(np.array(u))


def test_unit_cube_round_trip_on_every_kind_of_range() -> None:
    problem = surrogates.parametric("crossing")
    hp = _at(problem, 0.25, 0.5, 0.75, 0.1)
    assert isinstance(hp["width"], int)
    np.testing.assert_allclose(problem.unit(hp), [0.25, 0.5, 0.75, 0.1], atol=0.01)
    assert problem.from_unit(np.zeros(4))["lr"] == pytest.approx(1e-4)


def test_smooth_curves_never_cross_and_crossing_ones_do() -> None:
    fast_bad, slow_good = (0.95, 0.7, 0.3, 0.5), (0.55, 0.7, 0.3, 0.5)
    smooth, crossing = surrogates.parametric("smooth"), surrogates.parametric("crossing")
    a, b = (
        np.array(smooth.curve(_at(smooth, *fast_bad))),
        np.array(smooth.curve(_at(smooth, *slow_good))),
    )
    assert np.all(b <= a)  # the better final is better at every epoch
    a, b = (np.array(crossing.curve(_at(crossing, *u))) for u in (fast_bad, slow_good))
    assert a[2] < b[2] and a[-1] > b[-1]  # ahead early, behind at the end


def test_plateau_delays_progress_of_wide_models() -> None:
    plateau = surrogates.parametric("plateau")
    curve = plateau.curve(_at(plateau, 0.6, 1.0, 0.3, 0.5))  # delay 12 epochs
    assert curve[0] == pytest.approx(curve[10])
    assert curve[-1] < curve[0] - 0.3


def test_noise_is_fixed_per_configuration_and_left_out_of_the_clean_curve() -> None:
    noisy = surrogates.parametric("noisy")
    hp = _at(noisy, 0.6, 0.7, 0.3, 0.5)
    assert noisy.curve(hp) == noisy.curve(dict(hp))
    residual = np.array(noisy.curve(hp)) - np.array(noisy.clean_curve(hp))
    assert 0.005 < residual.std() < 0.02
    assert noisy.clean_curve(hp) == surrogates.parametric("crossing").curve(hp)


def test_curve_table_replays_cached_curves_and_mixes_neighbours() -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    curves = np.array([[1.0, 0.5], [2.0, 1.0], [3.0, 1.5], [9.0, 9.0]])
    table = surrogates.CurveTable(points, curves)
    assert table.curve(np.array([1.0, 0.0])) == [2.0, 1.0]
    between = table.curve(np.array([0.5, 0.0]))  # two neighbours at 0.5, one at ~1.1
    assert 1.0 < between[0] < 3.0 and between[0] < 9.0


def test_emulated_pool_stops_where_the_peer_decided_and_replaces_the_trial() -> None:
    problem = surrogates.parametric("smooth")
    configs = [_at(problem, k / 10, 0.5, 0.5, 0.5) for k in range(5)]

    def start(index):
        return configs[index], index

    def report(index, epoch, value):
        return index % 2 == 0 and epoch == 3  # stop the even trials after epoch 3

    runs = emulate(problem, 5, 2, start, report)
    assert [r.epochs for r in runs] == [3, 81, 3, 81, 3]
    assert [r.start for r in runs] == [0.0, 0.0, 3.0, 6.0, 81.0]


def test_full_training_measures_a_share_of_one_and_no_gap() -> None:
    problem = surrogates.parametric("crossing")
    configs = [_at(problem, k / 20, 0.5, 0.5, 0.5) for k in range(20)]
    runs = emulate(problem, 20, 4, lambda i: (configs[i], i), lambda *_: False)
    full = sum(r.epochs for r in runs)
    reference = min(problem.clean_curve(c)[-1] for c in configs)
    measured = measure(problem, runs, reference, full)
    assert measured["epochs_share"] == 1.0 and measured["gap_pct"] == pytest.approx(0.0)
    assert measured["anytime_gap_pct"][-1] == pytest.approx(0.0)
    assert 0 < measured["to_1pct_share"] <= 1.0
