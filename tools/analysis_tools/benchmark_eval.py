"""COCO box evaluation speed: pycocotools' COCOeval vs custom.evaluation.fast_coco.FastCOCOeval, side by side.

    python tools/analysis_tools/benchmark_eval.py [--images 5000] [--dets 100] [--classes 3,10] [--out FILE.json]

A synthetic set per class count: every image has 1-8 ground-truth boxes (small, medium and
large, ~3% crowd) and exactly ``--dets`` detections (jittered copies of the ground truth, some
with the wrong class, plus random boxes), scores in (0, 1). Both evaluators get the same
results list; pycocotools' time is evaluate + accumulate + summarize (loadRes reported apart),
ours the same three steps from the results list, wall-clock and CPU seconds (CPU time is the
fairer number on a busy machine). The precision/recall/score arrays and the 12
summary numbers are compared; a difference above 1e-4 fails the run (exit 1).

    python tools/analysis_tools/benchmark_eval.py --dense 10,100,1000,5000 [--dense-images 2000]

Dense images: the same ordinary set (``--dense-images`` images, 3 classes, ``--dets`` per image)
plus one image with N ground-truth boxes and N detections, for each N. Each evaluator runs in
its own subprocess, so that its peak memory (``ru_maxrss``) is its own: the table gives the
peak RSS of the process and its growth during the evaluation (from before ``loadRes`` /
``FastCOCOeval``), the wall and CPU seconds of evaluate + accumulate + summarize, and the ratios
fast / pycocotools. ``--max-dets`` sets COCOeval's maxDets (default mmdet CocoMetric's 100,300,1000,
so that every detection of the dense image up to 1,000 per class counts). The run fails (exit 1)
when the numbers differ by more than 1e-4, or the fast evaluator takes more than 2x
pycocotools' peak memory or not less wall time.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from custom.evaluation.fast_coco import FastCOCOeval
from custom.evaluation.results_io import quiet_coco


def synthetic(n_images: int, n_classes: int, dets_per_image: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """Ground truth (COCO dict) and a results list, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    W, H = 640, 480
    n_gt = rng.integers(1, 9, n_images)
    g_img = np.repeat(np.arange(n_images), n_gt)
    G = len(g_img)
    side = np.exp(rng.uniform(np.log(12), np.log(300), (G, 2)))  # small to large
    xy = rng.uniform(0, 1, (G, 2)) * (np.array([W, H]) - side)
    g_box = np.hstack([xy, side])
    g_cat = rng.integers(1, n_classes + 1, G)
    crowd = rng.random(G) < 0.03
    images = [{'id': i + 1, 'file_name': f'{i + 1:06d}.jpg', 'width': W, 'height': H} for i in range(n_images)]
    anns = [{'id': k + 1, 'image_id': int(g_img[k]) + 1, 'category_id': int(g_cat[k]),
             'bbox': [round(float(v), 2) for v in g_box[k]], 'area': float(g_box[k, 2] * g_box[k, 3]),
             'iscrowd': int(crowd[k])} for k in range(G)]
    gt = {'images': images, 'annotations': anns,
          'categories': [{'id': c, 'name': f'class{c}'} for c in range(1, n_classes + 1)]}

    # detections: ~3 jittered copies per ground truth, the rest random, 100 per image
    n_jit = np.minimum(3 * n_gt, dets_per_image)
    d_img = np.repeat(np.arange(n_images), dets_per_image)
    slot = np.arange(n_images * dets_per_image) - np.repeat(np.arange(n_images) * dets_per_image, dets_per_image)
    jittered = slot < np.repeat(n_jit, dets_per_image)
    first_gt = np.concatenate([[0], np.cumsum(n_gt)[:-1]])
    src = first_gt[d_img] + slot % np.maximum(n_gt[d_img], 1)
    D = len(d_img)
    noise = rng.normal(0, 0.12, (D, 4))
    jb = g_box[src].copy()
    jb[:, :2] += noise[:, :2] * jb[:, 2:]
    jb[:, 2:] *= np.exp(noise[:, 2:])
    rside = np.exp(rng.uniform(np.log(8), np.log(300), (D, 2)))
    rb = np.hstack([rng.uniform(0, 1, (D, 2)) * (np.array([W, H]) - rside), rside])
    box = np.where(jittered[:, None], jb, rb)
    cat = np.where(jittered & (rng.random(D) > 0.1), g_cat[src], rng.integers(1, n_classes + 1, D))
    score = np.where(jittered, rng.beta(5, 2, D), rng.beta(1.5, 5, D))
    results = [{'image_id': int(i) + 1, 'category_id': int(c), 'bbox': [float(v) for v in b], 'score': float(s)}
               for i, c, b, s in zip(d_img, cat, box.round(2), score.round(4))]
    return gt, results


