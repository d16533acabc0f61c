from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError, MissingDataError, UnknownNameError
from edgenas.evaluators.table import TableEvaluator
from edgenas.hardware.table import TableLatency
from edgenas.spaces.nb201 import Nb201Space


def test_accuracy_as_fraction_and_known_optima(accuracy_csv: Path) -> None:
    space = Nb201Space()
    for dataset, best in (("cifar10", 0.943733), ("cifar100", 0.735133), ("ImageNet16-120", 0.473111)):
        table = TableEvaluator(space, accuracy_csv, dataset).load()
        assert max(table.values()) == pytest.approx(best, abs=1e-6)
    evaluator = TableEvaluator(space, accuracy_csv, "cifar10")
    row0 = space.from_string("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    assert evaluator.evaluate(row0).accuracy == pytest.approx(0.8586333333)


def test_measured_latency_matches_hw_nas_bench(latency_csv: Path) -> None:
    space = Nb201Space()
    cost = TableLatency(latency_csv, "pixel3", key=space.describe)
    arch0 = space.from_string("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    priced = cost(arch0)
    assert priced.latency_ms == pytest.approx(3.60585) and priced.sources == {"latency_ms": "measured"}
    assert "raspi4" in cost.devices() and "index" not in cost.devices()


def test_unknown_names_say_what_is_accepted(accuracy_csv: Path, latency_csv: Path) -> None:
    space = Nb201Space()
    with pytest.raises(UnknownNameError, match="Did you mean 'pixel3'.*raspi4"):
        TableLatency(latency_csv, "pixel4", key=space.describe).load()
    with pytest.raises(UnknownNameError, match="Did you mean 'cifar100'"):
        TableEvaluator(space, accuracy_csv, "cifar1000").load()


def test_missing_tables_name_the_file_and_the_fix(tmp_path: Path) -> None:
    space = Nb201Space()
    with pytest.raises(MissingDataError, match=r"nope\.csv.*EDGENAS_SHARED_DATA.*--accuracy-table"):
        TableEvaluator(space, tmp_path / "nope.csv").load()
    with pytest.raises(MissingDataError, match=r"nope\.csv.*EDGENAS_SHARED_DATA.*--latency-table"):
        TableLatency(tmp_path / "nope.csv", "pixel3", key=space.describe).load()


def test_a_text_column_is_not_a_device_and_the_message_says_so(tmp_path: Path) -> None:
    """The old reader said "column is not numeric"; the shared reader leaves text columns out and says why."""
    path = tmp_path / "lat.csv"
    path.write_text("arch,pixel3,notes\na,1.5,fast\nb,2.5,slow\n")
    cost = TableLatency(path, "notes", key=str)
    assert cost.devices() == ["pixel3"]
    with pytest.raises(UnknownNameError, match=r"no device 'notes' \(that column holds text, not numbers\).*Accepted: pixel3\."):
        cost.load()


def test_blank_cells_are_not_measured(tmp_path: Path) -> None:
    space = Nb201Space()
    a, b = (space.sample(np.random.default_rng(s)) for s in (0, 1))
    path = tmp_path / "lat.csv"
    path.write_text(f"arch,pixel3,raspi4\n{space.describe(a)},1.5,\n{space.describe(b)},,4.0\n")
    assert TableLatency(path, "pixel3", key=space.describe)(a).latency_ms == 1.5
    with pytest.raises(InvalidInputError, match="not measured on 'pixel3'"):
        TableLatency(path, "pixel3", key=space.describe)(b)


def test_datasets_by_alias_or_by_column_name(accuracy_csv: Path) -> None:
    space = Nb201Space()
    by_alias = TableEvaluator(space, accuracy_csv, "cifar100").load()
    assert TableEvaluator(space, accuracy_csv, "CIFAR100TestAccuracy200Epochs").load() == by_alias
    with pytest.raises(UnknownNameError, match=r"no dataset 'UniqueString' \(that column holds text"):
        TableEvaluator(space, accuracy_csv, "UniqueString").load()
    with pytest.raises(UnknownNameError, match="Accepted: cifar10, cifar100, ImageNet16-120, CIFAR10TestAccuracy200Epochs"):
        TableEvaluator(space, accuracy_csv, "mnist").load()
