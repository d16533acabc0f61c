"""The fuzz cases and how each one runs: in-process, in a worker process of its own.

A case is ``edgenas ARGS`` with one or two options given a bad value (:func:`flag_case`) or with a
crafted file where a file is read (:func:`file_case`). Cases run in-process through
:func:`edgenas.cli.main.run`, one after another, in a *worker* process that the test (or
``benchmarks/fuzz.py``) starts: a case that kills its process (a native crash, the memory limit)
costs one case, not the suite, and the global state a command sets (logging, warnings, the
working folder) never reaches pytest. The worker limits its address space, so an input that makes
edgenas allocate without bound fails as a ``MemoryError`` (a traceback: a bug) instead of
exhausting the machine.

Each case gets a folder ``BASE/<id>/`` holding ``in/`` (its files), ``work/`` (the working folder),
``home/`` (``HOME``) and ``cache/`` (``EDGENAS_CACHE``); a command must create nothing else there.
Commands stop before their heavy work (training, conversion, arena bisection, synthetic data,
timing the zoo): :data:`HEAVY` functions raise :class:`WouldWork`, so a case that reaches one counts
as *accepted*; one still running after ``timeout`` seconds is *skipped*.

    python -m tests.fuzz.runner --base DIR --seed 0 --cases 150 --results DIR/results.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz import generators as G

REPO = Path(__file__).resolve().parents[2]
#: What each command runs with besides the fuzzed value: valid, small, and quick to reject or accept.
BASE_ARGS: dict[str, tuple[str, ...]] = {
    "audit": ("{seeds}/model.tflite",),
    "bench": ("--seeds", "1", "--queries", "20", "--strategies", "random"),
    "export": ("{in}/run", "--format", "onnx"),
    "predictor eval": ("{seeds}/predictor.json", "--latency-table", "{seeds}/latency.csv"),
    "predictor fit": ("--out", "{work}/predictor.json", "--latency-table", "{seeds}/latency.csv", "--train-size", "20"),
    "profile": ("{seeds}/model.onnx", "--repeats", "2", "--warmup", "0"),
    "compile": ("{seeds}/model.onnx", "--out", "{work}/compiled", "--repeats", "2", "--warmup", "0"),
    "search": ("--data", "{seeds}/speech", "--budget", "1", "--epochs", "1"),
    "targets": (),
    "verify": ("{seeds}/model.tflite", "--data", "{seeds}/speech", "--clips", "2"),
    "zoo": ("--models", "mobilenetv2", "--repeats", "1", "--warmup", "0"),
    "agent serve": ("--token-file", "{seeds}/token", "--port", "8765"),
    "agent info": ("http://127.0.0.1:8765", "--token-file", "{seeds}/token"),
    "agent measure": ("http://127.0.0.1:8765", "{seeds}/model.onnx", "--token-file", "{seeds}/token", "--repeats", "2"),
    "dashboard": ("{in}", "--port", "0"),
    "report": ("{in}/run",),
    "runs compare": ("{in}/run", "{in}/run2", "--plot", "{work}/compare.png"),
    "runs list": ("{in}",),
    "runs show": ("{in}/run",),
}
#: Files a command's base arguments need in the case's own folder (it may write beside them).
BASE_FILES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "export": (("run", "run", 0),),
    "report": (("run", "run", 0),),
    "runs compare": (("run", "run", 0), ("run2", "run", 1)),
    "runs list": (("run", "run", 0),),
    "runs show": (("run", "run", 0),),
}
#: ``module:function`` that start the heavy work of a command: reaching one means the input was accepted.
HEAVY = (
    "edgenas.workflows.search:open_run",  # after search's flags, target and data were checked
    "edgenas.workflows.differentiable:run_differentiable",
    "edgenas.tasks.kws:load_synthetic",  # a minute of espeak-ng
    "edgenas.workflows.zoo:measure_model",
    "edgenas.export.verify:min_arena_bytes",  # TFLite Micro in child processes
    "edgenas.export.tflite:convert_int8",
    "edgenas.export.onnx_int8:quantize_onnx_int8",
    "edgenas.agent.server:serve",  # an agent's flags and token file were checked: it would start serving
    "edgenas.agent.client:AgentClient",  # the client's inputs were checked: it would contact the agent
    "edgenas.dashboard.app:listen",  # the dashboard's folder, host and token were checked: it would start serving
    "edgenas.compile.tvm:import_onnx",  # compile's model, target and counts were checked: TVM would import and build
)
#: Entries a case's folder holds; anything else was written outside the working folder.
CASE_ENTRIES = {"in", "work", "home", "cache"}


class WouldWork(BaseException):
    """A heavy function was reached: the command accepted its input (a BaseException: no command catches it)."""


class CaseTimeout(BaseException):
    """The case ran past its time."""


@dataclass(frozen=True)
class Case:
    id: str  # "<command>-<n>" or "file-<n>": stable for a seed
    command: str  # "predictor fit"
    label: str  # what is bad: "--top='-1'", "pt:flip_bits"
    args: tuple[str, ...]  # with {in}, {seeds} and {work} for the case's folders
    files: tuple[tuple[str, str, int], ...] = ()  # (name under in/, recipe, seed)


@dataclass
class Outcome:
    id: str
    command: str
    label: str
    code: int | None = None  # the exit code (None: no exit, see accepted/skipped/traceback)
    traceback: str | None = None  # "edgenas/x.py:12: KeyError: 'arch'" where a Python exception escaped
    accepted: str | None = None  # the heavy function reached
    skipped: str | None = None
    stray: list[str] = field(default_factory=list)  # entries written beside the working folder
    seconds: float = 0.0
    first_line: str = ""  # the first line on stderr (the error a user reads)

    @property
    def ok(self) -> bool:
        """The property: exit 0, 1 or 2 (or accepted), no traceback, nothing written outside."""
        fine_exit = self.code in (0, 1, 2) or self.accepted is not None or self.skipped is not None
        return fine_exit and self.traceback is None and not self.stray


# -- cases --------------------------------------------------------------------------------------------
def make_cases(seed: int, n: int) -> list[Case]:
    """``n`` cases: two in three fuzz flag values (every command in turn, options cycled), one in three
    a crafted file. Case ``k`` of a command depends on the seed, the command and ``k`` only."""
    params = G.commands()
    names = sorted(params)
    slots = [name for name in names for _ in range(1 + len(params[name]) // 8)]  # many options: more cases
    made: dict[str, int] = {}
    cases: list[Case] = []
    i = 0
    while len(cases) < n:
        if i % 3 == 2:
            k = made.get("file", 0)
            cases.append(file_case(random.Random(f"{seed}:file:{k}"), f"file-{k:03d}"))
            made["file"] = k + 1
        else:
            name = slots[(i - i // 3) % len(slots)]
            k = made.get(name, 0)
            rng = random.Random(f"{seed}:{name}:{k}")
            cases.append(flag_case(name, params[name], k, rng))
            made[name] = k + 1
        i += 1
    return cases


def _with_option(args: list[str], param: G.Param, value: str, params: tuple[G.Param, ...]) -> list[str]:
    """``args`` with ``param`` set to ``value`` (replacing its base value, or the positional argument)."""
    if param.flag is None:
        position = [p.name for p in params if p.flag is None].index(param.name)
        args[position] = value
        return args
    if param.kind == "bool":
        return [*args, param.flag]
    if param.flag in args:
        at = args.index(param.flag)
        del args[at : at + 2]
    return [*args, param.flag, value]


def flag_case(command: str, params: tuple[G.Param, ...], k: int, rng: random.Random) -> Case:
    """Case ``k`` of ``command``: its ``k``-th parameter (cycling) given a bad value, sometimes a second one too."""
    args = list(BASE_ARGS.get(command, ()))
    chosen = [params[k % len(params)]] if params else []
    if params and rng.random() < 0.25:
        chosen.append(rng.choice(params))
    labels = []
    for param in chosen:
        value = "" if param.kind == "bool" else G.value_for(param.kind, rng)
        args = _with_option(args, param, value, params)
        labels.append(param.flag if param.kind == "bool" else f"{param.flag or param.name}={value[:40]!r}")
    slug = command.replace(" ", "-")
    return Case(f"{slug}-{k:03d}", command, " ".join(labels) or "(no options)", tuple(args), BASE_FILES.get(command, ()))


SPEECH = ("--data", "{in}/speech", "--clips", "2")
PROFILE = ("--repeats", "2", "--warmup", "0")


def file_case(rng: random.Random, case_id: str) -> Case:
    """A crafted file where a command reads one: a model, checkpoint, target or config YAML, CSV table,
    WAV in a speech folder, PNG in an image folder, or a predictor file."""
    kind = rng.choice([*G.FILE_KINDS, "json"])
    seed = rng.randrange(2**31)
    mutation = G.binary_recipe(rng)
    options: list[tuple[str, tuple[str, ...], tuple[tuple[str, str, int], ...]]]
    if kind == "tflite":
        files = (("m.tflite", f"tflite:{mutation}", seed),)
        options = [
            ("audit", ("{in}/m.tflite",), files),
            ("verify", ("{in}/m.tflite", "--data", "{seeds}/speech", "--clips", "2"), files),
            ("profile", ("{in}/m.tflite", *PROFILE), files),
        ]
    elif kind == "onnx":
        files = (("m.onnx", f"onnx:{mutation}", seed),)
        options = [("audit", ("{in}/m.onnx",), files), ("profile", ("{in}/m.onnx", *PROFILE), files)]
    elif kind == "pt":
        mutation = rng.choice([mutation, "keys"])
        run = (("run", f"run-pt:{mutation}", seed),)
        options = [
            ("profile", ("{in}/run/best/model.pt", *PROFILE), run),
            ("export", ("{in}/run", "--format", "onnx"), run),
            ("verify", ("{in}/run/best/model_int8.tflite", "--data", "{seeds}/speech", "--clips", "2"), run),
        ]
    elif kind == "yaml":
        target = (("t.yaml", "yaml:target", seed),)
        options = [
            ("audit", ("{seeds}/model.tflite", "--target", "{in}/t.yaml"), target),
            ("verify", ("{seeds}/model.tflite", "--target", "{in}/t.yaml", *SPEECH[:2]), target),
            ("search", ("--target", "{in}/t.yaml", *BASE_ARGS["search"]), target),
            ("search", ("--config", "{in}/c.yaml", "--data", "{seeds}/speech"), (("c.yaml", "yaml:config", seed),)),
        ]
    elif kind == "csv":
        table = (("t.csv", "csv", seed),)
        options = [
            ("predictor fit", ("--out", "{work}/p.json", "--latency-table", "{in}/t.csv", "--train-size", "20"), table),
            ("predictor eval", ("{seeds}/predictor.json", "--latency-table", "{in}/t.csv"), table),
            ("bench", (*BASE_ARGS["bench"], "--latency-table", "{in}/t.csv"), table),
            ("bench", (*BASE_ARGS["bench"], "--accuracy-table", "{in}/t.csv"), table),
        ]
    elif kind == "wav":
        speech = (("speech", "speech", seed),)
        options = [
            ("verify", ("{seeds}/model.tflite", *SPEECH), speech),
            ("search", ("--data", "{in}/speech", "--budget", "1", "--epochs", "1"), speech),
        ]
    elif kind == "png":
        options = [
            ("search", ("--task", "images", "--data", "{in}/images", "--budget", "1"), (("images", "images", seed),)),
            ("export", ("{in}/run-images", "--format", "onnx-int8"), (("run-images", "run-images", seed),)),
        ]
    else:
        files = (("p.json", f"predictor:{mutation}", seed),)
        options = [("predictor eval", ("{in}/p.json", "--latency-table", "{seeds}/latency.csv"), files)]
    command, args, files = rng.choice(options)
    return Case(case_id, command, f"{kind}: {files[0][1]}", args, files)


# -- the files a case reads ---------------------------------------------------------------------------
def build_seeds(folder: Path) -> Path:
    """The valid files crafted ones start from (once per worker; the int8 conversion takes seconds)."""
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    G.write_onnx(folder / "model.onnx")
    G.write_checkpoint(folder / "model.pt")
    try:
        G.write_int8_tflite(folder / "model.tflite")
    except ImportError:  # without the tflite extra the .tflite cases are about a missing file
        pass
    (folder / "target.yaml").write_bytes(G.target_yaml())
    (folder / "config.yaml").write_text("budget: 1\nepochs: 1\nseed: 0\n")
    (folder / "latency.csv").write_bytes(G.latency_csv())
    (folder / "token").write_text("fuzz-token-0123456789abcdef\n")
    (folder / "token").chmod(0o600)
    for word in ("yes", "no"):
        for speaker in ("a", "b", "c"):
            (folder / "speech" / word).mkdir(parents=True, exist_ok=True)
            (folder / "speech" / word / f"{speaker}_nohash_0.wav").write_bytes(G.wav_bytes())
    for name in ("cat", "dog"):
        (folder / "images" / name).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            (folder / "images" / name / f"{i}.png").write_bytes(G.png_bytes(8, 8, grey=40 + 80 * i))
    _run_folder(folder / "run", {"task": "kws", "data": str(folder / "speech")}, folder)
    _quiet_run(["predictor", "fit", "--out", str(folder / "predictor.json"), "--latency-table", str(folder / "latency.csv"),
                "--train-size", "20"])  # fmt: skip
    done.write_text("")
    return folder


def _run_folder(path: Path, identity: dict[str, Any], seeds: Path) -> None:
    """A run folder as ``edgenas search`` leaves it: its store with the run's identity, ``best/``."""
    from edgenas.store import RunFolder

    run = RunFolder(path)
    with run.open_store() as store:
        store.write_config({"identity": identity, "data": {"input_shape": [49, 10]}})
    run.best_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(seeds / "model.pt", run.best_checkpoint)
    shutil.copy(seeds / "model.tflite", run.best_int8_tflite)


