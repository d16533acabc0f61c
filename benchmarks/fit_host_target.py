"""Fit a target's latency coefficients to measured latencies: ``host`` (kws) or ``raspi4`` (NB201).

Two data sets, the same fit:

* ``--data kws`` (default): results/kws_host_latency.csv, written by ``host_latency.py`` (1,000
  kws architectures under ONNX Runtime on this host); 70 % train split; target ``host``.
* ``--data nb201``: the ``raspi4`` column (or ``--column``) of
  ``$EDGENAS_SHARED_DATA/benchmarks/nb201_latency_ms.csv`` (HW-NAS-Bench measurements of all
  15,625 NAS-Bench-201 cells); a seeded random ``--train`` cells (1,000) to fit, the rest held out;
  target ``raspi4``.

Each architecture is rebuilt from its genotype (kws) or cell string (NB201) and the analytical
model's own form is fitted (cycles = per-kind cycles/MAC x MACs + cycles per conv/FC output +
cycles per average-pooled / added element + a fixed cost per operator; clock from the target file)
by non-negative least squares on the train split. Features constant over the train split (the
classifier of every NB201 cell) are not identifiable apart from an intercept: only
``fc_outputs`` keeps one and carries it. Prints the held-out accuracy of the fitted model beside
the MACs-only line and the target file as shipped, and the coefficients to paste into the target
YAML (``edgenas/hardware/targets/<target>.yaml``).

    python benchmarks/fit_host_target.py [--csv benchmarks/results/kws_host_latency.csv] [--seed 0]
    python benchmarks/fit_host_target.py --data nb201 [--column raspi4] [--train 1000] [--seed 0]

NB201 has no depthwise convolution. ``--data nb201`` also prints the cycles/MAC of depthwise and
1x1 convs that HW-NAS-Bench's FBNet block table (``fbnet_lut.json``, metric ``<column>_latency``)
implies, for the target's ``conv_depthwise`` (see ``fbnet_depthwise``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from edgenas.hardware import load_target
from edgenas.hardware.analytical import latency_ms, mac_kind
from edgenas.hardware.latency.table import table_archs
from edgenas.ir import Op, total_macs
from edgenas.spaces import KwsSpace
from edgenas.spaces.nb201 import Nb201Space, active_edges
from edgenas.tables import read_table

FEATURES = (
    "conv_pointwise",
    "conv_general",
    "conv_depthwise",
    "fc",
    "conv_outputs",
    "fc_outputs",
    "ops",
    "avgpool2d_elements",
    "add_elements",
)
#: The feature that carries the intercept when several are constant over the train split.
INTERCEPT = "fc_outputs"
REPO = Path(__file__).resolve().parents[1]


def features(layers) -> list[float]:  # type: ignore[no-untyped-def]
    row = dict.fromkeys(FEATURES, 0.0)
    for layer in layers:
        kind = mac_kind(layer)
        if kind is not None:
            row[kind] += layer.macs
            row["fc_outputs" if kind == "fc" else "conv_outputs"] += layer.out_elements
        elif layer.op is Op.AVGPOOL2D:
            row["avgpool2d_elements"] += layer.in_elements  # as analytical.py: input elements for pooling
        elif layer.op is Op.ADD:
            row["add_elements"] += layer.out_elements
        row["ops"] += 1
    return [row[f] for f in FEATURES]


def scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    rel = np.abs(pred - true) / true
    return {
        "rmse_ms": float(np.sqrt(np.mean((pred - true) ** 2))),
        "mape": float(rel.mean()),
        "within_5": float(np.mean(rel <= 0.05)),
        "within_10": float(np.mean(rel <= 0.10)),
        "within_20": float(np.mean(rel <= 0.20)),
        "spearman": float(stats.spearmanr(pred, true).statistic),
        "kendall": float(stats.kendalltau(pred, true).statistic),
    }


def shared_data() -> Path:
    return Path(os.environ.get("EDGENAS_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_kws(path: Path, seed: int):  # type: ignore[no-untyped-def]
    if not path.is_file():
        raise SystemExit(f"{path} is absent: run benchmarks/host_latency.py first, or pass --csv")
    space = KwsSpace()
    table = read_table(path, flag="--csv", what="host latency table")
    archs = table_archs(space, table)  # from the genotype column, checked against the arch keys
    layers = [space.layers(a) for a in archs]
    ms = table.column("host_ort_1t_ms", "latency column")
    order = np.random.default_rng(seed).permutation(len(ms))  # the same split as host_latency.py
    cut = int(0.7 * len(ms))
    return layers, ms, order[:cut], order[cut:]


def load_nb201(path: Path, column: str, n_train: int, seed: int):  # type: ignore[no-untyped-def]
    """NB201 cells of ``path``, their ``column`` latency, a seeded train / held-out split, and the
    cells whose output is unreachable (no active edge).

    Those 341 cells output zeros; the measuring runtime folds such a network to a constant
    (raspi4 median 0.14 ms, down to 0.011 ms, against >= 2.5 ms for every other cell), while the
    IR prices the whole skeleton. They are left out of the split and scored apart.
    """
    if not path.is_file():
        raise SystemExit(f"{path} is absent: set EDGENAS_SHARED_DATA to the shared/data folder")
    space = Nb201Space()
    table = read_table(path, flag="--csv", what="latency table")
    archs = [space.from_string(k) for k in table.keys]
    layers = [space.layers(a) for a in archs]
    ms = table.column(column, "latency column")
    unreachable = np.array([not active_edges(a.genes) for a in archs])
    live = np.flatnonzero(~unreachable)
    order = live[np.random.default_rng(seed).permutation(len(live))]
    return layers, ms, order[:n_train], order[n_train:], np.flatnonzero(unreachable)


def fit(x: np.ndarray, ms: np.ndarray, train: np.ndarray, relative: bool = False) -> tuple[np.ndarray, list[str]]:
    """NNLS coefficients (ms per unit of each feature) and the features left unidentified.

    ``relative``: minimise the squared *relative* error (each row divided by its latency), the
    loss that matches MAPE and the within-x % shares; else the squared error in ms.
    """
    xt = x[train]
    constant = [j for j in range(x.shape[1]) if np.ptp(xt[:, j]) == 0 and xt[0, j] != 0]
    keep = INTERCEPT if FEATURES.index(INTERCEPT) in constant else None
    dropped = [FEATURES[j] for j in constant if FEATURES[j] != keep]
    cols = [j for j in range(x.shape[1]) if FEATURES[j] not in dropped]
    scale = xt[:, cols].max(axis=0)
    scale[scale == 0] = 1.0
    w = 1.0 / ms[train] if relative else np.ones(len(train))
    sol, _ = optimize.nnls(xt[:, cols] / scale * w[:, None], ms[train] * w)
    coef = np.zeros(x.shape[1])
    coef[cols] = sol / scale
    return coef, dropped


def fbnet_depthwise(lut_json: Path, metric: str, clock_hz: float) -> tuple[float, float, float, float, int]:
    """Cycles/MAC of 1x1 and depthwise convs, ms per block, in-sample MAPE, blocks: from the FBNet LUT.

    Every ``ConvBlock`` of groups 1 is an inverted residual: 1x1 expansion (Cin -> Cin x exp) at
    the input resolution, k x k depthwise with the stride, 1x1 projection (-> Cout); its measured
    latency is fitted as a x 1x1 MACs + b x depthwise MACs + c (NNLS, relative error).
    """
    table = json.loads(lut_json.read_text(encoding="utf-8"))[metric]
    pattern = re.compile(r"ConvBlock_H(\d+)_W(\d+)_Cin(\d+)_Cout(\d+)_exp(\d+)_kernel(\d+)_stride(\d+)_group1$")
    x, y = [], []
    for key, value in table.items():
        m = pattern.match(key)
        if m is None:
            continue
        h, w, cin, cout, exp, k, stride = map(int, m.groups())
        mid, out_pixels = cin * exp, -(-h // stride) * -(-w // stride)
        x.append([h * w * cin * mid + out_pixels * mid * cout, out_pixels * mid * k * k, 1.0])
        y.append(value)
    xa, ya = np.array(x), np.array(y)
    scale = xa.max(axis=0)
    sol, _ = optimize.nnls(xa / scale / ya[:, None], np.ones(len(ya)))
    coef = sol / scale
    mape = float(np.mean(np.abs(xa @ coef - ya) / ya))
    return coef[0] * clock_hz / 1000.0, coef[1] * clock_hz / 1000.0, float(coef[2]), mape, len(ya)


def per_layer_floor(x: np.ndarray, ms: np.ndarray, rows: np.ndarray) -> tuple[int, float, float, float]:
    """How well *any* function of the features could do: cells sharing one feature vector get one
    estimate, so predicting each by its own group's median (an oracle that has seen them) is a floor.

    Returns distinct vectors, oracle MAPE, oracle within 10 %, and median max/min within groups.
    """
    groups: dict[tuple[float, ...], list[int]] = {}
    for i in rows:
        groups.setdefault(tuple(x[i]), []).append(int(i))
    rel, spread = [], []
    for members in groups.values():
        values = ms[members]
        rel.extend(np.abs(values - np.median(values)) / values)
        spread.append(values.max() / values.min())
    errors = np.array(rel)
    return len(groups), float(errors.mean()), float(np.mean(errors <= 0.10)), float(np.median(spread))


def group_residual_correlation(x: np.ndarray, a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> float:
    """Correlation of two devices' log latencies around their feature-group medians (structure vs noise)."""
    groups: dict[tuple[float, ...], list[int]] = {}
    for i in rows:
        groups.setdefault(tuple(x[i]), []).append(int(i))
    ra, rb = [], []
    for members in groups.values():
        if len(members) > 1:
            ra.extend(np.log(a[members]) - np.log(np.median(a[members])))
            rb.extend(np.log(b[members]) - np.log(np.median(b[members])))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("kws", "nb201"), default="kws")
    parser.add_argument("--csv", type=Path, help="measurements (default: per --data, see above)")
    parser.add_argument("--column", default="raspi4", help="nb201: the device column to fit")
    parser.add_argument("--train", type=int, default=1000, help="nb201: cells in the train split")
    parser.add_argument("--compare", default="pixel3", help="nb201: device whose within-group spread is compared")
    parser.add_argument("--target", help="target whose clock converts ms to cycles (default: host / raspi4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--loss", choices=("abs", "rel"), help="squared error in ms or relative (default: abs for kws, as fitted; rel for nb201)"
    )
    args = parser.parse_args()
    if args.data == "kws":
        path = args.csv or Path(__file__).parent / "results" / "kws_host_latency.csv"
        layers, ms, train, test = load_kws(path, args.seed)
        unreachable = np.array([], dtype=int)
        target = load_target(args.target or "host")
    else:
        path = args.csv or shared_data() / "benchmarks" / "nb201_latency_ms.csv"
        layers, ms, train, test, unreachable = load_nb201(path, args.column, args.train, args.seed)
        target = load_target(args.target or "raspi4")
    x = np.array([features(ls) for ls in layers])
    macs = np.array([float(total_macs(ls)) for ls in layers])
    relative = (args.loss or ("abs" if args.data == "kws" else "rel")) == "rel"
    coef, dropped = fit(x, ms, train, relative)
    b, a = np.polyfit(macs[train], ms[train], 1, w=1.0 / ms[train] if relative else None)  # same loss as the fit

    cycles = coef * target.clock_hz / 1000.0
    print(
        f"fitted on {len(train)} architectures (seed {args.seed}, {'relative' if relative else 'absolute'} squared error), "
        f"scored on {len(test)} held out ({path})"
    )
    blocks = [("held out", test)]
    if len(unreachable):
        blocks.append((f"held out + the {len(unreachable)} cells with unreachable output", np.concatenate([test, unreachable])))
    for title, rows in blocks:
        print(f"\n{title}:")
        print(f"{'model':<34}{'RMSE ms':>9}{'MAPE':>8}{'+/-5%':>8}{'+/-10%':>8}{'+/-20%':>8}{'Spearman':>10}{'Kendall':>9}")
        for name, pred in (
            ("MACs-only line", a + b * macs[rows]),
            ("analytical form, NNLS fit", x[rows] @ coef),
            (f"{target.name}.yaml as shipped", np.array([latency_ms(layers[i], target) for i in rows])),
        ):
            s = scores(pred, ms[rows])
            print(
                f"{name:<34}{s['rmse_ms']:>9.4f}{s['mape']:>8.1%}{s['within_5']:>8.1%}{s['within_10']:>8.1%}"
                f"{s['within_20']:>8.1%}{s['spearman']:>10.3f}{s['kendall']:>9.3f}"
            )
    print(f"MACs-only line: {a:.4g} ms + {b * 1e6:.4g} ms per M MACs")
    print(f"\ncoefficients at clock {target.clock_hz / 1e6:g} MHz (cycles):")
    for name, value in zip(FEATURES, cycles, strict=True):
        note = "  (constant over the train split: not identified, folded into the intercept)" if name in dropped else ""
        print(f"  {name}: {value:.4g}{note}")
    if args.data == "nb201":
        rows = np.concatenate([train, test])
        n, mape, within10, spread = per_layer_floor(x, ms, rows)
        print(
            f"\nfloor of any per-layer model: {n} distinct feature vectors among {len(rows)} cells; each cell "
            f"by its own group's median: MAPE {mape:.1%}, within 10% {within10:.1%}; max/min in a group: median {spread:.2f}x"
        )
        other = read_table(path).column(args.compare, "latency column")
        corr = group_residual_correlation(x, ms, other, rows)
        print(f"within-group log residuals, {args.column} vs {args.compare}: correlation {corr:.2f} (1: structure, 0: noise)")
    lut = path.parent / "fbnet_lut.json"
    if args.data == "nb201" and lut.is_file():
        pw, dw, const, mape, n = fbnet_depthwise(lut, f"{args.column}_latency", target.clock_hz)
        print(
            f"\nFBNet LUT ({lut.name}, {args.column}_latency, {n} group-1 ConvBlocks): 1x1 conv {pw:.3g}, "
            f"depthwise {dw:.3g} cycles/MAC, {const:.3g} ms per block; in-sample MAPE {mape:.1%}"
        )


if __name__ == "__main__":
    main()
