"""Short training of a detection network, scored by validation mAP@0.5: the search's accuracy signal.

A detection search ranks candidates like a classification one, by one number in
``Metrics.accuracy``; for detection that number is **validation mAP@0.5** (COCO's AP at IoU 0.5,
computed by pycocotools, :func:`~edgenas.tasks.detection_metrics.detection_map`), and
mAP@[.5:.95] and mAP@0.75 go to the trial's extra metrics (``map``, ``map_75``).

Target assignment (anchor-free, FCOS's centre sampling with CenterNet's box form):

* each ground-truth box goes to the one level whose stride ``s`` best fits its size: the level
  minimising ``|log2(max(w, h) / (4 s))|`` (a stride-8 level for objects of about 32 pixels);
* on that level every cell whose centre lies within 1.5 strides of the box centre (in x and in
  y) is positive, and so is the cell containing the centre: 2 x 2 to 3 x 3 cells for any box.
  FCOS also asks the cell centre to be inside the box, which leaves most defects (a few pixels,
  smaller than a stride) one positive cell and the classifier too few examples to learn from; a
  cell outside a small box still regresses it, since the box form is centre and size. A cell
  positive for two boxes takes the smaller one (FCOS's rule);
* a positive cell's class target is 1 for its box's class, every other (cell, class) is 0; its
  box target is the box centre's offset from the cell centre and its log size, in strides
  (the form :mod:`edgenas.tasks.detection_decode` decodes).

Loss: sigmoid focal loss (alpha 0.25, gamma 2; RetinaNet) over every cell and class, plus, on
positive cells, 2 x the GIoU loss of the decoded boxes and the L1 loss of the four box values;
all divided by the number of positive cells. The class logits start at a prior of 1 %
(:data:`edgenas.spaces.nn.detection.PRIOR`).

Images are resized (bilinear, antialiased) from the data's size to the candidate's
``resolution`` batch by batch, boxes scaled with them; detections are scaled back, so mAP is
always measured in the data's pixels. Deterministic per seed on the CPU, as
:class:`~edgenas.evaluators.train.TrainEvaluator`: weights and batch order come from
``seed_for(seed, "train", arch.key())``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgenas._rng import seed_for
from edgenas.arch import Arch
from edgenas.devices import deterministic, resolve_device
from edgenas.errors import InvalidInputError
from edgenas.evaluators.base import TrialFailed
from edgenas.evaluators.train import TrainedModel
from edgenas.spaces.nn.detection import DetectionNet
from edgenas.tasks.detection import DetectionData, DetectionSplit
from edgenas.tasks.detection_decode import BOX_LOG_CLIP, BOX_VALUES, DecodeSettings, cell_centres, decode_batch
from edgenas.tasks.detection_metrics import detection_map
from edgenas.trial import Metrics

if TYPE_CHECKING:
    from edgenas.store import RunFolder

log = logging.getLogger(__name__)

#: Cells within this many strides of a box centre (in x and in y) are positive (FCOS's radius).
CENTRE_RADIUS = 1.5
#: A level of stride ``s`` suits objects of about ``OBJECT_STRIDES * s`` pixels.
OBJECT_STRIDES = 4.0
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
GIOU_WEIGHT = 2.0


@dataclass(frozen=True)
class LevelTargets:
    """One level's training targets for every image of a split (see the module docstring)."""

    cls: np.ndarray  # float32 (N, K, H, W): 1 where a cell is positive for that class
    box: np.ndarray  # float32 (N, 4, H, W): dx, dy, log w, log h in strides (0 where not positive)
    pos: np.ndarray  # bool (N, H, W)


