"""One inference run: INPUTs -> ``OUT/vis/``, ``predictions.json``, ``predictions.csv``, ``skipped.txt``
[, ``voc/``].

Everything that makes the run impossible is checked before the first image: the INPUTs
(:class:`custom.inference.errors.InputError`; a video named as an INPUT must open), the options,
the checkpoint against the config. A file found in a folder or glob that cannot be read (a corrupt
image, a video that does not open) is skipped, listed in ``OUT/skipped.txt`` (empty when none) and
in :attr:`RunSummary.skipped`; the others are processed.

Images and sampled video frames are predicted ``batch_size`` at a time, in INPUT order. Each image
gets ``OUT/vis/<file_name>``; each video ``OUT/vis/<file_name without extension>.mp4``
(:mod:`custom.inference.render`), written after its frames are predicted.
"""
from __future__ import annotations

import os
import time
from typing import Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from custom.datasets.converter import escape_name
from custom.inference.detector import Detections, Detector, load_detector
from custom.inference.media import VIDEO_SUFFIX, UnreadableError, VideoInfo, read_image, video_frames, video_info
from custom.inference.naming import UniqueNames
from custom.inference.predictions import PredictionLog
from custom.inference.render import annotate, save_picture, write_annotated_video
from custom.inference.errors import InputError, SetupError
from custom.inference.sources import MediaFile, expand_inputs
from custom.inference.voc_export import VOCExport
from custom.visualization.boxes import class_colors


class RunSummary(NamedTuple):
    """What a run did: counts, the files skipped (one message each), seconds, the written videos, notes."""

    images: int
    frames: int
    boxes: int
    skipped: list[str]
    seconds: float
    videos: list[str]
    voc_small_boxes: int | None
    notes: list[str]

    def lines(self, out_dir: str) -> list[str]:
        """The run's report for the terminal."""
        done = self.images + self.frames
        rate = done / self.seconds if self.seconds > 0 else 0.0
        lines = [*self.notes,
                 f'{self.images} images and {self.frames} video frames: {self.boxes} boxes in {self.seconds:.1f} s '
                 f'({rate:.2f} images/s)',
                 f'wrote {out_dir}/predictions.json, predictions.csv and vis/ ({len(self.videos)} videos)']
        if self.voc_small_boxes is not None:
            lines.append(f'wrote {out_dir}/voc/ (Annotations/, JPEGImages/); {self.voc_small_boxes} boxes under '
                         f'2 px after rounding left out of it')
        if self.skipped:
            lines.append(f'skipped {len(self.skipped)} unreadable files (listed in {out_dir}/skipped.txt):')
            lines += [f'  {message}' for message in self.skipped]
        return lines


def check_options(score_thr: float, batch_size: int, video_stride: int) -> None:
    """:class:`SetupError` naming the option that is out of range."""
    if not 0 <= score_thr <= 1:
        raise SetupError(f'--score-thr {score_thr}: must lie in [0, 1]')
    if batch_size < 1:
        raise SetupError(f'--batch-size {batch_size}: must be at least 1')
    if video_stride < 1:
        raise SetupError(f'--video-stride {video_stride}: must be at least 1')


def survey_videos(files: Sequence[MediaFile], skipped: list[str]) -> dict[str, VideoInfo]:
    """:class:`VideoInfo` of each video that opens; one that does not raises :class:`InputError` when named
    as an INPUT, else goes to ``skipped``."""
    infos = {}
    for media in files:
        if media.kind == 'video':
            try:
                infos[media.path] = video_info(media.path)
            except UnreadableError as err:
                if media.explicit:
                    raise InputError(str(err)) from None
                skipped.append(str(err))
    return infos


def decoded(files: Sequence[MediaFile], videos: Mapping[str, VideoInfo], stride: int,
            skipped: list[str]) -> Iterator[tuple[MediaFile, int | None, np.ndarray]]:
    """``(file, frame index or None, BGR image)`` for each readable image and each sampled frame of the
    videos in ``videos``; an image that does not decode goes to ``skipped``."""
    for media in files:
        if media.kind == 'image':
            try:
                yield media, None, read_image(media.path)
            except UnreadableError as err:
                skipped.append(str(err))
        elif media.path in videos:
            for index, frame in video_frames(media.path, stride):
                yield media, index, frame


