"""The compiler in the search loop: each candidate's latency measured on its TVM build, on this host.

``edgenas search --target host --latency compiled --compiler tvm`` prices each candidate with the
analytical model and replaces its latency with a *measurement* of the candidate as TVM compiled
it: built (``space.build``), exported to ONNX in memory as ``--latency measured`` does, its
constants folded, imported into Relax, built with TVM's default schedules (or with a small
MetaSchedule budget), and timed here with the protocol of ``--latency measured`` (one thread,
rounds of warm-up and timed runs, the minimum of the round medians).

One MetaSchedule database serves the whole search (``RUN/compiled/tvm/<target>/tuning/``, the
folder ``edgenas compile RUN`` also tunes in): a candidate's budget goes to its workloads that
have no record yet, the heaviest first, and the workloads an earlier candidate tuned (the same
layer shapes) are taken from the database. So compiling gets cheaper as the search goes on;
each candidate's compile and tuning figures are kept beside its latency, and the report sums
them up. Like every measured latency, the figures are cached by architecture
(``RunFolder.compiled_latency``): a resume or a repeated architecture is never compiled again.

With ``--agent URL`` the candidate is built here for ``--compile-target`` (another architecture's
triple, cross-linked) and timed on the agent's device by its ``tvm`` runtime, with the same rounds
(:class:`RemoteTimer`; the agent side is :mod:`edgenas.agent.compiled`). Tuning stays off then:
MetaSchedule would time its trial schedules here, not on the device.

With ``--compiler-choices`` the space is :class:`~edgenas.spaces.compiler.CompilerJointSpace`:
a candidate is a network *and* how TVM builds it (data layout, fusion, LLVM's optimisation
level, its tuning budget), each candidate is built with its own choices
(:class:`~edgenas.compile.tvm.BuildOptions`), and the cache by architecture key keys the pair.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.measure.loop import MeasuredLatency
from edgenas.trial import Cost

log = logging.getLogger(__name__)

#: ``--compiler`` values ``--latency compiled`` accepts.
SEARCH_COMPILERS = ("tvm",)
#: MetaSchedule trials per candidate when ``--tune-trials-per-candidate`` is left out: none, TVM's
#: default schedules (a few seconds a candidate; tuning adds seconds per trial batch).
DEFAULT_TRIALS_PER_CANDIDATE = 0


@dataclass(frozen=True)
class RemoteTimer:
    """Where a compiled candidate is timed when it is not this host: a device and how to time a library there.

    Args:
        name: The device as the cache and the report name it (``hostname (cpu model)``).
        time: ``time(library, feeds, threads, warmup, repeats)`` -> the wall-clock ms of each timed run.
    """

    name: str
    time: Callable[[Path, dict[str, np.ndarray], int, int, int], tuple[float, ...]]


@dataclass(frozen=True)
class CompiledOptions:
    """How ``--latency compiled`` compiles a candidate.

    Args:
        compiler: ``tvm`` (the only one; ``None`` when ``--compiler`` was left out, refused).
        target: The TVM target (``llvm``, ``llvm -mcpu=skylake``); it must run on this host.
        trials_per_candidate: MetaSchedule trials each candidate's new workloads get (0: default schedules).
        choices: ``--compiler-choices``: the compiler settings searched beside the architecture
            (``layout,fusion``; ``None``: every candidate built with the compiler's defaults).
        on_agent: Whether an agent times the builds (``--agent``): the target may then be another
            machine's, and nothing is tuned.
    """

    compiler: str | None = None
    target: str = "llvm"
    trials_per_candidate: int = DEFAULT_TRIALS_PER_CANDIDATE
    choices: str | None = None
    on_agent: bool = False

    @classmethod
    def of(cls, config: Any) -> CompiledOptions:
        """The options of a :class:`~edgenas.workflows.config.SearchConfig` (or anything with its fields)."""
        return cls(
            config.compiler,
            config.compile_target,
            config.tune_trials_per_candidate,
            getattr(config, "compiler_choices", None),
            getattr(config, "agent", None) is not None,
        )

    @classmethod
    def of_file(cls, path: Path) -> CompiledOptions:
        """The options written in a run's ``config.yaml`` (keys as the flags, as the search writes them)."""
        from edgenas._yaml import safe_load

        values = safe_load(Path(path).read_text(encoding="utf-8")) or {}
        default = cls()
        return cls(
            values.get("compiler"),
            str(values.get("compile_target", default.target)),
            int(values.get("tune_trials_per_candidate", default.trials_per_candidate)),
            values.get("compiler_choices"),
            values.get("agent") is not None,
        )

    @property
    def choice_names(self) -> tuple[str, ...]:
        """The ``--compiler-choices`` names, parsed (none without the flag)."""
        if self.choices is None:
            return ()
        from edgenas.spaces.compiler import parse_choices

        return parse_choices(self.choices, str(self.compiler))

    def check(self) -> None:
        """One line for what cannot run: no ``--compiler``, another compiler, a bad budget, a cross target, no TVM."""
        from edgenas.compile.target import parse_target
        from edgenas.compile.tuning import MAX_TRIALS

        if self.compiler is None:
            raise InvalidInputError("--latency compiled needs --compiler tvm (the compiler that builds each candidate)")
        if self.compiler not in SEARCH_COMPILERS:
            raise InvalidInputError(f"--compiler {self.compiler!r}: --latency compiled knows {', '.join(SEARCH_COMPILERS)}")
        if not 0 <= self.trials_per_candidate <= MAX_TRIALS:
            raise InvalidInputError(
                f"--tune-trials-per-candidate must be between 0 (TVM's default schedules) and {MAX_TRIALS:,}, "
                f"got {self.trials_per_candidate}"
            )
        if "trials" in self.choice_names and self.trials_per_candidate != 0:
            raise InvalidInputError(
                "--compiler-choices trials lets the search pick each candidate's tuning budget: drop --tune-trials-per-candidate"
            )
        try:
            spec = parse_target(self.target)
        except InvalidInputError as exc:  # its words name --target: here the flag is --compile-target
            raise InvalidInputError(str(exc).replace("--target", "--compile-target", 1)) from None
        if self.on_agent and (self.trials_per_candidate != 0 or "trials" in self.choice_names):
            raise InvalidInputError(
                "--agent times each build on the device, but MetaSchedule would time its schedules on this machine: "
                "drop --tune-trials-per-candidate (and 'trials' from --compiler-choices)"
            )
        if spec.is_cross and not self.on_agent:
            raise InvalidInputError(
                f"--compile-target {self.target!r} is another machine: add --agent URL of an 'edgenas agent serve "
                "--runtimes tvm --allow-native-code' on it (docs/agent.md), or leave -mtriple out to time builds here"
            )
        if spec.is_cross:
            from edgenas.compile.target import cross_compiler

            cross_compiler(spec)  # its GNU linker: named now, not at the first candidate
        from edgenas.compile.tvm import INSTALL_HINT, make_target

        try:
            import tvm  # noqa: F401
            from tvm import relax  # noqa: F401
        except ImportError:
            raise MissingExtraError(f"--latency compiled --compiler tvm needs Apache TVM: {INSTALL_HINT}") from None
        try:
            make_target(spec)  # a key TVM does not know: refused now, not at the first candidate
        except InvalidInputError as exc:
            raise InvalidInputError(str(exc).replace("--target", "--compile-target", 1)) from None

    @property
    def tuning_text(self) -> str:
        if "trials" in self.choice_names:
            return "a MetaSchedule budget chosen per candidate"
        n = self.trials_per_candidate
        return "default schedules" if n == 0 else f"{n} MetaSchedule trial{'s' if n != 1 else ''} per candidate"


class CompiledLatency(MeasuredLatency):
    """A ``CostFunction``: ``base(arch)`` with ``latency_ms`` measured on the candidate's TVM build, here.

    Args:
        space: Builds the candidate (``space.build(arch)``) and gives its input shape.
        base: The cost function whose other figures are kept (usually the analytical one).
        options: The compiler, its target and the tuning budget per candidate.
        cache: JSON file of measurements by architecture key (``None``: in memory only).
        folder: The compiler's folder for this target (``RUN/compiled/tvm/<target>``); the shared
            tuning database is its ``tuning/``.
        threads, warmup, repeats, rounds: As :class:`~edgenas.measure.loop.MeasuredLatency`.
        remote: Times the builds on another device (``--agent``) instead of this host.
    """

    name = "measured-tvm"

    def __init__(
        self,
        space: Any,
        base: Callable[[Arch], Cost],
        options: CompiledOptions,
        cache: Path | None,
        folder: Path,
        threads: int = 1,
        warmup: int = 5,
        repeats: int = 30,
        rounds: int = 3,
        remote: RemoteTimer | None = None,
    ) -> None:
        options.check()
        if options.on_agent != (remote is not None):
            raise InvalidInputError("--latency compiled with --agent needs the agent's timer (and only then)")
        super().__init__(space, base, cache, threads=threads, warmup=warmup, repeats=repeats, rounds=rounds)
        self.options = options
        self.remote = remote
        self.folder = Path(folder)
        self._built: dict[int | None, tuple[Any, Any]] = {}  # opt level -> (TargetSpec, tvm Target), made when first used

    @property
    def tuning_dir(self) -> Path:
        """The MetaSchedule database the whole search shares."""
        return self.folder / "tuning"

    def measured_by(self) -> str:
        searched = f"; compiler choices searched: {', '.join(self.options.choice_names)}" if self.options.choices else ""
        if self.remote is not None:
            return (
                f"tvm: TVM-compiled here for {self.options.target}, timed on {self.remote.name} by its agent "
                f"({self.options.tuning_text}{searched})"
            )
        return f"tvm: TVM-compiled on this machine (target {self.options.target}, {self.options.tuning_text}{searched})"

    def get_params(self) -> dict[str, object]:
        return {
            **super().get_params(),
            "compiler": self.options.compiler,
            "compile_target": self.options.target,
            "tune_trials_per_candidate": self.options.trials_per_candidate,
            "tuning_database": str(self.tuning_dir),
            **({"compiler_choices": list(self.options.choice_names)} if self.options.choices else {}),
        }

    def _target(self, build: Any = None) -> tuple[Any, Any]:
        """The target spec and TVM target of a build (its LLVM optimisation level; default: TVM's)."""
        level = None if build is None else build.opt_level
        if level not in self._built:
            from edgenas.compile import tvm as backend
            from edgenas.compile.target import parse_target

            spec = parse_target(self.options.target).with_cores(self.threads)
            spec = spec if build is None else build.target(spec)
            self._built[level] = (spec, backend.make_target(spec))
        return self._built[level]

    def compiler_values(self, arch: Arch) -> dict[str, Any]:
        """The compiler choices a candidate carries (a joint space's genotype), or none."""
        values = getattr(self.space, "compiler_values", None)
        return dict(values(arch)) if values is not None else {}

    def _time_rounds(self, library: Path, feeds: dict[str, np.ndarray]) -> tuple[list[float], list[float]]:
        """Each round's median and IQR (ms) of a library's timed runs: here, or on the agent's device."""
        from edgenas.compile import tvm as backend
        from edgenas.measure.ort import time_runs

        if self.remote is not None:
            remote = self.remote
            run_round = lambda: remote.time(library, feeds, self.threads, self.warmup, self.repeats)  # noqa: E731
        else:
            host = backend.HostModel(library, feeds, self.threads)  # released on return, before the library goes
            run_round = lambda: time_runs(host.run, self.warmup, self.repeats)  # noqa: E731
        medians, iqrs = [], []
        for _ in range(self.rounds):
            times = np.asarray(run_round())
            medians.append(float(np.median(times)))
            q1, q3 = np.percentile(times, [25, 75])
            iqrs.append(float(q3 - q1))
        return medians, iqrs

    def measure(self, arch: Arch) -> dict[str, float]:
        """Export, compile (and tune the new workloads of) one architecture, then time its build (no cache)."""
        import torch

        from edgenas.compile import tuning
        from edgenas.compile import tvm as backend
        from edgenas.measure.pytorch import onnx_bytes

        order = len(self.records())  # the how-many-th compile of the search (a resume keeps counting)
        values = self.compiler_values(arch)
        build = backend.BuildOptions.of(values)
        trials = int(values.get("trials", self.options.trials_per_candidate))
        spec, target = self._target(build)
        started = time.perf_counter()
        shape = self.space.input_shape  # kws: an attribute; mbconv: a method (the resolution is a decision)
        example = torch.zeros(1, *(shape(arch) if callable(shape) else shape))
        model = backend.fold_constants(onnx_bytes(self.space.build(arch).eval(), example))
        feeds = backend.example_inputs(model)
        mod = backend.import_onnx(backend.load_onnx(model), feeds, f"candidate {arch.key()}")
        mod = backend.prepare(mod, target, build)
        figures: dict[str, float] = {"tune_s": 0.0, "tasks": 0, "reused_tasks": 0, "new_records": 0}
        if trials > 0:
            database, outcome = tuning.tune(mod, target, self.tuning_dir, trials, threads=self.threads, only_new=True)
            figures = {
                "tune_s": outcome.seconds,
                "tasks": outcome.tasks,
                "reused_tasks": outcome.reused_tasks,
                "new_records": outcome.new_records,
                "records": outcome.records,
            }
            executable = tuning.build_tuned(database, mod, target)
        else:
            executable = backend.build_untuned(mod, target)
        with tempfile.TemporaryDirectory(prefix="edgenas-tvm-") as folder:
            library = backend.export(executable, Path(folder) / "candidate.so", spec)
            compile_s = time.perf_counter() - started
            medians, iqrs = self._time_rounds(library, feeds)
        best = int(np.argmin(medians))
        log.debug("compiled %s in %.1f s", arch.key(), compile_s)
        return {
            "latency_ms": medians[best],
            "iqr_ms": iqrs[best],
            **({} if self.remote is not None else {"load_1min": os.getloadavg()[0]}),
            "order": order,
            "compile_s": compile_s,
            **figures,
            **({"trials": trials} if values else {}),
        }
