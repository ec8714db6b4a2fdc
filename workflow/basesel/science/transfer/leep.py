"""LEEP (Nguyen, Hassner, Seeger, Archambeau: "LEEP: A New Measure to Evaluate Transferability of
Learned Representations", ICML 2020).

theta(x) is the source head's softmax. The empirical joint P(y, z) = 1/n sum_i theta_z(x_i) [y_i = y]
gives P(y | z) = P(y, z) / P(z), and LEEP = 1/n sum_i log sum_z P(y_i | z) theta_z(x_i).
Some published code drops the log; this follows the paper and keeps it.
"""
from __future__ import annotations

import numpy as np

from ._checks import features_labels, finite, probabilities

TINY = 1e-300  # a source class no target image touches has P(z) = 0; its column is 0, not NaN


def leep_from_probs(probs, labels) -> float:
    _, y, k = features_labels("LEEP", np.zeros((len(labels), 1)), labels)
    theta = probabilities("LEEP", probs, len(y))
    n = len(y)
    joint = np.zeros((k, theta.shape[1]))
    np.add.at(joint, y, theta)
    joint /= n
    conditional = joint / np.maximum(joint.sum(axis=0, keepdims=True), TINY)  # P(y | z)
    eep = (theta * conditional[y]).sum(axis=1)  # sum_z P(y_i | z) theta_z(x_i)
    return finite("LEEP", np.mean(np.log(np.maximum(eep, TINY))))


def leep(features, labels, probs) -> float:
    return leep_from_probs(probs, labels)
