"""PyTorch CPU against onnxruntime CPU, side by side in one process: ms/img at batch 1, images/s at batch 8,
and frames/s of a whole video run (decode, infer, draw, encode: :func:`custom.inference.run.run_inference`).

Both sides time the same work per batch: the test pipeline, the network and the post-processing (NMS
included), on images decoded beforehand. A model without a trained checkpoint is timed with seeded random
weights: its many low-confidence boxes make NMS slower than a trained model's.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np


class Speed(NamedTuple):
    """One backend on one model: ``ms_per_img`` at batch 1, ``img_per_s`` at batch 8, video ``fps`` (None when
    not measured)."""

    ms_per_img: float
    img_per_s: float
    fps: float | None


def per_image_seconds(predict: Callable[[list], Any], images: Sequence[np.ndarray], batch: int, repeats: int,
                      warmup: int = 1) -> float:
    """Median over ``repeats`` rounds of the seconds per image of ``predict`` on ``images`` in batches of
    ``batch``, after ``warmup`` rounds."""
    rounds = []
    for round_index in range(warmup + repeats):
        start = time.perf_counter()
        for i in range(0, len(images), batch):
            predict(list(images[i:i + batch]))
        if round_index >= warmup:
            rounds.append((time.perf_counter() - start) / len(images))
    return float(np.median(rounds))


def sample_video(images: Sequence[np.ndarray], path: str, frames: int = 24, fps: float = 10.0) -> str:
    """An mp4 of ``frames`` frames cycling through ``images`` (resized to the first's size)."""
    import cv2
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
    for i in range(frames):
        writer.write(cv2.resize(images[i % len(images)], (width, height)))
    writer.release()
    return path


def measure(detector: Any, config: str, images: Sequence[np.ndarray], repeats: int, video: str | None,
            work_dir: str) -> Speed:
    """:class:`Speed` of a loaded detector (either backend) at the tool's default ``score_thr`` 0.3."""
    from custom.inference.run import run_inference

    def predict(batch: list) -> Any:
        return detector.predict(batch, 0.3)

    single = per_image_seconds(predict, images[:max(len(images) // 4, 1)], 1, repeats)
    batched = per_image_seconds(predict, images, 8, repeats)
    fps = None
    if video:
        summary = run_inference(config, '', [video], os.path.join(work_dir, 'video_out'), score_thr=0.3,
                                batch_size=1, progress=False, detector=detector)
        fps = summary.frames / summary.seconds if summary.seconds > 0 else None
    return Speed(1000 * single, 1 / batched, fps)


def table(rows: Sequence[tuple[str, Speed, Speed]]) -> str:
    """The side-by-side table (markdown): per config, PyTorch, onnxruntime and their ratio."""
    def fmt(value: float | None, digits: int = 1) -> str:
        return '-' if value is None else f'{value:.{digits}f}'

    lines = ['| config | PyTorch ms/img (b1) | ORT ms/img (b1) | speed-up | PyTorch img/s (b8) | ORT img/s (b8) '
             '| speed-up | PyTorch video fps | ORT video fps |',
             '|---|---|---|---|---|---|---|---|---|']
    for name, torch_speed, ort_speed in rows:
        lines.append(f'| {name} | {fmt(torch_speed.ms_per_img)} | {fmt(ort_speed.ms_per_img)} | '
                     f'{torch_speed.ms_per_img / ort_speed.ms_per_img:.2f}x | {fmt(torch_speed.img_per_s, 2)} | '
                     f'{fmt(ort_speed.img_per_s, 2)} | {ort_speed.img_per_s / torch_speed.img_per_s:.2f}x | '
                     f'{fmt(torch_speed.fps, 2)} | {fmt(ort_speed.fps, 2)} |')
    return '\n'.join(lines)