def _damaged_checkpoint(data: bytes, rng: random.Random) -> bytes:
    """A checkpoint with the right format tag and one key dropped, emptied or added."""
    import torch

    record = torch.load(io.BytesIO(data), weights_only=True)
    key = rng.choice(sorted(record))
    how = rng.choice(["drop", "empty", "extra"]) if key != "format" else "extra"
    if how == "drop":
        del record[key]
    elif how == "empty":
        record[key] = type(record[key])() if isinstance(record[key], dict | list | str) else None
    else:
        record[f"x{rng.randrange(10)}"] = 1
    buf = io.BytesIO()
    torch.save(record, buf)
    return buf.getvalue()


def materialize(files: tuple[tuple[str, str, int], ...], seeds: Path, folder: Path) -> None:
    """Write a case's files into ``folder`` (its ``in/``), with the odd paths every case may name."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "folder").mkdir(exist_ok=True)
    (folder / "empty").write_bytes(b"")
    unreadable = folder / "unreadable"
    unreadable.write_bytes(b"edgenas")
    unreadable.chmod(0)
    for name, recipe, seed in files:
        rng = random.Random(seed)
        kind, _, how = recipe.partition(":")
        target = folder / name
        if kind in ("tflite", "onnx", "predictor"):
            source = {"tflite": "model.tflite", "onnx": "model.onnx", "predictor": "predictor.json"}[kind]
            data = (seeds / source).read_bytes() if (seeds / source).is_file() else b"{}"
            target.write_bytes(G.MUTATORS[how](data, rng))
        elif kind == "yaml":
            base = G.target_yaml() if how == "target" else (seeds / "config.yaml").read_bytes()
            target.write_bytes(G.yaml_variants(base, rng))
        elif kind == "csv":
            target.write_bytes(G.csv_variants(G.latency_csv(), rng))
        elif kind == "speech":
            shutil.copytree(seeds / "speech", target)
            (target / "no" / "d_nohash_0.wav").write_bytes(G.wav_variants(rng))
        elif kind == "images":
            shutil.copytree(seeds / "images", target)
            (target / "dog" / "crafted.png").write_bytes(G.png_variants(rng))
        elif kind == "run":
            shutil.copytree(seeds / "run", target)
        elif kind == "run-pt":
            shutil.copytree(seeds / "run", target)
            data = (seeds / "model.pt").read_bytes()
            crafted = _damaged_checkpoint(data, rng) if how == "keys" else G.MUTATORS[how](data, rng)
            (target / "best" / "model.pt").write_bytes(crafted)
        elif kind == "run-images":
            images = folder / "images"
            shutil.copytree(seeds / "images", images)
            (images / "dog" / "crafted.png").write_bytes(G.png_variants(rng))
            _run_folder(target, {"task": "images", "data": str(images)}, seeds)
        else:
            raise ValueError(f"unknown recipe {recipe!r}")


# -- running a case -----------------------------------------------------------------------------------
def _quiet_run(args: list[str]) -> int:
    from edgenas.cli.main import run

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            run(args)
        except SystemExit as exc:
            return _exit_code(exc)
    return 0


def _exit_code(exc: SystemExit) -> int:
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def _where(exc: BaseException) -> str:
    """``edgenas/x.py:12: KeyError: 'arch'``: the deepest edgenas frame and the exception's last line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/edgenas/" in f.filename]
    place = f"{frames[-1].filename.split('/edgenas/', 1)[1]}:{frames[-1].lineno}: " if frames else ""
    text = (str(exc).strip().splitlines() or [""])[-1][:200]
    return f"edgenas/{place}{type(exc).__name__}: {text}" if place else f"{type(exc).__name__}: {text}"


