"""mmdet's ``predict_by_feat`` in numpy: raw head outputs -> boxes in original-image pixels.

Two paths, as in mmdet 3.3: ``dense`` (``BaseDenseHead._predict_by_feat_single``: RTMDet, SSD, RetinaNet; per
level scores by sigmoid or softmax, ``nms_pre`` best (prior, class) pairs above ``score_thr``, decode) and
``yolov3`` (``YOLOV3Head.predict_by_feat``: objectness ``conf_thr``, then the same filter, scores times
objectness). Both end in ``_bbox_post_process``: rescale, ``min_bbox_size``, batched NMS, ``max_per_img``.
``head`` is the ``head`` mapping of :mod:`custom.deployment.metadata`.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from custom.deployment.nms import batched_nms
from custom.deployment.preprocess import ImageMeta
from custom.deployment.priors import multilevel_priors


class RawDetections(NamedTuple):
    """One image's boxes (N, 4) float32 in original-image pixels, scores (N,) and labels (N,), by descending
    score."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in float32."""
    return (1.0 / (1.0 + np.exp(-x.astype(np.float32)))).astype(np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis in float32."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def filter_scores_and_topk(scores: np.ndarray, score_thr: float, topk: int) -> tuple[np.ndarray, ...]:
    """mmdet's ``filter_scores_and_topk`` on (N, C) scores: ``(scores, labels, prior indices)`` of the ``topk``
    best pairs above ``score_thr`` (``topk`` -1 drops the last pair, as mmdet's slicing does)."""
    rows, cols = np.nonzero(scores > np.float32(score_thr))
    kept = scores[rows, cols]
    order = np.argsort(-kept, kind='stable')[:min(topk, rows.size)]
    return kept[order], cols[order], rows[order]


def decode(coder: Mapping[str, Any], priors: np.ndarray, preds: np.ndarray,
           max_shape: tuple[int, int] | None, strides: np.ndarray | None = None) -> np.ndarray:
    """``DistancePointBBoxCoder``, ``DeltaXYWHBBoxCoder`` or ``YOLOBBoxCoder`` decode (float32)."""
    kind = coder['type']
    if kind == 'distance':
        boxes = np.concatenate([priors[:, :2] - preds[:, :2], priors[:, :2] + preds[:, 2:]], axis=1)
    elif kind == 'delta':
        deltas = preds * np.asarray(coder['stds'], np.float32) + np.asarray(coder['means'], np.float32)
        centre = (priors[:, :2] + priors[:, 2:]) * np.float32(0.5)
        size = priors[:, 2:] - priors[:, :2]
        shift = size * deltas[:, :2]
        max_ratio = np.float32(abs(np.log(coder['wh_ratio_clip'])))
        if coder.get('add_ctr_clamp'):
            ctr = np.float32(coder['ctr_clamp'])
            shift, dwh = np.clip(shift, -ctr, ctr), np.minimum(deltas[:, 2:], max_ratio)
        else:
            dwh = np.clip(deltas[:, 2:], -max_ratio, max_ratio)
        centre, size = centre + shift, size * np.exp(dwh)
        boxes = np.concatenate([centre - size * np.float32(0.5), centre + size * np.float32(0.5)], axis=1)
    elif kind == 'yolo':
        centre = (priors[:, :2] + priors[:, 2:]) * np.float32(0.5) + (preds[:, :2] - np.float32(0.5)) * strides
        half = (priors[:, 2:] - priors[:, :2]) * np.float32(0.5) * np.exp(preds[:, 2:4])
        return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
    else:
        raise ValueError(f'unknown box coder {kind!r}')
    boxes = boxes.astype(np.float32)
    if max_shape is not None and coder.get('clip_border', True):
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, max_shape[1])
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, max_shape[0])
    return boxes


def post_process(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, meta: ImageMeta,
                 test_cfg: Mapping[str, Any], score_factors: np.ndarray | None = None,
                 with_nms: bool = True) -> RawDetections:
    """mmdet's ``_bbox_post_process`` with ``rescale=True``; ``with_nms=False``: the candidates before NMS."""
    factor = np.asarray([1 / meta.scale_factor[0], 1 / meta.scale_factor[1]] * 2, np.float32)
    boxes = boxes * factor
    if score_factors is not None:
        scores = scores * score_factors
    if test_cfg.get('min_bbox_size', -1) >= 0:
        valid = ((boxes[:, 2] - boxes[:, 0] > test_cfg['min_bbox_size'])
                 & (boxes[:, 3] - boxes[:, 1] > test_cfg['min_bbox_size']))
        boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
    if boxes.shape[0] and with_nms:
        keep = batched_nms(boxes, scores, labels, test_cfg['nms'], test_cfg['max_per_img'])
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    return RawDetections(boxes, scores, labels)


