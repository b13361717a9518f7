"""COCOeval's greedy box matching on sparse candidate pairs, in memory linear in the pairs.

Used by :class:`custom.evaluation.fast_coco.FastCOCOeval`. A (detection, ground truth) pair is a
candidate when both belong to the same image-class group and their IoU reaches the lowest
threshold; no other pair can be matched. The matching runs one numpy step per detection rank
(detections of different groups never compete), each step touching only that rank's candidate
pairs, so the cost does not depend on the widest group.
"""
from __future__ import annotations

import numpy as np


def iou_pairs(db: np.ndarray, gb: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of detection / ground-truth box pairs (xywh; crowd: intersection / detection area).

    float64, in pycocotools' own order of operations (maskApi.c bbIou).
    """
    w = np.minimum(db[:, 2] + db[:, 0], gb[:, 2] + gb[:, 0]) - np.maximum(db[:, 0], gb[:, 0])
    h = np.minimum(db[:, 3] + db[:, 1], gb[:, 3] + gb[:, 1]) - np.maximum(db[:, 1], gb[:, 1])
    inter = w * h
    da = db[:, 2] * db[:, 3]
    ga = gb[:, 2] * gb[:, 3]
    union = np.where(crowd, da, da + ga - inter)
    ok = (w > 0) & (h > 0)
    out = np.zeros(len(db))
    np.divide(inter, union, out=out, where=ok)
    return out


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges ``starts[i] : starts[i] + counts[i]``: the owner ``i`` and the index of every element, in order."""
    n = int(counts.sum())
    owner = np.repeat(np.arange(len(counts)), counts)
    index = np.repeat(starts, counts) + (np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts))
    return owner, index


def pairs_with_equal_keys(d_key: np.ndarray, g_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (detection, ground truth) index pair with equal keys; ``g_key`` must be sorted."""
    start = np.searchsorted(g_key, d_key, 'left')
    return expand_ranges(start, np.searchsorted(g_key, d_key, 'right') - start)


def candidate_pairs(d_key: np.ndarray, d_box: np.ndarray, g_start: np.ndarray, g_end: np.ndarray,
                    g_box: np.ndarray, g_crowd: np.ndarray, min_iou: float, chunk: int = 1 << 20
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (detection, ground truth, IoU) of equal group with IoU >= ``min_iou``.

    Ground truth of group ``k`` is ``g_start[k]:g_end[k]``; ``d_key`` is each detection's group.
    Pairs come in detection order, then ground-truth order; at most about ``chunk`` pairs are
    held before filtering.
    """
    counts = (g_end - g_start)[d_key]
    cum = np.cumsum(counts)
    total = int(cum[-1]) if len(cum) else 0
    cuts = np.searchsorted(cum, np.arange(chunk, total, chunk), 'left') + 1
    bounds = np.unique(np.concatenate([[0], cuts, [len(d_key)]]))
    out_d, out_g, out_iou = [], [], []
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        c = counts[b0:b1]
        if not c.sum():
            continue
        pair_d, pair_g = expand_ranges(g_start[d_key[b0:b1]], c)
        pair_d += b0
        iou = iou_pairs(d_box[pair_d], g_box[pair_g], g_crowd[pair_g])
        ok = iou >= min_iou
        out_d.append(pair_d[ok])
        out_g.append(pair_g[ok])
        out_iou.append(iou[ok])
    if not out_d:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_d), np.concatenate(out_g), np.concatenate(out_iou)


def greedy_match(c_d: np.ndarray, c_g: np.ndarray, c_iou: np.ndarray, d_key: np.ndarray, g_crowd: np.ndarray,
                 g_ignore: np.ndarray, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's greedy matching of candidate pairs, per area range and IoU threshold.

    Detections (indices into ``d_key``, sorted by group then score) are taken in rank order;
    each takes the available ground truth with IoU >= threshold that is regular
    (``~g_ignore[a]``) if any, else ignored, with the highest IoU, the last in ground-truth
    order on ties. A crowd box stays available. Returns the candidate detections (sorted) and,
    per (area range, threshold, candidate), the ground-truth index it matched (-1: none).
    """
    A, T = g_ignore.shape[0], len(thr)
    dets, d_of_pair = np.unique(c_d, return_inverse=True)
    keys = d_key[dets]
    step = np.arange(len(dets)) - np.searchsorted(keys, keys, 'left')  # rank among the group's candidates
    gts, g_of_pair = np.unique(c_g, return_inverse=True)
    crowd = g_crowd[gts]
    taken = np.zeros((A, T, len(gts)), bool)
    out = np.full((A, T, len(dets)), -1, dtype=np.int64)
    if not len(dets):
        return dets, out
    # pairs by step, detection, then (IoU, ground truth) ascending: the best choice is a segment's last
    order = np.lexsort((c_g, c_iou, d_of_pair, step[d_of_pair]))
    p_det, p_gt, p_iou = d_of_pair[order], g_of_pair[order], c_iou[order]
    new_seg = np.r_[True, p_det[1:] != p_det[:-1]]
    seg_start = np.flatnonzero(new_seg)
    rank = np.arange(len(order)) - seg_start[np.cumsum(new_seg) - 1]
    big = int(rank.max()) + 1
    reg_code = (~g_ignore[:, gts]).astype(np.int64) * big  # (A, Gc): regular boxes outrank ignored ones
    p_bounds = np.searchsorted(step[p_det], np.arange(int(step.max()) + 2))
    s_bounds = np.searchsorted(seg_start, p_bounds)
    thr3 = thr[None, :, None]
    for s in range(len(p_bounds) - 1):
        p0, p1 = p_bounds[s], p_bounds[s + 1]
        g = p_gt[p0:p1]
        segs = seg_start[s_bounds[s]:s_bounds[s + 1]]
        ok = (p_iou[None, None, p0:p1] >= thr3) & (~taken[:, :, g] | crowd[g])
        prio = np.where(ok, reg_code[:, None, g] + rank[None, None, p0:p1], -1)
        best = np.maximum.reduceat(prio, segs - p0, axis=-1)  # (A, T, detections of this step)
        a_i, t_i, n_i = np.nonzero(best >= 0)
        pick = segs[n_i] + best[a_i, t_i, n_i] % big
        taken[a_i, t_i, p_gt[pick]] = True
        out[a_i, t_i, p_det[pick]] = gts[p_gt[pick]]
    return dets, out