@contextlib.contextmanager
def _environment(case_dir: Path) -> Iterator[None]:
    """The case's HOME, cache and working folder, restored afterwards."""
    saved_env = {k: os.environ.get(k) for k in ("HOME", "EDGENAS_CACHE", "MPLCONFIGDIR")}
    saved_cwd = os.getcwd()
    os.environ.update(
        HOME=str(case_dir / "home"), EDGENAS_CACHE=str(case_dir / "cache"), MPLCONFIGDIR=str(case_dir / "home" / ".mpl")
    )
    os.chdir(case_dir / "work")
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(case: Case, seeds: Path, base: Path, timeout: float) -> Outcome:
    """Run one case in this process (see the module docstring)."""
    from edgenas.cli.main import run

    case_dir = base / case.id
    if case_dir.exists():
        shutil.rmtree(case_dir, ignore_errors=True)
    for name in CASE_ENTRIES:
        (case_dir / name).mkdir(parents=True, exist_ok=True)
    materialize(case.files, seeds, case_dir / "in")
    places = {"{in}": case_dir / "in", "{seeds}": seeds, "{work}": case_dir / "work"}
    args = []
    for arg in case.args:
        for key, value in places.items():
            arg = arg.replace(key, str(value))
        args.append(arg)
    outcome = Outcome(case.id, case.command, case.label)
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with _environment(case_dir), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            with _deadline(timeout):
                run([*case.command.split(), *args])
            outcome.code = 0
        except SystemExit as exc:
            outcome.code = _exit_code(exc)
        except WouldWork as exc:
            outcome.accepted = str(exc)
        except CaseTimeout:
            outcome.skipped = f"still running after {timeout:g} s"
        except BaseException as exc:  # noqa: BLE001 - any other escape is a traceback: what the fuzz looks for
            outcome.traceback = _where(exc)
    outcome.seconds = round(time.perf_counter() - start, 3)
    text = err.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    outcome.first_line = lines[0][:300] if lines else ""
    if outcome.traceback is None and "Traceback (most recent call last)" in text:
        outcome.traceback = "printed: " + lines[-1][:200]
    outcome.stray = sorted(set(os.listdir(case_dir)) - CASE_ENTRIES)
    return outcome


