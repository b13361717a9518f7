"""Pictures and videos with the predicted boxes drawn in the dataset palette, with class names and scores.

Drawing is :func:`custom.visualization.boxes.draw_boxes`, as in ``tools/test.py``'s pictures. An
annotated video has every frame of its source, at its frame rate and size: a frame that was not
sampled (``--video-stride``) shows the boxes of the last sampled frame before it.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from custom.inference.detector import Detections
from custom.inference.media import VideoInfo, VideoWriter, video_frames
from custom.visualization.boxes import draw_boxes

JPEG_QUALITY = 95


def annotate(image: np.ndarray, detections: Detections, classes: Sequence[str],
             colors: Sequence[tuple[int, int, int]]) -> Image.Image:
    """An RGB picture of the BGR ``image`` with ``detections`` drawn."""
    boxes = detections.boxes.copy()
    boxes[:, 2:] -= boxes[:, :2]  # x1, y1, x2, y2 -> x, y, w, h
    return draw_boxes(Image.fromarray(np.ascontiguousarray(image[..., ::-1])), boxes, detections.labels,
                      classes, colors, scores=detections.scores)


def save_picture(picture: Image.Image, path: str) -> None:
    """Save ``picture`` at ``path`` (folders made; the format follows the extension, JPEG at quality 95)."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    if os.path.splitext(path)[1].lower() in ('.jpg', '.jpeg'):
        picture.save(path, quality=JPEG_QUALITY)
    else:
        picture.save(path)


def write_annotated_video(source: str, target: str, info: VideoInfo, stride: int,
                          detections: Mapping[int, Detections], classes: Sequence[str],
                          colors: Sequence[tuple[int, int, int]], progress: bool = False) -> int:
    """Write ``source`` with boxes drawn to ``target`` (``info``'s frame rate and size); ``detections`` maps
    each sampled frame index to its boxes. ``progress``: a bar of the frames. Returns the frames written."""
    from tqdm import tqdm
    os.makedirs(os.path.dirname(target) or '.', exist_ok=True)
    writer = VideoWriter(target, info.fps, info.width, info.height)
    written = 0
    try:
        for index, frame in tqdm(video_frames(source), total=info.frames, unit='frame', desc='draw video',
                                 disable=not progress):
            held = detections.get(index - index % stride)
            if held is not None and len(held.boxes):
                frame = np.asarray(annotate(frame, held, classes, colors))[..., ::-1]
            writer.write(frame)
            written += 1
    finally:
        writer.close()
    return written
