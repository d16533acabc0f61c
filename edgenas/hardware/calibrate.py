"""Fit a runtime's per-operator cycle coefficients to MLPerf Tiny measurements.

Why this shape of fit: there are only four reference models per (core, runtime family), so at
most two or three coefficients can be learned honestly. The relative cost of the ops (a 1x1 conv
MAC vs a depthwise MAC vs an FC MAC, the requantisation per output, per-op dispatch) is fixed by
a literature **prior** (:data:`PRIOR`), and the data decide

* ``a``: one overall speed of the engine on the core (unpenalised), and
* ``b_conv``, ``b_depthwise``, ``b_fc``: per-kind deviations from the prior, shrunk towards 0 by a
  ridge penalty ``ridge * b**2`` (:data:`DEFAULT_RIDGE`), so a kind the training rows barely
  constrain keeps the prior ratio to the rest.

A model's predicted cycles are ``exp(a) * sum_g exp(b_g) * prior_cycles_g(model)`` with groups
``conv`` (1x1 and general conv MACs, and the per-output requantisation of every conv and depthwise
layer), ``depthwise`` (depthwise MACs), ``fc`` (FC MACs and outputs) and ``fixed`` (per-op
overhead and element-wise ops, scaled by ``exp(a)`` only). The fit minimises squared log errors
against the **median cycles per benchmark** (latency x each row's own declared clock) over the
rows, so several rounds, boards and clocks of one engine pool without one submitter dominating.
Leave-one-model-out (LOMO) refits on three models and predicts the fourth.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from edgenas.errors import InvalidInputError
from edgenas.hardware.analytical import mac_kind
from edgenas.hardware.mlperf import MeasuredRow
from edgenas.hardware.target import LatencyCoefficients
from edgenas.ir import Layer, Op

#: Shrinkage of the per-kind deviations (in squared log units): a deviation of x2.7 (b = 1) costs
#: as much as a 0.32 log-error on one model. Chosen once for every (core, runtime) pair, together
#: with the prior's per-output cycles, by :func:`leave_one_pair_out` (see :data:`PRIOR`).
DEFAULT_RIDGE = 0.1

#: The per-output prior cycles and ridges :func:`leave_one_pair_out` chooses among.
OUTPUT_CYCLES_GRID = (8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0, 40.0, 48.0)
RIDGE_GRID = (0.1, 0.25, 0.5, 1.0)

#: The prior shape, in cycles on a Cortex-M7 with CMSIS-NN-class int8 kernels (only ratios
#: matter: ``exp(a)`` rescales it per core and runtime). general conv 1.1 cyc/MAC: CMSIS-NN paper
#: (Lai, Suda, Chandra 2018, arXiv:1801.06601: CIFAR-10 CNN in 99.1 ms at 216 MHz); 1x1 conv
#: 1.0 (no im2col); depthwise 2.5 (memory-bound, 9 MACs per loaded activation, MCUNet); FC 1.4 (one
#: weight load per MAC); element costs and 1,500 cycles of per-op dispatch as assumed in
#: ``docs/targets.md``. Per output element 24 cycles: requantisation (``arm_nn_requantize``, about
#: 8-10) plus the per-output loop set-up, bias load and store of the kernels. The 24 (and the ridge)
#: were chosen by leave-one-pair-out over the 17 (core, runtime) pairs: for each pair, the grid
#: value that best fits the *other* pairs; it was 24 (and ridge 0.1) for every pair
#: (``benchmarks/calibration.py``). The literature value of 8 (requantisation alone) left the
#: convolution-heavy ResNet-8 over-estimated against DS-CNN and MobileNet by 10-20 % on most engines.
PRIOR = LatencyCoefficients(
    conv_pointwise_cycles_per_mac=1.0,
    conv_general_cycles_per_mac=1.1,
    conv_depthwise_cycles_per_mac=2.5,
    fc_cycles_per_mac=1.4,
    conv_cycles_per_output=24.0,
    fc_cycles_per_output=24.0,
    avgpool_cycles_per_element=2.0,
    global_avgpool_cycles_per_element=2.0,
    add_cycles_per_element=6.0,
    reshape_cycles_per_element=0.25,
    softmax_cycles_per_element=60.0,
    op_overhead_cycles=1500.0,
)

GROUPS = ("conv", "depthwise", "fc", "output", "fixed")
_FITTED = ("conv", "depthwise", "fc", "output")  # groups with a penalised deviation; "fixed" follows exp(a)


def group_cycles(layers: Sequence[Layer], prior: LatencyCoefficients = PRIOR) -> dict[str, float]:
    """Prior cycles of a network split by the groups the fit rescales (see the module docstring)."""
    out = dict.fromkeys(GROUPS, 0.0)
    for layer in layers:
        out["fixed"] += prior.op_overhead_cycles
        kind = mac_kind(layer)
        if kind == "fc":
            out["fc"] += prior.fc_cycles_per_mac * layer.macs + prior.fc_cycles_per_output * layer.out_elements
        elif kind == "conv_depthwise":
            out["depthwise"] += prior.conv_depthwise_cycles_per_mac * layer.macs
            out["output"] += prior.conv_cycles_per_output * layer.out_elements
        elif kind == "conv_pointwise":
            out["conv"] += prior.conv_pointwise_cycles_per_mac * layer.macs
            out["output"] += prior.conv_cycles_per_output * layer.out_elements
        elif kind == "conv_general":
            out["conv"] += prior.conv_general_cycles_per_mac * layer.macs
            out["output"] += prior.conv_cycles_per_output * layer.out_elements
        elif layer.op in (Op.AVGPOOL2D, Op.GLOBAL_AVGPOOL):
            out["fixed"] += prior.avgpool_cycles_per_element * layer.in_elements
        elif layer.op is Op.ADD:
            out["fixed"] += prior.add_cycles_per_element * layer.out_elements
        elif layer.op is Op.RESHAPE:
            out["fixed"] += prior.reshape_cycles_per_element * layer.out_elements
        elif layer.op is Op.SOFTMAX:
            out["fixed"] += prior.softmax_cycles_per_element * layer.out_elements
    return out


@dataclass(frozen=True, slots=True)
class Scales:
    """The fitted multipliers of the prior: ``exp(a)`` overall and ``exp(a + b_g)`` per group."""

    overall: float
    conv: float
    depthwise: float
    fc: float
    output: float

    def coefficients(self, prior: LatencyCoefficients = PRIOR) -> LatencyCoefficients:
        """The prior rescaled: what a target file stores for this runtime."""
        return LatencyCoefficients(
            conv_pointwise_cycles_per_mac=prior.conv_pointwise_cycles_per_mac * self.conv,
            conv_general_cycles_per_mac=prior.conv_general_cycles_per_mac * self.conv,
            conv_depthwise_cycles_per_mac=prior.conv_depthwise_cycles_per_mac * self.depthwise,
            fc_cycles_per_mac=prior.fc_cycles_per_mac * self.fc,
            conv_cycles_per_output=prior.conv_cycles_per_output * self.output,
            fc_cycles_per_output=prior.fc_cycles_per_output * self.fc,
            avgpool_cycles_per_element=prior.avgpool_cycles_per_element * self.overall,
            global_avgpool_cycles_per_element=prior.global_avgpool_cycles_per_element * self.overall,
            add_cycles_per_element=prior.add_cycles_per_element * self.overall,
            reshape_cycles_per_element=prior.reshape_cycles_per_element * self.overall,
            softmax_cycles_per_element=prior.softmax_cycles_per_element * self.overall,
            op_overhead_cycles=prior.op_overhead_cycles * self.overall,
        )

    def cycles(self, groups: Mapping[str, float]) -> float:
        return (
            self.conv * groups["conv"]
            + self.depthwise * groups["depthwise"]
            + self.fc * groups["fc"]
            + self.output * groups["output"]
            + self.overall * groups["fixed"]
        )


def median_cycles(rows: Sequence[MeasuredRow]) -> dict[str, float]:
    """Median cycles per inference per benchmark (each row at its own declared clock)."""
    by_benchmark: dict[str, list[float]] = {}
    for row in rows:
        by_benchmark.setdefault(row.benchmark, []).append(row.cycles)
    return {b: statistics.median(c) for b, c in sorted(by_benchmark.items())}


def fit_scales(
    groups_by_model: Mapping[str, Mapping[str, float]], target_cycles: Mapping[str, float], *, ridge: float = DEFAULT_RIDGE
) -> Scales:
    """Least squares in log space of ``target_cycles`` (per benchmark) with ridge-shrunk deviations."""
    names = [m for m in target_cycles if m in groups_by_model]
    if not names:
        raise InvalidInputError("calibration needs at least one benchmark with both a layer list and measured rows")
    if ridge < 0:
        raise InvalidInputError(f"ridge must be >= 0, got {ridge}")
    g = np.array([[groups_by_model[m][k] for k in GROUPS] for m in names])
    y = np.log(np.array([target_cycles[m] for m in names]))

    def unpack(theta: np.ndarray) -> np.ndarray:
        a, b = theta[0], theta[1:]
        return np.exp(np.concatenate([a + b, [a]]))  # conv, depthwise, fc, output, fixed

    def residuals(theta: np.ndarray) -> np.ndarray:
        pred = g @ unpack(theta)
        return np.concatenate([np.log(pred) - y, math.sqrt(ridge) * theta[1:]])

    start = np.zeros(1 + len(_FITTED))
    start[0] = float(np.mean(y - np.log(g.sum(axis=1))))
    theta = least_squares(residuals, start, method="lm").x  # residuals (models + ridge terms) >= parameters
    conv, depthwise, fc, output, overall = (float(v) for v in unpack(theta))
    return Scales(overall=overall, conv=conv, depthwise=depthwise, fc=fc, output=output)


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted (core, runtime family): coefficients, the rows behind them, and their errors.

    Errors are ``estimate / measured - 1`` against the median cycles per benchmark: in-sample
    (fit on all four models) and leave-one-model-out (fit on the other three).
    """

    core: str
    runtime_family: str
    scales: Scales
    coefficients: LatencyCoefficients
    row_ids: tuple[str, ...]
    measured_cycles: Mapping[str, float]
    estimated_cycles: Mapping[str, float]
    in_sample_error: Mapping[str, float]
    lomo_error: Mapping[str, float]
    ridge: float

    @property
    def max_in_sample_error(self) -> float:
        return max(abs(v) for v in self.in_sample_error.values())

    @property
    def max_lomo_error(self) -> float:
        return max((abs(v) for v in self.lomo_error.values()), default=math.nan)


