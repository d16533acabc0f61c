"""Host measurement: structure and sanity of what each runtime reports (never timing thresholds)."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgenas.errors import InvalidInputError, MissingExtraError, UnknownNameError
from edgenas.export.checkpoint import save_checkpoint
from edgenas.measure import Measurement, OpTime, measure_model
from edgenas.measure.ort import ops_from_trace
from edgenas.measure.pytorch import onnx_bytes
from edgenas.spaces import KwsSpace

FAST = {"repeats": 5, "warmup": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A small kws network as an edgenas checkpoint and as ONNX."""
    folder = tmp_path_factory.mktemp("models")
    space = KwsSpace()
    arch = space.arch([0, 0, 1, 0, 1] + [0, 0, 0] * space.max_depth)  # 2d, 16 channels, two blocks
    module = space.build(arch).eval()
    pt = save_checkpoint(
        folder / "model.pt",
        module,
        arch,
        {"num_classes": 12, "input_shape": [49, 10]},
        list("abcdefghijkl"),
        np.zeros(10),
        np.ones(10),
    )
    onnx = folder / "model.onnx"
    onnx.write_bytes(onnx_bytes(module, torch.zeros(1, 49, 10)))  # the fast exporter: seconds saved per run
    return {"pt": pt, "onnx": onnx, "folder": folder}


def _sane(m: Measurement, repeats: int) -> None:
    assert m.repeats == repeats and all(t > 0 for t in m.times_ms)
    assert m.min_ms <= m.median_ms <= m.p90_ms <= m.max_ms
    assert m.iqr_ms >= 0 and m.cv >= 0
    assert len(m.load_avg) == 3
    # the calling thread's CPU time, one per timed run (one thread: the runtime computes on the caller)
    assert len(m.cpu_times_ms) == repeats and all(t >= 0 for t in m.cpu_times_ms)
    assert m.cpu_median_ms >= 0 and m.cpu_iqr_ms >= 0
    assert m.runtime.startswith({"onnxruntime": "onnxruntime", "litert": "ai-edge-litert", "torch": "torch"}[m.backend])


def test_onnxruntime_times_and_breaks_down_by_node(models):
    m = measure_model(models["onnx"], **FAST)
    _sane(m, 5)
    assert m.backend == "onnxruntime" and m.threads == 1 and m.input_shape == (1, 49, 10)
    types = {op.op_type for op in m.ops}
    assert "Conv" in types and "Gemm" in types
    shares = [share for _, share in m.bottlenecks(top=len(m.ops))]
    assert sum(shares) == pytest.approx(1.0)
    assert shares == sorted(shares, reverse=True)
    summary = m.to_dict(top=3)
    assert summary["kind"] == "measured" and len(summary["operators"]["bottlenecks"]) == 3
    assert set(summary["latency_ms"]) == {"median", "mean", "min", "max", "iqr", "p90"}
    assert summary["cpu_ms"] == {"median": m.cpu_median_ms, "iqr": m.cpu_iqr_ms}
    assert summary["runtime"].startswith("onnxruntime ")
    json.dumps(summary)


def test_torch_profiles_a_search_checkpoint(models):
    m = measure_model(models["pt"], **FAST)
    _sane(m, 5)
    assert m.backend == "torch" and m.input_shape == (1, 49, 10)
    assert any("conv" in op.name for op in m.ops)
    assert torch.get_num_threads() >= 1


def test_a_checkpoint_runs_on_onnxruntime_through_an_in_memory_export(models):
    m = measure_model(models["pt"], "onnxruntime", **FAST)
    _sane(m, 5)
    assert "in memory" in m.model and any(op.op_type == "Conv" for op in m.ops)


