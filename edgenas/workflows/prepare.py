"""Everything a search needs before its first candidate, the same for every way of searching.

``prepare`` checks the configuration, loads the target and the task's data (``--train-subset``
applied), builds the space for the data and removes the choices the target cannot run natively.
``open_run`` then opens the run folder's store: a new run records the configuration that
defines it; a resumed one must match it, and a mismatch names the stored value and the new one.

One search at a time writes a run folder: ``open_run`` takes the folder's lock (released when
the store closes or the process ends, however it ends), and ``check_run_folder`` already refuses,
before any data is prepared, a folder another search holds, or an output that cannot be written.
A resume also refuses a store that lost what the folder says it held (its ``-wal`` file missing
or damaged), rather than silently starting the search over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenas.errors import InvalidInputError
from edgenas.files import check_writable, sweep_temporaries, write_text
from edgenas.hardware import Target, load_target
from edgenas.objectives import Limits
from edgenas.spaces import SearchSpace, filter_by_ops, space_for, space_from_config
from edgenas.spaces.task import check_task_searchable
from edgenas.store import RunFolder, SqliteStore
from edgenas.tasks import TaskData, load_task
from edgenas.tasks.base import subset_train
from edgenas.workflows.config import SearchConfig, option_name


@dataclass
class Stopwatch:
    """Wall time of one invocation and of each of its stages (seconds), for ``report.json``."""

    started: float = field(default_factory=time.perf_counter)
    stages_s: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages_s[name] = self.stages_s.get(name, 0.0) + time.perf_counter() - start

    def record(self) -> dict[str, Any]:
        return {"wall_s": time.perf_counter() - self.started, "stages_s": dict(self.stages_s)}


def record_invocation(store: SqliteStore, watch: Stopwatch) -> None:
    """Append this invocation's timing to the run's (resumed runs add up)."""
    store.add_invocation(watch.record())


@dataclass(frozen=True)
class Prepared:
    """The target, the limits on it, the task's data and the space searched on it."""

    config: SearchConfig
    target: Target
    limits: Limits
    data: TaskData
    space: SearchSpace  # filtered to the target's native operators

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.config.run_dir)


def prepare(config: SearchConfig, say: Callable[[str], None], watch: Stopwatch | None = None) -> Prepared:
    """Validate, load target and data, build and filter the space (see the module docstring)."""
    watch = watch or Stopwatch()
    config.validate()
    target = load_target(config.target)
    limits = config.limits(target)
    if config.latency == "measured" and config.agent is None and target.name.split(":")[0] != "host":
        raise InvalidInputError(
            f"--latency measured times candidates on this machine: use --target host, not {target.name} "
            "(or --agent URL to measure on the device itself)"
        )
    if limits != config.limits():
        say(f"limits capped at what {target.name} has: {limits.sram_bytes:,} B SRAM, {limits.flash_bytes:,} B flash")
    if config.data is not None and not Path(config.data).is_dir():
        detection = config.task == "detection"
        layout = "images/ with YOLO labels/, or COCO annotations/*.json" if detection else "one sub-folder per class"
        raise InvalidInputError(f"--data {config.data}: not a readable folder (expected {layout})")
    check_task_searchable(config.task)  # before any data is drawn (detection's scenes take seconds)
    if config.task == "detection" and config.qat:
        raise InvalidInputError("--qat: quantization-aware training of detection models is not available yet; leave out --qat")
    with watch.stage("data"):
        say(f"preparing {config.task} data" if config.data is None else f"reading {config.data}")
        data = load_task(config.task, config.data, seed=config.seed, cache_dir=config.cache_dir, options=config.task_options)
        if config.train_subset is not None:
            own = getattr(data, "subset_train", None)  # detection data draw whole images, their boxes with them
            data = own(config.train_subset, config.seed) if own else subset_train(data, config.train_subset, config.seed)
    with watch.stage("space"):
        space, removed = filter_by_ops(space_for(data, config.space), target.native_ops, target.name)
        if config.compiler_choices is not None:  # the compiler's settings searched beside the architecture's
            from edgenas.spaces.compiler import CompilerJointSpace, parse_choices

            space = CompilerJointSpace(space, parse_choices(config.compiler_choices, str(config.compiler)), str(config.compiler))
    for message in removed:  # choices the target cannot run natively
        say(message)
    return Prepared(config, target, limits, data, space)


def check_run_folder(run: RunFolder, resume: bool) -> None:
    """A new search needs an empty folder; ``--resume`` needs one that holds a search; either needs
    a folder it can write that no other search is using."""
    check_writable(run.path, "--out", folder=True)
    run.check_unlocked()
    if run.holds_search() and not resume:
        raise InvalidInputError(f"{run.path} already holds a search: pass --resume to continue it, or choose another --out")
    if resume and not run.holds_search():
        raise InvalidInputError(f"--resume: {run.store_path} does not exist; start the search without --resume")


