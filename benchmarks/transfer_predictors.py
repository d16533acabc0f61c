"""Leave one device out: predict a device's latencies from the latencies of every other device.

    .venv/bin/python benchmarks/transfer_predictors.py [--train 100] [--repeats 3]
        [--method transfer,kcenter,...] [--devices D1,D2] [--md PATH]

For each device column of ``nb201_latency_ms.csv`` in turn, the predictor learns from the other
devices only (the same hardware at another batch size, ``titanx_1`` for ``titanx_32``, is left
out too: it is not a *new* device) and from ``--train`` measurements of the left-out device, and
is scored on every other architecture measured on it: share within +/-10 %, MAPE, Spearman.

Methods (``--method``, comma-separated; the first one fills the main table):

* ``transfer``: ``edgenas predictor fit --kind transfer`` (:class:`TransferPredictor`): a ridge
  of the log latency on the other devices' *measured* log latencies of the same architecture,
  its residuals corrected by a cross-validated RBF kernel ridge, ``--train`` rows drawn at random;
* ``linear``: the same without the residual correction (the ridge alone);
* ``kcenter`` / ``kmeans++``: the same predictor, its rows chosen to cover the sources' latency
  space (greedy k-center, or k-means++ seeding, on standardised source log latencies) instead of
  at random;
* ``twin``: the same predictor, each source measurement replaced by its geometric mean with the
  measurement of the architecture's twin (the same network under another row, see below);
* ``onehot``: a ridge on the source log latencies *and* the one-hot genes;
* ``lgbm-residual``: ``transfer``, plus a small LightGBM on its residuals over the one-hot genes
  and the source log latencies.

**Noise.** A cell whose edge 1->2 is ``none`` computes nodes 1 and 2 the same way, so swapping
edges 0->1 with 0->2 and 1->3 with 2->3 gives another row of the table that is the same network.
The two rows' disagreement on a device is its measurement noise (and resolution);
:func:`edgenas.hardware.latency.noise.pair_noise` turns it into the ceiling any predictor of the
column faces.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV

from edgenas.hardware.latency import Net, TransferPredictor, nets_of
from edgenas.hardware.latency.fewshot import ALPHAS
from edgenas.hardware.latency.noise import PairNoise, pair_noise
from edgenas.hardware.latency.table import table_archs
from edgenas.settings import shared_data_dir
from edgenas.spaces.nb201 import EDGES, Nb201Space
from edgenas.tables import read_table
from edgenas.workflows.latency_predictors import device_family

METHODS = ("transfer", "linear", "kcenter", "kmeans++", "twin", "onehot", "lgbm-residual")
EDGE_DEVICES = ("essential_ph_1", "pixel3", "raspi4", "samsung_s7", "silver_4114")


def nb201_twins(genes: np.ndarray) -> np.ndarray:
    """Row of each architecture's twin (itself where it has none): the cell with nodes 1 and 2 swapped.

    With edge 1->2 ``none`` (gene 0), node 2 no longer reads node 1, so both are one op of the
    input: swapping 0->1 with 0->2 and 1->3 with 2->3 renames the nodes and keeps the network.
    """
    e = {edge: k for k, edge in enumerate(EDGES)}  # (target, source) -> gene position
    swap = list(range(len(EDGES)))
    for x, y in (((1, 0), (2, 0)), ((3, 1), (3, 2))):
        swap[e[x]], swap[e[y]] = e[y], e[x]
    row = {tuple(g): i for i, g in enumerate(genes.tolist())}
    twins = np.arange(len(genes))
    for i, g in enumerate(genes.tolist()):
        if g[e[(2, 1)]] == 0:
            twins[i] = row.get(tuple(g[k] for k in swap), i)
    return twins


@dataclass
class Case:
    """One left-out device: its measurements, its sources' and the rows every one of them measured."""

    y: np.ndarray
    log_sources: np.ndarray  # rows x sources
    sources: list[str]
    rows: np.ndarray
    nets: list[Net]
    pretrained: TransferPredictor | None = None

    def predictor(self) -> TransferPredictor:
        """The transfer predictor holding the sources' measurements (built once, refitted per draw)."""
        if self.pretrained is None:
            columns = dict(zip(self.sources, np.exp(self.log_sources[self.rows]).T, strict=True))
            self.pretrained = TransferPredictor().pretrain([self.nets[i] for i in self.rows], columns)
        return self.pretrained