def select_rows(rows: Sequence[MeasuredRow], core: str, runtime_families: Sequence[str]) -> list[MeasuredRow]:
    """Calibration-grade rows of one core and runtime family (or families pooled)."""
    families = set(runtime_families)
    return [r for r in rows if r.calibration_grade and r.core == core and r.runtime_family in families]


def calibrate(
    models: Mapping[str, Sequence[Layer]],
    rows: Sequence[MeasuredRow],
    *,
    core: str,
    runtime_family: str,
    ridge: float = DEFAULT_RIDGE,
) -> Calibration:
    """Fit one (core, runtime family) on its rows; LOMO where >= 2 models have rows.

    ``runtime_family`` may pool families with ``+`` (``"plumerai+bosch-hale"``).
    """
    chosen = select_rows(rows, core, runtime_family.split("+"))
    if not chosen:
        raise InvalidInputError(f"no calibration-grade MLPerf Tiny rows for core {core!r} and runtime {runtime_family!r}")
    groups = {name: group_cycles(layers) for name, layers in models.items()}
    measured = {b: c for b, c in median_cycles(chosen).items() if b in groups}
    scales = fit_scales(groups, measured, ridge=ridge)
    estimated = {b: scales.cycles(groups[b]) for b in measured}
    in_sample = {b: estimated[b] / measured[b] - 1.0 for b in measured}
    lomo: dict[str, float] = {}
    if len(measured) >= 2:
        for held_out in measured:
            train = {b: c for b, c in measured.items() if b != held_out}
            held_scales = fit_scales(groups, train, ridge=ridge)
            lomo[held_out] = held_scales.cycles(groups[held_out]) / measured[held_out] - 1.0
    return Calibration(
        core=core,
        runtime_family=runtime_family,
        scales=scales,
        coefficients=scales.coefficients(),
        row_ids=tuple(sorted(r.row_id for r in chosen)),
        measured_cycles=measured,
        estimated_cycles=estimated,
        in_sample_error=in_sample,
        lomo_error=lomo,
        ridge=ridge,
    )


