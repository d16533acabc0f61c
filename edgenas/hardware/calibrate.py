"""Fit a runtime's per-operator cycle coefficients to MLPerf Tiny measurements.

Why this shape of fit: there are only four reference models per (core, runtime family), so at
most two or three coefficients can be learned honestly. The relative cost of the ops (a 1x1 conv
MAC vs a depthwise MAC vs an FC MAC, the requantisation per output, per-op dispatch) starts from a
literature **prior** (:data:`PRIOR`), and the data decide

* ``a``: one overall speed of the engine on the core (unpenalised), and
* ``b_conv``, ``b_depthwise``, ``b_fc``, ``b_output``: per-kind deviations from the prior, shrunk by
  a ridge penalty ``ridge * (b - c)**2`` (:data:`DEFAULT_RIDGE`) towards a **cross-pair centre**
  ``c``: the mean deviation of every *other* (core, runtime family) with data, each of them fitted
  towards the literature prior (:func:`cross_pair_deviations`). So a kind the pair's own rows barely
  constrain takes the shape the other engines show, not only the literature's. When a model is left
  out (LOMO), the other pairs' deviations are refitted without that model too: a new architecture
  has not been measured anywhere.

A model's predicted cycles are ``exp(a) * sum_g exp(b_g) * prior_cycles_g(model)`` with groups
``conv`` (1x1 and general conv MACs), ``depthwise`` (depthwise MACs), ``fc`` (FC MACs and outputs),
``output`` (the per-output requantisation of every conv and depthwise layer) and ``fixed`` (per-op
overhead and element-wise ops, scaled by ``exp(a)`` only). The fit minimises squared log errors
against the **median cycles per benchmark** (latency x each row's own declared clock) over the
pair's rows of its **newest engine** (:func:`newest_engine_rows`): the rows of the newest MLPerf
Tiny round that covers the most of the pair's benchmarks. Engines change shape between releases
(X-CUBE-AI 8.1 and Plumerai 2023.05 halved the MobileNet cycles while DS-CNN gained 10-30 %), so a
median over rounds fits no engine a user can deploy; ``rounds="all"`` keeps the pooled median for
comparison. Leave-one-model-out (LOMO) refits on three models and predicts the fourth.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy.optimize import least_squares

from edgenas.errors import InvalidInputError
from edgenas.hardware.analytical import mac_kind
from edgenas.hardware.mlperf import MeasuredRow
from edgenas.hardware.target import LatencyCoefficients
from edgenas.ir import Layer, Op

#: Shrinkage of the per-kind deviations towards the cross-pair centre (in squared log units): a
#: deviation of x2.7 (b - c = 1) costs as much as a 0.1 log-error on one model. Chosen once for every
#: (core, runtime) pair, together with the prior's per-output cycles, by :func:`leave_one_pair_out`
#: (see :data:`PRIOR` and ``benchmarks/results/calibration.md``).
DEFAULT_RIDGE = 0.01

#: Which rows a pair is fitted to: ``"newest"`` (its newest engine, :func:`newest_engine_rows`) or ``"all"``.
DEFAULT_ROUNDS = "newest"

#: The per-output prior cycles and ridges :func:`leave_one_pair_out` chooses among.
OUTPUT_CYCLES_GRID = (8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0, 40.0, 48.0)
RIDGE_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)

#: A pair enters the cross-pair centre and the goals with at least this many reference models.
MIN_MODELS = 3

#: The prior shape, in cycles on a Cortex-M7 with CMSIS-NN-class int8 kernels (only ratios
#: matter: ``exp(a)`` rescales it per core and runtime). general conv 1.1 cyc/MAC: CMSIS-NN paper
#: (Lai, Suda, Chandra 2018, arXiv:1801.06601: CIFAR-10 CNN in 99.1 ms at 216 MHz); 1x1 conv
#: 1.0 (no im2col); depthwise 2.5 (memory-bound, 9 MACs per loaded activation, MCUNet); FC 1.4 (one
#: weight load per MAC); element costs and 1,500 cycles of per-op dispatch as assumed in
#: ``docs/targets.md``. Per output element 24 cycles: requantisation (``arm_nn_requantize``, about
#: 8-10) plus the per-output loop set-up, bias load and store of the kernels. The 24 (and the ridge)
#: were chosen by leave-one-pair-out over the 17 (core, runtime) pairs: for each pair, the grid
#: value that best fits the *other* pairs; on newest-engine rows with the cross-pair centre it is 24
#: (ridge 0.01) for 16 of 17 pairs and over all pairs (``benchmarks/calibration.py``; the
#: all-rounds fit of the first version also chose 24). The literature value of 8 (requantisation alone) left the
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


def _round_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.lstrip("v").split(".") if part.isdigit())


def newest_engine_rows(rows: Sequence[MeasuredRow]) -> list[MeasuredRow]:
    """The rows of the newest round that covers the most benchmarks, per runtime family.

    One engine release per MLPerf Tiny round and submitter is the rule in the data (X-CUBE-AI 7.1 in
    v0.7 ... 10.2 in v1.3; Plumerai "2023.05" in v1.1); the round is the version label every row has.
    """
    chosen: list[MeasuredRow] = []
    for family in sorted({r.runtime_family for r in rows}):
        own = [r for r in rows if r.runtime_family == family]
        cover: dict[str, set[str]] = {}
        for r in own:
            cover.setdefault(r.round, set()).add(r.benchmark)
        most = max(len(b) for b in cover.values())
        newest = max((rd for rd, b in cover.items() if len(b) == most), key=_round_key)
        chosen.extend(r for r in own if r.round == newest)
    return chosen


def _fit_theta(
    groups_by_model: Mapping[str, Mapping[str, float]],
    target_cycles: Mapping[str, float],
    ridge: float,
    centre: Mapping[str, float] | None,
) -> np.ndarray:
    names = [m for m in target_cycles if m in groups_by_model]
    if not names:
        raise InvalidInputError("calibration needs at least one benchmark with both a layer list and measured rows")
    if ridge < 0:
        raise InvalidInputError(f"ridge must be >= 0, got {ridge}")
    g = np.array([[groups_by_model[m][k] for k in GROUPS] for m in names])
    y = np.log(np.array([target_cycles[m] for m in names]))
    c = np.array([(centre or {}).get(k, 0.0) for k in _FITTED])

    def residuals(theta: np.ndarray) -> np.ndarray:
        pred = g @ _unpack(theta)
        return np.concatenate([np.log(pred) - y, math.sqrt(ridge) * (theta[1:] - c)])

    start = np.concatenate([[0.0], c])
    start[0] = float(np.mean(y - np.log(g @ _unpack(start))))
    return least_squares(residuals, start, method="lm").x  # residuals (models + ridge terms) >= parameters


def _unpack(theta: np.ndarray) -> np.ndarray:
    a, b = theta[0], theta[1:]
    return np.exp(np.concatenate([a + b, [a]]))  # conv, depthwise, fc, output, fixed


def fit_scales(
    groups_by_model: Mapping[str, Mapping[str, float]],
    target_cycles: Mapping[str, float],
    *,
    ridge: float = DEFAULT_RIDGE,
    centre: Mapping[str, float] | None = None,
) -> Scales:
    """Least squares in log space of ``target_cycles`` (per benchmark), deviations shrunk towards ``centre``.

    ``centre`` maps ``conv``/``depthwise``/``fc``/``output`` to the log deviation the ridge pulls
    towards (missing: 0, the literature prior).
    """
    conv, depthwise, fc, output, overall = (float(v) for v in _unpack(_fit_theta(groups_by_model, target_cycles, ridge, centre)))
    return Scales(overall=overall, conv=conv, depthwise=depthwise, fc=fc, output=output)


def deviations(scales: Scales) -> dict[str, float]:
    """The fitted ``b_g`` of a fit: log of each group's multiplier over the overall one."""
    return {k: math.log(getattr(scales, k) / scales.overall) for k in _FITTED}


