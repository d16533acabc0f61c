"""Latency tables in every accepted layout, and `edgenas predictor fit/eval` as a user meets it."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from edgenas.cli import run
from edgenas.errors import InvalidInputError, UnknownNameError
from edgenas.hardware.latency.table import parse_genes, table_archs
from edgenas.spaces import KwsSpace
from edgenas.tables import read_table
from edgenas.workflows.latency_predictors import TableData, evaluate_predictor, fit_predictor
from tests.hardware.latency.tables import synthetic_nb201_rows, write_csv


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the console entry point in-process (no interpreter start-up per call)."""
    monkeypatch.setattr(sys, "argv", ["edgenas", *args])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), err
    text = " ".join(lines)
    for fragment in fragments:
        assert fragment in text, text


def test_genotype_forms():
    assert parse_genes("[0, 3, 1]") == parse_genes("0-3-1") == parse_genes("0,3,1") == [0, 3, 1]
    assert parse_genes('{"space": "kws", "genes": [2, 4]}') == [2, 4]
    with pytest.raises(InvalidInputError, match="not a list of genes"):
        parse_genes("[0, x]")


def test_kws_table_with_hashed_keys_maps_back_through_its_genotype_column(kws_csv):
    table = read_table(kws_csv)
    assert table.names() == ["host_ort_1t_ms"]  # macs, params and iqr_ms are metadata
    archs = table_archs(KwsSpace(), table)
    assert [a.key() for a in archs] == table.keys


def test_hashed_keys_without_genotype_and_mismatched_genotypes_are_refused(kws_csv, tmp_path):
    rows = [line.split(",") for line in kws_csv.read_text().splitlines()]
    no_genotype = tmp_path / "no_genotype.csv"
    no_genotype.write_text("arch,host_ms\n" + "".join(f"{r[0]},1.0\n" for r in rows[1:]))
    with pytest.raises(InvalidInputError, match="genotype"):
        table_archs(KwsSpace(), read_table(no_genotype))
    table = read_table(kws_csv)
    table.keys[0] = "0123456789abcdef"
    with pytest.raises(InvalidInputError, match="Arch.key"):
        table_archs(KwsSpace(), table)


def test_unknown_device_names_the_columns(nb201_csv):
    with pytest.raises(UnknownNameError, match="Did you mean 'a'"):
        read_table(nb201_csv).column("aa")


def test_fit_then_eval_holds_out_the_training_rows(nb201_csv):
    data = TableData.load("nb201", nb201_csv)
    predictor, info = fit_predictor(data, "a", 20, "lut", seed=1)
    assert len(info["train_keys"]) == 20
    metrics, where = evaluate_predictor(predictor, info, data)
    assert where["held_out"] == 100 and metrics.n == 100
    assert metrics.within_5pct == 1.0  # device "a" is additive per edge


def test_fewshot_fit_uses_other_devices(nb201_csv):
    data = TableData.load("nb201", nb201_csv)
    predictor, info = fit_predictor(data, "b", 10, "fewshot", seed=0, source_size=50)
    assert info["sources"] == ["a", "c"] and info["source_size"] == 50
    metrics, _ = evaluate_predictor(predictor, info, data)
    assert metrics.within_10pct > 0.95


def test_cli_fit_and_eval(monkeypatch, capsys, nb201_csv, tmp_path):
    out = tmp_path / "p.json"
    code, stdout, err = cli(
        monkeypatch, capsys, "predictor", "fit", "--latency-table", str(nb201_csv), "--device", "c",
        "--train-size", "40", "--kind", "lgbm", "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["kind"] == "lgbm" and summary["held_out"]["n"] == 80
    code, stdout, err = cli(monkeypatch, capsys, "predictor", "eval", str(out), "--json")
    assert code == 2 and "--latency-table" in err  # a table the predictor file names is never opened on its word
    table = ("--latency-table", str(nb201_csv))
    code, stdout, err = cli(monkeypatch, capsys, "predictor", "eval", str(out), *table, "--json")
    assert code == 0, err
    again = json.loads(stdout)
    assert again["metrics"] == summary["held_out"]
    code, stdout, err = cli(monkeypatch, capsys, "predictor", "eval", str(out), *table, "--device", "a")
    assert code == 0 and "Spearman" in stdout and "within ±10%" in stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--device", "pixel3"], ["no latency column 'pixel3'", "a, b, c"]),
        (["--train-size", "500"], ["--train-size 500 is larger than the table", "120"]),
        (["--kind", "xgboost"], ["unknown predictor kind 'xgboost'", "lgbm"]),
        (["--space", "kws"], ["cannot be turned back", "genotype"]),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, nb201_csv, tmp_path, args, fragments):
    base = ["predictor", "fit", "--latency-table", str(nb201_csv), "--device", "a", "--train-size", "20"]
    code, _, err = cli(monkeypatch, capsys, *base, "--out", str(tmp_path / "p.json"), *args)
    one_line_error(code, err, *fragments)


def test_cli_missing_table_names_the_file_and_the_flag(monkeypatch, capsys, tmp_path):
    args = ["predictor", "fit", "--latency-table", str(tmp_path / "nope.csv"), "--device", "a", "--out", str(tmp_path / "p.json")]
    code, _, err = cli(monkeypatch, capsys, *args)
    one_line_error(code, err, "nope.csv not found", "EDGENAS_SHARED_DATA", "--latency-table")


def test_cli_eval_of_a_file_that_is_not_a_predictor(monkeypatch, capsys, nb201_csv, tmp_path):
    code, _, err = cli(monkeypatch, capsys, "predictor", "eval", str(nb201_csv))
    one_line_error(code, err, "is not a predictor file")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    code, _, err = cli(monkeypatch, capsys, "predictor", "eval", str(other))
    one_line_error(code, err, "is not a predictor file")


def test_shared_table_slice_fpga_is_additive_per_edge(shared_nb201_csv, tmp_path):
    """HW-NAS-Bench's FPGA latencies of NB201 are a per-edge sum: 20 networks pin the table down."""
    lines = shared_nb201_csv.read_text().splitlines()
    header = lines[0].split(",")
    keep = [header.index(c) for c in ("arch", "fpga", "pixel3")]
    rows = [line.split(",") for line in lines[1:301]]
    small = tmp_path / "slice.csv"
    small.write_text("\n".join(",".join(r[k] for k in keep) for r in [header, *rows]) + "\n")
    data = TableData.load("nb201", small)
    predictor, info = fit_predictor(data, "fpga", 20, "lut", seed=0)
    metrics, _ = evaluate_predictor(predictor, info, data)
    assert metrics.within_5pct == 1.0 and metrics.spearman > 0.99
    macs, info = fit_predictor(data, "fpga", 20, "macs", seed=0)
    assert evaluate_predictor(macs, info, data)[0].within_10pct < 0.9  # MACs alone do not explain it


def test_synthetic_rows_are_distinct():
    rows = synthetic_nb201_rows(50, seed=3)
    assert len({r["arch"] for r in rows}) == 50 and np.all([r["b"] > r["a"] for r in rows])


def test_write_csv_round_trip(tmp_path):
    path = write_csv(tmp_path / "t.csv", [{"arch": "x", "d": 1.5}])
    assert read_table(path).column("d")[0] == 1.5
