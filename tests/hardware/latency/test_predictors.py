"""Each predictor kind on tables with a known answer; JSON round trips; metrics by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.hardware.latency import PREDICTORS, FewShotPredictor, LayerLutPredictor, latency_metrics, load, nets_of, save
from edgenas.hardware.latency.table import table_archs
from edgenas.spaces.nb201 import Nb201Space
from edgenas.tables import read_table


@pytest.fixture
def data(nb201_csv):
    table = read_table(nb201_csv)
    space = Nb201Space()
    return table, nets_of(space, table_archs(space, table))


def test_metrics_by_hand():
    m = latency_metrics(np.array([1.0, 2.0, 4.0, 8.0]), np.array([1.04, 2.3, 4.0, 7.0]))
    assert m.n == 4
    assert m.within_5pct == 0.5  # 4% and 0% errors; 15% and 12.5% are out
    assert m.within_10pct == 0.5
    assert m.mape == pytest.approx((0.04 + 0.15 + 0 + 0.125) / 4)
    assert m.rmse_ms == pytest.approx(np.sqrt((0.04**2 + 0.3**2 + 0 + 1.0) / 4))
    assert m.spearman == pytest.approx(1.0) and m.kendall == pytest.approx(1.0)


def test_lut_recovers_an_additive_device_from_20_networks(data):
    table, nets = data
    y = table.column("a")
    lut = LayerLutPredictor().fit(nets[:20], y[:20])
    m = latency_metrics(y[20:], lut.predict(nets[20:]))
    assert m.within_5pct == 1.0 and m.spearman > 0.99


@pytest.mark.parametrize("kind", ["lut", "lgbm", "mlp", "macs"])
def test_every_kind_round_trips_through_json(kind, data, tmp_path):
    table, nets = data
    y = table.column("c")
    predictor = PREDICTORS.create(kind).fit(nets[:60], y[:60])
    path = tmp_path / "p.json"
    save(path, predictor, {"device": "c"})
    text = path.read_text()
    assert "pickle" not in text and json.loads(text)["kind"] == kind
    again, info = load(path)
    assert info == {"device": "c"}
    np.testing.assert_allclose(again.predict(nets[60:]), predictor.predict(nets[60:]), rtol=1e-12)


@pytest.mark.parametrize("kind", ["lgbm", "mlp"])
def test_learned_kinds_beat_macs_on_a_noisy_device(kind, data):
    table, nets = data
    y = table.column("c")
    learned = latency_metrics(y[60:], PREDICTORS.create(kind).fit(nets[:60], y[:60]).predict(nets[60:]))
    macs = latency_metrics(y[60:], PREDICTORS.create("macs").fit(nets[:60], y[:60]).predict(nets[60:]))
    assert learned.within_10pct > 0.9
    assert learned.mape < macs.mape


def test_same_seed_same_predictions(data):
    table, nets = data
    y = table.column("c")
    one = PREDICTORS.create("mlp", seed=3).fit(nets[:40], y[:40]).predict(nets[40:])
    two = PREDICTORS.create("mlp", seed=3).fit(nets[:40], y[:40]).predict(nets[40:])
    np.testing.assert_array_equal(one, two)


def test_fewshot_adapts_to_a_scaled_device_with_10_measurements(data, tmp_path):
    table, nets = data
    fewshot = FewShotPredictor(source_kind="lut").pretrain(nets[:80], {"a": table.column("a")[:80]})
    y = table.column("b")
    fewshot.fit(nets[80:90], y[80:90])
    m = latency_metrics(y[90:], fewshot.predict(nets[90:]))
    assert m.within_5pct == 1.0
    save(tmp_path / "f.json", fewshot)
    again, _ = load(tmp_path / "f.json")
    np.testing.assert_allclose(again.predict(nets[90:]), fewshot.predict(nets[90:]), rtol=1e-12)


def test_misuse_is_a_clear_error(data):
    table, nets = data
    with pytest.raises(InvalidInputError, match="not fitted"):
        PREDICTORS.create("lgbm").predict(nets[:3])
    with pytest.raises(InvalidInputError, match="pretrain"):
        FewShotPredictor().fit(nets[:5], table.column("a")[:5])
    with pytest.raises(InvalidInputError, match="positive"):
        LayerLutPredictor().fit(nets[:3], np.array([1.0, -1.0, 2.0]))
    with pytest.raises(InvalidInputError, match="keys="):
        LayerLutPredictor(keys="shapes").fit(nets[:3], np.ones(3))