def install_heavy_stops() -> None:
    """Replace each :data:`HEAVY` function by one that raises :class:`WouldWork`."""
    import importlib

    for spec in HEAVY:
        module_name, _, name = spec.partition(":")
        module = importlib.import_module(module_name)

        def stop(*args: Any, _name: str = spec, **kwargs: Any) -> Any:
            raise WouldWork(_name)

        setattr(module, name, stop)


def limit_memory(extra_bytes: int) -> None:
    """Cap the address space at what the process maps now plus ``extra_bytes``."""
    with open("/proc/self/status", encoding="ascii") as f:
        size_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    limit = size_kb * 1024 + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# -- the worker and its driver ------------------------------------------------------------------------
def worker(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run fuzz cases in this process; one JSON line per case.")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=150)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--memory-gib", type=float, default=3.0)
    args = parser.parse_args(argv)
    import edgenas.cli  # noqa: F401  # the commands, and the libraries they import, before the limit

    seeds = build_seeds(args.base / "seeds")
    install_heavy_stops()
    cases = make_cases(args.seed, args.cases)
    limit_memory(int(args.memory_gib * 2**30))
    (args.base / f"ready-{args.start}").write_text("")
    with open(args.results, "a", encoding="utf-8") as results:
        for case in cases[args.start :]:
            outcome = run_case(case, seeds, args.base, args.timeout)
            results.write(json.dumps(asdict(outcome)) + "\n")
            results.flush()