def assign_targets(
    split: DetectionSplit, scale: float, resolution: int, strides: Sequence[int], num_classes: int
) -> list[LevelTargets]:
    """Targets of every level for ``split``'s images resized by ``scale`` to ``resolution`` pixels."""
    n = len(split)
    sizes = [-(-resolution // s) for s in strides]  # SAME convolutions: ceil(resolution / stride) cells
    out = [
        LevelTargets(
            np.zeros((n, num_classes, size, size), np.float32),
            np.zeros((n, 4, size, size), np.float32),
            np.zeros((n, size, size), bool),
        )
        for size in sizes
    ]
    log_fit = np.log2(OBJECT_STRIDES * np.asarray(strides, dtype=np.float64))
    for i in range(n):
        boxes, labels = split.objects(i)
        if not len(boxes):
            continue
        boxes = boxes.astype(np.float64) * scale
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        level_of = np.argmin(np.abs(np.log2(np.maximum(np.maximum(w, h), 1e-6))[:, None] - log_fit[None, :]), axis=1)
        for lv, (stride, size) in enumerate(zip(strides, sizes, strict=True)):
            mine = np.flatnonzero(level_of == lv)
            if not mine.size:
                continue
            _assign_level(out[lv], i, boxes[mine], labels[mine], stride, size)
    return out


def _assign_level(target: LevelTargets, image: int, boxes: np.ndarray, labels: np.ndarray, stride: int, size: int) -> None:
    cx, cy = (c.astype(np.float64) for c in cell_centres(size, stride))  # (cells,)
    bx, by = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2  # (k,)
    positive = (np.abs(cx - bx[:, None]) < CENTRE_RADIUS * stride) & (np.abs(cy - by[:, None]) < CENTRE_RADIUS * stride)
    centre = np.clip((by // stride).astype(int), 0, size - 1) * size + np.clip((bx // stride).astype(int), 0, size - 1)
    positive[np.arange(len(boxes)), centre] = True
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cost = np.where(positive, area[:, None], np.inf)  # (k, cells): the smaller box wins a shared cell
    cells = np.flatnonzero(np.isfinite(cost).any(axis=0))
    owner = np.argmin(cost[:, cells], axis=0)
    rows, cols = cells // size, cells % size
    target.pos[image, rows, cols] = True
    target.cls[image, labels[owner], rows, cols] = 1.0
    w = np.maximum(boxes[owner, 2] - boxes[owner, 0], 1e-3)
    h = np.maximum(boxes[owner, 3] - boxes[owner, 1], 1e-3)
    target.box[image, 0, rows, cols] = (bx[owner] - cx[cells]) / stride
    target.box[image, 1, rows, cols] = (by[owner] - cy[cells]) / stride
    target.box[image, 2, rows, cols] = np.log(w / stride)
    target.box[image, 3, rows, cols] = np.log(h / stride)


def _corners(values: torch.Tensor) -> torch.Tensor:
    """``(P, 4)`` box values (dx, dy, tw, th) as corners in strides, relative to the cell centre."""
    size = torch.exp(values[:, 2:].clamp(-BOX_LOG_CLIP, BOX_LOG_CLIP))
    return torch.cat([values[:, :2] - size / 2, values[:, :2] + size / 2], dim=1)


def giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU (Rezatofighi et al. 2019) of paired ``(P, 4)`` corner boxes."""
    inter = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp(min=0).prod(1)
    area_a, area_b = (a[:, 2:] - a[:, :2]).prod(1), (b[:, 2:] - b[:, :2]).prod(1)
    union = area_a + area_b - inter
    enclose = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).prod(1)
    return inter / union.clamp(min=1e-9) - (enclose - union) / enclose.clamp(min=1e-9)


def detection_loss(
    outputs: Sequence[torch.Tensor], targets: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], num_classes: int
) -> torch.Tensor:
    """Focal loss on every (cell, class), GIoU and L1 on positive cells, over the positive count."""
    total = outputs[0].new_zeros(())
    positives = 0
    for output, (cls, box, pos) in zip(outputs, targets, strict=True):
        logits = output[:, :num_classes]
        p = torch.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, cls, reduction="none")
        p_t = p * cls + (1 - p) * (1 - cls)
        alpha = FOCAL_ALPHA * cls + (1 - FOCAL_ALPHA) * (1 - cls)
        total = total + (alpha * (1 - p_t) ** FOCAL_GAMMA * ce).sum()
        if bool(pos.any()):
            pred = output[:, num_classes : num_classes + BOX_VALUES].permute(0, 2, 3, 1)[pos]
            want = box.permute(0, 2, 3, 1)[pos]
            total = (
                total + GIOU_WEIGHT * (1 - giou(_corners(pred), _corners(want))).sum() + F.l1_loss(pred, want, reduction="sum")
            )
            positives += int(pos.sum())
    return total / max(positives, 1)


class DetectionEvaluator:
    """Train each detection candidate for a few epochs (AdamW, one-cycle); score validation mAP@0.5.

    Args:
        space: Builds the network of an ``Arch`` (a ``detection`` space, possibly target-filtered).
        data: The detection task's splits (validation scores the search; test is kept for finalists).
        epochs: Epochs at ``budget=1``.
        batch_size: Mini-batch size.
        lr: Peak learning rate of the one-cycle schedule.
        weight_decay: AdamW weight decay.
        seed: Seed of every random draw in training.
        max_seconds: Wall-clock limit per candidate; a candidate over it fails (None: no limit).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, resolved in the process that trains.
        decode: Host post-processing settings for scoring.
    """

    name = "train"

    def __init__(
        self,
        space: Any,
        data: DetectionData,
        epochs: int = 4,
        batch_size: int = 16,
        lr: float = 1e-2,
        weight_decay: float = 1e-4,
        seed: int = 0,
        max_seconds: float | None = None,
        device: str = "cpu",
        decode: DecodeSettings | None = None,
    ) -> None:
        if not isinstance(data, DetectionData):
            raise InvalidInputError("the detection evaluator trains on detection data (--task detection)")
        self.space = space
        self.data = data
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.max_seconds = max_seconds
        self.device = device
        self.decode = decode or DecodeSettings()
        self._targets: dict[tuple[int, tuple[int, ...]], list[LevelTargets]] = {}

    # -- data -------------------------------------------------------------------------------
    @property
    def data_size(self) -> int:
        return int(self.data.input_shape[1])

    def inputs(self, split: DetectionSplit, idx: np.ndarray, resolution: int, device: torch.device) -> torch.Tensor:
        """Images ``idx`` of ``split`` as the network reads them: standardised, resized to ``resolution``."""
        x = torch.from_numpy(split.images[idx]).to(device).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.as_tensor(self.data.feature_mean, device=device).view(1, -1, 1, 1)
        std = torch.as_tensor(self.data.feature_std, device=device).view(1, -1, 1, 1)
        x = (x - mean) / std
        if resolution != x.shape[-1]:
            x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
        return x.contiguous()

    def targets(self, resolution: int, strides: tuple[int, ...]) -> list[LevelTargets]:
        """The training split's targets for a resolution and levels (computed once per pair)."""
        key = (resolution, strides)
        if key not in self._targets:
            scale = resolution / self.data_size
            self._targets[key] = assign_targets(self.data.train, scale, resolution, strides, len(self.data.classes))
        return self._targets[key]

    # -- training ---------------------------------------------------------------------------
    def evaluate(self, arch: Arch, *, budget: float = 1.0) -> Metrics:
        return self.train(arch, budget=budget).metrics

    def train(self, arch: Arch, *, budget: float = 1.0) -> TrainedModel:
        """Train ``arch`` from scratch and score it on the validation split."""
        epochs = max(1, round(self.epochs * budget))
        start = time.perf_counter()
        device = resolve_device(self.device)
        deterministic(device)
        generator = torch.Generator().manual_seed(seed_for(self.seed, "train", arch.key()))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            model = self.space.build(arch).to(device)
        resolution = int(self.space.input_shape(arch)[1])
        strides = tuple(self.space.strides(arch))
        levels = self.targets(resolution, strides)
        num_classes = len(self.data.classes)
        n = len(self.data.train)
        steps_per_epoch = math.ceil(n / self.batch_size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        total_steps = epochs * steps_per_epoch
        if total_steps >= 4:
            schedule: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=total_steps, pct_start=max(0.25, 1.5 / total_steps)
            )
        else:
            schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
        model.train()
        loss = torch.tensor(0.0)
        for epoch in range(epochs):
            order = torch.randperm(n, generator=generator).numpy()
            for step in range(steps_per_epoch):
                idx = np.sort(order[step * self.batch_size : (step + 1) * self.batch_size])
                x = self.inputs(self.data.train, idx, resolution, device)
                batch = [tuple(torch.from_numpy(a[idx]).to(device) for a in (lv.cls, lv.box, lv.pos)) for lv in levels]
                optimizer.zero_grad(set_to_none=True)
                loss = detection_loss(model(x), batch, num_classes)  # type: ignore[arg-type]
                if not torch.isfinite(loss):
                    raise TrialFailed(f"training loss became {loss.item()} in epoch {epoch + 1}")
                loss.backward()
                optimizer.step()
                schedule.step()
                if self.max_seconds is not None and time.perf_counter() - start > self.max_seconds:
                    raise TrialFailed(f"training exceeded the {self.max_seconds:g} s limit in epoch {epoch + 1}")
        model.eval()
        scores = self.score(model, self.data.val)
        metrics = Metrics(
            accuracy=scores["map_50"],
            extra={
                "map": scores["map"],
                "map_75": scores["map_75"],
                "train_loss": float(loss.item()),
                "epochs": float(epochs),
                "train_s": time.perf_counter() - start,
            },
        )
        return TrainedModel(model, metrics)

    # -- scoring ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, model: nn.Module, split: DetectionSplit) -> list[dict[str, np.ndarray]]:
        """Detections on every image of ``split`` in the data's pixels (graph, then host decoding and
        NMS), at the resolution and strides the module records."""
        device = next(model.parameters()).device
        if not isinstance(model, DetectionNet):
            raise InvalidInputError(f"detection scoring needs a detection space's network, got {type(model).__name__}")
        resolution, strides = model.resolution, model.strides
        found: list[dict[str, np.ndarray]] = []
        size = self.batch_size * 4
        for start in range(0, len(split), size):
            idx = np.arange(start, min(start + size, len(split)))
            outputs = [o.float().cpu().numpy() for o in model(self.inputs(split, idx, resolution, device))]
            if not all(np.isfinite(o).all() for o in outputs):
                raise TrialFailed("the network produced non-finite outputs")
            found += decode_batch(
                outputs,
                strides,
                len(self.data.classes),
                self.decode,
                scale=self.data_size / resolution,
                image_size=self.data_size,
            )
        return found

    def score(self, model: nn.Module, split: DetectionSplit) -> dict[str, float]:
        """COCO mAP of ``model`` on ``split`` (``map_50``, ``map``, ``map_75``)."""
        if not split.boxes.size:
            raise TrialFailed("cannot score detection on a split without any box")
        return detection_map(self.predict(model, split), split.targets())

    def test_accuracy(self, model: nn.Module) -> float:
        """mAP@0.5 on the held-out test split (finalists only)."""
        return self.score(model, self.data.test)["map_50"]

    def finalist_extra(self, model: nn.Module, arch: Arch, run: RunFolder | None) -> dict[str, float]:
        """What finalisation adds for a detection finalist: test mAP@[.5:.95] and mAP@0.75; with a
        run folder, the checkpoint, the ONNX file (checked against PyTorch) and the int8 ``.tflite``
        scored by test mAP on LiteRT and on TFLite Micro, with its measured arena and size."""
        test = self.score(model, self.data.test)
        extra = {"test_map": test["map"], "test_map_75": test["map_75"]}
        if run is not None:
            model = model.cpu()
            extra.update(self.export(model, arch, run))
            extra.update(self.verify_int8(model, run.best_int8_tflite))
        return extra

    @torch.no_grad()
    def verify_int8(self, model: nn.Module, path: Path, max_calibration: int = 400) -> dict[str, float]:
        """The int8 ``.tflite`` of ``model`` at ``path`` (post-training quantization calibrated on
        training images), run on LiteRT's reference kernels and on TFLite Micro over the test
        split, each scored with the same host decoding as the float network. Skipped, with a log
        line, where the ``tflite`` extra is not installed."""
        from edgenas.errors import MissingExtraError

        if not isinstance(model, DetectionNet):
            raise InvalidInputError(f"detection export needs a detection space's network, got {type(model).__name__}")
        cpu = torch.device("cpu")
        model = model.eval()
        resolution, strides, num_classes = model.resolution, model.strides, len(self.data.classes)
        try:
            from edgenas.export.tflite import convert_int8
            from edgenas.export.verify_detection import verify_detection

            calibration = self.inputs(self.data.train, np.arange(min(max_calibration, len(self.data.train))), resolution, cpu)
            convert_int8(model, calibration.numpy(), path)
            test = self.data.test
            starts = range(0, len(test), 64)
            x = torch.cat([self.inputs(test, np.arange(i, min(i + 64, len(test))), resolution, cpu) for i in starts])
            fp32 = [torch.cat(parts).numpy() for parts in zip(*(model(x[i : i + 64]) for i in starts), strict=True)]

            def decode(maps: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
                scale = self.data_size / resolution
                return decode_batch(maps, strides, num_classes, self.decode, scale=scale, image_size=self.data_size)

            result = verify_detection(path, x.numpy(), test.targets(), decode, fp32_outputs=fp32)
        except MissingExtraError as exc:
            log.warning("int8 export and TFLite Micro check of the detection model skipped: %s", exc)
            return {}
        return {
            "tflm_arena_bytes": float(result.arena_bytes),
            "tflite_file_bytes": float(result.flash_bytes),
            "tflm_int8_test_map_50": result.tflm_map_50,
            "tflm_int8_test_map": result.tflm_map,
            "litert_int8_test_map_50": result.litert_map_50,
            "litert_int8_test_map": result.litert_map,
            "tflm_litert_max_lsb_diff": float(result.max_lsb_diff),
        }

    def export(self, model: nn.Module, arch: Arch, run: RunFolder) -> dict[str, float]:
        """``best/model.pt`` and ``best/model.onnx`` (one output per level); the largest ONNX Runtime
        difference from PyTorch over every output."""
        from edgenas.export.checkpoint import save_checkpoint
        from edgenas.export.onnx import export_onnx
        from edgenas.files import atomic_path

        model = model.eval()
        with atomic_path(run.best_checkpoint) as staged:
            save_checkpoint(
                staged, model, arch, self.space.params(), self.data.classes, self.data.feature_mean, self.data.feature_std
            )
        resolution = int(self.space.input_shape(arch)[1])
        example = self.inputs(self.data.val, np.arange(min(8, len(self.data.val))), resolution, torch.device("cpu"))
        export_onnx(model, example, run.best_onnx)
        return {"onnx_max_abs_diff": onnx_outputs_diff(model, run.best_onnx, example)}


def onnx_outputs_diff(model: nn.Module, path: Path, example: torch.Tensor) -> float:
    """Largest |ONNX Runtime - PyTorch| difference over every output of a multi-output model."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    with torch.no_grad():
        want = model.eval()(example)
    return max(float(np.max(np.abs(g - w.numpy()))) for g, w in zip(got, want, strict=True))