def select_rows(
    rows: Sequence[MeasuredRow], core: str, runtime_families: Sequence[str], rounds: str = DEFAULT_ROUNDS
) -> list[MeasuredRow]:
    """Calibration-grade rows of one core and runtime family (or families pooled).

    ``rounds="newest"`` keeps each family's newest engine (:func:`newest_engine_rows`); ``"all"`` every round.
    """
    if rounds not in ("newest", "all"):
        raise InvalidInputError(f"rounds must be 'newest' or 'all', got {rounds!r}")
    families = set(runtime_families)
    chosen = [r for r in rows if r.calibration_grade and r.core == core and r.runtime_family in families]
    return newest_engine_rows(chosen) if rounds == "newest" and chosen else chosen


Pair = tuple[str, str]
#: Per pair, the deviations fitted towards the literature prior on all its models (key ``None``) and
#: without each one of them (key: the model left out). What :func:`cross_pair_centre` averages.
DeviationTable = Mapping[Pair, Mapping[str | None, Mapping[str, float]]]


def cross_pair_deviations(
    models: Mapping[str, Sequence[Layer]],
    rows: Sequence[MeasuredRow],
    *,
    ridge: float = DEFAULT_RIDGE,
    rounds: str = DEFAULT_ROUNDS,
    prior: LatencyCoefficients = PRIOR,
) -> dict[Pair, dict[str | None, dict[str, float]]]:
    """Each pair with >= :data:`MIN_MODELS` models fitted alone towards the prior: its own deviations."""
    groups = {name: group_cycles(layers, prior) for name, layers in models.items()}
    table: dict[Pair, dict[str | None, dict[str, float]]] = {}
    for core, family in calibration_pairs(rows):
        measured = {b: c for b, c in median_cycles(select_rows(rows, core, [family], rounds)).items() if b in groups}
        if len(measured) < MIN_MODELS:
            continue
        entry: dict[str | None, dict[str, float]] = {}
        for left_out in [None, *measured]:
            train = {b: c for b, c in measured.items() if b != left_out}
            entry[left_out] = deviations(fit_scales(groups, train, ridge=ridge))
        table[(core, family)] = entry
    return table


