"""``predictions.json`` (COCO-style) and ``predictions.csv``: every box of a run.

``predictions.json`` is a COCO dataset dict with a ``score`` on each annotation, so that
``pycocotools.coco.COCO`` loads it and its ``annotations`` list is also a COCO results list::

    {"info": {"config", "checkpoint", "score_thr", "video_stride", "bbox", "skipped"},
     "images": [{"id": 1, "file_name": "sub/a.jpg", "path": "data/sub/a.jpg", "width": 640, "height": 480},
                {"id": 2, "file_name": "clip.mp4", "path": "data/clip.mp4", "frame": 4, "width": 320, "height": 240}],
     "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "category": "RBC",
                      "bbox": [x, y, w, h], "area": w * h, "score": 0.87}],
     "categories": [{"id": 1, "name": "Platelets"}, ...]}

* ``images``: one entry per image and per sampled video frame (``frame``: its 0-based index in the
  video; absent for images); ``file_name`` is relative to its INPUT root, ``path`` as it was opened;
  ``width``/``height`` of the image as decoded (upright after EXIF rotation). Bytes of a file name
  that is not UTF-8 are written as ``\\xe9``.
* ``bbox``: COCO ``[x, y, w, h]`` in 0-based continuous pixels (a box covering the whole image is
  ``[0, 0, W, H]``), rounded to 0.01 px; ``score`` rounded to 1e-5.
* ``category_id``: 1-based in the order of the class names (what the converter writes for those classes).

``predictions.csv`` has one row per box: ``image_id,file,frame,class,score,xmin,ymin,xmax,ymax``, the
corners in the same 0-based continuous pixels (``xmax = x + w``; not VOC's 1-based pixels), ``frame``
empty for images.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Any, Sequence

from custom.datasets.converter import escape_name
from custom.inference.detector import Detections

CSV_COLUMNS = ('image_id', 'file', 'frame', 'class', 'score', 'xmin', 'ymin', 'xmax', 'ymax')
BBOX_NOTE = ('bbox: COCO [x, y, w, h], 0-based continuous pixels of the upright image ([0, 0, W, H] is the '
             'whole image); category_id: 1-based in class order')


class PredictionLog:
    """The images and boxes of a run, in the order they were predicted; written by :meth:`write`."""

    def __init__(self, classes: Sequence[str], info: dict[str, Any]) -> None:
        self.classes = list(classes)
        self.info = {**info, 'bbox': BBOX_NOTE}
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add(self, file_name: str, path: str, width: int, height: int, detections: Detections,
            frame: int | None = None) -> int:
        """Record one image (or video ``frame``) and its boxes; returns its image id (1-based)."""
        image_id = len(self.images) + 1
        image = {'id': image_id, 'file_name': escape_name(file_name), 'path': escape_name(path)}
        if frame is not None:
            image['frame'] = frame
        image.update(width=width, height=height)
        self.images.append(image)
        for box, score, label in zip(detections.boxes, detections.scores, detections.labels):
            x1, y1, x2, y2 = (round(float(v), 2) for v in box)
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            self.annotations.append({'id': len(self.annotations) + 1, 'image_id': image_id,
                                     'category_id': int(label) + 1, 'category': self.classes[int(label)],
                                     'bbox': [x1, y1, w, h], 'area': round(w * h, 2),
                                     'score': round(float(score), 5)})
        return image_id

    def to_dict(self) -> dict:
        """The ``predictions.json`` content (see the module docstring)."""
        return {'info': self.info, 'images': self.images, 'annotations': self.annotations,
                'categories': [{'id': i + 1, 'name': name} for i, name in enumerate(self.classes)]}

    def write(self, out_dir: str) -> tuple[str, str]:
        """Write ``out_dir/predictions.json`` and ``out_dir/predictions.csv``; returns their paths."""
        json_path, csv_path = os.path.join(out_dir, 'predictions.json'), os.path.join(out_dir, 'predictions.csv')
        with open(json_path, 'w', encoding='utf-8') as f:
            json.dump(self.to_dict(), f, indent=1, ensure_ascii=False)
        images = {image['id']: image for image in self.images}
        with open(csv_path, 'w', newline='', encoding='utf-8') as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for ann in self.annotations:
                image = images[ann['image_id']]
                x, y, w, h = ann['bbox']
                writer.writerow([image['id'], image['file_name'], image.get('frame', ''), ann['category'],
                                 ann['score'], x, y, round(x + w, 2), round(y + h, 2)])
        return json_path, csv_path
