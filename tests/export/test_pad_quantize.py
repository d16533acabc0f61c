"""2-D zero pads fold into their convolution: no PAD, QUANTIZE or layout TRANSPOSE in the int8 file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")
pytest.importorskip("ai_edge_litert", reason="int8 TFLite export needs the tflite extra: pip install 'edgenas[tflite]'")

import torch  # noqa: E402

from edgenas.export.tflite import (  # noqa: E402
    _constant_pad_nhwc,
    _zero_pad_in_nhwc,
    check_full_int8,
    convert_int8,
    litert_interpreter,
)
from edgenas.export.verify import quantize_input  # noqa: E402
from edgenas.hardware.tflite_graph import lower  # noqa: E402
from edgenas.ir import Op  # noqa: E402
from edgenas.spaces import KwsSpace  # noqa: E402
from tests.export.batchnorm import randomise_batchnorm

# genes: family, first channels/kernel/stride, depth, then (channels, kernel, stride) per block
ARCHS = {
    "ds-cnn-s": None,  # asymmetric PAD on the one-channel input (10x4 kernel, stride 2)
    "2d c48 k3x3 s1x1 / dw5 s2 c24": (0, 3, 2, 2, 0, 1, 1, 1),  # asymmetric PAD mid-network
}


def _arch(space: KwsSpace, genes: tuple[int, ...] | None):
    if genes is None:
        return space.named("ds-cnn-s")
    return space.arch(list(genes) + [0] * (len(space.decisions()) - len(genes)))


def test_constant_pad_nhwc_moves_the_padding_list_to_channels_last() -> None:
    # NCHW (left, right, top, bottom) = W (1, 2), H (3, 4) -> NHWC, listed from C: C, W, H, N
    node = SimpleNamespace(args=("x", [1, 2, 3, 4], 0.0))
    _constant_pad_nhwc(node)
    assert node.args == ("x", [0, 0, 1, 2, 3, 4, 0, 0], 0.0)
    node = SimpleNamespace(args=("x", [1, 2, 3, 4, 5, 6]))  # a pad on channels too
    _constant_pad_nhwc(node)
    assert node.args == ("x", [5, 6, 1, 2, 3, 4, 0, 0])


def test_the_nhwc_pad_rewriter_is_only_registered_while_converting() -> None:
    from litert_torch._convert.fx_passes.optimize_layout_transposes_pass import layout_rewrite

    op = torch.ops.aten.constant_pad_nd.default
    assert op not in layout_rewrite.rewriters
    with _zero_pad_in_nhwc():
        assert layout_rewrite.rewriters[op] is _constant_pad_nhwc
    assert op not in layout_rewrite.rewriters


def test_two_d_input_layout_keeps_the_float_function() -> None:
    space = KwsSpace()
    torch.manual_seed(0)
    model = randomise_batchnorm(space.build(space.named("ds-cnn-s"))).eval()
    x = torch.randn(4, *space.input_shape)
    with torch.no_grad():
        before = model.classifier(model.pool(model.features(x.unsqueeze(1))))  # the former input layout
        assert torch.allclose(model(x), before, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(ARCHS))
def test_asymmetric_two_d_pad_folds_into_the_convolution(name: str, tmp_path: Path) -> None:
    space = KwsSpace()
    arch = _arch(space, ARCHS[name])
    assert ARCHS[name] is None or space.describe(arch) == name
    layers = space.layers(arch)
    assert any(layer.op is Op.PAD for layer in layers)  # the IR has the asymmetric SAME pad
    torch.manual_seed(0)
    model = randomise_batchnorm(space.build(arch)).eval()
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((32, *space.input_shape)).astype(np.float32)
    path = tmp_path / "model.tflite"
    info = convert_int8(model, calibration, path)
    check_full_int8(info)
    assert not {"PAD", "QUANTIZE", "TRANSPOSE"} & set(info.operators), info.operators
    assert info.operators[:2] == ("RESHAPE", "DEPTHWISE_CONV_2D")  # the one-channel input's only layout op
    assert [op.builtin for op in lower(layers)[1]] == list(info.operators)  # the graph model follows

    # the folded SAME padding computes what the float network's zero pad does
    x = rng.standard_normal((16, *space.input_shape)).astype(np.float32)
    interpreter = litert_interpreter(path.read_bytes())
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    logits = []
    for clip in quantize_input(x, info):
        interpreter.set_tensor(inp["index"], clip[None])
        interpreter.invoke()
        logits.append(interpreter.get_tensor(out["index"]).reshape(-1).astype(np.float64))
    int8 = (np.stack(logits) - info.output_zero_point) * info.output_scale
    with torch.no_grad():
        fp32 = model(torch.from_numpy(x)).double().numpy()
    assert np.mean(np.abs(int8 - fp32)) / info.output_scale < 3.0  # a few output steps of rounding
    assert np.mean(np.argmax(int8, axis=1) == np.argmax(fp32, axis=1)) >= 0.8
