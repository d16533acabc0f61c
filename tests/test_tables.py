"""``edgenas.tables``: the one reader of measured CSV tables (accuracy, latency, predictors' tables)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.settings import shared_data_dir
from edgenas.tables import KEY_COLUMNS, MeasuredTable, _read_exact, _read_fast, read_table

SHARED = shared_data_dir() / "benchmarks"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def same(a: MeasuredTable, b: MeasuredTable) -> bool:
    """Equal tables, the measurements bit for bit (nan included)."""

    def parts(t: MeasuredTable) -> tuple:
        return t.key_column, t.keys, t.genotypes, t.skipped, list(t.columns), [(c.dtype, c.tobytes()) for c in t.columns.values()]

    return parts(a) == parts(b)


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("index,ops,ArchitectureString,arch,d", "arch"),
        ("ops,ArchitectureString,d", "ArchitectureString"),
        ("index,ops,d", "ops"),
        ("name,d", "name"),  # none of KEY_COLUMNS: the first column
    ],
)
def test_key_column_preference(tmp_path, header, key):
    names = header.split(",")
    cells = {"index": "0", "d": "1.5"}
    row = ",".join(cells.get(n, f"k-{n}") for n in names)
    table = read_table(write(tmp_path, f"{header}\n{row}\n"))
    assert table.key_column == key and table.keys == [f"k-{key}"]
    assert table.names() == ["d"]  # the other key-like columns are not measurements
    assert KEY_COLUMNS == ("arch", "ArchitectureString", "ops")


def test_numeric_first_column_as_key_is_not_a_measurement(tmp_path):
    table = read_table(write(tmp_path, "id,d\n7,1.5\n8,2.5\n"))
    assert table.key_column == "id" and table.keys == ["7", "8"] and table.names() == ["d"]


def test_genotype_column_is_kept_as_text_not_measured(tmp_path):
    text = 'arch,genotype,host_ms\nab12,"[0,3,1]",0.5\ncd34,"[1,1,1]",0.75\n'
    table = read_table(write(tmp_path, text))
    assert table.genotypes == ["[0,3,1]", "[1,1,1]"] and table.names() == ["host_ms"]
    assert read_table(write(tmp_path, "arch,genes,x\na,0-1,1\n", "g.csv")).genotypes == ["0-1"]
    assert read_table(write(tmp_path, "arch,x\na,1\n", "n.csv")).genotypes is None


def test_text_columns_are_skipped_and_asking_for_one_says_why(tmp_path):
    text = "arch,pixel3,UniqueString,raspi4\na,1.0,x+y,2.0\nb,1.5,3,2.5\n"  # text in a later row counts too
    table = read_table(write(tmp_path, text))
    assert table.names() == ["pixel3", "raspi4"] and table.skipped["UniqueString"] == "text"
    why = r"no device 'UniqueString' \(that column holds text, not numbers\)\. Accepted: pixel3, raspi4\."
    with pytest.raises(UnknownNameError, match=why):
        table.column("UniqueString", "device")


def test_metadata_and_spread_columns_are_skipped(tmp_path):
    text = "index,arch,macs,params,description,host_ms,iqr_ms,spread,latency_std,StdDev\n0,a,10,2,3,0.5,0.01,0.02,0.03,0.04\n"
    table = read_table(write(tmp_path, text))
    assert table.names() == ["host_ms"]
    assert table.skipped == {
        "index": "metadata", "arch": "key", "macs": "metadata", "params": "metadata", "description": "metadata",
        "iqr_ms": "spread", "spread": "spread", "latency_std": "spread", "StdDev": "spread",
    }  # fmt: skip
    with pytest.raises(UnknownNameError, match=r"'iqr_ms' \(that column is a spread column"):
        table.column("iqr_ms")
    with pytest.raises(UnknownNameError, match=r"'macs' \(that column is metadata"):
        table.column("macs")


def test_blank_cells_are_nan_and_left_out_by_lookup(tmp_path):
    table = read_table(write(tmp_path, "arch,a,b\nx,1.0,\ny, ,2.0\nz,3.0,4.0\n"))
    assert np.isnan(table.column("a")[1]) and np.isnan(table.column("b")[0])
    assert table.lookup("a") == {"x": 1.0, "z": 3.0}
    assert table.lookup("b") == {"y": 2.0, "z": 4.0}
    assert all(isinstance(v, float) for v in table.lookup("a").values())


def test_unknown_names_hint_and_list_the_accepted_ones(tmp_path):
    table = read_table(write(tmp_path, "arch,pixel3,raspi4\na,1,2\n"))
    with pytest.raises(UnknownNameError, match=r"no device 'pixel4'\. Did you mean 'pixel3'\? Accepted: pixel3, raspi4\."):
        table.column("pixel4", "device")
    with pytest.raises(UnknownNameError, match="Accepted: pixel3, raspi4") as info:
        table.lookup("zzz")
    assert "Did you mean" not in str(info.value)


def test_aliases_resolve_and_are_offered_only_where_the_table_has_their_column(tmp_path):
    table = read_table(write(tmp_path, "arch,C10,C100\na,90,70\n"))
    aliases = {"cifar10": "C10", "cifar100": "C100", "imagenet": "IN"}
    assert table.lookup("cifar10", "dataset", aliases) == {"a": 90.0}
    assert table.lookup("C100", "dataset", aliases) == {"a": 70.0}  # the column's own name still works
    with pytest.raises(UnknownNameError, match=r"Did you mean 'cifar100'\? Accepted: cifar10, cifar100, C10, C100\.$"):
        table.column("cifar1000", "dataset", aliases)
    with pytest.raises(UnknownNameError, match="'imagenet'"):
        table.column("imagenet", "dataset", aliases)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("arch,d\na,1\nb,2,3\n", "row 3 has 3 cells, the header 2"),
        ("arch,d\na,1\nb\n", "row 3 has 1 cells, the header 2"),
        ("", "is empty"),
        ("arch,d\n", "is empty"),
        ("arch,d\n\n\n", "is empty"),
    ],
)
def test_ragged_and_empty_files_are_invalid_input(tmp_path, text, message):
    with pytest.raises(InvalidInputError, match=message):
        read_table(write(tmp_path, text), what="latency table")


def test_a_file_that_is_not_text_is_invalid_input(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"arch,d\n\xff\xfe,1\n")
    with pytest.raises(InvalidInputError, match="is not a CSV latency table"):
        read_table(path, what="latency table")


def test_missing_file_names_the_file_the_environment_variable_and_the_flag(tmp_path):
    message = r"latency table .*nope\.csv not found: set EDGENAS_SHARED_DATA .* or pass --latency-table CSV"
    with pytest.raises(MissingDataError, match=message):
        read_table(tmp_path / "nope.csv", flag="--latency-table", what="latency table")
    with pytest.raises(MissingDataError) as info:
        read_table(tmp_path / "nope.csv")
    assert "pass" not in str(info.value)  # no flag, no advice to pass one
    with pytest.raises(InvalidInputError, match=r"latency table .* is a directory, not a CSV file: pass --latency-table CSV"):
        read_table(tmp_path, flag="--latency-table", what="latency table")  # a folder is not a table, nor missing


def test_quotes_crlf_bom_and_whitespace(tmp_path):
    text = '\ufeffarch,d\r\n"a,b", 1.5 \r\n"c""d",2\r\n'
    table = read_table(write(tmp_path, text))
    assert table.key_column == "arch" and table.keys == ["a,b", 'c"d'] and table.column("d").tolist() == [1.5, 2.0]


#: Odd cells on which numpy's fast parse and Python's ``float`` might disagree.
ODD = {
    "quote_mid": 'arch,d\na"b,1\nc,2\n',
    "space_before_quote": 'arch,d\n "a,b",1\n',  # csv splits it: ragged
    "quoted_number": 'arch,d\na,"1.5"\n',
    "space_cell": "arch,d\na, \nb,1\n",
    "underscore": "arch,d\na,1_0\n",
    "signs_and_dots": "arch,d\na,+1.5\nb,.5\nc,-2.\n",
    "trailing_comma": "arch,d\na,1,\n",  # ragged: both refuse it
    "duplicate_names": "arch,d,d\na,1,2\n",
    "unnamed_column": "arch,,d\na,1,2\n",
    "nan_inf": "arch,d\na,NaN\nb,-inf\nc,Infinity\nd,1e-400\ne,1e400\n",
    "text_later": "arch,d\na,1\nb,x\n",
    "hash": "arch,d\na#1,1\n",
    "tab_nbsp": "arch,d\na,\t1\nb,\u00a02\n",
    "unicode_digit": "arch,d\na,\u0661\n",
    "hex_complex": "arch,d,e\na,0x1p3,1j\n",
    "one_column": "arch\na\n",
    "multiline_key": 'arch,d\n"a\nb",1\n',
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_fast_reader_agrees_with_the_exact_one_or_steps_aside(tmp_path, name):
    path = write(tmp_path, ODD[name])
    fast = _read_fast(path)
    try:
        exact = _read_exact(path, "table")
    except InvalidInputError as exc:  # the exact reader refuses it: the fast one must not accept it
        assert fast is None
        with pytest.raises(InvalidInputError, match=str(exc).split(": ", 1)[1]):
            read_table(path)
        return
    assert fast is None or same(fast, exact)
    assert same(read_table(path), exact)


@pytest.mark.parametrize("name", ["nb201_latency_ms.csv", "nb201_accuracy.csv", "fbnet_cifar100_latency_ms.csv"])
def test_shared_tables_read_fast_and_exactly(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set EDGENAS_SHARED_DATA to the shared data folder)")
    fast = _read_fast(path)
    assert fast is not None and same(fast, _read_exact(path, "table"))
    assert len(fast.keys) == len(set(fast.keys)) and all(math.isfinite(v) for c in fast.columns.values() for v in c[:100])


def test_an_alias_whose_column_is_missing_names_the_column_not_a_lookalike(tmp_path):
    table = read_table(write(tmp_path, "arch,C100\na,70\n"))
    aliases = {"cifar10": "C10", "cifar100": "C100"}
    with pytest.raises(UnknownNameError, match=r"no dataset 'cifar10': it lacks the column 'C10'\. Accepted: cifar100, C100\.$"):
        table.column("cifar10", "dataset", aliases)
    text = read_table(write(tmp_path, "arch,C10,C100\na,x,70\n", "text.csv"))
    with pytest.raises(UnknownNameError, match=r"no dataset 'cifar10' \(its column 'C10' holds text, not numbers\)"):
        text.column("cifar10", "dataset", aliases)


@pytest.mark.parametrize("text", ["arch,\nx,\n", "arch,genotype\nx,[0]\n", "arch,name\nx,y\n"])
def test_a_table_without_measurements_says_so_rather_than_accepted_none(tmp_path, text):
    table = read_table(write(tmp_path, text))
    with pytest.raises(UnknownNameError, match="has no device 'pixel3': it has no measurement column at all") as info:
        table.column("pixel3", "device")
    assert "Accepted" not in str(info.value)


@pytest.mark.parametrize("text", [" \n \n", " , \n , \n", ",\n,\n\n"])
def test_a_table_of_blank_cells_is_empty(tmp_path, text):
    with pytest.raises(InvalidInputError, match="is empty"):
        read_table(write(tmp_path, text))


def test_an_unnamed_column_is_not_a_measurement(tmp_path):
    table = read_table(write(tmp_path, "arch,,d\na,1,2\n"))
    assert table.names() == ["d"] and table.skipped[""] == "unnamed"


def test_invalid_rows_tell_blank_from_written_nan_and_out_of_range(tmp_path):
    table = read_table(write(tmp_path, "arch,d\na,1\nb,\nc,nan\nd,-inf\ne,0\nf,-2\ng,150\nh,NaN\n"))
    rows = {why: r.tolist() for why, r in table.invalid_rows("d").items()}
    assert rows == {"blank (not measured)": [1], "not a finite number": [2, 3, 7], "not positive": [4, 5]}
    rows = {why: r.tolist() for why, r in table.invalid_rows("d", lowest_allowed=True, highest=100).items()}
    assert rows == {"blank (not measured)": [1], "not a finite number": [2, 3, 7], "below 0": [5], "above 100": [6]}
    clean = read_table(write(tmp_path, "arch,d\na,1\nb,2\n", "clean.csv"))
    assert clean.invalid_rows("d") == {}


def test_a_written_nan_is_left_to_the_exact_reader(tmp_path):
    path = write(tmp_path, "arch,d\na,1\nb,nan\n")
    assert _read_fast(path) is None
    assert read_table(path).nan_cells["d"].tolist() == [1]


def test_a_table_that_cannot_be_read_is_one_error(tmp_path, monkeypatch):
    path = write(tmp_path, "arch,d\na,1\n")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(InvalidInputError, match=r"cannot read latency table .*t\.csv: Permission denied"):
        read_table(path, what="latency table")


def test_a_table_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"arch,d\na,1\n\xff\xfe,1\n")
    with pytest.raises(InvalidInputError, match=r"t\.csv is not a CSV latency table: it is not UTF-8 text; save it as UTF-8 CSV"):
        read_table(path, what="latency table")