def judged_pairs(models: Mapping[str, Sequence[Layer]], rows: Sequence[MeasuredRow], rounds: str = DEFAULT_ROUNDS) -> list[Pair]:
    """The pairs with >= :data:`MIN_MODELS` reference models among their (``rounds``) rows: the goals apply to these."""
    return [
        (core, family)
        for core, family in calibration_pairs(rows)
        if len(median_cycles(select_rows(rows, core, [family], rounds)).keys() & set(models)) >= MIN_MODELS
    ]


def cross_pair_centre(table: DeviationTable, exclude: Sequence[Pair], left_out: str | None = None) -> dict[str, float]:
    """Mean deviations of the pairs not in ``exclude``, each fitted without ``left_out`` (if it has it)."""
    others = [entry.get(left_out, entry[None]) for pair, entry in table.items() if pair not in set(exclude)]
    if not others:
        return {}
    return {k: float(np.mean([d[k] for d in others])) for k in _FITTED}


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted (core, runtime family): coefficients, the rows behind them, and their errors.

    Errors are ``estimate / measured - 1`` against the median cycles per benchmark: in-sample
    (fit on all four models) and leave-one-model-out (fit on the other three, the cross-pair
    centre refitted without the left-out model too).
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
    rounds: str = DEFAULT_ROUNDS
    centre: Mapping[str, float] | None = None  # the cross-pair centre of the deviations (None: literature prior)

    @property
    def max_in_sample_error(self) -> float:
        return max(abs(v) for v in self.in_sample_error.values())

    @property
    def max_lomo_error(self) -> float:
        return max((abs(v) for v in self.lomo_error.values()), default=math.nan)


