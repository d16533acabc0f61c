"""`bench` and `predictor` given bad tables and crafted predictor files, as a user meets them.

Every case is one line on stderr and exit 2; no file a predictor file names is opened unless the
user passed it; no error quotes what a file holds. Tables are tiny synthetic NB201 ones, so each
case runs in well under a second.
"""

from __future__ import annotations

import builtins
import io
import json
import math
import pathlib
import sys
from pathlib import Path

import pytest

from edgenas.cli import run
from tests.hardware.latency.tables import synthetic_nb201_rows, write_csv

SECRET = "root:$6$SECRETHASH:19000:0:99999:7:::"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``edgenas ARGS`` in-process: (exit code, stdout, stderr)."""
    code = 0
    try:
        run(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *fragments: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert len(errors) == 1, err  # progress notes may precede the one error
    text = " ".join(lines[errors[0] :])  # Rich may wrap a long line
    for fragment in fragments:
        assert fragment in text, text
    return text


# ----------------------------------------------------------------------------- tiny tables
def bench_tables(tmp_path: Path, n: int = 30, edit: dict[tuple[str, int], str] | None = None) -> tuple[Path, Path]:
    """An accuracy and a latency table of ``n`` NB201 cells; ``edit[(column, row)]`` overrides a cell."""
    rows = synthetic_nb201_rows(n, seed=3)
    accuracy = [{"arch": r["arch"], "CIFAR10TestAccuracy200Epochs": 50 + 40 * i / n} for i, r in enumerate(rows)]
    latency = [{"arch": r["arch"], "pixel3": r["a"]} for r in rows]
    for (column, row), value in (edit or {}).items():
        (accuracy if column.startswith("CIFAR") else latency)[row][column] = value
    return write_csv(tmp_path / "acc.csv", accuracy), write_csv(tmp_path / "lat.csv", latency)


def bench_args(tmp_path: Path, accuracy: Path, latency: Path, *extra: str) -> list[str]:
    return [
        "bench", "--accuracy-table", str(accuracy), "--latency-table", str(latency), "--strategies", "random",
        "--queries", "5", "--seeds", "1", "--out", str(tmp_path / "out"), *extra,
    ]  # fmt: skip


@pytest.fixture
def fitted(tmp_path: Path, capsys) -> tuple[Path, Path]:
    """A predictor fitted on a tiny table: (predictor file, table)."""
    table = write_csv(tmp_path / "nb201_small.csv", synthetic_nb201_rows(40))
    out = tmp_path / "p.json"
    code, _, err = cli(capsys, "predictor", "fit", "--latency-table", str(table), "--device", "a",
                       "--train-size", "10", "--kind", "macs", "--out", str(out))  # fmt: skip
    assert code == 0, err
    return out, table


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """Every path opened for reading through ``open`` / ``Path.open`` from now on."""
    seen: list[str] = []
    real_open, real_path_open = builtins.open, pathlib.Path.open

    def spy_open(file, *args, **kwargs):
        seen.append(str(file))
        return real_open(file, *args, **kwargs)

    def spy_path_open(self, *args, **kwargs):
        seen.append(str(self))
        return real_path_open(self, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(pathlib.Path, "open", spy_path_open)
    return seen


def unreadable(monkeypatch, path: Path) -> None:
    """Make reading ``path`` fail as a permission error does (tests run as root, where chmod 000 reads)."""
    real_open = pathlib.Path.open

    def refuse(self, *args, **kwargs):
        if Path(self).name == path.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", refuse)


# ----------------------------------------------------------------------------- predictor files
def test_predictor_eval_never_opens_a_table_the_file_names(fitted, tmp_path, capsys, opened) -> None:
    predictor, _ = fitted
    secret = tmp_path / "shadow"
    secret.write_text(SECRET + "\ndaemon:*:19000:0:99999:7:::\n")
    record = json.loads(predictor.read_text())
    record["info"]["latency_table"] = str(secret)
    predictor.write_text(json.dumps(record))
    opened.clear()
    code, _, err = cli(capsys, "predictor", "eval", str(predictor))
    one_line_error(code, err, "--latency-table")
    assert str(secret) not in opened
    assert "SECRETHASH" not in err and "daemon" not in err


def test_predictor_eval_falls_back_to_the_shared_table_of_the_same_name(fitted, tmp_path, capsys, monkeypatch) -> None:
    predictor, table = fitted
    shared = tmp_path / "shared"
    (shared / "benchmarks").mkdir(parents=True)
    (shared / "benchmarks" / "nb201_latency_ms.csv").write_text(table.read_text())
    monkeypatch.setenv("EDGENAS_SHARED_DATA", str(shared))
    record = json.loads(predictor.read_text())
    record["info"]["latency_table"] = "/somewhere/else/nb201_latency_ms.csv"  # where the fit ran
    predictor.write_text(json.dumps(record))
    code, out, err = cli(capsys, "predictor", "eval", str(predictor), "--json")
    assert code == 0, err
    assert json.loads(out)["latency_table"] == str(shared / "benchmarks" / "nb201_latency_ms.csv")


def test_predictor_eval_reads_the_table_passed_on_the_command_line(fitted, capsys) -> None:
    predictor, table = fitted
    code, out, err = cli(capsys, "predictor", "eval", str(predictor), "--latency-table", str(table), "--json")
    assert code == 0, err
    assert json.loads(out)["metrics"]["n"] == 30


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda r: r.update(state={}), "state"),
        (lambda r: r.update(state=[1, 2]), "state"),
        (lambda r: r.update(params={"proxy": SECRET}), "params"),
        (lambda r: r.update(params=[SECRET]), "params"),
        (lambda r: r.update(info=SECRET), "info"),
        (lambda r: r.update(kind=SECRET), "kind"),
        (lambda r: r["info"].update(space=SECRET), "space"),
    ],
    ids=["empty state", "state a list", "bad param", "params a list", "info a string", "unknown kind", "unknown space"],
)
def test_a_malformed_predictor_file_is_one_line_without_its_content(fitted, capsys, change, fragment) -> None:
    predictor, table = fitted
    record = json.loads(predictor.read_text())
    change(record)
    predictor.write_text(json.dumps(record))
    code, _, err = cli(capsys, "predictor", "eval", str(predictor), "--latency-table", str(table))
    one_line_error(code, err, "p.json", fragment)
    assert "SECRETHASH" not in err


def test_an_unreadable_predictor_file_is_one_line(fitted, capsys, monkeypatch) -> None:
    predictor, table = fitted
    unreadable(monkeypatch, predictor)
    code, _, err = cli(capsys, "predictor", "eval", str(predictor), "--latency-table", str(table))
    one_line_error(code, err, "cannot read", "p.json", "Permission denied")


def test_table_errors_name_the_row_not_its_content(tmp_path, capsys) -> None:
    table = tmp_path / "t.csv"
    table.write_text("arch,a\n" + "".join(f"{r['arch']},{r['a']}\n" for r in synthetic_nb201_rows(10)) + f"{SECRET},1.0\n")
    code, _, err = cli(capsys, "predictor", "fit", "--latency-table", str(table), "--device", "a",
                       "--train-size", "5", "--out", str(tmp_path / "p.json"))  # fmt: skip
    one_line_error(code, err, "t.csv", "row 12", "not an architecture of the nb201 space")
    assert "SECRETHASH" not in err
    table.write_text("arch,genotype,a\n" + f"x,{SECRET},1.0\ny,[0],2.0\n")
    code, _, err = cli(capsys, "predictor", "fit", "--latency-table", str(table), "--device", "a", "--space", "kws",
                       "--train-size", "2", "--out", str(tmp_path / "p.json"))  # fmt: skip
    one_line_error(code, err, "t.csv", "row 2", "genotype")
    assert "SECRETHASH" not in err


# ----------------------------------------------------------------------------- unreadable tables
@pytest.mark.parametrize("which", ["accuracy", "latency"])
def test_bench_on_an_unreadable_table_is_one_line(tmp_path, capsys, monkeypatch, which) -> None:
    accuracy, latency = bench_tables(tmp_path)
    unreadable(monkeypatch, accuracy if which == "accuracy" else latency)
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency))
    one_line_error(code, err, "cannot read", f"{which} table", "Permission denied")


def test_predictor_fit_on_an_unreadable_table_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    table = write_csv(tmp_path / "t.csv", synthetic_nb201_rows(20))
    unreadable(monkeypatch, table)
    code, _, err = cli(capsys, "predictor", "fit", "--latency-table", str(table), "--device", "a",
                       "--train-size", "5", "--out", str(tmp_path / "p.json"))  # fmt: skip
    one_line_error(code, err, "cannot read latency table", "t.csv")


@pytest.mark.parametrize("which", ["accuracy", "latency"])
def test_a_table_that_is_not_utf8_is_one_line(tmp_path, capsys, which) -> None:
    accuracy, latency = bench_tables(tmp_path)
    bad = accuracy if which == "accuracy" else latency
    bad.write_bytes(bad.read_bytes().replace(b"|", b"\xff", 1))
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency))
    one_line_error(code, err, bad.name, "UTF-8")
    if which == "latency":
        code, _, err = cli(capsys, "predictor", "fit", "--latency-table", str(bad), "--device", "pixel3",
                           "--train-size", "5", "--out", str(tmp_path / "p.json"))  # fmt: skip
        one_line_error(code, err, bad.name, "UTF-8")


# ----------------------------------------------------------------------------- misleading messages
def test_a_directory_as_a_table_is_called_a_directory(tmp_path, capsys) -> None:
    accuracy, latency = bench_tables(tmp_path)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    code, _, err = cli(capsys, *bench_args(tmp_path, folder, latency))
    text = one_line_error(code, err, "folder.csv is a directory", "--accuracy-table")
    assert "EDGENAS_SHARED_DATA" not in text
    code, _, err = cli(capsys, "predictor", "fit", "--latency-table", str(folder), "--out", str(tmp_path / "p.json"))
    one_line_error(code, err, "folder.csv is a directory", "--latency-table")


def test_a_table_without_the_dataset_column_names_the_column(tmp_path, capsys) -> None:
    accuracy, latency = bench_tables(tmp_path)
    text = accuracy.read_text().replace("CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs")
    accuracy.write_text(text)
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency))
    line = one_line_error(code, err, "acc.csv", "'cifar10'", "CIFAR10TestAccuracy200Epochs")
    assert "Did you mean" not in line


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("", "is empty"), ("\n\n", "is empty"), (" , \n , \n", "is empty"), ("arch,\nx,\n", "no measurement column")],
    ids=["empty", "blank lines", "blank cells", "no measurement column"],
)
def test_an_empty_table_says_so(tmp_path, capsys, content, fragment) -> None:
    accuracy, latency = bench_tables(tmp_path)
    accuracy.write_text(content)
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency))
    line = one_line_error(code, err, "acc.csv", fragment)
    assert "Accepted: ." not in line and "Accepted: none" not in line


# ----------------------------------------------------------------------------- bench: bounds and values
def test_bench_queries_are_bounded_before_anything_is_allocated(tmp_path, capsys) -> None:
    accuracy, latency = bench_tables(tmp_path)
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency), "--queries", "1000000000000")
    one_line_error(code, err, "--queries 1000000000000")
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency), "--queries", "31")
    one_line_error(code, err, "--queries 31", "30 measured architectures", "--queries 30 or fewer")
    for flag in ("--seeds", "--jobs"):
        code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency), flag, "1000000000")
        one_line_error(code, err, f"{flag} 1000000000")


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("pixel3", "-5", "not positive"),
        ("pixel3", "0", "not positive"),
        ("pixel3", "nan", "not a finite number"),
        ("pixel3", "inf", "not a finite number"),
        ("CIFAR10TestAccuracy200Epochs", "-50", "below 0"),
        ("CIFAR10TestAccuracy200Epochs", "150", "above 100"),
        ("CIFAR10TestAccuracy200Epochs", "NaN", "not a finite number"),
        ("CIFAR10TestAccuracy200Epochs", "-inf", "not a finite number"),
    ],
)
def test_bench_refuses_impossible_values_naming_row_and_column(tmp_path, capsys, column, value, fragment) -> None:
    accuracy, latency = bench_tables(tmp_path, edit={(column, 6): value})
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency))
    one_line_error(code, err, "row 8", repr(column), fragment)


def test_bench_accepts_blank_cells_as_not_measured(tmp_path, capsys) -> None:
    accuracy, latency = bench_tables(tmp_path, edit={("pixel3", 6): "", ("CIFAR10TestAccuracy200Epochs", 7): ""})
    code, out, err = cli(capsys, *bench_args(tmp_path, accuracy, latency), "--json")
    assert code == 0, err
    assert json.loads(out)["table_archs"] == 28


def test_bench_refuses_a_table_too_small_to_compare_strategies(tmp_path, capsys) -> None:
    accuracy, latency = bench_tables(tmp_path, n=3)
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency, "--queries", "2"))
    one_line_error(code, err, "3 measured architectures", "at least 10")


def test_bench_refuses_tables_that_share_no_architecture(tmp_path, capsys) -> None:
    accuracy, _ = bench_tables(tmp_path)
    latency = write_csv(
        tmp_path / "other.csv", [{"arch": r["arch"], "pixel3": r["a"]} for r in synthetic_nb201_rows(30, seed=99)]
    )
    code, _, err = cli(capsys, *bench_args(tmp_path, accuracy, latency))
    one_line_error(code, err, "acc.csv", "other.csv", "architectures")


# ----------------------------------------------------------------------------- predictor fit: dropped rows
def test_predictor_fit_says_how_many_rows_it_dropped_and_why(tmp_path, capsys) -> None:
    rows = synthetic_nb201_rows(30)
    for i, value in ((0, -1.0), (1, 0.0), (2, math.inf), (3, math.nan), (4, "")):
        rows[i]["a"] = value
    table = write_csv(tmp_path / "t.csv", rows)
    args = ["predictor", "fit", "--latency-table", str(table), "--device", "a", "--train-size", "10", "--kind", "macs"]
    code, out, err = cli(capsys, *args, "--out", str(tmp_path / "p.json"), "--json")
    assert code == 0, err
    assert json.loads(out)["dropped_rows"] == {"not positive": 2, "not a finite number": 2, "blank (not measured)": 1}
    code, out, err = cli(capsys, *args, "--out", str(tmp_path / "p.json"))
    assert code == 0, err
    assert "left out 5 of 30 rows of 'a'" in " ".join(out.split()), out


def test_predictor_fit_on_a_clean_table_drops_nothing(tmp_path, capsys) -> None:
    table = write_csv(tmp_path / "t.csv", synthetic_nb201_rows(20))
    args = ["predictor", "fit", "--latency-table", str(table), "--device", "a", "--train-size", "10", "--kind", "macs"]
    code, out, err = cli(capsys, *args, "--out", str(tmp_path / "p.json"), "--json")
    assert code == 0, err
    assert json.loads(out)["dropped_rows"] == {}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


# ----------------------------------------------------------------------------- bench --space fbnet: the LUT
def fbnet_args(tmp_path: Path, lut: Path) -> list[str]:
    return [
        "bench", "--space", "fbnet", "--latency-table", str(lut), "--latency-ms", "15", "--strategies", "random",
        "--queries", "5", "--seeds", "1", "--out", str(tmp_path / "out"),
    ]  # fmt: skip


def crafted_lut(lut_json: Path, tmp_path: Path, change) -> Path:
    data = json.loads(lut_json.read_text())
    change(data)
    path = tmp_path / "lut.json"
    path.write_text(json.dumps(data))
    return path


def used_blocks(n: int) -> list[str]:
    """LUT keys of ``n`` blocks the FBNet space prices."""
    from edgenas.spaces.fbnet import BLOCKS, block_lut_key

    return [block_lut_key(*shape, 1) for shape in BLOCKS[:n]]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["pixel3_latency"].update(dict.fromkeys(used_blocks(3), -1.0)), "3 pixel3_latency figures"),
        (lambda d: d["pixel3_latency"].update(dict.fromkeys(used_blocks(1), math.nan)), "negative or not finite"),
        (lambda d: d.pop("pixel3_latency"), "pixel3_latency lacks"),
        (lambda d: d["pixel3_latency"].update(dict.fromkeys(used_blocks(1), SECRET)), "not HW-NAS-Bench's LUT"),
    ],
    ids=["negative", "nan", "no metric", "text figure"],
)
def test_bench_fbnet_refuses_a_crafted_lut(lut_json, tmp_path, capsys, change, fragment) -> None:
    code, _, err = cli(capsys, *fbnet_args(tmp_path, crafted_lut(lut_json, tmp_path, change)))
    one_line_error(code, err, "lut.json", fragment)
    assert "SECRETHASH" not in err


def test_bench_fbnet_on_an_unreadable_or_foreign_lut_is_one_line(lut_json, tmp_path, capsys, monkeypatch) -> None:
    lut = tmp_path / "lut.json"
    lut.write_bytes(b"\xff\xfe" + SECRET.encode())
    code, _, err = cli(capsys, *fbnet_args(tmp_path, lut))
    one_line_error(code, err, "lut.json", "not HW-NAS-Bench's LUT")
    code, _, err = cli(capsys, *fbnet_args(tmp_path, tmp_path))
    one_line_error(code, err, "is a directory")
    lut.write_text(lut_json.read_text())
    real_read_text = pathlib.Path.read_text

    def refuse(self, *args, **kwargs):
        if self.name == "lut.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", refuse)
    code, _, err = cli(capsys, *fbnet_args(tmp_path, lut))
    one_line_error(code, err, "cannot read FBNet look-up table", "Permission denied")


def test_predictor_eval_of_a_space_without_a_shared_table_asks_for_one(kws_csv, tmp_path, capsys) -> None:
    out = tmp_path / "k.json"
    code, _, err = cli(capsys, "predictor", "fit", "--space", "kws", "--latency-table", str(kws_csv),
                       "--device", "host_ort_1t_ms", "--train-size", "10", "--kind", "macs", "--out", str(out))  # fmt: skip
    assert code == 0, err
    code, _, err = cli(capsys, "predictor", "eval", str(out))
    one_line_error(code, err, "the kws space has no shared latency table", "--latency-table")
    code, out_text, err = cli(capsys, "predictor", "eval", str(out), "--latency-table", str(kws_csv), "--json")
    assert code == 0, err
    assert json.loads(out_text)["metrics"]["n"] == 30


def test_a_predictor_file_beyond_the_size_bound_is_refused_unread(tmp_path, monkeypatch) -> None:
    from edgenas.errors import InvalidInputError
    from edgenas.hardware.latency import base

    path = tmp_path / "big.json"
    path.write_text('{"format": "' + "x" * 200 + '"}')
    monkeypatch.setattr(base, "MAX_PREDICTOR_BYTES", 100)
    monkeypatch.setattr(pathlib.Path, "read_text", lambda *a, **k: pytest.fail("read before its size was checked"))
    with pytest.raises(InvalidInputError, match=r"big.json is 2\d\d bytes; a predictor file is at most 100"):
        base.load(path)


def test_a_damaged_lightgbm_predictor_never_reaches_lightgbm(tmp_path, capsys, monkeypatch) -> None:
    """LightGBM aborts the whole process on some corrupt model strings: the checksum stops them first."""
    table = write_csv(tmp_path / "nb201_small.csv", synthetic_nb201_rows(40))
    out = tmp_path / "p.json"
    code, _, err = cli(capsys, "predictor", "fit", "--latency-table", str(table), "--device", "a",
                       "--train-size", "20", "--kind", "lgbm", "--out", str(out))  # fmt: skip
    assert code == 0, err
    record = json.loads(out.read_text())
    lightgbm = pytest.importorskip("lightgbm")
    monkeypatch.setattr(lightgbm, "Booster", lambda *a, **k: pytest.fail("a damaged model reached LightGBM"))
    damaged = json.loads(json.dumps(record))
    damaged["state"]["lightgbm_model"] = damaged["state"]["lightgbm_model"].replace("tree", "trex", 1)
    out.write_text(json.dumps(damaged))
    code, _, err = cli(capsys, "predictor", "eval", str(out), "--latency-table", str(table))
    one_line_error(code, err, "p.json is damaged: its fitted state does not match its checksum")
    del record["state_sha256"]
    out.write_text(json.dumps(record))
    code, _, err = cli(capsys, "predictor", "eval", str(out), "--latency-table", str(table))
    one_line_error(code, err, "has no checksum")
