"""``export`` and ``verify`` load LiteRT, TFLite Micro, torch and torchao, whose native code and
loggers print start-up notes (absl, oneDNN, torchao, torch's ``W...`` lines). Without ``--debug``
a failing command prints its own lines only (``--debug`` shows the notes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.test_cli import edgenas
from tests.fuzz.generators import wav_bytes, write_checkpoint

pytest.importorskip("litert_torch", reason="int8 TFLite export needs the tflite extra")
pytest.importorskip("tflite_micro", reason="verification needs the tflite extra")

NOISE = re.compile(r"absl|oneDNN|torchao|Traceback|Warning|WARNING|^[IWE]\d{4} ")
BUILTIN = Path(__file__).resolve().parents[2] / "edgenas" / "hardware" / "targets" / "cortex-m7.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run folder on a six-clip speech folder, for a target with 2 KiB of SRAM (nothing fits)."""
    from edgenas.store import RunFolder

    root = tmp_path_factory.mktemp("quiet")
    speech = root / "speech"
    for word in ("yes", "no"):
        for speaker in ("a", "b", "c"):
            (speech / word).mkdir(parents=True, exist_ok=True)
            (speech / word / f"{speaker}_nohash_0.wav").write_bytes(wav_bytes())
    tiny = root / "tiny.yaml"
    tiny.write_text(BUILTIN.read_text().replace("sram_bytes: 327680", "sram_bytes: 2048", 1))
    folder = RunFolder(root / "run")
    with folder.open_store() as store:
        store.write_config({"identity": {"task": "kws", "data": str(speech), "target": str(tiny)}, "data": {}})
    write_checkpoint(folder.best_checkpoint)
    return folder.path


def test_export_and_verify_that_fail_print_only_their_own_lines(run: Path) -> None:
    exported = edgenas("export", str(run), "--calibration-clips", "4")
    assert exported.returncode == 2, exported.stderr
    lines = [line for line in exported.stderr.splitlines() if line.strip()]
    assert lines and "does not fit" in lines[0] and not [line for line in lines if NOISE.search(line)], lines

    model = run / "best" / "model_int8.tflite"
    verified = edgenas("verify", str(model), "--target", str(run.parent / "tiny.yaml"), "--clips", "2")
    assert verified.returncode == 2, verified.stderr
    lines = [line for line in verified.stderr.splitlines() if line.strip()]
    assert lines and "does not fit" in lines[0] and not [line for line in lines if NOISE.search(line)], lines
