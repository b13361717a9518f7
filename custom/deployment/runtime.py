"""An exported ONNX file run by onnxruntime on CPU, with the interface of
:class:`custom.inference.detector.Detector` (``predict``, ``classes``, ``notes``), so that
:func:`custom.inference.run.run_inference` writes the same outputs for either backend.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Sequence

import numpy as np

from custom.deployment.metadata import KEY, OnnxModelError, check_against_config, parse
from custom.deployment.postprocess import RawDetections, predict
from custom.deployment.preprocess import batch_inputs, pipeline
from custom.inference.checkpoint_fit import ClassInfo
from custom.inference.detector import Detections, kept_detections, lower_score_thr


def open_session(path: str, threads: int = 0) -> Any:
    """An onnxruntime CPU session of ``path``; ``FileNotFoundError`` or :class:`OnnxModelError` naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such ONNX file')
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    except Exception as err:  # onnxruntime raises its own exception types for a damaged or foreign file
        raise OnnxModelError(f'{path}: not a readable ONNX model ({type(err).__name__}: {err}); export it again '
                             f'with tools/deployment/export_onnx.py CONFIG CHECKPOINT --out {path}') from None


def to_detections(found: RawDetections, image: np.ndarray, score_thr: float) -> Detections:
    """The boxes scoring at least ``score_thr``, clipped to ``image``, as ``Detector.predict`` gives them."""
    return kept_detections(found.boxes, found.scores, found.labels, image, score_thr)


class OnnxDetector:
    """An exported file ready to predict (:func:`load_onnx_detector`)."""

    def __init__(self, session: Any, metadata: dict, path: str, notes: list[str]) -> None:
        self.session, self.metadata, self.path, self.notes = session, metadata, path, notes
        self.test_cfg = copy.deepcopy(metadata['test_cfg'])
        self.output_names = [n for group in metadata['head']['outputs'].values() for n in group]
        palette = [tuple(int(v) for v in c) for c in metadata['palette']]
        self.classes = ClassInfo(tuple(metadata['classes']), palette, f'{path} (ONNX metadata)')

    def raw_predict(self, images: Sequence[np.ndarray]) -> list[RawDetections]:
        """Every detection the model keeps (its own ``test_cfg``) on each BGR ``uint8`` image, one run."""
        prepared = [pipeline(image, self.metadata['preprocess']) for image in images]
        batch = batch_inputs([p[0] for p in prepared], self.metadata['preprocess'])
        outputs = self.session.run(self.output_names, {self.metadata['input']: batch})
        return predict(dict(zip(self.output_names, outputs)), self.metadata['head'], [p[1] for p in prepared],
                       self.test_cfg)

    def predict(self, images: Sequence[np.ndarray], score_thr: float) -> list[Detections]:
        """The boxes scoring at least ``score_thr`` on each BGR ``uint8`` image, in one run."""
        return [to_detections(found, image, score_thr) for found, image in zip(self.raw_predict(images), images)]


def load_onnx_detector(path: str, score_thr: float | None = None, config: str | None = None,
                       cfg_options: Any = None, threads: int = 0) -> OnnxDetector:
    """Open an exported file; ``score_thr`` lowers its ``test_cfg`` score cut as ``load_detector`` does;
    ``config``: refuse a file exported from another model (:func:`check_against_config`).

    Raises ``FileNotFoundError`` and :class:`OnnxModelError` naming ``path``.
    """
    session = open_session(path, threads)
    metadata = parse(session.get_modelmeta().custom_metadata_map.get(KEY), path)
    have = {o.name for o in session.get_outputs()}
    wanted = [n for group in metadata['head']['outputs'].values() for n in group]
    if metadata['input'] not in {i.name for i in session.get_inputs()} or not set(wanted) <= have:
        raise OnnxModelError(f'{path}: the graph does not have the input and outputs its metadata names '
                             f'({metadata["input"]}, {wanted}); export it again')
    notes = []
    if config is not None:
        from custom.engine.config import read_config
        notes = check_against_config(metadata, path, read_config(config, cfg_options, import_custom_modules=False),
                                     config)
    if score_thr is not None:
        lower_score_thr(metadata['test_cfg'], score_thr)
    return OnnxDetector(session, metadata, path, notes)
