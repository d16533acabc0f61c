import numpy as np
import onnx

from edgenas.export.onnx_int8 import quantize_onnx_int8
from edgenas.spaces import KwsSpace


def test_static_int8_qdq_is_smaller_and_agrees_with_fp32(tmp_path):
    space = KwsSpace()
    model = space.build(space.named("ds-cnn-s")).eval()
    rng = np.random.default_rng(0)
    calibration = rng.normal(size=(32, 49, 10)).astype(np.float32)
    check = rng.normal(size=(64, 49, 10)).astype(np.float32)
    info = quantize_onnx_int8(model, calibration, check, tmp_path / "m.onnx")
    ops = {node.op_type for node in onnx.load(info.path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    assert info.size_bytes < 0.6 * info.fp32_size_bytes  # int8 weights
    assert info.argmax_agreement >= 0.8  # quantization error only (an untrained net has small logit margins)
    assert info.clips == 64