def dense_single(cls_scores: Sequence[np.ndarray], bbox_preds: Sequence[np.ndarray], priors: Sequence[np.ndarray],
                 head: Mapping[str, Any], meta: ImageMeta, test_cfg: Mapping[str, Any],
                 with_nms: bool = True) -> RawDetections:
    """``BaseDenseHead._predict_by_feat_single``: one image's (C*A, H, W) and (4*A, H, W) maps per level."""
    kept_preds, kept_priors, kept_scores, kept_labels = [], [], [], []
    for cls_score, bbox_pred, level_priors in zip(cls_scores, bbox_preds, priors):
        bbox_pred = bbox_pred.transpose(1, 2, 0).reshape(-1, 4)
        logits = cls_score.transpose(1, 2, 0).reshape(-1, head['cls_out_channels'])
        scores = sigmoid(logits) if head['use_sigmoid_cls'] else softmax(logits)[:, :-1]
        scores, labels, keep = filter_scores_and_topk(scores, test_cfg.get('score_thr', 0),
                                                      test_cfg.get('nms_pre', -1))
        kept_preds.append(bbox_pred[keep])
        kept_priors.append(level_priors[keep])
        kept_scores.append(scores)
        kept_labels.append(labels)
    boxes = decode(head['coder'], np.concatenate(kept_priors), np.concatenate(kept_preds), meta.img_shape)
    return post_process(boxes, np.concatenate(kept_scores), np.concatenate(kept_labels), meta, test_cfg,
                        with_nms=with_nms)


def yolov3_batch(pred_maps: Sequence[np.ndarray], priors: Sequence[np.ndarray], head: Mapping[str, Any],
                 metas: Sequence[ImageMeta], test_cfg: Mapping[str, Any], with_nms: bool = True) -> list[RawDetections]:
    """``YOLOV3Head.predict_by_feat`` on (N, A*(5+C), H, W) maps per level."""
    attrib = head['num_attrib']
    flat = np.concatenate([p.transpose(0, 2, 3, 1).reshape(p.shape[0], -1, attrib) for p in pred_maps], axis=1)
    strides = np.concatenate([np.full((len(pri), 1), head['strides'][i], np.float32)
                              for i, pri in enumerate(priors)])
    preds = flat[..., :4].copy()
    preds[..., :2] = sigmoid(preds[..., :2])
    objectness, cls_scores = sigmoid(flat[..., 4]), sigmoid(flat[..., 5:])
    anchors = np.concatenate(priors)
    found = []
    for i, meta in enumerate(metas):
        boxes, scores, conf = decode(head['coder'], anchors, preds[i], None, strides), cls_scores[i], objectness[i]
        if test_cfg.get('conf_thr', -1) > 0:
            mask = conf >= np.float32(test_cfg['conf_thr'])
            boxes, scores, conf = boxes[mask], scores[mask], conf[mask]
        scores, labels, keep = filter_scores_and_topk(scores, test_cfg.get('score_thr', 0), test_cfg.get('nms_pre', -1))
        found.append(post_process(boxes[keep], scores, labels, meta, test_cfg, conf[keep], with_nms))
    return found


def predict(outputs: Mapping[str, np.ndarray], head: Mapping[str, Any], metas: Sequence[ImageMeta],
            test_cfg: Mapping[str, Any], with_nms: bool = True) -> list[RawDetections]:
    """Every image's detections from the named raw outputs of a batch (names as in ``head['outputs']``);
    ``with_nms=False``: the candidates NMS would choose from, as mmdet's ``with_nms=False`` gives them."""
    groups = {group: [outputs[name] for name in names] for group, names in head['outputs'].items()}
    first = next(iter(groups.values()))
    priors = multilevel_priors(head['priors'], [m.shape[-2:] for m in first])
    if head['kind'] == 'yolov3':
        return yolov3_batch(groups['pred_maps'], priors, head, metas, test_cfg, with_nms)
    return [dense_single([m[i] for m in groups['cls_scores']], [m[i] for m in groups['bbox_preds']], priors, head,
                         meta, test_cfg, with_nms) for i, meta in enumerate(metas)]