def calibration_pairs(rows: Sequence[MeasuredRow]) -> list[tuple[str, str]]:
    """Every (Cortex-M core, runtime family) with calibration-grade rows, sorted."""
    return sorted({(r.core, r.runtime_family) for r in rows if r.calibration_grade and r.core.startswith("cortex-m")})


def variant_yaml(calibration: Calibration, name: str, runtime: str, indent: int = 2) -> str:
    """The ``variants:`` entry a target file stores for a calibration: coefficients with their
    source, the rows they came from and the fit's errors, so the file is its own audit trail."""
    c, pad = calibration.coefficients, " " * indent

    def r(x: float) -> float:
        return float(f"{x:.3g}")

    def errors(e: Mapping[str, float]) -> str:
        return "{" + ", ".join(f"{k}: {v:+.3f}" for k, v in sorted(e.items())) + "}"

    s = calibration.scales
    n_rows, pair = len(calibration.row_ids), f"{calibration.core}, {calibration.runtime_family}"
    src = (
        f"fit by edgenas.hardware.calibrate (prior x exp(a + b_kind), ridge {calibration.ridge}) to the median cycles "
        f"per benchmark of the {n_rows} MLPerf Tiny rows below ({pair}; "
        "shared/data/mcu/mlperf_tiny_results.csv, clock from each row)"
    )
    per_mac = (
        f"{{conv_pointwise: {r(c.conv_pointwise_cycles_per_mac)}, conv_general: {r(c.conv_general_cycles_per_mac)}, "
        f"conv_depthwise: {r(c.conv_depthwise_cycles_per_mac)}, fc: {r(c.fc_cycles_per_mac)}}}"
    )
    per_element = (
        f"{{avgpool2d: {r(c.avgpool_cycles_per_element)}, global_avgpool: {r(c.global_avgpool_cycles_per_element)}, "
        f"add: {r(c.add_cycles_per_element)}, reshape: {r(c.reshape_cycles_per_element)}, "
        f"softmax: {r(c.softmax_cycles_per_element)}}}"
    )
    lines = [
        f"{name}:",
        f"  runtime: {runtime!r}",
        "  latency:",
        f"    source: {src!r}",
        f"    cycles_per_mac: {per_mac}  # prior x {s.conv:.3g} / {s.depthwise:.3g} / {s.fc:.3g}",
        f"    conv_cycles_per_output: {r(c.conv_cycles_per_output)}"
        f"  # fit: prior {PRIOR.conv_cycles_per_output:g} x {s.output:.3g}",
        f"    fc_cycles_per_output: {r(c.fc_cycles_per_output)}  # fit: prior {PRIOR.fc_cycles_per_output:g} x {s.fc:.3g}",
        f"    cycles_per_element: {per_element}  # prior x {s.overall:.3g}",
        f"    op_overhead_cycles: {r(c.op_overhead_cycles)}  # prior 1500 x {s.overall:.3g}",
        "    fit:",
        f"      ridge: {calibration.ridge}  # DEFAULT_RIDGE",
        f"      in_sample_error: {errors(calibration.in_sample_error)}  # estimate / median measured - 1",
        f"      lomo_error: {errors(calibration.lomo_error)}  # leave-one-model-out",
        "    rows:",
        *[f"      - {row}" for row in calibration.row_ids],
    ]
    return "\n".join(pad + line for line in lines) + "\n"


