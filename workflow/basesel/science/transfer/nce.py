"""NCE, negative conditional entropy (Tran, Nguyen, Hassner: "Transferability and Hardness of
Supervised Classification Tasks", ICCV 2019).

The source model's hard label z_i = argmax theta(x_i) stands for the source task's label;
NCE = -H(Y | Z) = sum_{y,z} P(y, z) log P(y | z), from empirical counts.
"""
from __future__ import annotations

import numpy as np

from ._checks import features_labels, finite, probabilities


def nce(features, labels, probs) -> float:
    _, y, k = features_labels("NCE", np.zeros((len(labels), 1)), labels)
    z = probabilities("NCE", probs, len(y)).argmax(axis=1)
    joint = np.zeros((k, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0)
    joint /= len(y)
    pz = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return finite("NCE", float((joint[nz] * np.log(joint[nz] / np.broadcast_to(pz, joint.shape)[nz])).sum()))