def open_run(prepared: Prepared, extra_identity: dict[str, Any] | None = None) -> SqliteStore:
    """The run's store: a new run records its configuration; a resumed one must match it."""
    config, space, data = prepared.config, prepared.space, prepared.data
    run = prepared.run
    had_wal = run.wal_path.is_file()  # before opening: opening creates one
    store = run.open_store(exclusive=True)
    try:
        sweep_temporaries(run.path)  # half-written files of a killed search (holding the lock: none is ours)
        identity = {**config.identity(), "data_sha1": data.fingerprint(), **(extra_identity or {})}
        stored = store.read_config()
        if config.resume:
            _check_nothing_lost(run, stored, store, had_wal)
        elif stored is not None:  # another search created it while this one prepared its data
            raise InvalidInputError(f"{run.path} already holds a search: pass --resume to continue it, or choose another --out")
        if stored is None:
            store.write_config(
                {
                    "identity": identity,
                    "limits": prepared.limits.to_dict(),
                    "target": prepared.target.to_dict(),
                    "space": space.name,
                    "space_params": space.params(),
                    "classes": list(data.classes),
                    "data": data.describe(),
                    # how every training ran: export --retrain trains a trial again the same way
                    "training": {"threads": config.threads, "device": config.device, "amp": config.amp},
                }
            )
        else:
            _check_resume(run.path, stored, identity, space)
        write_text(run.config_file, config.to_yaml())
    except BaseException:
        store.close()
        raise
    return store


def _check_nothing_lost(run: RunFolder, stored: dict[str, Any] | None, store: SqliteStore, had_wal: bool) -> None:
    """Refuse a resume whose store lacks what the run folder shows it held: the trials of a search
    killed before its store was checkpointed live in ``trials.db-wal``, and a copy of ``trials.db``
    alone (or a damaged ``-wal``) would silently train everything again."""
    if stored is None and run.config_file.is_file():
        lost = "holds no search configuration, but config.yaml shows a search was started here"
    elif stored is not None and not store.trials(role="search") and _had_trials(run):
        lost = "holds no trials, but the report or best/ shows the search had some"
    else:
        return
    wal = run.wal_path.name
    present = "is damaged" if had_wal else "is missing"
    raise InvalidInputError(
        f"--resume: {run.store_path} {lost}: its trials were kept in {wal}, which {present}; copy trials.db together "
        f"with {wal} from the original folder, or start a new search with another --out"
    )


def _had_trials(run: RunFolder) -> bool:
    """Whether files beside the store show finished search trials (a report counting some, a best model)."""
    if run.best_checkpoint.is_file():
        return True
    try:
        report = json.loads(run.report_json.read_text(encoding="utf-8"))
        counts = report["search"]["trials"]
        return isinstance(counts, dict) and sum(int(n) for n in counts.values()) > 0
    except (OSError, ValueError, KeyError, TypeError):
        return False


#: Options the task's data are made from: when one changed, so did the data's fingerprint.
_DATA_OPTIONS = ("task", "data", "seed", "train_subset", "task_options")


def _check_resume(path: Path, stored: dict[str, Any], identity: dict[str, Any], space: SearchSpace) -> None:
    """The options that define the stored search must be the same; the error names each difference.

    A changed option is named before what follows from it: a new ``--task`` or ``--seed`` changes
    the data and the space too, so those are not reported as causes of their own.
    """
    before = stored.get("identity", {})
    changed = sorted(k for k in identity if before.get(k) != identity[k])
    if any(k in changed for k in _DATA_OPTIONS):
        changed = [k for k in changed if k != "data_sha1"]
    options = [k for k in changed if k not in ("space", "data_sha1")]
    if stored.get("space_params") is not None or stored.get("space", space.name) != space.name:
        searched = space_from_config(stored)
        if (searched.name != space.name or searched.params() != space.params()) and not options:
            flag = searched.preset
            raise InvalidInputError(f"--resume: {path} searched the {flag} space; pass --space {flag} to continue it")
        if searched.name == space.name and searched.params() == space.params():
            changed = [k for k in changed if k != "space"]  # --space auto or its explicit value: the same genes
    if changed:
        parts = []
        for key in changed:
            if key == "data_sha1":
                parts.append("the data differ (features changed: a regenerated cache or an edited folder)")
            elif key == "task_options":  # each task option by its own flag
                was, now = before.get(key) or {}, identity[key] or {}
                for name in sorted(set(was) | set(now), key=str):
                    if was.get(name) != now.get(name):
                        parts.append(f"{option_name(name)} was {_shown(was.get(name))}, now {_shown(now.get(name))}")
            else:
                parts.append(f"{option_name(key)} was {_shown(before.get(key))}, now {_shown(identity[key])}")
        raise InvalidInputError(f"--resume: {path} was searched with other options: {'; '.join(parts)}; use the original options")


def _shown(value: Any) -> str:
    """A stored option as the user typed it."""
    if value is None:
        return "not given"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)
