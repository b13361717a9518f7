"""Decoding images as the training loader does, reading video frames, writing annotated videos.

Images are decoded by OpenCV with ``IMREAD_COLOR``, as mmcv's ``LoadImageFromFile`` does in
training and testing: a JPEG is turned upright by its EXIF orientation (the size the converter
reads from its header), alpha is dropped, a 16-bit image is scaled to 8 bits (value // 256) and a grey
one becomes three channels. Arrays are BGR ``uint8`` ``(H, W, 3)``.

Annotated videos are written as MPEG-4 Part 2 (fourcc ``mp4v``) in ``.mp4``: the encoder the
FFmpeg inside the ``opencv-python-headless`` wheels has (their FFmpeg has no H.264 encoder).
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

VIDEO_CODEC = 'mp4v'
VIDEO_SUFFIX = '.mp4'
DEFAULT_FPS = 25.0  # for a video whose container gives no frame rate


class UnreadableError(OSError):
    """A file that cannot be read or decoded; the message names it and says why."""


def read_image(path: str) -> np.ndarray:
    """The image at ``path`` as BGR ``uint8`` ``(H, W, 3)``, upright (see the module docstring).

    Raises :class:`UnreadableError` naming the file when it cannot be read or does not decode.
    """
    import cv2
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise UnreadableError(f'{path}: cannot be read ({err.strerror or err})') from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        kind = 'empty file' if not data.size else 'does not decode as an image (corrupt, truncated or not an image)'
        raise UnreadableError(f'{path}: {kind}')
    return image


class VideoInfo(NamedTuple):
    """Frame rate (``DEFAULT_FPS`` when the file gives none), frame size and frame count as the container says."""

    fps: float
    width: int
    height: int
    frames: int


def video_info(path: str) -> VideoInfo:
    """The :class:`VideoInfo` of ``path``; :class:`UnreadableError` naming it when OpenCV cannot open it or
    read its first frame."""
    import cv2
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise UnreadableError(f'{path}: cannot be opened as a video (corrupt, not a video, or a codec this '
                                  f'OpenCV build lacks)')
        ok, frame = capture.read()
        if not ok:
            raise UnreadableError(f'{path}: opens as a video but its first frame cannot be read')
        fps = capture.get(cv2.CAP_PROP_FPS)
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return VideoInfo(fps if fps > 0 else DEFAULT_FPS, frame.shape[1], frame.shape[0], max(frames, 0))
    finally:
        capture.release()


def video_frames(path: str, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, BGR frame)`` of every ``stride``-th frame of ``path`` (0, stride, 2 * stride, ...), in order.

    Frames in between are skipped without decoding. Raises :class:`UnreadableError` when the file
    cannot be opened.
    """
    import cv2
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise UnreadableError(f'{path}: cannot be opened as a video')
    try:
        index = 0
        while True:
            if index % stride:
                if not capture.grab():
                    return
            else:
                ok, frame = capture.read()
                if not ok:
                    return
                yield index, frame
            index += 1
    finally:
        capture.release()


class VideoWriter:
    """An ``mp4v`` video of a given frame rate and size; ``write`` takes BGR frames of that size."""

    def __init__(self, path: str, fps: float, width: int, height: int) -> None:
        import cv2
        self.path = path
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*VIDEO_CODEC), fps, (width, height))
        if not self.writer.isOpened():
            raise UnreadableError(f'{path}: OpenCV cannot write a {VIDEO_CODEC} video here')

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(np.ascontiguousarray(frame))

    def close(self) -> None:
        self.writer.release()
