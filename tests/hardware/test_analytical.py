"""The analytical cost model against real measurements: the MLPerf Tiny KWS DS-CNN.

Measured figures are read from the shared data folder (``EDGENAS_SHARED_DATA``, default
``<repo>/../shared/data``), never copied here; tests that need them skip with a message if absent.
"""

from __future__ import annotations

import csv
import dataclasses
import statistics
from pathlib import Path

import pytest

from edgenas.errors import InvalidInputError
from edgenas.hardware import (
    AnalyticalCostModel,
    Target,
    activation_peak_bytes,
    code_bytes,
    flash_bytes,
    latency_breakdown_ms,
    latency_ms,
    load_target,
    peak_sram_bytes,
    persistent_bytes,
    scratch_bytes,
)
from edgenas.hardware.kernel_calibrate import COREMARK_PER_MHZ
from edgenas.hardware.mlperf import normalise_runtime_family
from edgenas.hardware.tflite_graph import BUILTIN
from edgenas.ir import Layer, Op, total_macs, total_params
from edgenas.objectives import Limits, check
from edgenas.settings import shared_data_dir

MEASURED_ARENA_BYTES = 24_384  # notes/int8-tflite-to-tflite-micro.md: DS-CNN, host reference kernels
MEASURED_ACTIVATION_BYTES = 16_000
MEASURED_PER_CHANNEL_BYTES = 4_608


def _shared_data() -> Path:
    return shared_data_dir()


def _read_csv(relative: str) -> list[dict[str, str]]:
    path = _shared_data() / relative
    if not path.is_file():
        pytest.skip(f"shared data file {path} is absent: set EDGENAS_SHARED_DATA to the shared/data folder")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def ds_cnn(*, reference_tail: bool = False) -> list[Layer]:
    """The MLPerf Tiny KWS DS-CNN: 49x10x1 int8 input, conv 10x4/2 -> 25x5x64, 4 x (dw 3x3, pw).

    ``reference_tail`` ends it as the mlcommons .tflite does (AVERAGE_POOL_2D, RESHAPE, FC,
    SOFTMAX) instead of the MEAN + FC our own converter emits.
    """
    fmap = (25, 5, 64)
    layers = [Layer(Op.CONV2D, (49, 10, 1), fmap, kernel=(10, 4), stride=(2, 2), activation="relu", name="conv1")]
    for block in range(4):
        layers.append(
            Layer(Op.DWCONV2D, fmap, fmap, kernel=(3, 3), stride=(1, 1), groups=64, activation="relu", name=f"b{block}.dw")
        )
        layers.append(Layer(Op.CONV2D, fmap, fmap, kernel=(1, 1), stride=(1, 1), activation="relu", name=f"b{block}.pw"))
    if reference_tail:
        layers.append(Layer(Op.AVGPOOL2D, fmap, (1, 1, 64), kernel=(25, 5), stride=(25, 5), name="pool"))
        layers.append(Layer(Op.RESHAPE, (1, 1, 64), (64,), name="flatten"))
        layers.append(Layer(Op.FC, (64,), (12,), name="fc"))
        layers.append(Layer(Op.SOFTMAX, (12,), (12,), name="softmax"))
    else:
        layers.append(Layer(Op.GLOBAL_AVGPOOL, fmap, (64,), name="mean"))
        layers.append(Layer(Op.FC, (64,), (12,), name="fc"))
    return layers


def without_scratch(target: Target) -> Target:
    return dataclasses.replace(target, memory=dataclasses.replace(target.memory, include_scratch=False))


@pytest.fixture(scope="module", params=["cortex-m7", "cortex-m4"])
def target(request: pytest.FixtureRequest) -> Target:
    return load_target(request.param)


# --------------------------------------------------------------------------- DS-CNN


