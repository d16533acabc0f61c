"""Energy per inference and average power at a frame rate, from a target's ``energy:`` coefficients.

A deployment that runs continuously is sized by its power, not its latency: a network twice as
fast can draw less in the end because the core sleeps longer between frames. The model is the
sum of what an inference moves and computes, plus what the chip draws just for running it::

    E = e_int8_mac * int8 MACs + e_float_mac * float MACs
        + e_sram_byte * activation bytes read and written + e_flash_byte * weight bytes read
        + P_static * latency

and, at ``fps`` frames per second, the chip sleeping between inferences::

    P_avg = E * fps + P_idle * (1 - latency * fps)

Every coefficient of a target file carries its source (a fit to measured MLPerf Tiny energy, a
publication, a datasheet, or "assumed"); the figures it gives are labelled ``estimated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgenas.errors import InvalidInputError
from edgenas.ir import DTYPE_BYTES, WEIGHTED_OPS, Layer, producers

#: Bytes of an int32 bias (the TFLite int8 quantization spec); a float layer's bias is float32, as wide.
_BIAS_BYTES = 4


@dataclass(frozen=True, slots=True)
class EnergyCoefficients:
    """A target's energy coefficients (pJ per operation or byte, mW), each with its source.

    ``float_runtime``: the runtime computes every layer in float32 whatever the layer's dtype
    (the host and Raspberry Pi targets time fp32 models), so every MAC is a float MAC and every
    tensor element 4 bytes.
    """

    int8_mac_pj: float
    float_mac_pj: float
    sram_byte_pj: float
    flash_byte_pj: float
    static_mw: float
    idle_mw: float
    sources: tuple[tuple[str, str], ...]  # (coefficient, where it comes from), in the order above
    float_runtime: bool = False
    flash_is: str = "flash"  # where weights are read from: flash on a microcontroller, DRAM on an application processor

    def source(self, name: str) -> str:
        return dict(self.sources)[name]


@dataclass(frozen=True, slots=True)
class EnergyTerms:
    """What one inference of a network computes and moves (the inputs of the energy model)."""

    int8_macs: int
    float_macs: int
    sram_bytes: int  # activations read and written
    flash_bytes: int  # weights and biases read once


def energy_terms(layers: Sequence[Layer], float_runtime: bool = False) -> EnergyTerms:
    """Count MACs by precision, activation bytes read + written, and weight bytes read.

    A layer reads each of its inputs (one per producer: an ADD reads two) and writes its output,
    at its own precision; weights and biases are read once per inference (no cache across
    inferences: the pessimistic and usual case for a microcontroller executing from flash).
    """
    layer_list = list(layers)
    int8_macs = float_macs = sram = flash = 0
    for index, layer in enumerate(layer_list):
        is_float = float_runtime or layer.dtype != "int8"
        width = 4 if float_runtime else DTYPE_BYTES[layer.dtype]
        if is_float:
            float_macs += layer.macs
        else:
            int8_macs += layer.macs
        reads = len(producers(layer_list, index)) * layer.in_elements
        sram += (reads + layer.out_elements) * width
        if layer.op in WEIGHTED_OPS:
            biases = layer.param_count - layer.weight_count
            flash += layer.weight_count * width + biases * _BIAS_BYTES
    return EnergyTerms(int8_macs, float_macs, sram, flash)


def energy_mj(terms: EnergyTerms, latency_ms: float, coeffs: EnergyCoefficients) -> float:
    """Energy of one inference, mJ (pJ x count -> 1e-9 mJ; mW x ms -> 1e-3 mJ)."""
    dynamic_pj = (
        coeffs.int8_mac_pj * terms.int8_macs
        + coeffs.float_mac_pj * terms.float_macs
        + coeffs.sram_byte_pj * terms.sram_bytes
        + coeffs.flash_byte_pj * terms.flash_bytes
    )
    return dynamic_pj * 1e-9 + coeffs.static_mw * latency_ms * 1e-3


def network_energy_mj(layers: Sequence[Layer], latency_ms: float, coeffs: EnergyCoefficients) -> float:
    """:func:`energy_mj` of a layer list."""
    return energy_mj(energy_terms(layers, coeffs.float_runtime), latency_ms, coeffs)


def check_fps(fps: float) -> float:
    """A frame rate must be a positive, finite number of frames per second."""
    if not (fps > 0 and fps < float("inf")):
        raise InvalidInputError(f"--fps must be a positive number of frames per second, got {fps:g}")
    return fps


def frame_period_ms(fps: float) -> float:
    """The time between frames: the latency an inference may take at ``fps``."""
    return 1000.0 / check_fps(fps)


def average_power_mw(energy_mj: float, latency_ms: float, fps: float, idle_mw: float) -> float:
    """Average power running one inference per frame at ``fps``, idle (``idle_mw``) in between.

    ``E * fps`` is mJ/s = mW; the idle share of each second is ``1 - latency * fps`` (none when
    the inference takes the whole period or more: the chip never idles).
    """
    busy = min(1.0, latency_ms * 1e-3 * check_fps(fps))
    return energy_mj * fps + idle_mw * (1.0 - busy)
