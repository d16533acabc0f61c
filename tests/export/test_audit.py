"""Operator-support audit: .tflite and .onnx operators against a target's native list; bad files exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.export.audit import audit_model, onnx_operators, tflite_operators
from edgenas.hardware import load_target

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "edgenas" / "hardware" / "targets"
schema = pytest.importorskip("ai_edge_litert.schema_py_generated", reason="needs the tflite extra")
onnx = pytest.importorskip("onnx")


# --------------------------------------------------------------------------- tiny model files


def tflite_bytes(ops: list[tuple[str, int]], dtype: int = 9, custom: str | None = None) -> bytes:
    """A flatbuffer with one operator per ``(BUILTIN_NAME, fused activation)`` on tensors of ``dtype``."""
    import flatbuffers

    model = schema.ModelT()
    model.version = 3
    names = list(dict.fromkeys(name for name, _ in ops))
    model.operatorCodes = []
    for name in names:
        code = schema.OperatorCodeT()
        code.builtinCode = getattr(schema.BuiltinOperator, name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 1
        if name == "CUSTOM":
            code.customCode = custom
        model.operatorCodes.append(code)
    graph = schema.SubGraphT()
    graph.tensors = []
    for i in range(len(ops) + 1):
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.buffer, tensor.name = [1, 8], dtype, 0, f"t{i}"
        graph.tensors.append(tensor)
    graph.operators = []
    for i, (name, fused) in enumerate(ops):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = names.index(name), [i], [i + 1]
        if name == "CONV_2D":
            op.builtinOptionsType = schema.BuiltinOptions.Conv2DOptions
            op.builtinOptions = schema.Conv2DOptionsT()
            op.builtinOptions.fusedActivationFunction = fused
        graph.operators.append(op)
    graph.inputs, graph.outputs = [0], [len(ops)]
    model.subgraphs = [graph]
    buffer = schema.BufferT()
    buffer.data = list(range(64))
    model.buffers = [schema.BufferT(), buffer]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def onnx_bytes(qdq: bool = False) -> bytes:
    """Conv (groups=1) -> depthwise Conv -> HardSwish -> Clip(0, 6); with ``qdq``: int8 QDQ around the convs."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w0"),
        numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
        numpy_helper.from_array(np.array(0.1, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "z"),
    ]
    nodes = []
    if qdq:
        nodes += [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
            helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
            helper.make_node("Conv", ["xd", "w0"], ["a"], pads=[1, 1, 1, 1]),
            helper.make_node("QuantizeLinear", ["a", "s", "z"], ["aq"]),
            helper.make_node("DequantizeLinear", ["aq", "s", "z"], ["ad"]),
            helper.make_node("Conv", ["ad", "w1"], ["b"], group=4, pads=[1, 1, 1, 1]),
            helper.make_node("QuantizeLinear", ["b", "s", "z"], ["bq"]),
            helper.make_node("DequantizeLinear", ["bq", "s", "z"], ["y"]),
        ]
    else:
        nodes += [
            helper.make_node("Conv", ["x", "w0"], ["a"], pads=[1, 1, 1, 1]),
            helper.make_node("Conv", ["a", "w1"], ["b"], group=4, pads=[1, 1, 1, 1]),
            helper.make_node("HardSwish", ["b"], ["c"]),
            helper.make_node("Clip", ["c", "lo", "hi"], ["y"]),
        ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from edgenas.cli import run

    monkeypatch.setattr(sys, "argv", ["edgenas", *args])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    # In-process, converter progress printed through Python's sys.stdout is captured too; the real
    # command mutes it at the file descriptor (quiet_native_output), so only the last line is ours.
    lines = out.out.strip().splitlines()
    stdout = lines[-1] + "\n" if "--json" in args and lines else out.out
    return code, stdout, " ".join(out.err.split())


# --------------------------------------------------------------------------- readers


def test_tflite_operators_types_and_fused_activations() -> None:
    uses = tflite_operators(tflite_bytes([("CONV_2D", 3), ("DEPTHWISE_CONV_2D", 0), ("LOGISTIC", 0), ("MUL", 0)]))
    assert uses == [
        ("CONV_2D", "conv2d"),
        ("RELU6 (fused)", "relu6"),
        ("DEPTHWISE_CONV_2D", "depthwise_conv2d"),
        ("LOGISTIC", "logistic"),
        ("MUL", "mul"),
    ]
    float_uses = tflite_operators(tflite_bytes([("CONV_2D", 1)], dtype=0))
    assert float_uses == [("CONV_2D", "conv2d[float32]"), ("RELU (fused)", "relu[float32]")]
    assert tflite_operators(tflite_bytes([("CUSTOM", 0)], custom="Gru"))[0] == ("CUSTOM:Gru", "custom")


def test_native_and_fallback_per_target(tmp_path: Path) -> None:
    path = tmp_path / "se.tflite"
    path.write_bytes(tflite_bytes([("CONV_2D", 1), ("CONV_2D", 1), ("LOGISTIC", 0), ("MUL", 0), ("SOFTMAX", 0)]))
    npu = audit_model(path, load_target("npu-int8"))
    counts = {op.name: (op.count, op.native) for op in npu.operators}
    assert counts == {
        "CONV_2D": (2, True),
        "RELU (fused)": (2, True),
        "LOGISTIC": (1, False),
        "MUL": (1, False),
        "SOFTMAX": (1, True),
    }
    assert npu.to_dict()["fallback"] == ["logistic", "mul"] and not npu.all_native
    m7 = audit_model(path, load_target("cortex-m7"))  # CMSIS-NN MUL; LOGISTIC on TFLM's int8 reference kernel
    assert m7.all_native and m7.fallback == ()


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.9, -1])
def test_truncated_tflite_is_invalid_input(tmp_path: Path, cut: float) -> None:
    data = tflite_bytes([("CONV_2D", 1), ("FULLY_CONNECTED", 0)])
    path = tmp_path / "bad.tflite"
    path.write_bytes(data[: int(len(data) * cut)] if cut > 0 else data[:-1])
    with pytest.raises(InvalidInputError, match="bad.tflite.*(corrupt or truncated|TFL3)"):
        audit_model(path, load_target("cortex-m7"))


