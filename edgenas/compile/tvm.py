"""Apache TVM: import an ONNX model, build it, export the library, and time it on this host.

The untuned build is TVM's default CPU pipeline (operators legalized to loops and fused, no
schedule search); the tuned build applies a MetaSchedule database (:mod:`.tuning`) to the same
prepared module, so the two differ only in the schedules. Timing reuses the protocol of
``edgenas profile`` (:func:`edgenas.measure.ort.time_runs_with_cpu`, a :class:`Measurement`);
the per-function breakdown comes from the Relax VM's instrument hook (TVM 0.27 has no VM
profiler in its Python package), timed in a separate VM so the headline runs carry no hook.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from edgenas.compile.target import TargetSpec, cross_compiler
from edgenas.errors import InvalidInputError, MissingExtraError
from edgenas.measure.base import Measurement, OpTime, check_counts
from edgenas.measure.ort import time_runs_with_cpu

INSTALL_HINT = "pip install 'edgenas[tvm]'"


def require_tvm() -> ModuleType:
    """The ``tvm`` package, or one line naming the extra that installs it."""
    try:
        import tvm
        from tvm import relax  # noqa: F401  (the Relax front end and VM must be there too)
    except ImportError:
        raise MissingExtraError(f"edgenas compile --compiler tvm needs Apache TVM: {INSTALL_HINT}") from None
    return tvm


def tvm_version() -> str:
    return f"tvm {require_tvm().__version__}"


def make_target(spec: TargetSpec) -> Any:
    """A ``tvm.target.Target``; a key TVM does not know -> one line with TVM's reason."""
    tvm = require_tvm()
    try:
        return tvm.target.Target(spec.config)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"--target {spec.text!r}: TVM does not accept it ({_first_line(exc)})") from None


def load_onnx(model: bytes | Path) -> Any:
    """The ONNX model proto (from a file or bytes), or one line saying it is not one."""
    import onnx

    try:
        if isinstance(model, Path):
            return onnx.load(str(model))
        return onnx.load_from_string(model)
    except Exception as exc:  # protobuf's DecodeError, OSError
        what = model if isinstance(model, Path) else "the model"
        raise InvalidInputError(f"{what} is not an ONNX model ({_first_line(exc)})") from None


def fold_constants(model: bytes) -> bytes:
    """The ONNX model with its constant sub-graphs folded, by ONNX Runtime's basic graph optimisations.

    The TorchScript exporter writes an asymmetric ``ZeroPad2d`` (the "same" padding of a stride-2
    block) as a ``Pad`` whose pads are computed from constants at run time, and TVM's ONNX front
    end takes constant pads only. The basic level folds such chains (and merges the ``Pad`` into
    the ``Conv``) and rewrites with standard ONNX operators only, so TVM imports the result.
    """
    import tempfile

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    with tempfile.TemporaryDirectory(prefix="edgenas-fold-") as folder:
        options.optimized_model_filepath = str(Path(folder) / "folded.onnx")
        try:
            ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime refuses the graph: say so in one line
            raise InvalidInputError(f"the model is not a valid ONNX graph ({_first_line(exc)})") from None
        return Path(options.optimized_model_filepath).read_bytes()


def example_inputs(model: bytes | Path) -> dict[str, np.ndarray]:
    """The inputs ``edgenas profile`` feeds the same file (declared shapes, symbolic dimensions -> 1, seed 0)."""
    from edgenas.measure import ort

    return ort.example_inputs(ort.session(model, threads=1))


def import_onnx(model: Any, feeds: dict[str, np.ndarray], label: str) -> Any:
    """The Relax module of an ONNX model; an operator TVM's front end lacks -> one line naming it."""
    require_tvm()
    import tvm
    from tvm.relax.frontend.onnx import from_onnx

    shapes = {name: list(x.shape) for name, x in feeds.items()}
    dtypes = {name: str(x.dtype) for name, x in feeds.items()}
    try:
        return from_onnx(model, shape_dict=shapes, dtype_dict=dtypes)
    except tvm.error.OpNotImplemented as exc:
        ops = str(exc).split(":", 1)[-1].strip().splitlines()[0]
        raise InvalidInputError(
            f"{label}: TVM's ONNX front end cannot import operator(s) {ops} (export the model without them)"
        ) from None
    except Exception as exc:  # a converter that rejects an attribute or a shape
        raise InvalidInputError(f"{label}: TVM's ONNX front end cannot import it ({_first_line(exc)})") from None


