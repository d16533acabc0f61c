"""One evaluation per network when a genotype also carries how the network is compiled.

In a space of architecture x compiler choices (:class:`edgenas.spaces.compiler.CompilerJointSpace`)
two candidates that differ only in their compiler choices are the same network: the same
weights after the same training, the same accuracy. :class:`SharedAccuracy` evaluates the
network a genotype builds (its ``inner_arch``) once and hands the metrics to every genotype
that builds it, with ``accuracy_shared = 1`` in their extras, so the search spends its training
on networks and its compiling on the pairs.

The metrics are kept by the network's key in a JSON file of the run folder, written after each
new evaluation (read back, merged, replaced atomically), so a resumed search, or a worker
process, shares them too. Two workers that train the same network in one round both train it
(neither knows the other has started); the figures agree, as training is seeded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.trial import Metrics

#: The file in the run folder that holds the shared metrics.
SHARED_ACCURACY_FILE = "shared_accuracy.json"


class SharedAccuracy:
    """``evaluator`` (built on the inner space) applied to the network of each joint genotype, once per network.

    Args:
        evaluator: Evaluates networks of ``space.inner``.
        space: The joint space (anything with ``inner_arch(arch)``).
        cache: The JSON file of metrics by network key (``None``: this process only).
    """

    def __init__(self, evaluator: Any, space: Any, cache: Path | None) -> None:
        self.evaluator = evaluator
        self.space = space
        self.cache = Path(cache) if cache is not None else None
        self.name = str(getattr(evaluator, "name", type(evaluator).__name__))
        self._metrics: dict[str, dict[str, Any]] = {}

    def __getattr__(self, item: str) -> Any:  # test_accuracy, prepare... of the wrapped evaluator
        if item.startswith("__") or "evaluator" not in self.__dict__:  # copy / unpickle look before it is set
            raise AttributeError(item)
        return getattr(self.evaluator, item)

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.cache is None or not self.cache.is_file():
            return {}
        try:
            return dict(json.loads(self.cache.read_text(encoding="utf-8"))["metrics_by_network"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInputError(f"{self.cache}: not an edgenas shared-accuracy file; move it away") from None

    def _write(self, key: str, metrics: Metrics) -> None:
        self._metrics[key] = metrics.to_dict()
        if self.cache is None:
            return
        merged = {**self._read(), **self._metrics}
        tmp = self.cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"metrics_by_network": merged}, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.cache)  # atomic: a kill mid-write leaves the previous file

    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        """The metrics of the network ``arch`` builds: evaluated the first time, shared after."""
        inner = self.space.inner_arch(arch)
        key = inner.key() if budget == 1.0 else f"{inner.key()}@{budget:g}"
        if key not in self._metrics:
            self._metrics.update(self._read())
        if key in self._metrics:
            shared = Metrics.from_dict(self._metrics[key])
            return Metrics(shared.accuracy, {**shared.extra, "accuracy_shared": 1.0}, shared.signal)
        metrics = self.evaluator.evaluate(inner, budget=budget)
        self._write(key, metrics)
        return metrics

    def train(self, arch: Arch, *args: Any, **kwargs: Any) -> Any:
        """Train the network of ``arch`` (a finalist is retrained as its network)."""
        return self.evaluator.train(self.space.inner_arch(arch), *args, **kwargs)