def test_onnx_convolutions_activations_and_float() -> None:
    assert onnx_operators(onnx_bytes()) == [
        ("Conv", "conv2d[float32]"),
        ("Conv", "depthwise_conv2d[float32]"),
        ("HardSwish", "hard_swish[float32]"),
        ("Clip", "relu6[float32]"),
    ]


def test_onnx_qdq_units_are_int8_and_boundaries_count() -> None:
    uses = onnx_operators(onnx_bytes(qdq=True))
    assert uses == [
        ("QuantizeLinear", "quantize"),
        ("Conv", "conv2d"),
        ("Conv", "depthwise_conv2d"),
        ("DequantizeLinear", "dequantize"),
    ]


def test_corrupt_onnx_is_invalid_input(tmp_path: Path) -> None:
    data = onnx_bytes()
    for name, bad in {"half": data[: len(data) // 2], "junk": b"\x08\x07garbage" * 10}.items():
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(bad)
        with pytest.raises(InvalidInputError, match=f"{name}.onnx: not a valid ONNX model"):
            audit_model(path, load_target("npu-int8"))
    with pytest.raises(InvalidInputError, match="unknown model format"):
        audit_model(tmp_path / "model.pb", load_target("npu-int8"))


# --------------------------------------------------------------------------- targets


def test_native_ops_block_is_validated(tmp_path: Path) -> None:
    text = (BUILTIN_DIR / "npu-int8.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("    softmax: 'table-based", "    softmaxx: 'table-based"))
    with pytest.raises(InvalidInputError, match="native_ops.ops: unknown operator 'softmaxx'"):
        load_target(bad)
    bad.write_text(text.replace("    avg_pool2d: 'pooling unit", "    max_pool2d: 'pooling unit"))
    with pytest.raises(InvalidInputError, match="ops: (global_)?avgpool(2d)? needs avg_pool2d"):
        load_target(bad)
    older = tmp_path / "older.yaml"  # a user file written before native_ops existed: implied by its IR ops
    older.write_text((BUILTIN_DIR / "cortex-m7.yaml").read_text().split("\nnative_ops:")[0] + "\n")
    implied = load_target(older)
    assert {"conv2d", "depthwise_conv2d", "avg_pool2d", "pad", "relu", "relu6"} <= implied.native_ops
    assert "implied by `ops`" in implied.native_ops_source and "gru" not in implied.native_ops
    npu = load_target("npu-int8")
    assert {"hard_swish", "logistic", "mul", "gru"}.isdisjoint(npu.native_ops)
    assert {"conv2d", "depthwise_conv2d", "add", "relu", "relu6", "avg_pool2d", "fully_connected", "softmax"} <= npu.native_ops


# --------------------------------------------------------------------------- command line


def test_cli_exit_codes(tmp_path: Path, monkeypatch, capsys) -> None:
    good, bad = tmp_path / "good.tflite", tmp_path / "se.tflite"
    good.write_bytes(tflite_bytes([("CONV_2D", 3), ("AVERAGE_POOL_2D", 0), ("FULLY_CONNECTED", 0)]))
    bad.write_bytes(tflite_bytes([("CONV_2D", 0), ("HARD_SWISH", 0)]))
    code, out, _ = run_cli(monkeypatch, capsys, "audit", str(good), "--target", "npu-int8")
    assert code == 0 and "AVERAGE_POOL_2D" in out and "FALLBACK" not in out
    code, out, err = run_cli(monkeypatch, capsys, "audit", str(bad), "--target", "npu-int8")
    assert code == 2 and "HARD_SWISH" in out and "FALLBACK" in out and "hard_swish" in err
    code, out, _ = run_cli(monkeypatch, capsys, "audit", str(bad), "--target", "npu-int8", "--json")
    assert code == 2 and json.loads(out)["fallback"] == ["hard_swish"]
    (tmp_path / "cut.tflite").write_bytes(good.read_bytes()[:50])
    code, out, err = run_cli(monkeypatch, capsys, "audit", str(tmp_path / "cut.tflite"), "--target", "npu-int8")
    assert code == 2 and out == "" and err.count("error:") == 1 and "cut.tflite" in err
    code, _, err = run_cli(monkeypatch, capsys, "audit", str(good), "--target", "npu-int9")
    assert code == 2 and "did you mean 'npu-int8'" in err.lower()


# --------------------------------------------------------------------------- files that cannot be read


def _unreadable(tmp_path: Path, name: str, how: str) -> Path:
    """A model path that exists but cannot be read: a folder, or a file whose read fails with an I/O error."""
    path = tmp_path / name
    if how == "folder":
        path.mkdir()
    else:  # /proc/self/mem reads as EIO at offset 0, whoever runs the test (mode 000 is no obstacle to root)
        if not Path("/proc/self/mem").exists():
            pytest.skip("needs /proc/self/mem (Linux)")
        path.symlink_to("/proc/self/mem")
    return path


@pytest.mark.parametrize("command", ["audit", "verify"])
@pytest.mark.parametrize("how", ["folder", "io-error"])
def test_a_model_that_cannot_be_read_is_one_line(tmp_path: Path, monkeypatch, capsys, command: str, how: str) -> None:
    path = _unreadable(tmp_path, "m.tflite", how)
    code, out, err = run_cli(monkeypatch, capsys, command, str(path))
    assert code == 2 and out == "" and err.count("error:") == 1 and "Traceback" not in err, err
    assert "m.tflite" in err and ("folder" in err if how == "folder" else "cannot read" in err)


def test_audit_reads_onnx_through_the_same_checks(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read the model file"):
        audit_model(_unreadable(tmp_path, "m.onnx", "io-error"), load_target("cortex-m7"))


def test_a_model_file_beyond_the_size_bound_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    from edgenas.export import audit

    path = tmp_path / "big.tflite"
    path.write_bytes(tflite_bytes([("CONV_2D", 0)]))
    monkeypatch.setattr(audit, "MAX_MODEL_BYTES", 64)
    with pytest.raises(InvalidInputError, match="at most 64 B"):
        audit_model(path, load_target("cortex-m7"))


# --------------------------------------------------------------------------- export --trial, verify


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, request):
    """A search run folder as `edgenas search` leaves it, on the shared real-speech sample, with a
    target whose SRAM (2 KiB) no model fits: best/model.pt (untrained weights), three trials."""
    from tests.conftest import shared_data

    folder = shared_data() / "kws" / "speech_commands_v0.01_sample"
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {folder} (set EDGENAS_SHARED_DATA)")
    pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra")
    pytest.importorskip("tflite_micro", reason="verification needs the tflite extra")
    import torch

    from edgenas.export.checkpoint import save_checkpoint
    from edgenas.spaces import KwsSpace
    from edgenas.store import SqliteStore
    from edgenas.tasks.kws import load_kws
    from edgenas.trial import Metrics, Trial, TrialState

    run = tmp_path_factory.mktemp("run")
    tiny = run / "tiny.yaml"
    tiny.write_text((BUILTIN_DIR / "cortex-m7.yaml").read_text().replace("sram_bytes: 327680", "sram_bytes: 2048", 1))
    data = load_kws(folder, seed=0)
    space = KwsSpace(num_classes=len(data.classes), input_shape=tuple(data.input_shape))
    best, other = space.arch([1, 0, 1, 0, 0] + [0] * 18), space.arch([0, 0, 1, 0, 0] + [0] * 18)
    identity = {"task": "kws", "data": str(folder), "target": str(tiny), "epochs": 1, "seed": 0}
    with SqliteStore(run / "trials.db") as store:
        store.write_config({"identity": {**identity, "data_sha1": data.fingerprint()}, "space": "kws", "data": {}})
        store.put(Trial(0, best, TrialState.COMPLETE, metrics=Metrics(0.5)))
        store.put(Trial(1, other, TrialState.COMPLETE, metrics=Metrics(0.4)))
        store.put(Trial(2, other, TrialState.INFEASIBLE, violations=("latency_ms",)))
    torch.manual_seed(0)
    params = {"num_classes": len(data.classes), "input_shape": list(data.input_shape)}
    save_checkpoint(run / "best" / "model.pt", space.build(best), best, params, data.classes, data.feature_mean, data.feature_std)
    return run


def test_export_trial_ids(run_dir: Path, monkeypatch, capsys) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "export", str(run_dir), "--trial", "2", "--format", "onnx")
    assert code == 2 and "infeasible" in err and "never trained" in err
    code, _, err = run_cli(monkeypatch, capsys, "export", str(run_dir), "--trial", "1", "--format", "onnx")
    assert code == 2 and "no stored weights" in err and "--retrain" in err
    code, _, err = run_cli(monkeypatch, capsys, "export", str(run_dir), "--trial", "7", "--format", "onnx")
    assert code == 2 and "no such trial" in err and "0..2" in err
    code, out, _ = run_cli(monkeypatch, capsys, "export", str(run_dir), "--trial", "0", "--format", "onnx", "--json")
    assert code == 0 and json.loads(out)["checkpoint"].endswith("best/model.pt")  # trial 0 is the best: its weights
    code, out, _ = run_cli(monkeypatch, capsys, "export", str(run_dir), "--trial", "1", "--retrain", "--format", "onnx", "--json")
    record = json.loads(out)
    assert code == 0 and record["checkpoint"].endswith("trials/1/model.pt") and Path(record["path"]).is_file()
    assert 0.0 <= record["retrain_val_accuracy"] <= 1.0 and record["search_val_accuracy"] == 0.4


def test_int8_export_that_does_not_fit_is_reported_then_verify_and_audit(run_dir: Path, monkeypatch, capsys) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "export", str(run_dir), "--format", "tflite-int8", "--json")
    record = json.loads(out)
    model = Path(record["path"])
    assert code == 2 and model.is_file() and record["fits"] is False and record["fallback_operators"] == []
    assert f"arena {record['arena_bytes']:,} B" in err and "of 2,048 B SRAM" in err  # the figures, not just "no"

    tiny = str(run_dir / "tiny.yaml")
    code, out, err = run_cli(monkeypatch, capsys, "verify", str(model), "--target", tiny, "--clips", "4")
    assert code == 2 and "fits" in out and "NO" in out
    assert "does not fit" in err and f"arena {record['arena_bytes']:,} B of 2,048 B SRAM" in err
    code, out, _ = run_cli(monkeypatch, capsys, "verify", str(model), "--target", "cortex-m7", "--clips", "4", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["fits"] is True
    # every operator of the file with its kernel and estimated share; the kernels' code beside the file
    priced = payload["priced_operators"]
    counts = {name: sum(row["builtin"] == name for row in priced["operators"]) for name in payload["operator_counts"]}
    assert counts == payload["operator_counts"] and len(priced["operators"]) == sum(counts.values())
    assert priced["unpriced"] == [] and sum(row["share"] for row in priced["operators"]) == pytest.approx(1.0)
    assert all(row["path"] in ("cmsis-nn fast", "cmsis-nn generic", "tflm reference") for row in priced["operators"])
    assert payload["estimated_code_bytes"] > 0
    assert payload["flash_needed_bytes"] == payload["flash_bytes"] + payload["estimated_code_bytes"]
    code, out, _ = run_cli(monkeypatch, capsys, "verify", str(model), "--target", "cortex-m7", "--clips", "4")
    assert code == 0 and "per operator of the file on cortex-m7 (estimated" in out and "arm_" in out
    code, out, _ = run_cli(monkeypatch, capsys, "verify", str(model), "--target", "raspi4", "--clips", "4", "--json")
    assert json.loads(out)["priced_operators"]["latency_ms"] is None  # an engine priced per layer: kernels named only

    truncated = run_dir / "truncated.tflite"
    truncated.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    code, out, err = run_cli(monkeypatch, capsys, "verify", str(truncated), "--clips", "4")
    assert code == 2 and out == "" and err.count("error:") == 1 and "Traceback" not in err

    for target in ("cortex-m7", "cortex-m4", "npu-int8"):  # an exported kws model runs natively everywhere
        code, out, _ = run_cli(monkeypatch, capsys, "audit", str(model), "--target", target, "--json")
        assert code == 0 and json.loads(out)["all_native"], (target, out)