def run_all(
    seed: int, n: int, base: Path, *, timeout: float = 5.0, budget_s: float = 600.0, log: Path | None = None
) -> list[Outcome]:
    """Run the ``n`` cases of ``seed`` in worker processes (a new one after a crash) within ``budget_s``."""
    cases = make_cases(seed, n)
    base.mkdir(parents=True, exist_ok=True)
    results = base / "results.jsonl"
    results.unlink(missing_ok=True)
    done: dict[str, Outcome] = {}
    deadline = time.monotonic() + budget_s
    start = 0
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    while start < len(cases) and time.monotonic() < deadline:
        command = [sys.executable, "-m", "tests.fuzz.runner", "--base", str(base), "--seed", str(seed), "--cases", str(n)]
        command += ["--start", str(start), "--timeout", str(timeout), "--results", str(results)]
        with open(log or base / "worker.log", "ab") as sink:
            proc = subprocess.Popen(command, cwd=base, env=env, stdout=sink, stderr=sink)
            try:
                code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
        launched = start
        done = _read(results)
        finished = [c.id in done for c in cases]
        start = finished.index(False) if not all(finished) else len(cases)
        if code is None or start >= len(cases):
            break
        if code != 0 and not (base / f"ready-{launched}").is_file():  # it never ran a case: nothing to go on with
            tail = (log or base / "worker.log").read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"the fuzz worker failed to start (exit {code}): {' / '.join(tail)}")
        if code != 0:  # the worker died in case `start`: a crash of that case, then go on after it
            case = cases[start]
            crash = Outcome(case.id, case.command, case.label, code=code, traceback=f"worker died (exit {code})")
            with open(results, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(crash)) + "\n")
            done[case.id] = crash
            start += 1
    return [done.get(c.id) or Outcome(c.id, c.command, c.label, skipped="not reached within the fuzz time budget") for c in cases]


def _read(results: Path) -> dict[str, Outcome]:
    found = {}
    if results.is_file():
        for line in results.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                found[record["id"]] = Outcome(**record)
    return found


if __name__ == "__main__":
    worker()
