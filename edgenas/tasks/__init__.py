"""Tasks: data sets and their features, nothing else (no models, no training).

A task loader returns a :class:`TaskData`: standardised features and labels, split into
train/validation/test, with a sentence saying where the data came from. Evaluators read it; a
search space only needs ``input_shape`` and ``len(classes)``.

Loaders live in their own modules (``edgenas.tasks.kws``) and are imported on demand so that
importing this package stays cheap. ``TASKS`` names them for ``edgenas search --task``: every
entry is called as ``loader(data_dir, seed=..., cache_dir=...)``, where ``data_dir`` is the
user's ``--data`` folder or None for the task's default data.
"""

from __future__ import annotations

from pathlib import Path

from edgenas.errors import InvalidInputError
from edgenas.registry import Registry
from edgenas.tasks.base import Split, TaskData


def _kws(data_dir: Path | None, *, seed: int = 0, cache_dir: Path | None = None) -> TaskData:
    from edgenas.tasks.kws import load_kws

    return load_kws(data_dir, cache_dir=cache_dir, seed=seed)


def _fashion_mnist(data_dir: Path | None, *, seed: int = 0, cache_dir: Path | None = None) -> TaskData:
    from edgenas.tasks.fashion_mnist import load_fashion_mnist

    return load_fashion_mnist(data_dir, seed=seed)


def _images(data_dir: Path | None, *, seed: int = 0, cache_dir: Path | None = None) -> TaskData:
    from edgenas.tasks.image_folder import load_image_folder

    if data_dir is None:
        raise InvalidInputError("--task images needs --data DIR: a folder with one sub-folder of images per class")
    return load_image_folder(data_dir, seed=seed)


TASKS: Registry[TaskData] = Registry("task", entry_points="edgenas.tasks")
TASKS.add("kws", _kws, help="keyword spotting: synthetic speech, or --data a Speech Commands folder")
TASKS.add("fashion-mnist", _fashion_mnist, help="Fashion-MNIST from Debian's dataset-fashion-mnist, or --data its IDX files")
TASKS.add("images", _images, help="--data DIR: one sub-folder of images per class")


def extra_test_splits(
    task: str, data: TaskData, *, user_data: bool, seed: int, shared_data: Path | None = None
) -> dict[str, Split]:
    """Held-out sets a task offers its finalists beside the test split, by name.

    ``kws`` on its synthetic default offers ``real_speech``: the genuine Speech Commands clips of
    the shared data (``edgenas.settings``), which say how far a model trained on synthetic speech
    carries to real voices. Other tasks, and ``kws`` on the user's own recordings, offer none.
    """
    if task != "kws" or user_data:
        return {}
    from edgenas.settings import shared_data_dir
    from edgenas.tasks.kws import real_speech_split

    split = real_speech_split(data, shared_data_dir(shared_data) / "kws" / "speech_commands_v0.01_sample", seed)
    return {} if split is None else {"real_speech": split}


__all__ = ["TASKS", "Split", "TaskData", "extra_test_splits"]
