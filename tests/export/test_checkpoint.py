import numpy as np
import pytest
import torch

from edgenas.errors import InvalidInputError
from edgenas.export.checkpoint import load_checkpoint, save_checkpoint
from edgenas.spaces import KwsSpace


def test_checkpoint_round_trip_rebuilds_the_same_network(tmp_path):
    space = KwsSpace(num_classes=12)
    arch = space.sample(np.random.default_rng(3))
    module = space.build(arch).eval()
    path = save_checkpoint(
        tmp_path / "model.pt",
        module,
        arch,
        {"num_classes": 12, "input_shape": [49, 10]},
        [str(i) for i in range(12)],
        np.zeros(10),
        np.ones(10),
    )
    loaded = load_checkpoint(path)
    assert loaded.arch == arch
    x = torch.randn(4, 49, 10)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), module(x))


def test_a_foreign_file_is_rejected(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidInputError, match="checkpoint"):
        load_checkpoint(bad)


# -- a checkpoint is data from elsewhere: every field is checked, never a traceback -------------------
def _saved(tmp_path) -> tuple[dict, KwsSpace]:
    """The record ``save_checkpoint`` writes for a small kws network, as a dict to damage."""
    space = KwsSpace(num_classes=4, max_depth=2)
    arch = space.sample(np.random.default_rng(0))
    path = save_checkpoint(tmp_path / "good.pt", space.build(arch), arch, space.params(), list("abcd"), np.zeros(10), np.ones(10))
    return torch.load(path, weights_only=True), space


DAMAGE = {
    "missing arch": lambda r: r.pop("arch"),
    "missing state_dict": lambda r: r.pop("state_dict"),
    "missing everything but the tag": lambda r: [r.pop(k) for k in list(r) if k != "format"],
    "extra key": lambda r: r.update(extra=1),
    "empty arch": lambda r: r.update(arch={}),
    "empty genes": lambda r: r["arch"].update(genes=[]),
    "genes not ints": lambda r: r["arch"].update(genes=["a"]),
    "gene out of range": lambda r: r["arch"].update(genes=[99] * len(r["arch"]["genes"])),
    "unknown space": lambda r: r["arch"].update(space="nosuch"),
    "empty space_params": lambda r: r.update(space_params=None),
    "unknown space parameter": lambda r: r["space_params"].update(bogus=1),
    "bad space parameter": lambda r: r["space_params"].update(num_classes=-3),
    "huge num_classes": lambda r: r["space_params"].update(num_classes=10**12),
    "empty classes": lambda r: r.update(classes=[]),
    "classes not names": lambda r: r.update(classes=[1, 2, 3, 4]),
    "fewer classes than outputs": lambda r: r.update(classes=["a"]),
    "nan mean": lambda r: r.update(feature_mean=[float("nan")] * 10),
    "mean and std differ": lambda r: r.update(feature_std=[1.0]),
    "empty state_dict": lambda r: r.update(state_dict={}),
    "extra tensor": lambda r: r["state_dict"].update(extra=torch.zeros(1)),
    "wrong shape": lambda r: r["state_dict"].update({next(iter(r["state_dict"])): torch.zeros(3)}),
    "not a tensor": lambda r: r["state_dict"].update({next(iter(r["state_dict"])): [1, 2]}),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path, damage: str) -> None:
    record, _ = _saved(tmp_path)
    DAMAGE[damage](record)
    torch.save(record, tmp_path / "model.pt")
    with pytest.raises(InvalidInputError, match="model.pt"):
        load_checkpoint(tmp_path / "model.pt")


def test_a_folder_or_an_oversized_file_is_refused_before_reading(tmp_path, monkeypatch) -> None:
    from edgenas.export import checkpoint

    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(InvalidInputError, match="dir.pt"):
        load_checkpoint(tmp_path / "dir.pt")
    record, _ = _saved(tmp_path)
    monkeypatch.setattr(checkpoint, "MAX_CHECKPOINT_BYTES", 100)
    with pytest.raises(InvalidInputError, match="at most 100 B"):
        load_checkpoint(tmp_path / "good.pt")


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    """A real int8 .tflite (the converter: several seconds, once)."""
    pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra")
    from tests.fuzz.generators import write_int8_tflite

    return write_int8_tflite(tmp_path_factory.mktemp("int8") / "model_int8.tflite")


@pytest.mark.parametrize("command", ["profile", "export", "verify"])
def test_commands_given_a_damaged_checkpoint_print_one_line(tmp_path, monkeypatch, capsys, request, command: str) -> None:
    """``profile`` reads the checkpoint; ``export`` the run's best/model.pt; ``verify`` the one beside the model."""
    from edgenas.cli import run
    from edgenas.store import RunFolder

    record, _ = _saved(tmp_path)
    record.pop("arch")
    folder = RunFolder(tmp_path / "run")
    folder.best_dir.mkdir(parents=True)
    torch.save(record, folder.best_checkpoint)
    with folder.open_store() as store:
        store.write_config({"identity": {"task": "kws"}, "data": {"input_shape": [49, 10]}})
    if command == "verify":
        folder.best_int8_tflite.write_bytes(request.getfixturevalue("int8_model").read_bytes())
    monkeypatch.chdir(tmp_path)
    args = {
        "profile": ["profile", str(folder.best_checkpoint), "--repeats", "1", "--warmup", "0"],
        "export": ["export", str(folder.path), "--format", "onnx"],
        "verify": ["verify", str(folder.best_int8_tflite), "--clips", "1"],
    }[command]
    with pytest.raises(SystemExit) as exit_info:
        run(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "missing arch" in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
