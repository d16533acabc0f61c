"""The ``transfer`` kind (a new device from the other devices' measurements), the noise of a column
from pairs of measurements, and the transfer predictor in ``predictor fit/eval`` and in a search."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from edgenas.arch import Arch
from edgenas.errors import InvalidInputError
from edgenas.hardware.latency import PREDICTORS, TransferPredictor, load, nets_of, save
from edgenas.hardware.latency.noise import pair_noise
from edgenas.hardware.latency.predicted import PredictedLatency
from edgenas.spaces import KwsSpace
from edgenas.spaces.nb201 import OPS, Nb201Space
from edgenas.trial import Cost
from edgenas.workflows.latency_predictors import TableData, evaluate_predictor, fit_predictor
from tests.hardware.latency.tables import write_csv
from tests.workflows.test_latency_predictors import cli, one_line_error

#: Per-op costs (ms) of two unrelated synthetic devices.
CPU_MS = {"none": 0.0, "skip_connect": 0.05, "nor_conv_1x1": 0.4, "nor_conv_3x3": 1.1, "avg_pool_3x3": 0.3}
DSP_MS = {"none": 0.0, "skip_connect": 0.2, "nor_conv_1x1": 0.3, "nor_conv_3x3": 0.5, "avg_pool_3x3": 0.9}


def transfer_rows(n: int = 300, seed: int = 0) -> list[dict[str, object]]:
    """``n`` NB201 cells on 4 devices: cpu, dsp, and gpu at batch 1 and 32 (a power law of cpu and dsp)."""
    space, rng = Nb201Space(), np.random.default_rng(seed)
    archs: dict[tuple[int, ...], Arch] = {}
    while len(archs) < n:
        arch = space.sample(rng)
        archs[arch.genes] = arch
    rows = []
    for arch in archs.values():
        cpu = 1.0 + sum(CPU_MS[OPS[g]] for g in arch.genes)
        dsp = 2.0 + sum(DSP_MS[OPS[g]] for g in arch.genes)
        gpu = 0.7 * cpu**0.6 * dsp**0.5 * float(rng.lognormal(0, 0.01))
        rows.append({"arch": space.arch_string(arch), "cpu": cpu, "dsp": dsp, "gpu_1": gpu, "gpu_32": 9 * gpu})
    return rows


@pytest.fixture
def data(tmp_path: Path) -> TableData:
    return TableData.load("nb201", write_csv(tmp_path / "devices.csv", transfer_rows()))


def test_transfer_learns_a_new_device_from_the_others_measurements(data):
    predictor, info = fit_predictor(data, "gpu_1", 30, "transfer", seed=0)
    assert isinstance(predictor, TransferPredictor) and PREDICTORS.get("transfer") is TransferPredictor
    assert info["sources"] == ["cpu", "dsp"] and info["source_size"] == 300  # not its own family (gpu_32)
    metrics, _ = evaluate_predictor(predictor, info, data)
    assert metrics.n == 270 and metrics.within_10pct == 1.0 and metrics.spearman > 0.99
    assert set(predictor.weights()) == {"cpu", "dsp"}


def test_round_trip_keeps_the_predictions_and_the_file_is_compact(data, tmp_path):
    predictor, info = fit_predictor(data, "gpu_1", 30, "transfer", seed=0)
    path = tmp_path / "t.json"
    save(path, predictor, info)
    record = json.loads(path.read_text())
    assert record["kind"] == "transfer" and record["params"] == {"kernel_residual": True}
    assert len(record["state"]["residual"]["dual"]) == 30  # the residual kernel ridge, one weight per measurement
    assert len(record["state"]["genes"]) == 300 and set(record["state"]["sources"]) == {"cpu", "dsp"}
    assert all(v == float(f"{v:.5g}") for v in record["state"]["sources"]["cpu"])  # 5 significant digits kept
    again, _ = load(path)
    np.testing.assert_array_equal(again.predict(data.nets), predictor.predict(data.nets))


def test_an_architecture_the_sources_never_measured_is_a_clear_error(data):
    predictor, _ = fit_predictor(data, "gpu_1", 30, "transfer", seed=0)
    space = Nb201Space()
    known = {n.genes for n in data.nets}
    absent = next(a for a in (space.arch([g0, 1, 2, 3, 4, 0]) for g0 in range(5)) if a.genes not in known)
    with pytest.raises(InvalidInputError, match="1 of 2 architectures were not measured"):
        predictor.predict([data.nets[0], *nets_of(space, [absent])])
    kws = KwsSpace()
    with pytest.raises(InvalidInputError, match="another space"):
        predictor.predict(nets_of(kws, [kws.sample(np.random.default_rng(0))]))
    with pytest.raises(InvalidInputError, match="not fitted"):
        TransferPredictor().predict(data.nets[:2])
    with pytest.raises(InvalidInputError, match="no source measurements"):
        TransferPredictor().fit(data.nets[:5], np.ones(5))


def test_training_rows_are_drawn_among_the_architectures_every_source_measured(tmp_path):
    rows = transfer_rows(60)
    for row in rows[:40]:
        row["dsp"] = ""  # not measured on one source: no feature to learn from
    data = TableData.load("nb201", write_csv(tmp_path / "holes.csv", rows))
    predictor, info = fit_predictor(data, "gpu_1", 10, "transfer", seed=1)
    keys = set(data.table.keys[40:])
    assert info["source_size"] == 20 and set(info["train_keys"]) <= keys
    with pytest.raises(InvalidInputError, match="larger than the table"):
        fit_predictor(data, "gpu_1", 30, "transfer", seed=1)
    with pytest.raises(InvalidInputError, match="were not measured"):
        evaluate_predictor(predictor, info, data)  # its held-out rows include the 40 it cannot price


def test_damaged_state_is_refused_with_the_field_named(data, tmp_path):
    predictor, info = fit_predictor(data, "gpu_1", 30, "transfer", seed=0)
    path = tmp_path / "t.json"
    save(path, predictor, info)
    record = json.loads(path.read_text())
    from edgenas.hardware.latency.base import state_digest

    for damage in (
        lambda state: state["sources"].update(cpu=state["sources"]["cpu"][:-1]),
        lambda state: state["residual"].update(dual=state["residual"]["dual"][:-1]),
        lambda state: state["residual"].update(gamma=-1.0),
    ):
        broken = json.loads(json.dumps(record))
        damage(broken["state"])
        broken["state_sha256"] = state_digest(broken["state"])  # well-formed file, inconsistent state
        path.write_text(json.dumps(broken))
        with pytest.raises(InvalidInputError, match="field state is not a fitted transfer"):
            load(path)


def test_the_kernel_residual_corrects_a_device_the_others_do_not_mix_linearly(tmp_path):
    rows = transfer_rows(400)
    for row in rows:  # an accelerator that saturates: flat above 2.5 ms of the cpu's work, unlike either source
        row["gpu_1"] = float(np.exp(min(np.log(float(row["cpu"])), np.log(2.5))))  # type: ignore[arg-type]
        row["gpu_32"] = 9 * row["gpu_1"]
    data = TableData.load("nb201", write_csv(tmp_path / "sat.csv", rows))
    linear, info = fit_predictor(data, "gpu_1", 60, "transfer", seed=0, params={"kernel_residual": False})
    corrected, _ = fit_predictor(data, "gpu_1", 60, "transfer", seed=0)
    plain, _ = evaluate_predictor(linear, info, data)
    better, _ = evaluate_predictor(corrected, info, data)
    assert corrected.residual_ is not None and linear.residual_ is None
    assert better.mape < plain.mape / 2 and better.within_10pct > plain.within_10pct


def test_cli_fit_and_eval_transfer(monkeypatch, capsys, tmp_path):
    table = write_csv(tmp_path / "devices.csv", transfer_rows())
    out = tmp_path / "t.json"
    args = ["predictor", "fit", "--latency-table", str(table), "--device", "gpu_1", "--train-size", "30"]
    code, stdout, err = cli(monkeypatch, capsys, *args, "--kind", "transfer", "--out", str(out), "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["kind"] == "transfer" and summary["sources"] == ["cpu", "dsp"] and summary["held_out"]["within_10pct"] == 1.0
    code, stdout, err = cli(monkeypatch, capsys, "predictor", "eval", str(out), "--latency-table", str(table), "--json")
    assert code == 0, err
    assert json.loads(stdout)["metrics"] == summary["held_out"]
    lonely = write_csv(
        tmp_path / "one.csv", [{"arch": r["arch"], "gpu_1": r["gpu_1"], "gpu_32": r["gpu_32"]} for r in transfer_rows(40)]
    )
    code, _, err = cli(monkeypatch, capsys, "predictor", "fit", "--latency-table", str(lonely), "--device", "gpu_1",
                       "--train-size", "10", "--kind", "transfer", "--out", str(out))  # fmt: skip
    one_line_error(code, err, "--kind transfer needs other devices", "gpu_1")


def test_a_search_prices_by_the_transfer_predictor(data):
    predictor, info = fit_predictor(data, "gpu_1", 30, "transfer", seed=0)
    space = Nb201Space()
    archs = [space.arch(n.genes) for n in data.nets[:5]]

    def base(arch: object) -> Cost:
        return Cost(macs=1, params=1, peak_sram_bytes=1, flash_bytes=1, latency_ms=99.0, sources={"latency_ms": "estimated"})

    priced = PredictedLatency(space, base, predictor, info, probe=archs)
    for arch, net in zip(archs, data.nets[:5], strict=True):
        cost = priced(arch)
        assert cost.sources["latency_ms"] == "predicted"
        assert cost.latency_ms == pytest.approx(float(predictor.predict([net])[0]))
    known = {n.genes for n in data.nets}
    absent = next(a for a in (space.arch([g0, 1, 2, 3, 4, 0]) for g0 in range(5)) if a.genes not in known)
    with pytest.raises(InvalidInputError, match="not measured"):
        priced(absent)
    with pytest.raises(InvalidInputError, match="does not fit the kws space"):
        kws = KwsSpace()
        PredictedLatency(kws, base, predictor, {}, probe=[kws.sample(np.random.default_rng(0))])


def test_pair_noise_by_hand():
    a = np.array([10.0, 10.0, 10.0, 10.0, np.nan])
    b = np.array([10.0, 10.5, 12.0, 8.0, 1.0])
    n = pair_noise(a, b)
    assert n.pairs == 4  # the nan pair is skipped
    # relative gaps, each side the reference: 0, 0; .05, .0476; .2, .1667; .2, .25 -> 4 of 8 within 10 %
    assert n.within == 0.5
    log_ratio = np.log(a[:4] / b[:4])
    assert n.sigma == pytest.approx(np.std(log_ratio) / math.sqrt(2))
    assert n.ceiling == pytest.approx(np.mean(np.abs(log_ratio) / math.sqrt(2) <= math.log(1.1)))
    assert 0 < n.gaussian_ceiling < 1
    same = pair_noise(np.array([3.0, 4.0]), np.array([3.0, 4.0]))
    assert same.sigma == 0 and same.gaussian_ceiling == same.ceiling == same.within == 1.0
    with pytest.raises(InvalidInputError, match="differ in shape"):
        pair_noise(np.ones(3), np.ones(2))
    with pytest.raises(InvalidInputError, match="at least 2 usable pairs"):
        pair_noise(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_gaussian_noise_gives_the_gaussian_ceiling():
    rng = np.random.default_rng(0)
    truth = rng.uniform(5, 50, 4000)
    sigma = 0.06
    n = pair_noise(truth * np.exp(rng.normal(0, sigma, 4000)), truth * np.exp(rng.normal(0, sigma, 4000)))
    assert n.sigma == pytest.approx(sigma, rel=0.05)
    expected = math.erf(math.log(1.1) / (sigma * math.sqrt(2)))
    assert n.gaussian_ceiling == pytest.approx(expected, abs=0.03) and n.ceiling == pytest.approx(expected, abs=0.03)
    assert n.within < n.ceiling  # two noisy measurements disagree more than one and the truth


def _benchmark():
    """``benchmarks/transfer_predictors.py`` as a module (benchmarks are scripts, not a package)."""
    import importlib.util

    path = Path(__file__).parents[3] / "benchmarks" / "transfer_predictors.py"
    spec = importlib.util.spec_from_file_location("transfer_predictors_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_nb201_twins_swap_nodes_1_and_2_only_where_edge_1_2_is_none():
    genes = np.array([[1, 3, 0, 2, 4, 1], [3, 1, 0, 2, 1, 4], [1, 3, 2, 2, 4, 1], [2, 2, 0, 0, 3, 3], [1, 3, 0, 2, 4, 4]])
    twins = _benchmark().nb201_twins(genes)
    # gene order (target<-source): 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    assert twins.tolist() == [1, 0, 2, 3, 4]  # row 2 has edge 1->2; row 3 is its own twin; row 4's twin is absent


def test_twins_are_the_same_network_on_the_shared_table(shared_nb201_csv):
    """The simulated devices (no noise) give both rows of a pair the same latency; GPUs at batch 256 agree closely."""
    from edgenas.tables import read_table

    table = read_table(shared_nb201_csv)
    space = Nb201Space()
    genes = np.array([space.from_string(k).genes for k in table.keys])
    twins = _benchmark().nb201_twins(genes)
    pairs = np.flatnonzero(twins > np.arange(len(twins)))
    assert len(pairs) == 1500
    for device in ("fpga", "eyeriss"):
        y = table.column(device)
        np.testing.assert_allclose(y[pairs], y[twins[pairs]], rtol=1e-12)  # the same terms summed in another order
    assert pair_noise(table.column("titanx_256")[pairs], table.column("titanx_256")[twins[pairs]]).within > 0.99