def batches(items: Iterator, size: int) -> Iterator[list]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def expected_count(files: Sequence[MediaFile], videos: Mapping[str, VideoInfo], stride: int) -> int:
    """Images plus sampled frames by the containers' frame counts: the progress bar's total."""
    images = sum(1 for media in files if media.kind == 'image')
    return images + sum(-(-info.frames // stride) for info in videos.values())


def run_inference(config: str, checkpoint: str, inputs: Sequence[str], out_dir: str, score_thr: float = 0.3,
                  batch_size: int = 1, device: str = 'cpu', video_stride: int = 1, save_voc: bool = False,
                  cfg_options: Mapping | None = None, progress: bool = True,
                  detector: Detector | None = None) -> RunSummary:
    """Predict every image and sampled video frame of ``inputs`` and write the outputs into ``out_dir``.

    ``detector``: one already loaded from ``config`` and ``checkpoint`` (else :func:`load_detector`), or an
    onnxruntime one (:class:`custom.deployment.runtime.OnnxDetector`, same interface).
    Raises before writing anything: :class:`custom.inference.errors.SetupError` (:class:`InputError` for
    INPUTs) and what :func:`custom.inference.detector.load_detector` raises.
    """
    check_options(score_thr, batch_size, video_stride)
    files = expand_inputs(inputs, exclude=out_dir)
    skipped: list[str] = []
    videos = survey_videos(files, skipped)
    if detector is None:
        detector = load_detector(config, checkpoint, device, cfg_options, score_thr)
    classes = detector.classes.classes
    colors = class_colors(len(classes), detector.classes.palette)
    os.makedirs(out_dir, exist_ok=True)
    log = PredictionLog(classes, {'config': config, 'checkpoint': checkpoint, 'score_thr': score_thr,
                                  'video_stride': video_stride, 'classes_from': detector.classes.source})
    voc = VOCExport(os.path.join(out_dir, 'voc'), classes) if save_voc else None
    vis_names = UniqueNames()
    frames: dict[str, dict[int, Detections]] = {}
    from tqdm import tqdm
    bar = tqdm(total=expected_count(files, videos, video_stride), unit='img', desc='infer', disable=not progress)
    start = time.perf_counter()
    for batch in batches(decoded(files, videos, video_stride, skipped), batch_size):
        for (media, index, image), found in zip(batch, detector.predict([item[2] for item in batch], score_thr)):
            height, width = image.shape[:2]
            log.add(media.file_name, media.path, width, height, found, index)
            if index is None:
                save_picture(annotate(image, found, classes, colors),
                             os.path.join(out_dir, 'vis', vis_names.claim(media.file_name)))
                if voc is not None:
                    voc.add_image(media, image, found)
            else:
                frames.setdefault(media.path, {})[index] = found
                if voc is not None:
                    voc.add_frame(media, index, image, found)
        bar.update(len(batch))
    bar.close()
    written = write_videos(files, videos, frames, out_dir, vis_names, video_stride, classes, colors, progress)
    seconds = time.perf_counter() - start
    skipped = [escape_name(message) for message in skipped]
    log.info['skipped'] = skipped
    log.write(out_dir)
    with open(os.path.join(out_dir, 'skipped.txt'), 'w', encoding='utf-8') as f:
        f.writelines(f'{message}\n' for message in skipped)
    n_frames = sum(len(v) for v in frames.values())
    return RunSummary(len(log.images) - n_frames, n_frames, len(log.annotations), skipped, seconds, written,
                      voc.small_boxes if voc is not None else None, detector.notes)


def write_videos(files: Sequence[MediaFile], videos: Mapping[str, VideoInfo],
                 frames: Mapping[str, Mapping[int, Detections]], out_dir: str, names: UniqueNames, stride: int,
                 classes: Sequence[str], colors: Sequence[tuple[int, int, int]], progress: bool) -> list[str]:
    """Write ``OUT/vis/<name>.mp4`` for every video with predicted frames; returns their paths."""
    written = []
    for media in files:
        if media.path in frames:
            name = names.claim(os.path.splitext(media.file_name)[0] + VIDEO_SUFFIX)
            target = os.path.join(out_dir, 'vis', name)
            write_annotated_video(media.path, target, videos[media.path], stride, frames[media.path], classes,
                                  colors, progress)
            written.append(target)
    return written
