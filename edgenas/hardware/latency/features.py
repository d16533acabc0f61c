"""Features of a network for the learned predictors: the architecture encoding plus layer figures.

Two views, concatenated (:func:`feature_matrix`):

* **encoding**: one-hot of the genes (``space.decisions()`` order), what a predictor needs to
  tell apart networks whose layers look alike (an NB201 edge whose output is never used is
  absent from the IR, but a device may still run it);
* **layer figures** from the IR: total MACs, parameters, layers and output elements (memory
  traffic), and per operator kind the number of layers, their MACs and their output elements.

:func:`signature_counts` is the look-up table's design matrix: how many layers of each exact
shape (``Layer.signature()``) a network has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from edgenas.errors import InvalidInputError
from edgenas.hardware.latency.base import Net
from edgenas.ir import Op

OPS = tuple(Op)


def one_hot(nets: Sequence[Net], cardinalities: Sequence[int]) -> np.ndarray:
    """One column per (decision, choice)."""
    offsets = np.concatenate([[0], np.cumsum(cardinalities)])
    out = np.zeros((len(nets), int(offsets[-1])))
    for row, net in enumerate(nets):
        if tuple(net.cardinalities) != tuple(cardinalities):
            raise InvalidInputError(
                f"network with decision sizes {net.cardinalities} given to a predictor fitted on {tuple(cardinalities)} "
                "(another space?)"
            )
        out[row, offsets[:-1] + np.asarray(net.genes, dtype=int)] = 1.0
    return out


def layer_figures(nets: Sequence[Net]) -> np.ndarray:
    """Per net: total MACs, params, layers, output elements; then per op: layers, MACs, output elements."""
    index = {op: k for k, op in enumerate(OPS)}
    out = np.zeros((len(nets), 4 + 3 * len(OPS)))
    for row, net in enumerate(nets):
        r = out[row]
        for layer in net.layers:
            macs, elements = layer.macs, layer.out_elements
            k = 4 + 3 * index[layer.op]
            r[0] += macs
            r[1] += layer.param_count
            r[2] += 1
            r[3] += elements
            r[k] += 1
            r[k + 1] += macs
            r[k + 2] += elements
    return out


LAYER_FIGURE_NAMES = ("macs", "params", "layers", "out_elements") + tuple(
    f"{op.value}_{what}" for op in OPS for what in ("layers", "macs", "out_elements")
)


def feature_matrix(nets: Sequence[Net], cardinalities: Sequence[int]) -> np.ndarray:
    """One-hot encoding, then layer figures (see the module docstring)."""
    return np.hstack([one_hot(nets, cardinalities), layer_figures(nets)])


def signature_counts(nets: Sequence[Net]) -> list[Counter[str]]:
    """How many layers of each ``Layer.signature()`` each net has."""
    return [Counter(layer.signature() for layer in net.layers) for net in nets]