@pytest.mark.parametrize("reference_tail", [False, True])
def test_ds_cnn_macs_and_params_come_from_the_ir(reference_tail: bool) -> None:
    layers = ds_cnn(reference_tail=reference_tail)
    assert total_macs(layers) == 2_656_768
    assert total_params(layers) == 22_604


def test_ds_cnn_macs_match_the_reference_model_file() -> None:
    rows = [r for r in _read_csv("mcu/reference_models.csv") if r["benchmark"] == "kws" and "fp32" not in r["model"]]
    assert int(rows[0]["macs"]) == total_macs(ds_cnn())
    assert int(rows[0]["params"]) == total_params(ds_cnn())


@pytest.mark.parametrize("name", ["cortex-m4", "cortex-m33"])
def test_ds_cnn_latency_within_band_of_the_modelled_runtime(name: str) -> None:
    """The DS-CNN estimate against the MLPerf Tiny rows of the modelled runtime, in cycles at each
    row's own clock, the reference file's operators priced as that file holds them."""
    target = load_target(name)
    anchor = target.anchor
    assert anchor is not None and anchor.benchmark == "kws"

    def system_key(system: str) -> str:
        return system.upper().replace("-", "").replace("_", "")

    rows = [
        r
        for r in _read_csv("mcu/mlperf_tiny_results.csv")
        if r["benchmark"] == anchor.benchmark
        and system_key(anchor.system_contains) in system_key(r["system"])
        and normalise_runtime_family(r["runtime_family"]) in anchor.runtime_families
        and r["core"] == anchor.core
        and int(float(r["clock_mhz"])) == anchor.clock_mhz
        and r["precision"] in ("", "int8")
        and "fp32" not in r["notes"]
        and not r["duplicate_of"]
    ]
    assert rows, f"expected measured rows for {anchor}"
    measured_cycles = statistics.median(float(r["latency_ms"]) for r in rows) * 1e-3 * anchor.clock_mhz * 1e6
    layers = ds_cnn(reference_tail=True)
    estimate_cycles = latency_ms(layers, target, as_converted_by=[BUILTIN[layer.op] for layer in layers]) * 1e-3 * target.clock_hz
    lo, hi = anchor.ratio_band
    assert lo <= estimate_cycles / measured_cycles <= hi, (
        f"{target.name}: estimate {estimate_cycles:,.0f} cycles vs measured median {measured_cycles:,.0f} "
        f"over {len(rows)} rows ({', '.join(r['round'] + ' ' + r['submitter'] for r in rows)})"
    )


def test_the_cortex_m7_default_is_tflite_micro_priced_kernel_by_kernel() -> None:
    """No MLPerf row runs TFLite Micro on a Cortex-M7: its cycles per instruction are the Cortex-M33's
    carried by CoreMark/MHz, so the M7 estimate of a network is the M33's times the clock and CPI ratios."""
    m7, m33 = load_target("cortex-m7"), load_target("cortex-m33")
    assert m7.kernel_latency is not None and m33.kernel_latency is not None and m7.anchor is None
    assert m7.kernel_latency.instructions == m33.kernel_latency.instructions
    ratio = m7.kernel_latency.cycles_per_instruction / m33.kernel_latency.cycles_per_instruction
    assert ratio == pytest.approx(COREMARK_PER_MHZ["cortex-m33"] / COREMARK_PER_MHZ["cortex-m7"], rel=1e-3)
    layers = ds_cnn()
    assert latency_ms(layers, m7) * m7.clock_hz == pytest.approx(latency_ms(layers, m33) * m33.clock_hz * ratio, rel=1e-9)
    engines = load_target("cortex-m7:bosch-hale")
    assert latency_ms(layers, m7) > 1.5 * latency_ms(layers, engines)  # TFLite Micro is slower than the engines