def dense_synthetic(n_images: int, boxes: int, dets_per_image: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """:func:`synthetic` (3 classes) plus one 4000 x 4000 image with ``boxes`` boxes and ``boxes`` detections."""
    gt, results = synthetic(n_images, 3, dets_per_image, seed)
    rng = np.random.default_rng(seed + 1)
    img_id, S = n_images + 1, 4000
    gt['images'].append({'id': img_id, 'file_name': 'dense.jpg', 'width': S, 'height': S})
    side = rng.uniform(10, 80, (boxes, 2))
    g_box = np.hstack([rng.uniform(0, 1, (boxes, 2)) * (S - side), side]).round(2)
    g_cat = rng.integers(1, 4, boxes)
    first = len(gt['annotations']) + 1
    gt['annotations'] += [{'id': first + k, 'image_id': img_id, 'category_id': int(g_cat[k]),
                           'bbox': [float(v) for v in g_box[k]], 'area': float(g_box[k, 2] * g_box[k, 3]),
                           'iscrowd': 0} for k in range(boxes)]
    noise = rng.normal(0, 0.1, (boxes, 4))  # jittered copies: most overlap their box with IoU > 0.5
    d_box = np.hstack([g_box[:, :2] + noise[:, :2] * g_box[:, 2:], g_box[:, 2:] * np.exp(noise[:, 2:])])
    d_cat = np.where(rng.random(boxes) < 0.9, g_cat, rng.integers(1, 4, boxes))
    score = rng.random(boxes).round(4)
    results += [{'image_id': img_id, 'category_id': int(c), 'bbox': [float(v) for v in b], 'score': float(s)}
                for c, b, s in zip(d_cat, d_box.round(2), score)]
    return gt, results


def _dense_child(args) -> int:
    """One evaluator on one dense set in this process; prints a JSON line, saves the arrays to ``--arrays``."""
    gt, results = dense_synthetic(args.dense_images, int(args.dense), args.dets, args.seed)
    max_dets = [int(m) for m in args.max_dets.split(',')]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu = {}, {}
    with contextlib.redirect_stdout(io.StringIO()):
        if args.child == 'pycocotools':
            from pycocotools.cocoeval import COCOeval
            coco_gt = quiet_coco(gt)
            t, c = time.perf_counter(), time.process_time()
            ev = COCOeval(coco_gt, coco_gt.loadRes(results), 'bbox')
            times['loadRes'], cpu['loadRes'] = time.perf_counter() - t, time.process_time() - c
        else:
            ev = FastCOCOeval(quiet_coco(gt), results, 'bbox')
        ev.params.maxDets = max_dets
        _timed(ev, times, cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.savez(args.arrays, stats=np.asarray(ev.stats), **{k: ev.eval[k] for k in ('precision', 'recall', 'scores')})
    print(json.dumps({'times': times, 'cpu': cpu, 'peak_mib': peak / 1024, 'growth_mib': (peak - before) / 1024}))
    return 0


def run_dense(args) -> list[dict]:
    """Both evaluators, each in its own subprocess, for every box count of ``--dense``."""
    rows, steps = [], ('evaluate', 'accumulate', 'summarize')
    for boxes in [int(b) for b in args.dense.split(',')]:
        row: dict = {'boxes': boxes, 'images': args.dense_images + 1, 'max_dets': args.max_dets}
        arrays = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name in ('pycocotools', 'fast'):
                path = os.path.join(tmp, f'{name}.npz')
                cmd = [sys.executable, __file__, '--child', name, '--dense', str(boxes), '--arrays', path,
                       '--dense-images', str(args.dense_images), '--dets', str(args.dets),
                       '--seed', str(args.seed), '--max-dets', args.max_dets]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                res = json.loads(out.strip().splitlines()[-1])
                res['total_s'] = sum(res['times'][k] for k in steps)
                res['total_cpu_s'] = sum(res['cpu'][k] for k in steps)
                row[name] = res
                with np.load(path) as z:
                    arrays[name] = {k: z[k] for k in z.files}
        row['max_abs_diff'] = max(float(np.abs(arrays['fast'][k] - arrays['pycocotools'][k]).max())
                                  for k in ('precision', 'recall', 'scores', 'stats'))
        ref, fast = row['pycocotools'], row['fast']
        row['time_ratio'] = fast['total_s'] / ref['total_s']
        row['cpu_ratio'] = fast['total_cpu_s'] / ref['total_cpu_s']
        row['peak_ratio'] = fast['peak_mib'] / ref['peak_mib']
        row['growth_ratio'] = fast['growth_mib'] / max(ref['growth_mib'], 1e-9)
        rows.append(row)
    print(f'COCO bbox evaluation, {args.dense_images} ordinary images x {args.dets} detections + one image with '
          f'N boxes and N detections, maxDets {args.max_dets}; fast / pycocotools, each in its own process')
    print(f'{"N":>5}  {"wall s (pycoco / fast)":>22} {"ratio":>5}  {"CPU s (pycoco / fast)":>21} {"ratio":>5}  '
          f'{"peak MiB (pycoco / fast)":>24} {"ratio":>5}  {"growth MiB (pycoco / fast)":>26} {"ratio":>5}'
          f'  {"max |diff|":>10}')
    for r in rows:
        p, f = r['pycocotools'], r['fast']
        print(f'{r["boxes"]:>5}  {p["total_s"]:>11.2f} / {f["total_s"]:<8.2f} {r["time_ratio"]:>5.2f}  '
              f'{p["total_cpu_s"]:>10.2f} / {f["total_cpu_s"]:<8.2f} {r["cpu_ratio"]:>5.2f}  '
              f'{p["peak_mib"]:>12.0f} / {f["peak_mib"]:<9.0f} {r["peak_ratio"]:>5.2f}  '
              f'{p["growth_mib"]:>13.0f} / {f["growth_mib"]:<10.0f} {r["growth_ratio"]:>5.2f}  '
              f'{r["max_abs_diff"]:>10.1e}')
    return rows


def _timed(ev, times: dict, cpu: dict) -> None:
    for step in ('evaluate', 'accumulate', 'summarize'):
        t, c = time.perf_counter(), time.process_time()
        getattr(ev, step)()
        times[step], cpu[step] = time.perf_counter() - t, time.process_time() - c


def run_pycocotools(gt: dict, results: list[dict]) -> tuple[dict, dict, object]:
    """Wall and CPU seconds per step of pycocotools' COCOeval (loadRes apart), and the evaluator."""
    from pycocotools.cocoeval import COCOeval
    coco_gt = quiet_coco(gt)
    times, cpu = {}, {}
    with contextlib.redirect_stdout(io.StringIO()):
        t, c = time.perf_counter(), time.process_time()
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
        times['loadRes'], cpu['loadRes'] = time.perf_counter() - t, time.process_time() - c
        ev = COCOeval(coco_gt, coco_dt, 'bbox')
        _timed(ev, times, cpu)
    return times, cpu, ev


def run_fast(gt: dict, results: list[dict]) -> tuple[dict, dict, object]:
    """The same for FastCOCOeval, straight from the results list (no loadRes needed)."""
    coco_gt = quiet_coco(gt)
    times, cpu = {}, {}
    ev = FastCOCOeval(coco_gt, results, 'bbox')
    with contextlib.redirect_stdout(io.StringIO()):
        _timed(ev, times, cpu)
    return times, cpu, ev


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=5000)
    parser.add_argument('--dets', type=int, default=100, help='detections per image')
    parser.add_argument('--classes', default='3,10', help='class counts, one synthetic set each')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='work_dirs/benchmark_eval/results.json')
    parser.add_argument('--dense', default=None, help='box counts of the dense image, e.g. 10,100,1000,5000')
    parser.add_argument('--dense-images', type=int, default=2000, help='ordinary images beside the dense one')
    parser.add_argument('--max-dets', default='100,300,1000', help='COCOeval maxDets in --dense mode')
    parser.add_argument('--child', choices=('fast', 'pycocotools'), help=argparse.SUPPRESS)
    parser.add_argument('--arrays', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _dense_child(args)
    if args.dense:
        rows = run_dense(args)
        _write(args.out, {'benchmark': 'coco_bbox_eval_dense', 'rows': rows})
        bad = [r['boxes'] for r in rows if r['max_abs_diff'] > 1e-4]
        slow = [r['boxes'] for r in rows if r['peak_ratio'] > 2 or r['time_ratio'] >= 1]
        if bad:
            print(f'FAIL: the evaluators disagree by more than 1e-4 at N = {bad}', file=sys.stderr)
        if slow:
            print(f'FAIL: over 2x pycocotools\' peak memory or not faster at N = {slow}', file=sys.stderr)
        return 1 if bad or slow else 0

    rows = []
    for n_classes in [int(c) for c in args.classes.split(',')]:
        gt, results = synthetic(args.images, n_classes, args.dets, args.seed)
        ref_t, ref_cpu, ref = run_pycocotools(gt, results)
        fast_t, fast_cpu, fast = run_fast(gt, results)
        diff = max(float(np.abs(fast.eval[k] - ref.eval[k]).max()) for k in ('precision', 'recall', 'scores'))
        diff = max(diff, float(np.abs(np.asarray(fast.stats) - np.asarray(ref.stats)).max()))
        steps = ('evaluate', 'accumulate', 'summarize')
        ref_total, fast_total = sum(ref_t[k] for k in steps), sum(fast_t[k] for k in steps)
        ref_cpu_total, fast_cpu_total = sum(ref_cpu[k] for k in steps), sum(fast_cpu[k] for k in steps)
        rows.append({'classes': n_classes, 'images': args.images, 'gt_boxes': len(gt['annotations']),
                     'detections': len(results), 'pycocotools_s': ref_t, 'fast_s': fast_t,
                     'pycocotools_cpu_s': ref_cpu, 'fast_cpu_s': fast_cpu,
                     'pycocotools_total_s': ref_total, 'fast_total_s': fast_total,
                     'pycocotools_total_cpu_s': ref_cpu_total, 'fast_total_cpu_s': fast_cpu_total,
                     'speedup': ref_total / fast_total, 'speedup_cpu': ref_cpu_total / fast_cpu_total,
                     'max_abs_diff': diff,
                     'mAP': float(fast.stats[0]), 'mAP50': float(fast.stats[1])})

    print(f'COCO bbox evaluation, {args.images} images x {args.dets} detections (evaluate + accumulate + summarize)')
    print(f'{"classes":>7} {"gt":>6} {"dets":>7}  {"pycocotools s":>13} {"fast s":>7} {"speed-up":>8}  '
          f'{"CPU s (pycoco / fast)":>21} {"speed-up":>8} {"max |diff|":>10} {"mAP":>6}')
    for r in rows:
        cpu = f'{r["pycocotools_total_cpu_s"]:.2f} / {r["fast_total_cpu_s"]:.2f}'
        print(f'{r["classes"]:>7} {r["gt_boxes"]:>6} {r["detections"]:>7}  {r["pycocotools_total_s"]:>13.2f} '
              f'{r["fast_total_s"]:>7.2f} {r["speedup"]:>7.1f}x  {cpu:>21} {r["speedup_cpu"]:>7.1f}x '
              f'{r["max_abs_diff"]:>10.1e} {r["mAP"]:>6.3f}')
    print('(pycocotools also needs loadRes: ' + ', '.join(f'{r["pycocotools_s"]["loadRes"]:.2f} s' for r in rows)
          + '; the fast evaluator reads the results list directly)')
    report = _write(args.out, {'benchmark': 'coco_bbox_eval', 'rows': rows})
    print(json.dumps(report))
    bad = [r for r in rows if r['max_abs_diff'] > 1e-4]
    if bad:
        print(f'FAIL: the evaluators disagree by more than 1e-4: {bad}', file=sys.stderr)
        return 1
    return 0


def _write(path: str, report: dict) -> dict:
    """``report`` with the platform added, written as JSON to ``path``."""
    report = {**report, 'python': platform.python_version(), 'machine': platform.machine(),
              'cpu_count': os.cpu_count()}
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == '__main__':
    sys.exit(main())