@dataclass(frozen=True)
class BuildOptions:
    """How TVM builds a model, beyond its target: what a search may choose per candidate.

    Every default is TVM's own, so ``BuildOptions()`` is the build ``edgenas compile`` makes.

    Args:
        layout: ``NCHW`` (the ONNX model's) or ``NHWC``: conv2d's data layout, converted by
            Relax's ``ConvertLayout`` (weights ``OHWI``) before legalization; the layout
            transforms it needs are legalized and fused like any operator.
        fusion: ``on`` (``FuseOps`` and ``FuseTIR``) or ``off``: every legalized operator stays
            its own kernel. ``off`` marks each kernel opaque, so the build's own pipeline (which
            fuses again) leaves them apart too, tuned or not.
        opt_level: LLVM's optimisation level of the generated code (the target's ``opt-level``;
            ``None``: TVM's default, 3).
    """

    layout: str = "NCHW"
    fusion: str = "on"
    opt_level: int | None = None

    def __post_init__(self) -> None:
        if self.layout not in ("NCHW", "NHWC") or self.fusion not in ("on", "off"):
            raise InvalidInputError(f"unknown TVM build options: layout {self.layout!r}, fusion {self.fusion!r}")

    @classmethod
    def of(cls, values: dict[str, Any]) -> BuildOptions:
        """The options of a search's compiler choices (``layout``, ``fusion``, ``opt-level``; others ignored)."""
        opt_level = values.get("opt-level")
        return cls(
            str(values.get("layout", "NCHW")), str(values.get("fusion", "on")), None if opt_level is None else int(opt_level)
        )

    def target(self, spec: TargetSpec) -> TargetSpec:
        """``spec`` with this build's LLVM optimisation level."""
        if self.opt_level is None:
            return spec
        return TargetSpec(spec.text, {**spec.config, "opt-level": self.opt_level})