def test_ds_cnn_arena_matches_measured_tflm(target: Target) -> None:
    layers = ds_cnn()
    assert activation_peak_bytes(layers) == MEASURED_ACTIVATION_BYTES  # two alternating 8,000 B buffers
    host = without_scratch(target)  # measured with host reference kernels: no CMSIS-NN scratch
    estimate = peak_sram_bytes(layers, host)
    assert abs(estimate - MEASURED_ARENA_BYTES) <= 0.05 * MEASURED_ARENA_BYTES, estimate
    # the per-channel share of the tail is exact: 9 conv/dw layers x 64 channels x 8 B (+ the FC's 12 x 8 B:
    # litert-torch quantizes FULLY_CONNECTED weights per channel)
    per_channel = sum(layer.out_channels * 8 for layer in layers if layer.op in target.memory.per_channel_ops)
    assert per_channel == MEASURED_PER_CHANNEL_BYTES + 12 * 8
    assert persistent_bytes(layers, target) >= per_channel
    # on the DS-CNN no CMSIS-NN scratch is live at the peak op (conv1's 160 B coexist with 8,490 B)
    assert peak_sram_bytes(layers, target) == estimate


def test_ds_cnn_flash_against_the_reference_tflite_size(target: Target) -> None:
    rows = [r for r in _read_csv("mcu/reference_models.csv") if r["benchmark"] == "kws" and "fp32" not in r["model"]]
    file_bytes = int(rows[0]["tflite_bytes"])  # 53,936 B: mlcommons/tiny kws_ref_model.tflite
    estimate = flash_bytes(ds_cnn(reference_tail=True), target)
    assert abs(estimate - file_bytes) <= 0.10 * file_bytes, (estimate, file_bytes)


def test_flash_is_at_least_weights_and_biases(target: Target) -> None:
    layers = ds_cnn()
    weights_and_biases = sum(layer.weight_count + 4 * layer.out_channels for layer in layers if layer.macs)
    assert weights_and_biases == 22_016 + 4 * 588
    assert flash_bytes(layers, target) > weights_and_biases


# --------------------------------------------------------------------------- liveness


def _residual_net() -> list[Layer]:
    """in(8x8x8) -> a -> b -> c; d = ADD(a, c); fc. ``a`` must stay live while b and c exist."""
    s8, s16 = (8, 8, 8), (8, 8, 16)
    return [
        Layer(Op.CONV2D, s8, s16, kernel=(1, 1), stride=(1, 1), name="a"),
        Layer(Op.CONV2D, s16, s16, kernel=(3, 3), stride=(1, 1), name="b"),
        Layer(Op.CONV2D, s16, s16, kernel=(3, 3), stride=(1, 1), name="c"),
        Layer(Op.ADD, s16, s16, inputs=(0, 2), name="d"),
        Layer(Op.GLOBAL_AVGPOOL, s16, (16,), name="pool"),
        Layer(Op.FC, (16,), (10,), name="fc"),
    ]


def test_liveness_keeps_the_skip_tensor_alive() -> None:
    layers = _residual_net()
    naive = max(layer.in_elements + layer.out_elements for layer in layers)  # 2,048 B
    # at "c": a (skip, 1,024) + b (input, 1,024) + c (output, 1,024)
    assert activation_peak_bytes(layers) == 3 * 1024 > naive
    chain = [dataclasses.replace(layer, inputs=None) for layer in layers]
    assert activation_peak_bytes(chain) == naive


def test_network_input_lives_until_its_last_consumer() -> None:
    s = (4, 4, 16)  # 256 B each
    layers = [
        Layer(Op.CONV2D, s, s, kernel=(3, 3), stride=(1, 1)),
        Layer(Op.CONV2D, s, s, kernel=(3, 3), stride=(1, 1)),
        Layer(Op.ADD, s, s, inputs=(-1, 1)),
    ]
    assert activation_peak_bytes(layers) == 3 * 256  # input + out0 + out1 at layer 1


