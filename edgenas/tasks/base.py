"""The value types every task loader returns.

Kept tiny and frozen so that an evaluator can rely on the same shape for every task: features
already standardised with statistics from the training split only (so validation and test never
leak into them), labels as class indices into ``classes``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgenas.errors import InvalidInputError


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a task: features ``x`` and class indices ``y``.

    ``speaker`` (optional) names the speaker/group of each example. It is there so that callers
    and tests can check that splits are group-disjoint; models never see it.
    """

    x: np.ndarray  # float32, (N, *input_shape)
    y: np.ndarray  # int64, (N,)
    speaker: np.ndarray | None = None  # str, (N,), or None where unknown

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise InvalidInputError(f"split has {self.x.shape[0]} inputs but {self.y.shape[0]} labels")
        if self.speaker is not None and self.speaker.shape[0] != self.y.shape[0]:
            raise InvalidInputError(f"split has {self.y.shape[0]} labels but {self.speaker.shape[0]} speaker ids")

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True, eq=False)
class TaskData:
    """A whole task: classes, three splits and the standardisation that was applied.

    ``feature_mean``/``feature_std`` are kept so that an exporter or an on-device front end can
    apply exactly the same standardisation to new audio: ``(features - mean) / std``.
    """

    name: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    input_shape: tuple[int, ...]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    source: str

    def fingerprint(self) -> str:
        """SHA-1 of every split's features and labels: a resume on other data (a regenerated cache,
        an edited --data folder) would mix trials scored on different data, so it is refused."""
        digest = hashlib.sha1()
        for split in (self.train, self.val, self.test):
            digest.update(split.x.tobytes())
            digest.update(split.y.tobytes())
        return digest.hexdigest()

    def splits(self) -> dict[str, Split]:
        """The three splits by name, in a fixed order."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: counts per split and per class, classes, shape and source.

        Example::

            >>> data.describe()["splits"]["train"]["per_class"]["yes"]
            342
        """
        splits: dict[str, Any] = {}
        for split_name, split in self.splits().items():
            counts = np.bincount(split.y.astype(np.int64), minlength=len(self.classes))
            splits[split_name] = {
                "total": int(len(split)),
                "per_class": {c: int(counts[i]) for i, c in enumerate(self.classes)},
            }
            if split.speaker is not None:
                splits[split_name]["speakers"] = int(len(set(split.speaker.tolist())))
        return {
            "name": self.name,
            "classes": list(self.classes),
            "input_shape": list(self.input_shape),
            "total": int(sum(s["total"] for s in splits.values())),
            "splits": splits,
            "source": self.source,
        }


def standardise(raw: dict[str, np.ndarray], *, std_floor: float = 1e-6) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Standardise every split per feature (last axis) with statistics of ``raw["train"]``.

    Why train only: using validation/test statistics would leak information about the held-out
    speakers into the features. ``std_floor`` keeps a constant coefficient from dividing by zero.
    """
    train = raw["train"]
    if train.shape[0] == 0:
        raise InvalidInputError("the training split is empty, so features cannot be standardised; add more data")
    flat = train.reshape(-1, train.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0)
    std = np.maximum(flat.std(axis=0), std_floor)
    out = {k: ((v - mean) / std).astype(np.float32) for k, v in raw.items()}
    return out, mean.astype(np.float32), std.astype(np.float32)


def stratified_pick(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``size`` examples with (as nearly as possible) the class proportions of ``y``, sorted."""
    if size >= len(y):
        return np.arange(len(y))
    order = rng.permutation(len(y))
    # Rank every example within its class in random order, then take the lowest relative ranks:
    # each class contributes in proportion to its size.
    relative = np.empty(len(y))
    for c in np.unique(y):
        members = order[y[order] == c]
        relative[members] = (np.arange(len(members)) + rng.random()) / len(members)
    return np.sort(np.argsort(relative, kind="stable")[:size])


def subset_train(data: TaskData, size: int, seed: int) -> TaskData:
    """``data`` with a class-stratified ``size``-example subset of its training split.

    Why: ``edgenas search --train-subset`` makes a search on two CPU cores affordable (every
    candidate trains on fewer examples; validation and test stay whole, so accuracies remain
    comparable). The standardisation is the full training split's, unchanged. Deterministic:
    the same seed picks the same examples.
    """
    if size < 1:
        raise InvalidInputError(f"--train-subset must be a positive number of examples, got {size}")
    if size >= len(data.train):
        return data
    from edgenas._rng import rng_for

    keep = stratified_pick(data.train.y, size, rng_for(seed, data.name, "train-subset"))
    train = Split(data.train.x[keep], data.train.y[keep])
    source = f"{data.source}; training subset: {size} of {len(data.train)} (class-stratified, seed {seed})"
    return dataclasses.replace(data, train=train, source=source)