def k_center(features: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-center: each row the farthest from those chosen (the first at random)."""
    chosen = [int(rng.integers(len(features)))]
    dist = ((features - features[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(n - 1):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, ((features - features[chosen[-1]]) ** 2).sum(axis=1))
    return np.array(chosen)


def k_means_pp(features: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each row drawn with probability proportional to its squared distance to those chosen."""
    chosen = [int(rng.integers(len(features)))]
    dist = ((features - features[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(n - 1):
        chosen.append(int(rng.choice(len(features), p=dist / dist.sum())))
        dist = np.minimum(dist, ((features - features[chosen[-1]]) ** 2).sum(axis=1))
    return np.array(chosen)


def train_rows(method: str, case: Case, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if method in ("kcenter", "kmeans++"):
        f = case.log_sources[case.rows]
        z = (f - f.mean(axis=0)) / np.where(f.std(axis=0) > 0, f.std(axis=0), 1.0)
        pick = k_center if method == "kcenter" else k_means_pp
        return case.rows[pick(z, n, rng)]
    return rng.choice(case.rows, n, replace=False)


def one_hot(genes: np.ndarray, choices: int) -> np.ndarray:
    out = np.zeros((len(genes), genes.shape[1] * choices))
    for k in range(genes.shape[1]):
        out[np.arange(len(genes)), k * choices + genes[:, k]] = 1.0
    return out


def predict(method: str, case: Case, nets: list[Net], onehot: np.ndarray, train: np.ndarray, seed: int) -> np.ndarray:
    """Log-latency predictions of every row of ``case.rows`` by ``method`` trained on ``train``."""
    log_y = np.log(case.y)
    if method == "onehot":
        x = np.hstack([case.log_sources, onehot])
        mean, scale = x[train].mean(axis=0), x[train].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        model = RidgeCV(alphas=ALPHAS).fit((x[train] - mean) / scale, log_y[train])
        return model.predict((x[case.rows] - mean) / scale)
    predictor = case.predictor()
    predictor.kernel_residual = method != "linear"
    predictor.fit([nets[i] for i in train], case.y[train])
    all_nets = [nets[i] for i in case.rows]
    out = np.log(predictor.predict(all_nets))
    if method == "lgbm-residual":
        import lightgbm as lgb

        x = np.hstack([onehot, case.log_sources])
        residual = log_y[train] - np.log(predictor.predict([nets[i] for i in train]))
        booster = lgb.LGBMRegressor(
            n_estimators=100, learning_rate=0.05, num_leaves=4, min_child_samples=5, random_state=seed, verbose=-1
        ).fit(x[train], residual)
        out = out + booster.predict(x[case.rows])
    return np.asarray(out)


def score(case: Case, predicted_log: np.ndarray, train: np.ndarray) -> tuple[float, float, float]:
    test = ~np.isin(case.rows, train)
    measured, predicted = case.y[case.rows][test], np.exp(predicted_log[test])
    rel = np.abs(predicted - measured) / measured
    return float(np.mean(rel <= 0.10)), float(np.mean(rel)), float(spearmanr(measured, predicted).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100, help="measurements of the left-out device")
    parser.add_argument("--repeats", type=int, default=3, help="seeded draws of the training rows")
    parser.add_argument("--method", default="transfer", help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--devices", default=None, help="comma-separated device columns (default: all)")
    parser.add_argument("--md", default=None, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    methods = args.method.split(",")
    if bad := [m for m in methods if m not in METHODS]:
        parser.error(f"unknown --method {bad[0]!r}; accepted: {', '.join(METHODS)}")

    path = shared_data_dir() / "benchmarks" / "nb201_latency_ms.csv"
    table = read_table(path, what="latency table")
    space = Nb201Space()
    archs = table_archs(space, table)
    nets = nets_of(space, archs)
    genes = np.array([a.genes for a in archs])
    twins = nb201_twins(genes)
    onehot = one_hot(genes, len(space.decisions()[0].choices))
    devices = list(table.columns)
    chosen = args.devices.split(",") if args.devices else devices
    if bad := [d for d in chosen if d not in devices]:
        parser.error(f"unknown --devices {bad[0]!r}; accepted: {', '.join(devices)}")
    latency = np.column_stack([table.column(d, "latency column") for d in devices])
    pairs = np.flatnonzero(twins > np.arange(len(twins)))

    results: dict[tuple[str, str], tuple[float, float, float]] = {}
    noise: dict[str, PairNoise] = {}
    n_sources: dict[str, int] = {}
    for device in chosen:
        t = devices.index(device)
        noise[device] = pair_noise(latency[pairs, t], latency[twins[pairs], t])
        src = [j for j, d in enumerate(devices) if device_family(d) != device_family(device)]
        n_sources[device] = len(src)
        usable = np.isfinite(latency[:, t]) & (latency[:, t] > 0)
        usable &= np.all(np.isfinite(latency[:, src]) & (latency[:, src] > 0), axis=1)
        log_sources = np.log(latency[:, src])
        for method in methods:
            features = (log_sources + log_sources[twins]) / 2 if method == "twin" else log_sources
            case = Case(latency[:, t], features, [devices[j] for j in src], np.flatnonzero(usable), nets)
            scores = []
            for seed in range(args.repeats):
                train = train_rows(method, case, args.train, seed)
                scores.append(score(case, predict(method, case, nets, onehot, train, seed), train))
            within, mape, rho = (float(v) for v in np.mean(scores, axis=0))
            results[device, method] = within, mape, rho
            print(f"{device} {method}: {100 * within:.1f} % within ±10 %, Spearman {rho:.3f}", flush=True)

    text = render(path.name, len(table.keys), len(devices), args, methods, chosen, results, noise, n_sources, len(pairs))
    print(text)
    if args.md:
        with open(args.md, "w", encoding="utf-8") as f:
            f.write(text + "\n")


def render(
    name: str,
    rows: int,
    columns: int,
    args: argparse.Namespace,
    methods: list[str],
    devices: list[str],
    results: dict[tuple[str, str], tuple[float, float, float]],
    noise: dict[str, PairNoise],
    n_sources: dict[str, int],
    n_pairs: int,
) -> str:
    pct: Callable[[float], str] = lambda v: f"{100 * v:.1f} %"  # noqa: E731
    first = methods[0]
    lines = [
        f"Leave one device out on {name} ({rows:,} architectures, {columns} device columns): "
        f"{args.train} measurements of the left-out device, {args.repeats} seeded draws; "
        f"{platform.machine()} {os.cpu_count()} CPUs. Main table: method `{first}`; noise from "
        f"{n_pairs:,} pairs of rows that are the same network.",
        "",
        "| left-out device | sources | within ±10 % | MAPE | Spearman | pairs | pairs within ±10 % | noise σ (log) "
        "| Gaussian ceiling | pair ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in devices:
        w, mape, rho = results[d, first]
        n = noise[d]
        lines.append(
            f"| {d} | {n_sources[d]} | {pct(w)} | {pct(mape)} | {rho:.3f} | {n.pairs:,} | {pct(n.within)} | "
            f"{n.sigma:.3f} | {pct(n.gaussian_ceiling)} | {pct(n.ceiling)} |"
        )
    met = sum(results[d, first][0] >= 0.95 for d in devices)
    both = sum(results[d, first][0] >= 0.95 and results[d, first][2] >= 0.95 for d in devices)
    lines += ["", f"{met} of {len(devices)} devices reach 95 % within ±10 % ({both} with Spearman ≥ 0.95 too)."]
    if len(methods) > 1:
        lines += [
            "",
            "Per method: within ±10 % / Spearman.",
            "",
            "| left-out device | " + " | ".join(methods) + " |",
            "|---|" + "---:|" * len(methods),
        ]
        for d in devices:
            cells = [f"{pct(results[d, m][0])} / {results[d, m][2]:.3f}" for m in methods]
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