def test_reshape_aliasing_is_a_target_choice(target: Target) -> None:
    layers = [
        Layer(Op.CONV2D, (4, 4, 8), (4, 4, 64), kernel=(1, 1), stride=(1, 1)),
        Layer(Op.RESHAPE, (4, 4, 64), (1024,)),
        Layer(Op.FC, (1024,), (10,)),
    ]
    copy = without_scratch(target)
    alias = dataclasses.replace(copy, memory=dataclasses.replace(copy.memory, reshape_aliases_input=True))
    persistent = persistent_bytes(layers, copy)
    assert peak_sram_bytes(layers, copy) - persistent == 2048  # conv out + reshape copy
    assert peak_sram_bytes(layers, alias) - persistent == 128 + 1024  # peak moves to conv: in + out


def test_bad_graph_is_invalid_input(target: Target) -> None:
    with pytest.raises(InvalidInputError, match="no layers"):
        peak_sram_bytes([], target)
    bad = [Layer(Op.CONV2D, (4, 4, 8), (4, 4, 8), kernel=(1, 1), inputs=(3,))]
    with pytest.raises(InvalidInputError, match="input index 3"):
        activation_peak_bytes(bad)
    with pytest.raises(InvalidInputError, match="dtype"):
        flash_bytes([Layer(Op.FC, (4,), (2,), dtype="int4")], target)


# --------------------------------------------------------------------------- scratch, latency


def test_cmsis_nn_scratch_formulas(target: Target) -> None:
    conv = Layer(Op.CONV2D, (49, 10, 1), (25, 5, 64), kernel=(10, 4), stride=(2, 2))
    assert scratch_bytes(conv, target) == 2 * 1 * 40 * 2  # arm_convolve_s8: 2 int16 im2col columns
    assert scratch_bytes(Layer(Op.CONV2D, (8, 8, 32), (8, 8, 32), kernel=(1, 1)), target) == 0
    assert scratch_bytes(Layer(Op.DWCONV2D, (8, 8, 32), (8, 8, 32), kernel=(3, 3), groups=32), target) == 0
    assert scratch_bytes(Layer(Op.DWCONV2D, (8, 8, 32), (8, 8, 32), kernel=(5, 5), groups=32), target) == 32 * 25 * 2
    assert scratch_bytes(Layer(Op.AVGPOOL2D, (8, 8, 32), (4, 4, 32), kernel=(2, 2)), target) == 32 * 4
    assert scratch_bytes(Layer(Op.FC, (64,), (12,)), target) == 0
    reference = dataclasses.replace(target, kernels="reference")
    assert scratch_bytes(conv, reference) == 0


def test_scratch_counts_where_it_is_live(target: Target) -> None:
    # 64 output channels: the peak is at the conv, not at the converter's input TRANSPOSE (2 x 8,192 B)
    layers = [Layer(Op.CONV2D, (16, 16, 32), (16, 16, 64), kernel=(5, 5), stride=(1, 1))]
    without = peak_sram_bytes(layers, without_scratch(target))
    assert peak_sram_bytes(layers, target) - without == 2 * 32 * 25 * 2


