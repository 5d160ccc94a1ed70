"""Fitting the embedding scorer's calibration: score = sigmoid(scale * (similarity - center)).

A one-feature logistic regression with balanced class weights, fitted by Newton's method on
(similarity, in-scope?) pairs. Invariant: the result maps similarity monotonically to [0, 1], so
the routing threshold 0.5 sits at `center`, the similarity where in- and out-of-scope pairs are
equally likely after balancing.
"""

from __future__ import annotations

import numpy as np


def fit_similarity_calibration(
    positives: np.ndarray, negatives: np.ndarray, iterations: int = 100, l2: float = 1e-6
) -> tuple[float, float]:
    """(scale, center) of the balanced logistic fit of in-scope (positives) vs out-of-scope similarities."""
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError("calibration needs at least one positive and one negative similarity")
    x = np.concatenate([positives, negatives]).astype(np.float64)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    w = np.where(y == 1, 0.5 / len(positives), 0.5 / len(negatives))  # each class weighs one half
    features = np.stack([x, np.ones_like(x)], axis=1)  # (n, 2): slope and intercept
    theta = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-features @ theta))
        grad = features.T @ (w * (p - y)) + l2 * theta
        hess = (features * (w * p * (1 - p))[:, None]).T @ features + l2 * np.eye(2)
        theta -= np.linalg.solve(hess, grad)
    slope, intercept = theta
    if slope <= 0:
        raise ValueError("positives are not more similar than negatives; cannot calibrate")
    return float(slope), float(-intercept / slope)
