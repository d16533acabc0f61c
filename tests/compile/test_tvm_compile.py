"""``edgenas compile --compiler tvm``: builds that run and agree with ONNX Runtime, a tiny tuning
run that writes its database, the per-function breakdown, the cross build, and the bad inputs.

Skipped where the ``tvm`` extra is absent. Tuning budgets here are a handful of trials on a
model of a few kilo-MACs, so the file stays within a minute on two shared cores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("tvm")

from edgenas.cli.main import run as edgenas_run  # noqa: E402
from edgenas.compile import compile_model  # noqa: E402
from edgenas.compile import tvm as backend  # noqa: E402
from edgenas.compile.target import parse_target  # noqa: E402
from edgenas.measure.pytorch import onnx_bytes  # noqa: E402
from tests.cli.test_cli import assert_one_line_error  # noqa: E402


def _write(module: nn.Module, example: torch.Tensor, path: Path) -> Path:
    torch.manual_seed(0)
    path.write_bytes(onnx_bytes(module.eval(), example))
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """Two 3x3 convolutions (16 channels, 24x24) and a classifier: the kernels dominate a run."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 24 * 24, 4),
    )
    return _write(net, torch.zeros(1, 1, 24, 24), tmp_path_factory.mktemp("models") / "small.onnx")


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        edgenas_run(list(args))
    except SystemExit as stop:
        code = int(stop.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(code: int, err: str, *fragments: str) -> None:
    assert_one_line_error(subprocess.CompletedProcess([], code, "", err), *fragments)


def test_untuned_build_matches_onnx_runtime_and_its_breakdown_adds_up(small, tmp_path):
    import onnxruntime as ort

    spec = parse_target("llvm").with_cores(1)
    target = backend.make_target(spec)
    model = backend.load_onnx(small)
    feeds = backend.example_inputs(small)
    mod = backend.prepare(backend.import_onnx(model, feeds, "small"), target)
    library = backend.export(backend.build_untuned(mod, target), tmp_path / "untuned.so", spec)
    measured, output = backend.measure(library, feeds, backend="tvm-untuned", warmup=3, repeats=30)

    expected = ort.InferenceSession(str(small), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.max(np.abs(output - expected)) < 1e-4
    assert measured.repeats == 30 and measured.median_ms > 0
    kernels = [op for op in measured.ops if op.op_type != "vm built-in"]
    assert any("conv2d" in op.name for op in kernels)
    summed = sum(op.ms_per_run for op in measured.ops)
    assert 0.5 < summed / measured.median_ms < 2.0  # the instrumented calls cover the run (hook overhead aside)
    assert sum(share for _, share in measured.bottlenecks(100)) == pytest.approx(1.0)


def test_tuned_build_writes_the_database_and_the_library_and_agrees(small, tmp_path):
    result = compile_model(small, tune_trials=3, warmup=2, repeats=10, out=tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "untuned.so").is_file() and (out / "tuned.so").is_file()
    assert (out / "tuning" / "database_tuning_record.json").stat().st_size > 0
    assert (out / "tuning" / "database_workload.json").is_file()
    assert (out / "compile.json").is_file()
    assert result.tuning is not None and result.tuning.trials == 3 and result.tuning.new_records >= 1
    assert result.tuning.seconds > 0 and result.tuning.tasks >= 2
    assert result.untuned is not None and result.tuned is not None and result.speedup is not None
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4
    summary = result.to_dict()
    assert summary["kind"] == "measured" and summary["tuned"]["backend"] == "tvm-tuned"


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None, reason="no aarch64 cross compiler (gcc-aarch64-linux-gnu)")
def test_cross_build_for_aarch64_writes_a_library_and_is_not_run(small, tmp_path, capsys):
    code, out, err = _cli(
        capsys, "compile", str(small), "--target", "llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72", "--out", str(tmp_path)
    )
    assert code == 0, err
    library = tmp_path / "untuned.so"
    assert library.read_bytes()[:4] == b"\x7fELF" and library.read_bytes()[18] == 183  # e_machine EM_AARCH64
    assert "built, not run: no aarch64-linux-gnu device here" in " ".join(out.split())
    assert not (tmp_path / "tuned.so").exists()


def test_default_folder_is_beside_the_model_and_named_for_the_target(small, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    model.write_bytes(small.read_bytes())
    code, out, err = _cli(capsys, "compile", str(model), "--no-tune", "--repeats", "3", "--warmup", "1", "--json")
    assert code == 0, err
    assert (tmp_path / "compiled" / "tvm" / "llvm" / "untuned.so").is_file()
    assert '"speedup": null' in out


class _Gru(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[0]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_model_tvm_cannot_import_names_the_operator(tmp_path, capsys):
    gru = tmp_path / "gru.onnx"
    torch.onnx.export(_Gru().eval(), (torch.zeros(1, 5, 4),), str(gru), dynamo=False)
    code, _, err = _cli(capsys, "compile", str(gru), "--no-tune")
    _one_line_error(code, err, "GRU")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--tune-trials", "0"], ["--tune-trials", "got 0", "--no-tune"]),
        (["--tune-trials", "-5"], ["--tune-trials", "got -5"]),
        (["--target", "llvm -bogus=1", "--no-tune"], ["--target", "TVM does not accept it", "bogus"]),
        (["--target", "llvmx", "--no-tune"], ["--target", "llvm"]),
        (["--target", "llvm -mtriple=arm-none-eabi -mcpu=cortex-m4"], ["microTVM", "--format firmware"]),
        (["--target", "llvm -mtriple=aarch64-linux-gnu", "--tune-trials", "4"], ["--tune-trials", "another machine"]),
        (["--compiler", "xla"], ["--compiler", "tvm"]),
        (["--tune-trials", "4", "--no-tune"], ["--no-tune"]),
    ],
)
def test_bad_options_are_one_line(small, capsys, args, fragments):
    code, _, err = _cli(capsys, "compile", str(small), *args)
    _one_line_error(code, err, *fragments)


def test_bad_model_files_are_one_line(tmp_path, capsys):
    code, _, err = _cli(capsys, "compile", str(tmp_path / "absent.onnx"))
    _one_line_error(code, err, "no such file")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    code, _, err = _cli(capsys, "compile", str(junk), "--no-tune")
    _one_line_error(code, err, "not an ONNX model")
    text = tmp_path / "model.txt"
    text.write_text("x")
    code, _, err = _cli(capsys, "compile", str(text))
    _one_line_error(code, err, ".onnx")
    code, _, err = _cli(capsys, "compile", str(tmp_path))  # a folder without best/
    _one_line_error(code, err, "best/model.onnx")


def test_tvm_missing_names_the_extra(small, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tvm", None)
    code, _, err = _cli(capsys, "compile", str(small), "--no-tune")
    _one_line_error(code, err, "pip install 'edgenas[tvm]'")


def test_a_run_folder_compiles_its_best_model_into_its_compiled_folder(small, tmp_path, capsys):
    (tmp_path / "run" / "best").mkdir(parents=True)
    (tmp_path / "run" / "best" / "model.onnx").write_bytes(small.read_bytes())
    code, _, err = _cli(capsys, "compile", str(tmp_path / "run"), "--no-tune", "--repeats", "3", "--warmup", "1")
    assert code == 0, err
    assert (tmp_path / "run" / "compiled" / "tvm" / "llvm" / "untuned.so").is_file()


def test_target_strings_in_both_forms():
    spec = parse_target("llvm -mcpu=cortex-a72 -mtriple=aarch64-linux-gnu -mattr=+neon,+v8a -num-cores=4")
    assert spec.config == {
        "kind": "llvm",
        "mcpu": "cortex-a72",
        "mtriple": "aarch64-linux-gnu",
        "mattr": ["+neon", "+v8a"],
        "num-cores": 4,
    }
    assert spec.slug.startswith("llvm-mattr-neon-v8a-mcpu-cortex-a72")
    assert parse_target('{"kind": "llvm", "mcpu": "skylake"}').config == {"kind": "llvm", "mcpu": "skylake"}
    assert parse_target("llvm").slug == "llvm"
    assert parse_target("llvm").with_cores(2).config["num-cores"] == 2