@dataclass(frozen=True, slots=True)
class PairChoice:
    """The hyper-parameters chosen for one pair without its own data, and that pair's errors under them."""

    core: str
    runtime_family: str
    output_cycles: float
    ridge: float
    max_in_sample_error: float
    max_lomo_error: float


def leave_one_pair_out(
    models: Mapping[str, Sequence[Layer]],
    rows: Sequence[MeasuredRow],
    output_cycles_grid: Sequence[float] = OUTPUT_CYCLES_GRID,
    ridge_grid: Sequence[float] = RIDGE_GRID,
    min_models: int = 3,
) -> list[PairChoice]:
    """Choose the prior's per-output cycles and the ridge for each pair from the *other* pairs.

    For each grid point, every pair with ``min_models`` or more models is fitted (in-sample and
    LOMO); a pair's choice is the grid point minimising the mean of (max in-sample + max LOMO
    error) over all other pairs, so no pair's own rows choose its hyper-parameters. Returns each
    pair's choice and its errors under it.
    """
    from dataclasses import replace

    pairs = [
        (core, family)
        for core, family in calibration_pairs(rows)
        if len(median_cycles(select_rows(rows, core, [family])).keys() & set(models)) >= min_models
    ]
    errors: dict[tuple[float, float], dict[tuple[str, str], tuple[float, float]]] = {}
    for out in output_cycles_grid:
        prior = replace(PRIOR, conv_cycles_per_output=out, fc_cycles_per_output=out)
        groups = {name: group_cycles(layers, prior) for name, layers in models.items()}
        for ridge in ridge_grid:
            errors[(out, ridge)] = {pair: _pair_errors(groups, rows, pair, ridge) for pair in pairs}
    chosen = []
    for pair in pairs:

        def score(point: tuple[float, float], held: tuple[str, str] = pair) -> float:
            return float(np.mean([a + b for p, (a, b) in errors[point].items() if p != held]))

        best = min(errors, key=score)
        in_sample, lomo = errors[best][pair]
        chosen.append(PairChoice(pair[0], pair[1], best[0], best[1], in_sample, lomo))
    return chosen


def _pair_errors(
    groups: Mapping[str, Mapping[str, float]], rows: Sequence[MeasuredRow], pair: tuple[str, str], ridge: float
) -> tuple[float, float]:
    """(max |in-sample error|, max |LOMO error|) of one pair with precomputed prior groups."""
    measured = {b: c for b, c in median_cycles(select_rows(rows, pair[0], [pair[1]])).items() if b in groups}
    scales = fit_scales(groups, measured, ridge=ridge)
    in_sample = max(abs(scales.cycles(groups[b]) / measured[b] - 1.0) for b in measured)
    lomo = 0.0
    for held in measured:
        held_scales = fit_scales(groups, {b: c for b, c in measured.items() if b != held}, ridge=ridge)
        lomo = max(lomo, abs(held_scales.cycles(groups[held]) / measured[held] - 1.0))
    return in_sample, lomo