def test_litert_runs_a_tflite_file_and_says_it_has_no_per_op_times():
    pytest.importorskip("ai_edge_litert")
    tflm = pytest.importorskip("tflite_micro")
    path = Path(tflm.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not shipped with this tflite_micro")
    m = measure_model(path, **FAST)
    _sane(m, 5)
    assert m.backend == "litert" and m.ops == () and "FULLY_CONNECTED" in (m.ops_note or "")


def test_litert_without_the_extra_names_it(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_litert(name, *args, **kwargs):
        if name.startswith("ai_edge_litert"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_litert)
    path = tmp_path / "m.tflite"
    path.write_bytes(b"\0" * 16)
    with pytest.raises(MissingExtraError, match=r"edgenas\[tflite\]"):
        measure_model(path, **FAST)


def test_bad_inputs_are_user_errors(models, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InvalidInputError, match="not an ONNX model"):
        measure_model(bad, **FAST)
    with pytest.raises(UnknownNameError, match="onnxruntime, litert, litert-no-xnnpack, torch"):
        measure_model(models["onnx"], "tvm", **FAST)
    with pytest.raises(InvalidInputError, match="cannot run a .onnx"):
        measure_model(models["onnx"], "torch", **FAST)
    with pytest.raises(InvalidInputError, match="not a model file"):
        measure_model(tmp_path / "notes.txt", **FAST)
    with pytest.raises(InvalidInputError, match="--repeats"):
        measure_model(models["onnx"], repeats=0)


def test_statistics_follow_the_runs():
    m = Measurement("onnxruntime", "x", 1, 0, times_ms=(1.0, 2.0, 3.0, 4.0, 100.0))
    assert m.median_ms == 3.0 and m.min_ms == 1.0 and m.max_ms == 100.0 and m.iqr_ms == 2.0
    assert m.cv == pytest.approx(np.std([1, 2, 3, 4, 100], ddof=1) / 22.0)
    assert m.p90_ms == pytest.approx(np.percentile([1, 2, 3, 4, 100], 90)) and m.median_ms <= m.p90_ms <= m.max_ms


def test_cpu_figures_follow_the_cpu_times_and_are_absent_when_not_recorded():
    m = Measurement("onnxruntime", "x", 1, 0, times_ms=(2.0, 3.0, 4.0, 5.0, 9.0), cpu_times_ms=(1.0, 2.0, 3.0, 4.0, 8.0))
    assert m.cpu_median_ms == 3.0 and m.cpu_iqr_ms == 2.0
    assert m.to_dict()["cpu_ms"] == {"median": 3.0, "iqr": 2.0}
    bare = Measurement("onnxruntime", "x", 1, 0, times_ms=(1.0, 2.0))
    assert np.isnan(bare.cpu_median_ms) and np.isnan(bare.cpu_iqr_ms) and bare.to_dict()["cpu_ms"] is None
    json.dumps(bare.to_dict())
    with pytest.raises(ValueError, match="one per run"):
        Measurement("onnxruntime", "x", 1, 0, times_ms=(1.0, 2.0), cpu_times_ms=(1.0,))


def test_runtime_version_names_the_package():
    from edgenas.measure import runtime_version

    assert runtime_version("onnxruntime").startswith("onnxruntime ")
    assert runtime_version("litert").startswith("ai-edge-litert")


def test_trace_parsing_takes_the_median_per_node_and_drops_the_first_run():
    def event(node, dur_us, op="Conv"):
        return {"cat": "Node", "name": f"{node}_kernel_time", "dur": dur_us, "args": {"op_name": op}}

    runs = [[event("a", 1000), event("b", 50, "Gemm")] for _ in range(4)]
    runs[0][0]["dur"] = 90_000  # allocation in the first run
    runs[2][0]["dur"] = 30_000  # one preempted call
    events = [e for run in runs for e in run] + [{"cat": "Session", "name": "model_run", "dur": 5}]
    ops = {op.name: op for op in ops_from_trace(events, runs=4, skip_first=True)}
    assert ops["a"].ms_per_run == pytest.approx(1.0) and ops["a"].calls_per_run == 1
    assert ops["b"] == OpTime("b", "Gemm", 0.05, 1.0)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgenas.cli", "profile", *args], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )


def test_cli_json_is_one_object(models):
    r = _cli(str(models["onnx"]), "--repeats", "3", "--warmup", "1", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["repeats"] == 3 and summary["latency_ms"]["median"] > 0 and summary["kind"] == "measured"


@pytest.mark.parametrize(
    ("name", "content", "extra", "fragment"),
    [
        ("bad.pt", b"junk", (), "not a readable edgenas checkpoint"),
        ("notes.txt", b"hi", (), "not a model file"),
        ("m.onnx", None, ("--backend", "tvm"), "unknown backend"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(models, tmp_path, name, content, extra, fragment):
    path = models["onnx"] if content is None else tmp_path / name
    if content is not None:
        path.write_bytes(content)
    r = _cli(str(path), *extra)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert [line for line in r.stderr.splitlines() if line.startswith("error:")] and fragment in r.stderr
