"""Tasks: data sets and their features, nothing else (no models, no training).

A task loader returns a :class:`TaskData`: standardised features and labels, split into
train/validation/test, with a sentence saying where the data came from. Evaluators read it; a
search space only needs ``input_shape`` and ``len(classes)``. ``detection`` returns a
:class:`~edgenas.tasks.detection.DetectionData` instead (images with boxes, not one label each).

Loaders live in their own modules (``edgenas.tasks.kws``) and are imported on demand so that
importing this package stays cheap. ``TASKS`` names them for ``edgenas search --task``: every
entry is called as ``loader(data_dir, seed=..., cache_dir=...)``, where ``data_dir`` is the
user's ``--data`` folder or None for the task's default data; a task with options
(:data:`TASK_OPTIONS`: ``kws``'s words and front end, ``detection``'s number of synthetic scenes and
image size) also gets ``options=`` when a run set any.
:func:`load_task` is that call with the options checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from edgenas.errors import InvalidInputError
from edgenas.registry import Registry
from edgenas.tasks.base import Split, TaskData

if TYPE_CHECKING:
    from edgenas.tasks.audio import FrontEnd
    from edgenas.tasks.detection import DetectionData

#: The options each task takes (``edgenas search`` flags without the dashes; ``task_options`` of a run).
TASK_OPTIONS: dict[str, tuple[str, ...]] = {
    "kws": ("keywords", "clip_seconds", "sample_rate", "window_ms", "hop_ms", "n_mfcc"),
    "detection": ("scenes", "image_size"),
}


def _kws(data_dir: Path | None, *, seed: int = 0, cache_dir: Path | None = None, options: Any = None) -> TaskData:
    from edgenas.tasks.kws import load_kws

    return load_kws(data_dir, cache_dir=cache_dir, seed=seed, options=options)


def check_task_options(task: str, options: Mapping[str, Any] | None) -> Any:
    """The task's own options object for ``options`` (None when there are none), or one clear line:
    an option the task does not take, or a value it cannot use."""
    if not options:
        return None
    accepted = TASK_OPTIONS.get(task, ())
    unknown = [name for name in options if name not in accepted]
    if unknown:
        flags = ", ".join("--" + name.replace("_", "-") for name in unknown)
        takes = f"--task {task} takes " + (", ".join("--" + n.replace("_", "-") for n in accepted) if accepted else "none")
        raise InvalidInputError(f"{flags}: not an option of --task {task} ({takes})")
    if task == "detection":
        from edgenas.tasks.detection import detection_options

        return detection_options(**dict(options))
    from edgenas.tasks.kws import kws_options

    return kws_options(**dict(options))


@overload
def load_task(  # type: ignore[overload-overlap]  # a Literal before str, as typeshed does
    task: Literal["detection"],
    data_dir: Path | None,
    *,
    seed: int = 0,
    cache_dir: Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> DetectionData: ...


@overload
def load_task(
    task: str,
    data_dir: Path | None,
    *,
    seed: int = 0,
    cache_dir: Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> TaskData: ...


def load_task(
    task: str,
    data_dir: Path | None,
    *,
    seed: int = 0,
    cache_dir: Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> TaskData | DetectionData:
    """The task's data as ``TASKS`` makes it, with the run's task options checked and applied.

    ``detection`` gives a :class:`~edgenas.tasks.detection.DetectionData` (images and boxes, searched
    in the ``detection`` space), every other built-in task a :class:`TaskData`."""
    parsed = check_task_options(task, options)
    extra = {} if parsed is None else {"options": parsed}
    return TASKS.create(task, data_dir=data_dir, cache_dir=cache_dir, seed=seed, **extra)


def task_front_end(task: str, options: Mapping[str, Any] | None) -> FrontEnd:
    """The audio front end a run's features were made with (the default one without options)."""
    from edgenas.tasks.audio import DEFAULT_FRONT_END

    if task != "kws":  # only keyword spotting has an audio front end
        return DEFAULT_FRONT_END
    parsed = check_task_options(task, options)
    return DEFAULT_FRONT_END if parsed is None else parsed.front


def _fashion_mnist(data_dir: Path | None, *, seed: int = 0, cache_dir: Path | None = None) -> TaskData:
    from edgenas.tasks.fashion_mnist import load_fashion_mnist

    return load_fashion_mnist(data_dir, seed=seed)


def _images(data_dir: Path | None, *, seed: int = 0, cache_dir: Path | None = None) -> TaskData:
    from edgenas.tasks.image_folder import load_image_folder

    if data_dir is None:
        raise InvalidInputError("--task images needs --data DIR: a folder with one sub-folder of images per class")
    return load_image_folder(data_dir, seed=seed)


def _detection(data_dir: Path | None, *, seed: int = 0, cache_dir: Path | None = None, options: Any = None) -> DetectionData:
    from edgenas.tasks.detection import DetectionOptions, load_detection_folder

    chosen: DetectionOptions = options or DetectionOptions()
    if data_dir is None:
        from edgenas.tasks.detection_synthetic import DEFAULT_IMAGES, load_synthetic_detection

        scenes = DEFAULT_IMAGES if chosen.scenes is None else chosen.scenes
        return load_synthetic_detection(cache_dir, seed=seed, n_images=scenes, image_size=chosen.image_size)
    if chosen.scenes is not None:
        raise InvalidInputError(f"--scenes sets how many synthetic scenes are drawn; --data {data_dir} brings its own images")
    return load_detection_folder(data_dir, seed=seed, image_size=chosen.image_size)


TASKS: Registry[TaskData | DetectionData] = Registry("task", entry_points="edgenas.tasks")
TASKS.add("kws", _kws, help="keyword spotting: synthetic speech, or --data a Speech Commands folder")
TASKS.add("fashion-mnist", _fashion_mnist, help="Fashion-MNIST from Debian's dataset-fashion-mnist, or --data its IDX files")
TASKS.add("images", _images, help="--data DIR: one sub-folder of images per class")
TASKS.add("detection", _detection, help="object detection: synthetic inspection scenes, or --data COCO JSON / YOLO labels")


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


__all__ = [
    "TASKS",
    "TASK_OPTIONS",
    "Split",
    "TaskData",
    "check_task_options",
    "extra_test_splits",
    "load_task",
    "task_front_end",
]
