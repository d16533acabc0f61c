"""Seeded inputs for the fuzz suite: bad flag values for every command's options, and crafted files.

Plain ``random.Random``: the same seed gives the same cases (each command draws from its own
stream, so an option added to one command leaves the other commands' cases as they were). The
valid files the crafted ones start from are built small (a kws network of two classes, six
one-second clips, six 8 x 8 images), never read from the shared data. The cases and the
in-process runner are in :mod:`tests.fuzz.runner`.
"""

from __future__ import annotations

import io
import math
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The file kinds a crafted case can be, by suffix.
FILE_KINDS = ("tflite", "onnx", "pt", "yaml", "csv", "wav", "png")


# -- valid seed files ---------------------------------------------------------------------------
def tiny_network():
    """A two-class kws network (untrained), its genotype and its space: the smallest real model."""
    from edgenas.spaces.kws import FAMILIES, KwsSpace

    space = KwsSpace(num_classes=2, input_shape=(49, 10), max_depth=1)
    genes = [FAMILIES.index("1d")] + [0] * (len(space.decisions()) - 1)
    arch = space.arch(genes)
    return space.build(arch).eval(), arch, space


def write_checkpoint(path: Path) -> Path:
    """``best/model.pt`` as a search writes it, for :func:`tiny_network`."""
    import numpy as np

    from edgenas.export.checkpoint import save_checkpoint

    module, arch, space = tiny_network()
    return save_checkpoint(path, module, arch, space.params(), ["yes", "no"], np.zeros(10), np.ones(10))


def write_onnx(path: Path) -> Path:
    """The tiny network as fp32 ONNX (the in-memory TorchScript export, ~50 ms)."""
    import torch

    from edgenas.measure.pytorch import onnx_bytes

    module, _, _ = tiny_network()
    path.write_bytes(onnx_bytes(module, torch.zeros(1, 49, 10)))
    return path


def write_int8_tflite(path: Path) -> Path:
    """The tiny network as full-integer int8 TFLite (the real converter: several seconds)."""
    import numpy as np

    from edgenas.export.tflite import convert_int8

    module, _, _ = tiny_network()
    convert_int8(module, np.random.default_rng(0).standard_normal((8, 49, 10)).astype(np.float32), path)
    return path


def target_yaml() -> bytes:
    """A built-in target's YAML file, as a user would copy and edit it."""
    root = Path(__file__).resolve().parents[2] / "edgenas" / "hardware" / "targets"
    return (root / "cortex-m7.yaml").read_bytes()


def latency_csv() -> bytes:
    """A latency table in the shape ``predictor fit`` and ``bench`` read (arch string, one column per device)."""
    lines = ["arch_str,pixel3,raspi4"]
    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    rng = random.Random(0)
    for _ in range(150):
        o = [rng.choice(ops) for _ in range(6)]
        arch = f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"
        lines.append(f"{arch},{rng.uniform(1, 20):.3f},{rng.uniform(5, 90):.3f}")
    return ("\n".join(lines) + "\n").encode()


def wav_bytes(rate: int = 16000, seconds: float = 1.0, header_rate: int | None = None) -> bytes:
    """16-bit mono PCM; ``header_rate`` writes another sample rate into the header than the data has."""
    import numpy as np
    from scipy.io import wavfile

    buf = io.BytesIO()
    samples = (np.sin(np.linspace(0, 2000, int(rate * seconds))) * 8000).astype(np.int16)
    wavfile.write(buf, rate, samples)
    data = bytearray(buf.getvalue())
    if header_rate is not None:
        data[24:28] = struct.pack("<I", header_rate & 0xFFFFFFFF)
        data[28:32] = struct.pack("<I", (header_rate * 2) & 0xFFFFFFFF)
    return bytes(data)


