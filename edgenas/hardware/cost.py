"""The analytical cost model: a :class:`~edgenas.trial.Cost` from a layer list, no measurement.

It is the first door every candidate passes: cheap enough to price a whole population before
training, honest about being an estimate (every figure's source is ``"estimated"``).
"""

from __future__ import annotations

from collections.abc import Sequence

from edgenas.hardware.analytical import code_bytes, flash_bytes, latency_ms, peak_sram_bytes
from edgenas.hardware.energy import network_energy_mj
from edgenas.hardware.target import Target
from edgenas.ir import Layer, total_macs, total_params
from edgenas.trial import Cost, Source


class AnalyticalCostModel:
    """Prices a network with the target's analytical coefficients.

    The constructor stores parameters only (there are none yet), so the model is recorded as
    its name and rebuilt on resume. Energy comes from the target's ``energy:`` block
    (:mod:`edgenas.hardware.energy`: MACs, bytes moved and static power over the estimated
    latency); a target with only a ``power:`` figure gives ``latency x active power``; one with
    neither gives ``None``.
    """

    name = "analytical"

    def __init__(self) -> None:
        pass

    def get_params(self) -> dict[str, object]:
        return {}

    def estimate(self, layers: Sequence[Layer], target: Target) -> Cost:
        layer_list = list(layers)
        lat_ms = latency_ms(layer_list, target)
        sources: dict[str, Source] = {
            "macs": "estimated",
            "params": "estimated",
            "peak_sram_bytes": "estimated",
            "flash_bytes": "estimated",
            "latency_ms": "estimated",
        }
        code = code_bytes(layer_list, target)
        if code:
            sources["code_bytes"] = "estimated"
        energy_mj: float | None = None
        if target.energy is not None:
            energy_mj = network_energy_mj(layer_list, lat_ms, target.energy)
            sources["energy_mj"] = "estimated"
        elif target.active_power_mw is not None and target.power_source:
            energy_mj = lat_ms * target.active_power_mw / 1000.0  # ms x mW = uJ; /1000 -> mJ
            sources["energy_mj"] = "estimated"
        return Cost(
            macs=total_macs(layer_list),
            params=total_params(layer_list),
            peak_sram_bytes=peak_sram_bytes(layer_list, target),
            flash_bytes=flash_bytes(layer_list, target),
            latency_ms=lat_ms,
            energy_mj=energy_mj,
            sources=sources,
            code_bytes=code or None,
        )