def test_latency_breakdown_prices_every_op(target: Target) -> None:
    every_op = [
        Layer(Op.CONV2D, (16, 16, 3), (8, 8, 16), kernel=(3, 3), stride=(2, 2)),
        Layer(Op.DWCONV2D, (8, 8, 16), (8, 8, 16), kernel=(3, 3), stride=(1, 1), groups=16),
        Layer(Op.CONV2D, (8, 8, 16), (8, 8, 16), kernel=(1, 1), stride=(1, 1)),
        Layer(Op.ADD, (8, 8, 16), (8, 8, 16), inputs=(0, 2)),
        Layer(Op.AVGPOOL2D, (8, 8, 16), (4, 4, 16), kernel=(2, 2), stride=(2, 2)),
        Layer(Op.RESHAPE, (4, 4, 16), (16, 16)),
        Layer(Op.CONV1D, (16, 16), (16, 16), kernel=(3,), stride=(1,)),
        Layer(Op.DWCONV1D, (16, 16), (16, 16), kernel=(3,), stride=(1,), groups=16),
        Layer(Op.GLOBAL_AVGPOOL, (16, 16), (16,)),
        Layer(Op.FC, (16,), (10,)),
        Layer(Op.SOFTMAX, (10,), (10,)),
        Layer(Op.PAD, (10,), (12,)),
        Layer(Op.SIGMOID, (12,), (12,)),
        Layer(Op.HARD_SIGMOID, (12,), (12,)),
        Layer(Op.HARD_SWISH, (12,), (12,)),
        Layer(Op.SWISH, (12,), (12,)),
        Layer(Op.MUL, (12,), (12,), inputs=(14, 15)),
        Layer(Op.GRU, (4, 3), (12,), inputs=(16,)),
        Layer(Op.LSTM, (4, 3), (4, 8)),
    ]
    assert {layer.op for layer in every_op} == set(Op)
    breakdown = latency_breakdown_ms(every_op, target)
    assert len(breakdown) == len(every_op) and all(ms > 0 for ms in breakdown)
    overhead_ms = target.latency.op_overhead_cycles * 1000 / target.clock_hz
    assert breakdown[5] == pytest.approx(overhead_ms + 256 * target.latency.reshape_cycles_per_element * 1000 / target.clock_hz)


def test_depthwise_costs_more_per_mac_than_pointwise(target: Target) -> None:
    layers = ds_cnn()
    breakdown = latency_breakdown_ms(layers, target)
    dw_ms_per_mac = breakdown[1] / layers[1].macs
    pw_ms_per_mac = breakdown[2] / layers[2].macs
    assert dw_ms_per_mac > pw_ms_per_mac


def test_cost_model_estimate(target: Target) -> None:
    model = AnalyticalCostModel()
    cost = model.estimate(ds_cnn(), target)
    assert model.name == "analytical"
    assert (cost.macs, cost.params) == (2_656_768, 22_604)
    assert cost.latency_ms == pytest.approx(sum(latency_breakdown_ms(ds_cnn(), target)))
    assert cost.peak_sram_bytes == peak_sram_bytes(ds_cnn(), target)
    assert cost.flash_bytes == flash_bytes(ds_cnn(), target)
    assert cost.energy_mj is not None and cost.sources["energy_mj"] == "estimated"  # the target's energy block
    # the kernels' code the model's five builtins link, beside the model file in flash
    builtins = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "RESHAPE"}
    library = dict(target.flash.kernel_code_bytes)
    expected = sum(library.get(b, 0) + target.flash.per_builtin_code_bytes for b in builtins)
    assert cost.code_bytes == code_bytes(ds_cnn(), target) == expected
    assert cost.flash_needed_bytes == cost.flash_bytes + cost.code_bytes
    assert set(cost.sources) == {"macs", "params", "peak_sram_bytes", "flash_bytes", "latency_ms", "code_bytes", "energy_mj"}
    assert set(cost.sources.values()) == {"estimated"}


def test_a_model_that_fits_its_weights_but_not_its_code_is_over_the_flash_limit(target: Target) -> None:
    cost = AnalyticalCostModel().estimate(ds_cnn(), target)
    limits = Limits(flash_bytes=cost.flash_bytes + cost.code_bytes // 2)  # the model fits, its kernels do not
    (violation,) = check(cost, limits)
    assert violation.name == "flash_bytes" and violation.value == cost.flash_needed_bytes


def test_cost_model_energy_needs_a_sourced_power_figure(target: Target) -> None:
    powered = dataclasses.replace(target, energy=None, active_power_mw=100.0, power_source="a datasheet")
    cost = AnalyticalCostModel().estimate(ds_cnn(), powered)
    assert cost.energy_mj == pytest.approx(cost.latency_ms * 100.0 / 1000.0)
    assert cost.sources["energy_mj"] == "estimated"
