"""``edgenas profile`` given counts and model files that declare sizes: every one is checked before
anything is measured or allocated, and a bad one is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError
from edgenas.measure import measure_model
from edgenas.measure.base import MAX_RUNS, Measurement, OpTime
from tests.fuzz.generators import write_checkpoint, write_onnx


def _profile(capsys, *args: str) -> tuple[int, str]:
    from edgenas.cli import run

    with pytest.raises(SystemExit) as exit_info:
        run(["profile", *args])
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_top_minus_one_is_refused_before_measuring(tmp_path: Path, monkeypatch, capsys) -> None:
    """It listed every operator but one."""
    import edgenas.measure as measure

    monkeypatch.setattr(measure, "measure_model", lambda *a, **k: pytest.fail("measured despite --top -1"))
    code, err = _profile(capsys, str(write_onnx(tmp_path / "m.onnx")), "--top", "-1")
    assert code == 2 and "--top must be 0 or more" in err and "Traceback" not in err


def test_bottlenecks_never_take_a_negative_count() -> None:
    m = Measurement("onnxruntime", "m", 1, 0, (1.0,), ops=tuple(OpTime(f"op{i}", "Conv", 1.0) for i in range(4)))
    assert len(m.bottlenecks(0)) == 0 and len(m.bottlenecks(99)) == 4
    with pytest.raises(InvalidInputError, match="--top"):
        m.bottlenecks(-1)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--repeats", str(MAX_RUNS + 1)), ("--warmup", "1000000000000"), ("--threads", "100000"), ("--repeats", "0")],
)
def test_counts_are_bounded_before_a_model_is_loaded(tmp_path: Path, capsys, flag: str, value: str) -> None:
    code, err = _profile(capsys, str(tmp_path / "absent.onnx"), flag, value)
    assert code == 2 and flag in err and "Traceback" not in err


def test_an_onnx_input_too_large_to_allocate_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 100000, 100000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 100000, 100000])],
    )
    path = tmp_path / "huge.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    assert onnx.load(str(path))
    with pytest.raises(InvalidInputError, match="10,000,000,000 values"):
        measure_model(path, repeats=1, warmup=0, per_op=False)


def test_a_checkpoint_declaring_a_huge_input_is_refused(tmp_path: Path) -> None:
    import torch

    path = write_checkpoint(tmp_path / "model.pt")
    record = torch.load(path, weights_only=True)
    record["space_params"]["input_shape"] = [65536, 65536]
    torch.save(record, path)
    with pytest.raises(InvalidInputError, match=r"model\.pt"):
        measure_model(path, repeats=1, warmup=0, per_op=False)


@pytest.mark.parametrize("suffix", [".onnx", ".tflite", ".pt"])
def test_a_model_that_cannot_be_read_is_one_line(tmp_path: Path, capsys, suffix: str) -> None:
    folder = tmp_path / f"dir{suffix}"
    folder.mkdir()
    code, err = _profile(capsys, str(folder))
    assert code == 2 and "is a folder" in err and "Traceback" not in err
    if Path("/proc/self/mem").exists():  # reads fail with EIO, even for root
        link = tmp_path / f"mem{suffix}"
        link.symlink_to("/proc/self/mem")
        code, err = _profile(capsys, str(link))
        assert code == 2 and "cannot read it" in err and "Traceback" not in err
