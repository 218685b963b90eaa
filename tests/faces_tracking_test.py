"""Tracking and smoothing: ids follow people across frames and short gaps; smoothing has a half-life in
seconds."""

import numpy as np
import pytest

from ferkit.faces.tracking import FaceTracker, ProbabilitySmoother, iou, similarity


def test_iou_and_similarity():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 10, 10]) == 0.0
    # Fast motion: no overlap left, but the centre moved half a face: still a (weaker) match.
    assert 0 < similarity([0, 0, 100, 100], [55, 0, 100, 100]) < similarity([0, 0, 100, 100], [10, 0, 100, 100])
    assert similarity([0, 0, 100, 100], [300, 0, 100, 100]) == 0.0
    assert similarity([0, 0, 100, 100], [20, 0, 30, 30]) == 0.0  # a much smaller face is someone else


def test_ids_follow_moving_faces_and_survive_a_short_gap():
    tracker = FaceTracker(keep_seconds=0.5)
    assert tracker.update([[0, 0, 50, 50], [200, 0, 50, 50]], 0.0) == [1, 2]
    assert tracker.update([[195, 0, 50, 50], [8, 0, 50, 50]], 0.1) == [2, 1]  # order of boxes does not matter
    assert tracker.update([[190, 0, 50, 50]], 0.2) == [2]  # person 1 missed for a while
    assert tracker.update([[15, 2, 50, 50], [185, 0, 50, 50]], 0.5) == [1, 2]
    assert tracker.update([[20, 0, 50, 50]], 1.2) == [3]  # gone longer than keep_seconds: a new person
    assert tracker.update([], 1.3) == []


def test_smoothing_has_a_half_life_in_seconds():
    smoother = ProbabilitySmoother(half_life_s=1.0)
    np.testing.assert_allclose(smoother.update(1, [1.0, 0.0], 0.0), [1.0, 0.0])
    np.testing.assert_allclose(smoother.update(1, [0.0, 1.0], 1.0), [0.5, 0.5])  # one half-life: halfway
    np.testing.assert_allclose(smoother.update(2, [0.2, 0.8], 1.0), [0.2, 0.8])  # tracks are independent
    # Two samples 0.5 s apart move as far as one sample 1 s later: independent of the frame rate.
    fast = ProbabilitySmoother(1.0)
    fast.update(1, [1.0, 0.0], 0.0)
    fast.update(1, [0.0, 1.0], 0.5)
    np.testing.assert_allclose(fast.update(1, [0.0, 1.0], 1.0), [0.5, 0.5])
    off = ProbabilitySmoother(0.0)
    off.update(1, [1.0, 0.0], 0.0)
    np.testing.assert_allclose(off.update(1, [0.0, 1.0], 0.1), [0.0, 1.0])
    smoother.forget({2})
    np.testing.assert_allclose(smoother.update(1, [0.0, 1.0], 2.0), [0.0, 1.0])  # forgotten: starts again
