"""Which weights ``edgenas export RUN --trial ID`` exports, and how it gets them.

A search keeps the weights of its best model only (``RUN/best/model.pt``): every other trial
stored its genotype, cost and validation accuracy, not its weights. Training is deterministic
per architecture (seeded by ``Arch.key()``), so any *completed* trial can be trained again with
the run's recipe (epochs, seed, data) and gives the weights the search scored; that costs a
training run, so it happens only when asked (``--retrain``). Infeasible and failed trials were
never trained: there is nothing to export. Retrained weights are kept in ``RUN/trials/<ID>/``,
so a second export of the same trial does not train again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenas.errors import InvalidInputError
from edgenas.trial import Trial, TrialState


@dataclass(frozen=True)
class TrialWeights:
    """Where the weights of the requested trial are, and the folder its exports go to."""

    trial: str  # "best", "baseline" or the trial number
    checkpoint: Path
    folder: Path
    retrained: bool = False
    retrain_val_accuracy: float | None = None
    stored_val_accuracy: float | None = None


def _find(trials: list[Trial], trial_id: str) -> Trial:
    if trial_id == "baseline":
        found = [t for t in trials if t.role == "baseline"]
    else:
        try:
            number = int(trial_id)
        except ValueError:
            raise InvalidInputError(f"--trial {trial_id!r}: expected 'best', 'baseline' or a trial number") from None
        found = [t for t in trials if t.number == number and t.role == "search"]
    if not found:
        numbers = [t.number for t in trials if t.role == "search"]
        span = f"{min(numbers)}..{max(numbers)}" if numbers else "none"
        raise InvalidInputError(f"--trial {trial_id}: no such trial in this run (search trials: {span})")
    return found[0]


def weights_for_trial(
    run_dir: Path, config: dict[str, Any], trial_id: str, *, retrain: bool = False, say: Callable[[str], None] | None = None
) -> TrialWeights:
    """The checkpoint for ``trial_id`` in ``run_dir``, retraining it if asked (see the module docstring)."""
    best = run_dir / "best" / "model.pt"
    if trial_id == "best":
        if not best.is_file():
            raise InvalidInputError(f"{best} not found: the search exports its best model when it finishes")
        return TrialWeights("best", best, best.parent)
    from edgenas.export.checkpoint import load_checkpoint
    from edgenas.store import SqliteStore

    with SqliteStore(run_dir / "trials.db") as store:
        trial = _find(store.trials(), trial_id)
    if trial.state is not TrialState.COMPLETE:
        why = f"it broke {', '.join(trial.violations)}" if trial.violations else (trial.error or trial.state.value)
        raise InvalidInputError(f"--trial {trial_id} is {trial.state.value} ({why}): it was never trained, nothing to export")
    if best.is_file() and load_checkpoint(best).arch == trial.arch:
        return TrialWeights(trial_id, best, best.parent)
    folder = run_dir / "trials" / trial_id
    if (folder / "model.pt").is_file():
        return TrialWeights(trial_id, folder / "model.pt", folder)
    identity = config.get("identity", {})
    epochs = int(identity.get("epochs", 8))
    if not retrain:
        raise InvalidInputError(
            f"--trial {trial_id} has no stored weights (a search keeps only its best model's): pass --retrain to "
            f"train it again with the run's recipe ({epochs} epochs, deterministic, so the weights the search scored)"
        )
    return _retrain(run_dir, config, trial, trial_id, folder, say or (lambda message: None))


def run_task_data(identity: dict[str, Any], data: str | Path | None = None):
    """A run's task data as its search saw it (``--task``, ``--data``, ``--seed``, ``--train-subset``
    from the stored identity); ``data`` overrides the folder. Without a run (empty identity): kws."""
    from edgenas.tasks import TASKS
    from edgenas.tasks.base import subset_train

    folder = identity.get("data") if data is None else data
    if folder in ("None", ""):
        folder = None
    if folder is not None and not Path(folder).is_dir():
        raise InvalidInputError(f"data folder {folder} not found (expected one sub-folder per word or class)")
    seed = int(identity.get("seed", 0))
    loaded = TASKS.create(str(identity.get("task", "kws")), data_dir=Path(folder) if folder is not None else None, seed=seed)
    if identity.get("train_subset") is not None:
        loaded = subset_train(loaded, int(identity["train_subset"]), seed)
    return loaded


def _retrain(run_dir: Path, config: dict[str, Any], trial: Trial, trial_id: str, folder: Path, say) -> TrialWeights:
    from edgenas.evaluators.train import TrainEvaluator
    from edgenas.export.checkpoint import save_checkpoint
    from edgenas.spaces import space_for, space_from_config

    identity = config.get("identity", {})
    data_dir = identity.get("data")
    if data_dir not in (None, "None") and not Path(data_dir).is_dir():
        raise InvalidInputError(f"--retrain: the run's data folder {data_dir} is gone; the trial cannot be trained again")
    seed = int(identity.get("seed", 0))
    data = run_task_data(identity)
    if identity.get("data_sha1") and data.fingerprint() != identity["data_sha1"]:
        raise InvalidInputError("--retrain: the data differ from the search's (regenerated cache or edited folder)")
    # the stored genes' space; runs from before it was stored: the space --space chose then
    space = space_from_config(config) if config.get("space_params") else space_for(data, str(identity.get("space", "auto")))
    epochs = int(identity.get("epochs", 8))
    say(f"retraining trial {trial_id} ({space.describe(trial.arch)}): {epochs} epochs")
    evaluator = TrainEvaluator(space, data, epochs=epochs, seed=seed)
    trained = evaluator.train(trial.arch)
    path = save_checkpoint(
        folder / "model.pt", trained.module, trial.arch, space.params(), data.classes, data.feature_mean, data.feature_std
    )
    stored = trial.metrics.accuracy if trial.metrics is not None else None
    return TrialWeights(trial_id, path, folder, True, trained.metrics.accuracy, stored)
