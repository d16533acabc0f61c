"""``edgenas zoo``: measurement helpers on a tiny network, the table and plot, and bad input."""

from __future__ import annotations

import numpy as np
import torch

from edgenas.spaces import MbconvSpace
from edgenas.spaces.nn.blocks import fold_batchnorm
from edgenas.workflows.zoo import measure_model, pareto_names, zoo_table
from tests.cli.test_cli import assert_one_line_error, edgenas


def test_measure_model_times_fp32_and_int8_onnx(tmp_path):
    space = MbconvSpace(num_classes=10, in_channels=1, resolutions=(28,))
    arch = space.sample(np.random.default_rng(3))
    torch.manual_seed(0)
    model = fold_batchnorm(space.build(arch).eval())
    got = measure_model(model, space.input_shape(arch), tmp_path / "tiny", warmup=0, repeats=3, calibration_images=2)
    assert set(got) == {"fp32", "int8"}
    figures = {"latency_ms", "latency_min_ms", "latency_p90_ms", "latency_iqr_ms", "cpu_ms", "cpu_iqr_ms", "repeats", "threads"}
    for precision in ("fp32", "int8"):
        m = got[precision]
        assert set(m) == figures | {"model_bytes"}
        assert m["latency_iqr_ms"] >= 0 and m["cpu_iqr_ms"] >= 0
        assert 0 < m["latency_min_ms"] <= m["latency_ms"] <= m["latency_p90_ms"]
        assert 0 < m["cpu_ms"] <= m["latency_p90_ms"] * 1.5  # one thread: the CPU time is the inference's
        assert m["repeats"] == 3 and m["threads"] == 1
        assert (tmp_path / f"tiny.{precision}.onnx").stat().st_size == m["model_bytes"]
    assert got["int8"]["model_bytes"] < got["fp32"]["model_bytes"]


def test_pareto_names_keep_the_non_dominated():
    points = [("a", 0.70, 5.0), ("b", 0.75, 10.0), ("c", 0.72, 12.0), ("d", 0.80, 30.0)]
    assert pareto_names(points) == ["a", "b", "d"]


def test_table_and_plot_from_a_summary(tmp_path):
    from edgenas.report.zoo_plot import plot_zoo

    slow = {"latency_ms": 9.0, "latency_min_ms": 8.0, "latency_p90_ms": 9.5, "cpu_ms": 8.5, "model_bytes": 3_000_000}
    m = {"latency_ms": 3.0, "latency_min_ms": 2.5, "latency_p90_ms": 3.5, "cpu_ms": 2.6, "model_bytes": 2_000_000}
    summary = {
        "models": [
            {"name": "A", "top1": 0.7, "params": 2_000_000, "macs": 50_000_000, "resolution": 224, "fp32": m},
            {"name": "B", "top1": 0.6, "params": 3_000_000, "macs": 90_000_000, "resolution": 224, "fp32": slow},
        ],
        "precisions": ["fp32"],
        "pareto": {"fp32": ["A"]},
        "statistic": "median",
        "backend": "onnxruntime",
        "threads": 1,
        "repeats": 5,
        "warmup": 1,
        "calibration": "n/a",
        "host": {"cpu": "test cpu", "cores": 2, "onnxruntime": "x", "load_average": [0.1, 0.2]},
    }
    table = zoo_table(summary)
    assert "| A | 70.0 | 2.00 | 50 | 224 | 3.0 * | 2.5 | 2.6 | 2.0 |" in table
    assert "| B | 60.0 |" in table and "9.0 |" in table
    assert plot_zoo(summary, tmp_path / "zoo.png").stat().st_size > 10_000


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    assert_one_line_error(edgenas("zoo", "--models", "resnet50", "--out", str(tmp_path)), "resnet50", "efficientnet-b0")
    assert_one_line_error(edgenas("zoo", "--backend", "tflm", "--out", str(tmp_path)), "tflm", "onnxruntime, litert")
    assert_one_line_error(edgenas("zoo", "--precision", "fp16", "--out", str(tmp_path)), "fp16", "int8")
