"""Which kernel runs each operator (CMSIS-NN fast, CMSIS-NN generic, TFLite Micro reference), and
the estimated latency shares that add up to the network's estimate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgenas.hardware import latency_ms, load_target
from edgenas.hardware.kernels import FAST, GENERIC, NONE, REFERENCE, RUNTIME, kernel_of, operator_profile, share_by_path
from edgenas.ir import Layer, Op
from edgenas.spaces import KwsSpace


@pytest.mark.parametrize(
    ("layer", "function", "path"),
    [
        (Layer(Op.CONV2D, (8, 8, 16), (8, 8, 32), (1, 1), (1, 1)), "arm_convolve_1x1_s8_fast", FAST),
        (Layer(Op.CONV2D, (8, 8, 16), (4, 4, 32), (1, 1), (2, 2)), "arm_convolve_1x1_s8", FAST),
        (Layer(Op.CONV2D, (8, 8, 16), (8, 8, 32), (3, 3), (1, 1)), "arm_convolve_s8", FAST),
        (Layer(Op.CONV2D, (49, 10, 1), (25, 5, 64), (10, 4), (2, 2)), "arm_depthwise_conv_s8 (channel multiplier > 1)", GENERIC),
        (Layer(Op.DWCONV2D, (8, 8, 16), (8, 8, 16), (3, 3), (1, 1), groups=16), "arm_depthwise_conv_3x3_s8", FAST),
        (Layer(Op.DWCONV2D, (8, 8, 16), (8, 8, 16), (5, 5), (1, 1), groups=16), "arm_depthwise_conv_s8_opt", FAST),
        (Layer(Op.GLOBAL_AVGPOOL, (4, 4, 16), (16,)), "arm_avgpool_s8", FAST),
        (Layer(Op.GLOBAL_AVGPOOL, (1, 1, 16), (16,)), "none (a flatten the next layer reads)", NONE),
        (Layer(Op.FC, (16,), (12,)), "arm_fully_connected_s8", FAST),
        (Layer(Op.PAD, (8, 8, 16), (10, 10, 16)), "TFLM reference PAD", REFERENCE),
        (Layer(Op.HARD_SWISH, (8, 8, 16), (8, 8, 16)), "TFLM reference HARD_SWISH", REFERENCE),
    ],
)
def test_cmsis_nn_kernels_follow_the_operator_shape(layer: Layer, function: str, path: str) -> None:
    choice = kernel_of(layer, load_target("cortex-m7"))
    assert (choice.function, choice.path) == (function, path)


def test_a_runtime_that_is_not_tflm_names_the_builtin_only() -> None:
    choice = kernel_of(Layer(Op.CONV2D, (8, 8, 16), (8, 8, 32), (3, 3), (1, 1)), load_target("raspi4"))
    assert (choice.function, choice.path) == ("CONV_2D", RUNTIME)


def test_shares_add_up_to_the_estimate() -> None:
    space, target = KwsSpace(), load_target("cortex-m7")
    rng = np.random.default_rng(0)
    for _ in range(20):
        layers = space.layers(space.sample(rng))
        profile = operator_profile(layers, target)
        indices = [row.index for row in profile]
        assert indices == sorted(indices) and set(indices) == set(range(len(layers)))  # every layer, in order
        assert math.fsum(row.latency_ms for row in profile) == pytest.approx(latency_ms(layers, target))
        assert math.fsum(share_by_path(profile).values()) == pytest.approx(1.0)


def test_a_pad_the_converter_folds_into_its_convolution_runs_no_kernel() -> None:
    space, target = KwsSpace(), load_target("cortex-m7")
    rng = np.random.default_rng(0)
    for _ in range(200):
        layers = space.layers(space.sample(rng))
        if len(layers[0].in_shape) == 3 and any(layer.op is Op.PAD for layer in layers):
            break
    else:
        pytest.skip("no 2-D network with a PAD among 200 samples")
    pads = [row for row in operator_profile(layers, target) if row.op == "pad"]
    assert pads and all(row.kernel == "none (folded by the converter)" and row.path == NONE for row in pads)
