"""Crafted data files: a size a header declares is bounded before memory is allocated for it, and
every bad file is one ``InvalidInputError`` naming the file, never a traceback or a MemoryError."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from edgenas.errors import InvalidInputError
from edgenas.tasks import audio as A
from tests.fuzz.generators import png_bytes, wav_bytes


# -- WAV: the sample rate and the length are header fields ------------------------------------------
@pytest.mark.parametrize("rate", [2**31 - 1, 2**32 - 1, 1, 999, 384_001])
def test_a_wav_with_an_absurd_sample_rate_is_refused_when_read(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes(header_rate=rate))
    with pytest.raises(InvalidInputError, match=r"clip\.wav (has a sample rate|is not a readable WAV)"):
        A.read_wav(path)


def test_resampling_refuses_a_rate_it_cannot_filter() -> None:
    """2^31 - 1 Hz asked NumPy for 320 GiB of filter taps."""
    with pytest.raises(InvalidInputError, match="sample rate"):
        A.fit_to_one_second(np.zeros(100, np.float32), 2**31 - 1)
    assert A.fit_to_one_second(np.zeros(8000, np.float32), 8000).shape == (16000,)


def test_a_speech_folder_with_a_crafted_wav_names_it(tmp_path: Path) -> None:
    from edgenas.tasks.kws import load_speech_commands

    for word in ("yes", "no"):
        (tmp_path / word).mkdir()
        (tmp_path / word / "a_nohash_0.wav").write_bytes(wav_bytes())
    (tmp_path / "no" / "b_nohash_0.wav").write_bytes(wav_bytes(header_rate=2**31 - 1))
    with pytest.raises(InvalidInputError, match=r"b_nohash_0\.wav"):
        load_speech_commands(tmp_path)


def test_wav_length_and_file_size_are_bounded(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(wav_bytes(seconds=2.0))
    monkeypatch.setattr(A, "MAX_WAV_SECONDS", 1)
    with pytest.raises(InvalidInputError, match="at most 1 s"):
        A.read_wav(path)
    monkeypatch.setattr(A, "MAX_WAV_BYTES", 1000)
    with pytest.raises(InvalidInputError, match="at most 1,000 B"):
        A.read_wav(path)


def test_a_wav_that_cannot_be_read_is_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(InvalidInputError, match="cannot read WAV file"):
        A.read_wav(tmp_path / "dir.wav")


# -- images: a PNG declares its size in its header --------------------------------------------------
def _image_folder(tmp_path: Path, bad: bytes) -> Path:
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "0.png").write_bytes(png_bytes(8, 8))
    (tmp_path / "dog" / "1.png").write_bytes(bad)
    return tmp_path


@pytest.mark.parametrize(
    "size", [(20000, 20000), (5000, 5000)], ids=["beyond Pillow's bound (a traceback before)", "beyond edgenas's bound"]
)
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path, size: tuple[int, int]) -> None:
    from edgenas.tasks.image_folder import load_image_folder

    folder = _image_folder(tmp_path, png_bytes(*size, rows=4))
    with pytest.raises(InvalidInputError, match=r"1\.png"):
        load_image_folder(folder)


def test_an_image_that_is_damaged_or_unreadable_is_invalid_input(tmp_path: Path) -> None:
    from edgenas.tasks.image_folder import read_image

    (tmp_path / "cut.png").write_bytes(png_bytes(16, 16)[:50])
    (tmp_path / "dir.png").mkdir()
    for name in ("cut.png", "dir.png"):
        with pytest.raises(InvalidInputError, match=name):
            read_image(tmp_path / name)


# -- IDX (Fashion-MNIST): gzip inflates, and the header declares the counts --------------------------
def test_an_idx_file_is_read_with_a_bound(tmp_path: Path, monkeypatch) -> None:
    from edgenas.tasks import fashion_mnist as F

    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 5000))
    monkeypatch.setattr(F, "MAX_IDX_BYTES", 1000)
    with pytest.raises(InvalidInputError, match="more than 1,000 B"):
        F.read_idx(bomb)


def test_an_idx_header_cut_short_is_invalid_input(tmp_path: Path) -> None:
    from edgenas.tasks.fashion_mnist import read_idx

    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00")  # image magic, then half a header
    with pytest.raises(InvalidInputError, match="too short"):
        read_idx(path)


# -- the synthetic-data cache: an .npz whose arrays declare their shapes ------------------------------
def test_a_cache_file_declaring_more_data_than_it_holds_is_regenerated_not_allocated(tmp_path: Path) -> None:
    import io
    import zipfile

    from edgenas.tasks.kws import _load_cache

    member = io.BytesIO()  # an .npy header claiming 10^12 floats, then 16 bytes of them
    np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    path = tmp_path / "kws-synthetic.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("features.npy", member.getvalue() + bytes(16))
    assert _load_cache(path, {}) is None  # regenerated, never a 4 TB allocation
