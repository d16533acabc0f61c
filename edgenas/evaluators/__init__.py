"""Evaluators: how accurate is an architecture on the task, by name (``--evaluator``).

Each ``EVALUATORS`` entry is a factory ``(context, argument) -> Evaluator``: ``context`` is an
:class:`EvaluatorContext` (space, data, seed, epochs, run folder), ``argument`` the text after the
name's colon (``zerocost:naswot`` -> ``"naswot"``) or None. Third-party evaluators join through the
``edgenas.evaluators`` entry-point group. Torch and the supernets are imported only by the
factories that need them.
"""

from __future__ import annotations

from typing import Any

from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import Evaluator, EvaluatorContext, TrialFailed
from edgenas.registry import Registry


def _no_argument(name: str, argument: str | None) -> None:
    if argument:
        raise InvalidInputError(f"--evaluator {name} takes no ':' argument, got {name}:{argument}")


def _detection(context: EvaluatorContext) -> bool:
    """Whether the task's data are detection data (images with boxes, scored by mAP)."""
    return getattr(context.data, "task", "") == "detection"


def _classification_only(name: str, context: EvaluatorContext) -> None:
    if _detection(context):
        raise InvalidInputError(
            f"--evaluator {name} scores classifiers; --task detection trains every candidate: --evaluator train"
        )


def train(context: EvaluatorContext, argument: str | None = None) -> Any:
    """Train every candidate for --epochs (the default); detection candidates are scored by validation mAP@0.5."""
    _no_argument("train", argument)
    if _detection(context):
        from edgenas.evaluators.detection import DetectionEvaluator

        return DetectionEvaluator(
            context.space,
            context.data,  # type: ignore[arg-type]  # DetectionData: _detection() checked it
            epochs=context.epochs,
            seed=context.seed,
            max_seconds=context.max_trial_seconds,
            device=context.device,
        )
    from edgenas.evaluators.train import TrainEvaluator

    return TrainEvaluator(
        context.space,
        context.data,
        epochs=context.epochs,
        seed=context.seed,
        max_seconds=context.max_trial_seconds,
        device=context.device,
        amp=context.amp,
    )


def supernet(context: EvaluatorContext, argument: str | None = None) -> Any:
    """Inherited weights of a weight-sharing supernet trained once (kws, mbconv; experimental)."""
    from edgenas.evaluators.supernet import supernet_evaluator

    _no_argument("supernet", argument)
    _classification_only("supernet", context)
    cache = context.run.supernet_weights if context.run is not None else None
    # The supernet keeps its own schedule (kws: 1 epoch + 80 fine-tuning steps per subnet ranked
    # best, benchmarks/results/supernet_kws.md); --epochs is the stand-alone training (finalists,
    # or prefilter:supernet's shortlist).
    return supernet_evaluator(context.space, context.data, seed=context.seed, cache=cache, log=context.say, device=context.device)


def zerocost(context: EvaluatorContext, argument: str | None = None) -> Any:
    """A zero-cost proxy at initialisation: zerocost:<proxy>."""
    from edgenas.evaluators.zerocost import PROXIES, ZeroCostEvaluator

    if not argument:
        raise InvalidInputError(f"--evaluator zerocost needs a proxy: zerocost:<proxy>, one of {', '.join(PROXIES.names())}")
    PROXIES.get(argument)
    _classification_only(f"zerocost:{argument}", context)
    return ZeroCostEvaluator(context.space, context.data, proxy=argument, seed=context.seed)


EVALUATORS: Registry[Evaluator] = Registry("evaluator", entry_points="edgenas.evaluators")
EVALUATORS.add("train", train)
EVALUATORS.add("supernet", supernet)
EVALUATORS.add("zerocost", zerocost)

__all__ = ["EVALUATORS", "Evaluator", "EvaluatorContext", "TrialFailed"]