def calibrate(
    models: Mapping[str, Sequence[Layer]],
    rows: Sequence[MeasuredRow],
    *,
    core: str,
    runtime_family: str,
    ridge: float = DEFAULT_RIDGE,
    rounds: str = DEFAULT_ROUNDS,
    pooled: bool = True,
    table: DeviationTable | None = None,
) -> Calibration:
    """Fit one (core, runtime family) on its rows; LOMO where >= 2 models have rows.

    ``runtime_family`` may pool families with ``+`` (``"plumerai+bosch-hale"``). ``pooled`` shrinks
    towards the cross-pair centre of the other pairs (``table``: a precomputed
    :func:`cross_pair_deviations` with the same ridge and rounds, to save refitting), else towards
    the literature prior.
    """
    families = runtime_family.split("+")
    chosen = select_rows(rows, core, families, rounds)
    if not chosen:
        raise InvalidInputError(f"no calibration-grade MLPerf Tiny rows for core {core!r} and runtime {runtime_family!r}")
    groups = {name: group_cycles(layers) for name, layers in models.items()}
    measured = {b: c for b, c in median_cycles(chosen).items() if b in groups}
    if pooled and table is None:
        table = cross_pair_deviations(models, rows, ridge=ridge, rounds=rounds)
    own = [(core, f) for f in families]

    def centre(left_out: str | None) -> dict[str, float] | None:
        return cross_pair_centre(table, own, left_out) if pooled and table is not None else None

    scales = fit_scales(groups, measured, ridge=ridge, centre=centre(None))
    estimated = {b: scales.cycles(groups[b]) for b in measured}
    in_sample = {b: estimated[b] / measured[b] - 1.0 for b in measured}
    lomo: dict[str, float] = {}
    if len(measured) >= 2:
        for held_out in measured:
            train = {b: c for b, c in measured.items() if b != held_out}
            held_scales = fit_scales(groups, train, ridge=ridge, centre=centre(held_out))
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
        rounds=rounds,
        centre=centre(None),
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
    towards = "the cross-pair centre" if calibration.centre is not None else "the literature prior"
    engine = "its newest engine" if calibration.rounds == "newest" else "all rounds"
    src = (
        f"fit by edgenas.hardware.calibrate (prior x exp(a + b_kind), b shrunk towards {towards}, ridge {calibration.ridge}) "
        f"to the median cycles per benchmark of the {n_rows} MLPerf Tiny rows below ({pair}, {engine}; "
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
        *(
            [f"      centre: {errors(calibration.centre)}  # log deviations of the other pairs (cross-pair prior)"]
            if calibration.centre is not None
            else []
        ),
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
    in_sample_error: Mapping[str, float]
    lomo_error: Mapping[str, float]

    @property
    def max_in_sample_error(self) -> float:
        return max(abs(v) for v in self.in_sample_error.values())

    @property
    def max_lomo_error(self) -> float:
        return max(abs(v) for v in self.lomo_error.values())


def leave_one_pair_out(
    models: Mapping[str, Sequence[Layer]],
    rows: Sequence[MeasuredRow],
    output_cycles_grid: Sequence[float] = OUTPUT_CYCLES_GRID,
    ridge_grid: Sequence[float] = RIDGE_GRID,
    *,
    rounds: str = DEFAULT_ROUNDS,
    pooled: bool = True,
) -> tuple[list[PairChoice], tuple[float, float]]:
    """Choose the prior's per-output cycles and the ridge for each pair from the *other* pairs.

    For each grid point, every pair with :data:`MIN_MODELS` or more models is fitted (in-sample and
    LOMO, shrunk towards the cross-pair centre if ``pooled``); a pair's choice is the grid point
    minimising the mean of (max in-sample + max LOMO error) over all other pairs, so no pair's own
    rows choose its hyper-parameters. Returns each pair's choice and its errors under it, and the
    grid point that is best over all pairs (the package default when the two agree).
    """
    from dataclasses import replace

    errors: dict[tuple[float, float], dict[Pair, tuple[dict[str, float], dict[str, float]]]] = {}
    for out in output_cycles_grid:
        prior = replace(PRIOR, conv_cycles_per_output=out, fc_cycles_per_output=out)
        groups = {name: group_cycles(layers, prior) for name, layers in models.items()}
        for ridge in ridge_grid:
            table = cross_pair_deviations(models, rows, ridge=ridge, rounds=rounds, prior=prior) if pooled else None
            pairs = list(table) if table is not None else judged_pairs(models, rows, rounds)
            errors[(out, ridge)] = {pair: _pair_errors(groups, rows, pair, ridge, rounds, table) for pair in pairs}

    def score(point: tuple[float, float], held: Pair | None = None) -> float:
        per_pair = errors[point].items()
        return float(np.mean([_max(i) + _max(lo) for p, (i, lo) in per_pair if p != held]))

    chosen = []
    for pair in next(iter(errors.values())):
        best = min(errors, key=partial(score, held=pair))
        in_sample, lomo = errors[best][pair]
        chosen.append(PairChoice(pair[0], pair[1], best[0], best[1], in_sample, lomo))
    return chosen, min(errors, key=score)


def _max(errors: Mapping[str, float]) -> float:
    return max(abs(v) for v in errors.values())


def _pair_errors(
    groups: Mapping[str, Mapping[str, float]],
    rows: Sequence[MeasuredRow],
    pair: Pair,
    ridge: float,
    rounds: str,
    table: DeviationTable | None,
) -> tuple[dict[str, float], dict[str, float]]:
    """(in-sample errors, LOMO errors) of one pair with precomputed prior groups and deviation table."""
    measured = {b: c for b, c in median_cycles(select_rows(rows, pair[0], [pair[1]], rounds)).items() if b in groups}

    def centre(left_out: str | None) -> dict[str, float] | None:
        return cross_pair_centre(table, [pair], left_out) if table is not None else None

    scales = fit_scales(groups, measured, ridge=ridge, centre=centre(None))
    in_sample = {b: scales.cycles(groups[b]) / measured[b] - 1.0 for b in measured}
    lomo = {}
    for held in measured:
        held_scales = fit_scales(groups, {b: c for b, c in measured.items() if b != held}, ridge=ridge, centre=centre(held))
        lomo[held] = held_scales.cycles(groups[held]) / measured[held] - 1.0
    return in_sample, lomo
