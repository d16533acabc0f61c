"""The energy model of the Cortex-M targets against MLPerf Tiny's measured energy per inference.

    EDGENAS_SHARED_DATA=<shared/data> python benchmarks/energy_model.py

For each Cortex-M target, the MLPerf Tiny energy rows of its board (the Cortex-M7's board, the
DISCO-F746NG, has none: the rows of the same core on the NUCLEO-H7A3ZI-Q stand in) are priced by
the target's ``energy:`` block (edgenas/hardware/energy.py) over the *measured* latency of the
energy run, so what is checked is the energy model, not the latency model. The static power is
the one coefficient these rows identify (a weighted least-squares fit on relative error, closed
form: every other term is under 0.2 % of a row's energy); the MAC and byte terms are the target
file's. Printed per core: the fitted static power against the file's, and the mean absolute
relative error in-sample and leave-one-model-out (the static power refitted without each
reference model's rows, then that model's rows priced).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from dataclasses import dataclass

from edgenas.hardware.energy import EnergyTerms, energy_mj, energy_terms
from edgenas.hardware.mlperf import MeasuredRow, energy_rows, reference_models
from edgenas.hardware.target import load_target
from edgenas.settings import shared_data_dir

#: Target -> the board whose MLPerf Tiny energy rows its static power is fitted to.
BOARDS = {"cortex-m4": "NUCLEO-L4R5ZI", "cortex-m33": "NUCLEO-U575ZI-Q", "cortex-m7": "NUCLEO-H7A3ZI-Q"}


@dataclass(frozen=True)
class Point:
    row: MeasuredRow
    terms: EnergyTerms
    latency_ms: float
    measured_mj: float


def _points(target_name: str, models: dict[str, EnergyTerms]) -> list[Point]:
    rows = energy_rows(shared_data_dir(), BOARDS[target_name])
    out = []
    for r in rows:
        assert r.energy_uj is not None
        latency = r.energy_latency_ms or r.latency_ms
        out.append(Point(r, models[r.benchmark], latency, r.energy_uj * 1e-3))
    return out


def fit_static_mw(points: list[Point], coeffs: object) -> float:
    """Static power minimising the squared *relative* error, the other coefficients held (closed form)."""
    zero = dataclasses.replace(coeffs, static_mw=0.0)  # type: ignore[type-var]
    num = den = 0.0
    for p in points:
        known = energy_mj(p.terms, p.latency_ms, zero)  # the MAC and byte terms
        a = p.latency_ms * 1e-3 / p.measured_mj  # mJ per mW, relative
        num += a * (p.measured_mj - known) / p.measured_mj
        den += a * a
    return num / den


def _mape(points: list[Point], coeffs: object) -> float:
    return statistics.fmean(abs(energy_mj(p.terms, p.latency_ms, coeffs) - p.measured_mj) / p.measured_mj for p in points)  # type: ignore[arg-type]


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    layers = reference_models(shared_data_dir())
    models = {b: energy_terms(ls) for b, ls in layers.items()}
    print("| target | board (rows) | static mW: file / fitted | MAPE in-sample | MAPE leave-one-model-out | per model (LOMO) |")
    print("|---|---|---|---|---|---|")
    for name in BOARDS:
        target = load_target(name)
        assert target.energy is not None, f"{name} has no energy block"
        points = _points(name, models)
        fitted = fit_static_mw(points, target.energy)
        in_sample = _mape(points, dataclasses.replace(target.energy, static_mw=fitted))
        lomo_errors: list[float] = []
        per_model = []
        for bench in sorted({p.row.benchmark for p in points}):
            train = [p for p in points if p.row.benchmark != bench]
            test = [p for p in points if p.row.benchmark == bench]
            held = dataclasses.replace(target.energy, static_mw=fit_static_mw(train, target.energy))
            errs = [abs(energy_mj(p.terms, p.latency_ms, held) - p.measured_mj) / p.measured_mj for p in test]
            lomo_errors += errs
            per_model.append(f"{bench} {100 * statistics.fmean(errs):.1f} %")
        file_mape = _mape(points, target.energy)
        runtimes = ", ".join(sorted({p.row.runtime_family for p in points}))
        print(
            f"| {name} | {BOARDS[name]} ({len(points)}: {runtimes}) | {target.energy.static_mw:g} / {fitted:.2f} | "
            f"{100 * in_sample:.1f} % (file's: {100 * file_mape:.1f} %) | {100 * statistics.fmean(lomo_errors):.1f} % | "
            f"{'; '.join(per_model)} |"
        )
    print()
    print("Energy per inference of the reference models at each target's *estimated* latency (TFLite Micro + CMSIS-NN):")
    from edgenas.hardware.analytical import latency_ms
    from edgenas.hardware.energy import network_energy_mj

    for name in BOARDS:
        target = load_target(name)
        assert target.energy is not None
        figures = []
        for bench, ls in layers.items():
            lat = latency_ms(ls, target)
            figures.append(f"{bench} {lat:.1f} ms {network_energy_mj(ls, lat, target.energy):.3f} mJ")
        print(f"  {name}: " + ", ".join(figures))


if __name__ == "__main__":
    main()
