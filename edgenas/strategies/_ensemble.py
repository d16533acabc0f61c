"""A small ensemble of multilayer perceptrons in NumPy: an accuracy predictor with an uncertainty.

Why NumPy and not torch or scikit-learn: strategies never import torch (they must stay light
enough to run beside a training job), and the members are tiny (two hidden layers of a few dozen
units, a few hundred training points), so the cost is Python overhead, not arithmetic. Every
member is trained at once: the weights of all members are stacked on a leading axis and one
batched matmul steps them all, so an ensemble of 5 costs about what one network does.

The spread of the members' predictions is the uncertainty an acquisition function needs
(Lakshminarayanan et al. 2017, "Simple and Scalable Predictive Uncertainty Estimation using Deep
Ensembles"; BANANAS, White et al. 2021, uses exactly this with 5 members). Members differ by
their initial weights and by a bootstrap weighting of the training points.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController


@functools.cache
def _blas() -> ThreadpoolController:
    """The BLAS thread pools, found once per process (a scan of the loaded libraries costs milliseconds).

    The matrices here are tiny: a multi-threaded BLAS spends more time waking and spinning its
    threads than multiplying, and on a loaded machine an ask then took seconds instead of
    milliseconds. Fits and predictions run single-threaded through ``_blas().limit``.
    """
    return ThreadpoolController()


@dataclass
class MlpEnsemble:
    """``members`` ReLU networks ``D -> hidden -> hidden -> 1``, trained full-batch with Adam on squared error.

    Args:
        members: Networks in the ensemble.
        hidden: Units per hidden layer.
        steps: Full-batch Adam steps per fit (the data are a few hundred points: no mini-batches).
        learning_rate: Adam's step size.
        weight_decay: L2 penalty on the weights (the data are few; it keeps the fit smooth).
        bootstrap: Weight each member's training points by a Poisson(1) draw (Oza's online bagging),
            so members disagree where the data are thin.
        seed: Seed of the initial weights and the bootstrap draws.

    >>> import numpy as np
    >>> x = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    >>> model = MlpEnsemble(members=3, steps=300, bootstrap=False, seed=0).fit(x, np.array([0.0, 1, 2, 3, 0, 1]))
    >>> (model.predict(np.eye(4)).mean(axis=0).round(0) + 0.0).tolist()
    [0.0, 1.0, 2.0, 3.0]
    """

    members: int = 5
    hidden: int = 32
    steps: int = 100
    learning_rate: float = 0.04
    weight_decay: float = 1e-4
    bootstrap: bool = True
    seed: int = 0
    _params: list[np.ndarray] = field(default_factory=list, repr=False)
    _scale: tuple[float, float] = (0.0, 1.0)

    def fit(self, x: np.ndarray, y: np.ndarray) -> MlpEnsemble:
        """Fit every member on ``x`` (N x D) and targets ``y`` (N,); targets are standardised inside."""
        with _blas().limit(limits=1, user_api="blas"):
            return self._fit(x, y)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> MlpEnsemble:
        rng = np.random.default_rng(self.seed)
        n, d = x.shape
        e, h = self.members, self.hidden
        mean, std = float(np.mean(y)), float(np.std(y)) or 1.0
        self._scale = (mean, std)
        t = ((np.asarray(y, dtype=float) - mean) / std).astype(np.float32)
        x = np.asarray(x, dtype=np.float32)
        # He initialisation, biases at 0.
        params = [
            p.astype(np.float32)
            for p in (
                rng.normal(0, np.sqrt(2 / d), (e, d, h)),
                np.zeros((e, 1, h)),
                rng.normal(0, np.sqrt(2 / h), (e, h, h)),
                np.zeros((e, 1, h)),
                rng.normal(0, np.sqrt(1 / h), (e, h, 1)),
                np.zeros((e, 1, 1)),
            )
        ]
        w = rng.poisson(1.0, (e, n)).astype(np.float32) if self.bootstrap else np.ones((e, n), dtype=np.float32)
        w /= np.maximum(w.sum(axis=1, keepdims=True), 1.0)
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        b1, b2, eps = 0.9, 0.999, np.float32(1e-8)
        xt = x.T
        for step in range(1, self.steps + 1):
            w1, c1, w2, c2, w3, c3 = params
            a1 = x @ w1 + c1
            h1 = np.maximum(a1, 0)
            a2 = h1 @ w2 + c2
            h2 = np.maximum(a2, 0)
            out = (h2 @ w3 + c3)[..., 0]
            d_out = (2 * w * (out - t))[..., None]  # (e, n, 1)
            g3 = h2.transpose(0, 2, 1) @ d_out
            da2 = (d_out @ w3.transpose(0, 2, 1)) * (a2 > 0)
            g2 = h1.transpose(0, 2, 1) @ da2
            da1 = (da2 @ w2.transpose(0, 2, 1)) * (a1 > 0)
            g1 = xt @ da1
            grads = [
                g1 + self.weight_decay * w1,
                da1.sum(axis=1, keepdims=True),
                g2 + self.weight_decay * w2,
                da2.sum(axis=1, keepdims=True),
                g3 + self.weight_decay * w3,
                d_out.sum(axis=1, keepdims=True),
            ]
            lr = np.float32(self.learning_rate * np.sqrt(1 - b2**step) / (1 - b1**step))
            for p, g, mk, vk in zip(params, grads, m, v, strict=True):
                mk *= b1
                mk += (1 - b1) * g
                vk *= b2
                vk += (1 - b2) * g * g
                p -= lr * mk / (np.sqrt(vk) + eps)
        self._params = params
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Every member's prediction: a ``(members, len(x))`` array in the units of the fitted ``y``."""
        if not self._params:
            raise RuntimeError("MlpEnsemble.predict before fit")
        w1, c1, w2, c2, w3, c3 = self._params
        with _blas().limit(limits=1, user_api="blas"):
            h = np.maximum(np.asarray(x, dtype=np.float32) @ w1 + c1, 0)
            h = np.maximum(h @ w2 + c2, 0)
        mean, std = self._scale
        return (h @ w3 + c3)[..., 0].astype(float) * std + mean


__all__ = ["MlpEnsemble"]