def prepare(mod: Any, target: Any, options: BuildOptions | None = None) -> Any:
    """Legalize and fuse the module the way MetaSchedule extracts tasks from it (both builds start here).

    ``options`` converts the layout first and, with fusion off, leaves every kernel unfused and opaque.
    """
    import tvm
    from tvm import relax

    options = options or BuildOptions()
    passes = [relax.transform.DecomposeOpsForInference(), relax.transform.CanonicalizeBindings()]
    if options.layout == "NHWC":
        passes += [
            relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "OHWI"]}),
            relax.transform.CanonicalizeBindings(),
        ]
    if options.fusion == "on":
        passes.append(relax.get_pipeline("zero"))
    else:  # the zero pipeline without FuseOps / FuseTIR
        passes += [
            relax.transform.LegalizeOps(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.DeadCodeElimination(),
        ]
    with target:
        mod = tvm.transform.Sequential(passes)(mod)
    return mod if options.fusion == "on" else _opaque(mod)


#: TVM's ``OpPatternKind.kOpaque``: ``FuseOps`` never fuses a kernel so marked.
_OPAQUE = 8


def _opaque(mod: Any) -> Any:
    """Every TIR function of ``mod`` marked opaque: the build pipeline's own ``FuseOps`` leaves them apart."""
    for gvar in list(mod.functions):
        func = mod[gvar]
        if type(func).__name__ == "PrimFunc":
            mod[gvar] = func.with_attr("op_pattern", _OPAQUE)
    return mod


def build_untuned(mod: Any, target: Any) -> Any:
    """TVM's default CPU build: no schedule search."""
    from tvm import relax

    return relax.build(mod, target=target)


def export(executable: Any, path: Path, spec: TargetSpec) -> Path:
    """Write the compiled library (``.so``); a cross target links with its GNU cross compiler."""
    from edgenas.export.tflite import quiet_native_output

    path.parent.mkdir(parents=True, exist_ok=True)
    with quiet_native_output():  # TVM logs a warning line per saved module from native code
        if spec.is_cross:
            from tvm.support import cc

            executable.export_library(str(path), fcompile=cc.cross_compiler(cross_compiler(spec)))
        else:
            executable.export_library(str(path))
    return path


class HostModel:
    """An exported library loaded into a Relax VM on this CPU, with its inputs ready."""

    def __init__(self, library: Path, feeds: dict[str, np.ndarray], threads: int) -> None:
        tvm = require_tvm()
        from tvm import relax

        set_threads(threads)
        from edgenas.export.tflite import quiet_native_output

        self.library = library
        with quiet_native_output():  # a warning line per loaded module, from native code
            self._lib = tvm.runtime.load_module(str(library))
        self.vm = relax.VirtualMachine(self._lib, tvm.cpu())
        self.main = self.vm["main"]
        self.args = [tvm.runtime.tensor(x) for x in feeds.values()]
        self.input_shape = tuple(next(iter(feeds.values())).shape)

    def run(self) -> Any:
        return self.main(*self.args)

    def output(self) -> np.ndarray:
        """The first output of one run, as a NumPy array."""
        out = self.run()
        while not hasattr(out, "numpy"):  # a tuple of outputs
            out = out[0]
        return np.asarray(out.numpy())

    def function_times(self, runs: int) -> tuple[OpTime, ...]:
        """Time of every call the VM makes (compiled kernels and VM built-ins), ms per run.

        A second VM on the same library carries the instrument hook, so the timed runs of
        :func:`measure` never do. Each function's time is the median of its calls times its
        calls per run: one preempted call on a shared machine would otherwise dominate.
        """
        tvm = require_tvm()
        from tvm import relax

        vm = relax.VirtualMachine(self._lib, tvm.cpu())
        main = vm["main"]
        durations: dict[str, list[float]] = {}
        started: list[int] = []

        def instrument(func: Any, name: str, before: bool, ret: Any, *args: Any) -> int:
            if before:
                started.append(time.perf_counter_ns())
            elif started:
                durations.setdefault(str(name), []).append((time.perf_counter_ns() - started.pop()) / 1e6)
            return 0  # VMInstrumentReturnKind.NO_OP: run the call

        vm.set_instrument(instrument)
        main(*self.args)  # the first run allocates: left out
        durations.clear()
        for _ in range(runs):
            main(*self.args)
        rows = []
        for name, times in durations.items():
            calls = len(times) / runs
            rows.append(OpTime(name, _function_type(name), float(np.median(times)) * calls, calls))
        return tuple(rows)


def measure(
    library: Path,
    feeds: dict[str, np.ndarray],
    *,
    backend: str,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    per_function: bool = True,
    profile_runs: int = 20,
    label: str | None = None,
) -> tuple[Measurement, np.ndarray]:
    """Time a compiled library on this CPU (the protocol of ``edgenas profile``) and return its output too."""
    check_counts(repeats, warmup, threads)
    host = HostModel(library, feeds, threads)
    output = host.output()
    times, cpu_times = time_runs_with_cpu(host.run, warmup, repeats)
    ops = host.function_times(min(profile_runs, max(repeats, 1))) if per_function else ()
    measurement = Measurement(
        backend=backend,
        model=label or str(library),
        threads=threads,
        warmup=warmup,
        times_ms=times,
        ops=ops,
        ops_note=None if per_function else "per-function profiling not requested",
        input_shape=host.input_shape,
        cpu_times_ms=cpu_times,
    )
    return measurement, output


def set_threads(threads: int) -> None:
    """Size TVM's CPU thread pool (process-wide in TVM: every VM in this process uses it)."""
    tvm = require_tvm()
    tvm.get_global_func("runtime.config_threadpool")(0, threads)


def _function_type(name: str) -> str:
    if name.startswith("vm.builtin."):
        return "vm built-in"
    return re.sub(r"\d+$", "", name) or name


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[-1] if lines and lines[0].startswith("Traceback") else (lines[0] if lines else type(exc).__name__))[:200]