def png_bytes(width: int = 8, height: int = 8, grey: int = 128, rows: int | None = None) -> bytes:
    """A grey PNG written by hand (no Pillow). ``rows`` encodes only the first rows: the header still
    claims ``width x height``, which is all a decompression bomb needs to be refused (cheaply made)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" + bytes([grey]) * width
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


# -- crafted files --------------------------------------------------------------------------------
def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, max(len(data), 1))]


def flip_bits(data: bytes, rng: random.Random, flips: int = 8) -> bytes:
    out = bytearray(data)
    for _ in range(flips if out else 0):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def overwrite_int(data: bytes, rng: random.Random) -> bytes:
    """A 32-bit field somewhere in the file set to 0, 1, -1 or a huge value (sizes, offsets, counts)."""
    if len(data) < 4:
        return data
    out = bytearray(data)
    i = rng.randrange(0, len(out) - 3)
    out[i : i + 4] = struct.pack("<I", rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x10000000]))
    return bytes(out)


def yaml_variants(base: bytes, rng: random.Random) -> bytes:
    """Target YAML: a field set to a hostile value, an alias bomb, non-UTF-8, or not a mapping."""
    text = base.decode()
    choice = rng.randrange(6)
    if choice == 0:
        bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
            f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(7)
        )
        return (bomb + "ops: *h\n").encode()
    if choice == 1:
        return text.encode("utf-16")
    if choice == 2:
        return b"- a\n- b\n"
    lines = text.splitlines()
    numeric = [i for i, line in enumerate(lines) if ":" in line and line.split(":", 1)[1].strip()[:1].isdigit()]
    if not numeric:
        return flip_bits(base, rng)
    i = rng.choice(numeric)
    key = lines[i].split(":", 1)[0]
    lines[i] = f"{key}: {rng.choice(['.nan', '.inf', '-.inf', '-1', '0', '1e308', '99999999999999999999', '[]', '{}', 'x'])}"
    return ("\n".join(lines) + "\n").encode()


def csv_variants(base: bytes, rng: random.Random) -> bytes:
    """A latency table: non-finite or negative values, a missing column, three rows, empty, not UTF-8."""
    text = base.decode()
    lines = text.splitlines()
    choice = rng.randrange(7)
    if choice == 0:
        return b""
    if choice == 1:
        return "\n".join(lines[:4]).encode()
    if choice == 2:
        return ("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n").encode()
    if choice == 3:
        return text.encode("utf-16")
    value = rng.choice(["nan", "inf", "-5", "-inf", "", "1e400", "abc"])
    body = [line.rsplit(",", 1)[0] + "," + value if k % 3 == 0 else line for k, line in enumerate(lines[1:])]
    return ("\n".join([lines[0], *body]) + "\n").encode()


def wav_variants(rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:
        return wav_bytes(header_rate=rng.choice([2**31 - 1, 2**32 - 1, 1, 0, 7]))
    if choice == 1:
        return truncate(wav_bytes(), rng)
    if choice == 2:
        data = bytearray(wav_bytes())
        data[40:44] = struct.pack("<I", 0xFFFFFFF0)  # the data chunk claims 4 GiB
        return bytes(data)
    if choice == 3:
        return flip_bits(wav_bytes(), rng, 4)
    data = bytearray(wav_bytes())
    data[22:24] = struct.pack("<H", rng.choice([0, 65535]))  # channels
    return bytes(data)


def png_variants(rng: random.Random) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return png_bytes(20000, 20000, rows=rng.choice([4, 200]))  # a decompression bomb's header: 400 Mpx
    if choice == 1:
        return truncate(png_bytes(16, 16), rng)
    if choice == 2:
        return flip_bits(png_bytes(16, 16), rng, 4)
    data = bytearray(png_bytes(16, 16))
    data[16:24] = struct.pack(">II", rng.choice([0, 2**31 - 1]), rng.choice([1, 2**31 - 1]))  # IHDR size, stale CRC
    return bytes(data)


def binary_variants(base: bytes, rng: random.Random) -> bytes:
    return rng.choice([truncate, flip_bits, overwrite_int])(base, rng)


# -- bad flag values ------------------------------------------------------------------------------
#: Values every kind of option is tried with; ``{in}`` is the case's input folder (see the runner).
INTS = ["0", "-1", "-2147483649", str(2**63), "1000000000000", "99999999999999999999999", "1e3", "0x10", "", "\u00e9"]
FLOATS = ["0", "-1", "nan", "inf", "-inf", "1e308", "1e-320", "-0.0", "1e400", "NaN", "", "-1000000000000"]
PATHS = ["{in}/folder", "{in}/missing", "{in}/unreadable", "{in}/empty", ".", "", "{in}/\u00e9\u2603.x", "{in}/folder/"]
TEXTS = ["", "\u00e9\u2603\U0001f600", "-", " ", "\x7f", "a" * 300, "0", "-1", "nan", "inf", "{in}/missing", "a,,b", ",", "../.."]


def value_for(kind: str, rng: random.Random) -> str:
    """A bad (or odd) value for an option of kind ``int``, ``float``, ``path`` or ``text``."""
    pool = {"int": INTS, "float": FLOATS, "path": PATHS}.get(kind, TEXTS)
    return rng.choice(pool)


def click_kind(option: Any) -> str:
    """``int``, ``float``, ``path``, ``bool`` or ``text``: what kind of value a click option takes."""
    if getattr(option, "is_flag", False):
        return "bool"
    bare_type = getattr(option, "bare_type", None)  # typer's parameters (its bundled click has no .type)
    name = str(bare_type() if callable(bare_type) else getattr(getattr(option, "type", None), "name", "text")).lower()
    if name in ("int", "integer", "integer range"):
        return "int"
    if name in ("float", "float range"):
        return "float"
    if name in ("path", "file"):
        return "path"
    return "text"


@dataclass(frozen=True)
class Param:
    """One parameter of a command as the fuzz sees it: its flag (or None for an argument) and kind."""

    name: str
    flag: str | None
    kind: str


def commands() -> dict[str, tuple[Param, ...]]:
    """Every leaf command of the ``edgenas`` app (``"predictor fit"``) and its parameters, read from
    typer's click objects, so a new command or option is fuzzed without editing this file."""
    from typer.main import get_command

    import edgenas.cli  # noqa: F401  # registers the commands on the app
    from edgenas.cli.app import app

    found: dict[str, tuple[Param, ...]] = {}

    def walk(path: tuple[str, ...], command: Any) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in sorted(subcommands.items()):
                walk((*path, name), sub)
            return
        params = []
        for p in command.params:
            if getattr(p, "hidden", False) or p.name == "help":
                continue
            is_option = getattr(p, "param_type_name", "") == "option"
            params.append(Param(p.name or "", p.opts[0] if is_option else None, click_kind(p)))
        found[" ".join(path)] = tuple(params)

    walk((), get_command(app))
    return found


def binary_recipe(rng: random.Random) -> str:
    return rng.choice(["truncate", "flip_bits", "overwrite_int"])


MUTATORS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": truncate,
    "flip_bits": flip_bits,
    "overwrite_int": overwrite_int,
}


def finite(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def iter_seeds(seed: int, name: str) -> Iterator[random.Random]:
    """An endless stream of generators for one command (independent of every other command's)."""
    i = 0
    while True:
        yield random.Random(f"{seed}:{name}:{i}")
        i += 1
