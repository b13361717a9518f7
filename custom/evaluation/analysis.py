"""One evaluation run's outputs from a detections file: metrics JSON, tables, plots and pictures.

Shared by ``tools/test.py`` (after inference) and ``tools/analysis_tools/analyze_results.py`` (no inference).
Writes into ``work_dir``::

    <metrics_name>.json          every metric (see custom.evaluation.metrics.evaluate_detections)
    per_image.csv                TP / FP / FN / F1 per image at the analysis score threshold
    plots/confusion_matrix.png   rows ground truth, columns prediction, with background
    plots/pr_curves.png          precision-recall per class (IoU 0.50, 0.75, mean 0.50:0.95)
    plots/ap_per_class.png       AP50 and AP50:95 bars
    plots/training_curves.png    losses and validation mAP (when a training work dir is given)
    images/predictions/*.jpg     predictions >= the threshold in class colours with scores
    images/worst/, images/best/  ground truth (left, FN tagged) | prediction (right, FP tagged)
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from custom.engine.config import COCO_MAX_DETS
from custom.evaluation.metrics import DetectionEvaluation, evaluate_detections
from custom.evaluation.results_io import class_cat_ids, load_ground_truth, load_results, plain_id, save_json
from custom.evaluation.summary_text import format_report

IMAGE_DIRS = ('predictions', 'worst', 'best')


def run_analysis(ann_file: str, results: str | os.PathLike, work_dir: str | os.PathLike,
                 classes: Sequence[str] | None = None, palette: Sequence | None = None,
                 img_root: str | None = None, score_thr: float | None = None, evaluator: str = 'fast',
                 num_ranked: int = 8, num_predictions: int = 100, train_dir: str | None = None,
                 metrics_name: str = 'metrics_test', extra: Mapping | None = None,
                 max_dets: Sequence[int] = COCO_MAX_DETS, progress: bool = True, verbose: bool = True) -> dict:
    """Evaluate ``results`` against ``ann_file`` and write every output into ``work_dir``.

    ``img_root=None`` skips the pictures; ``num_predictions`` images (in image-id order, -1:
    all) get their predictions drawn, ``num_ranked`` the worst and best (side by side).
    ``train_dir``: a training work dir whose ``<timestamp>/vis_data/scalars.json`` gives the
    training curves. ``max_dets``: COCOeval's maxDets (give the config's, see
    :func:`custom.engine.config.dataset_info`,
    for the numbers CocoMetric logs). ``extra`` is merged into the saved summary. Returns the summary.
    """
    work_dir = Path(work_dir)
    coco_gt = load_ground_truth(ann_file)
    cat_ids, names = class_cat_ids(coco_gt, classes, ann_file)
    dets = load_results(results, coco_gt, cat_ids, ann_file)
    evaluation = evaluate_detections(coco_gt, dets, names, evaluator=evaluator, score_thr=score_thr,
                                     max_dets=max_dets, ann_file=str(ann_file))
    summary = evaluation.summary
    worst, best = evaluation.ranked_images(num_ranked)
    summary.update({'ann_file': str(ann_file), 'results': str(results), 'worst_images': worst,
                    'best_images': best, **dict(extra or {})})
    metrics_path = work_dir / f'{metrics_name}.json'
    save_json(summary, metrics_path)  # metrics first: a picture problem later leaves them saved
    files: dict[str, Any] = {'metrics': str(metrics_path), 'per_image': str(_per_image_csv(evaluation, work_dir))}
    files.update(_plots(evaluation, work_dir, train_dir))
    if img_root is not None:
        files.update(_pictures(evaluation, Path(img_root), palette, work_dir, worst, best, num_predictions,
                               progress))
    summary['files'] = files
    save_json(summary, metrics_path)
    if verbose:
        print(format_report(summary))
        print(f'metrics saved to {metrics_path}; plots in {work_dir / "plots"}'
              + (f', pictures in {work_dir / "images"}' if img_root is not None else ''))
    return summary


def _per_image_csv(evaluation: DetectionEvaluation, work_dir: Path) -> Path:
    path = work_dir / 'per_image.csv'
    rows = evaluation.per_image_rows()
    with path.open('w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['image_id', 'file_name', 'tp', 'fp', 'fn', 'errors', 'f1'])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _plots(evaluation: DetectionEvaluation, work_dir: Path, train_dir: str | None) -> dict[str, str]:
    from custom.visualization.eval_plots import plot_ap_per_class, plot_confusion_matrix, plot_pr_curves
    s = evaluation.summary
    plots = work_dir / 'plots'
    cm = s['confusion_matrix']
    out = {'confusion_matrix': plot_confusion_matrix(
        evaluation.confusion, cm['labels'], plots / 'confusion_matrix.png',
        f'Confusion matrix (IoU {cm["iou_thr"]}, score >= {cm["score_thr"]:.2f})'),
        'pr_curves': plot_pr_curves(evaluation.precision, evaluation.rec_thrs, evaluation.iou_thrs, evaluation.classes,
                                    evaluation.class_index, plots / 'pr_curves.png', s['best_f1']['per_class']),
        'ap_per_class': plot_ap_per_class(s['per_class_AP50'], s['per_class_AP50:95'], plots / 'ap_per_class.png')}
    if train_dir and list(Path(train_dir).glob('*/vis_data/scalars.json')):
        try:
            from custom.visualization.curves import plot_training_curves
            out['training_curves'] = plot_training_curves(str(train_dir), str(plots / 'training_curves.png'))
        except Exception as exc:  # noqa: BLE001 - the curves are extra; the evaluation stands without them
            print(f'warning: no training curves from {train_dir}: {type(exc).__name__}: {exc}', file=sys.stderr)
    return {k: str(v) for k, v in out.items()}


def _pictures(evaluation: DetectionEvaluation, img_root: Path, palette: Sequence | None, work_dir: Path,
              worst: list[dict], best: list[dict], num_predictions: int, progress: bool) -> dict[str, str]:
    from PIL import Image
    from tqdm import tqdm

    from custom.visualization.boxes import class_colors, draw_boxes, side_by_side
    matches, dets, thr = evaluation.matches, evaluation.dets, evaluation.score_thr
    colors = class_colors(len(evaluation.classes), palette)
    label_of = {c: i for i, c in enumerate(evaluation.cat_ids)}
    coco = evaluation.coco_gt
    # detections per image (input order), and the per-detection verdict at the threshold (IoU 0.5)
    t = evaluation.iou_t
    verdict = np.full(len(dets['score']), '', dtype=object)
    verdict[matches.false_positives(t, thr)] = 'FP'
    matched_gt = matches.matched_annotations(t, thr)
    anns = coco.dataset['annotations']
    fn_gt = {i for i, a in enumerate(anns)} - set(matched_gt.tolist())
    ann_pos = {id(a): i for i, a in enumerate(anns)}
    by_image: dict[Any, np.ndarray] = {}
    order = np.argsort(dets['image_id'], kind='stable')
    ids, starts = np.unique(dets['image_id'][order], return_index=True)
    for img_id, chunk in zip(ids, np.split(order, starts[1:])):
        by_image[plain_id(img_id)] = chunk

    def load(img_id: int) -> Image.Image:
        path = img_root / coco.imgs[img_id]['file_name']
        if not path.is_file():
            raise FileNotFoundError(f'{path}: image of {coco.imgs[img_id]["file_name"]!r} not found under the '
                                    f'image folder {img_root} (check the data root; or skip pictures)')
        with Image.open(path) as img:
            return img.convert('RGB')

    def pred_panel(img, img_id, with_tags):
        idx = by_image.get(img_id, np.zeros(0, np.int64))
        idx = idx[dets['score'][idx] >= thr]
        idx = idx[np.argsort(dets['score'][idx], kind='stable')]  # highest score drawn last, on top
        labels = [label_of[int(c)] for c in dets['category_id'][idx]]
        return draw_boxes(img, dets['bbox'][idx], labels, evaluation.classes, colors, dets['score'][idx],
                          tags=list(verdict[idx]) if with_tags else None)

    def gt_panel(img, img_id):
        gts = [a for a in coco.imgToAnns.get(img_id, []) if a['category_id'] in label_of]
        tags = ['crowd' if a.get('iscrowd') else ('FN' if ann_pos[id(a)] in fn_gt else '') for a in gts]
        return draw_boxes(img, np.array([a['bbox'] for a in gts]).reshape(-1, 4),
                          [label_of[a['category_id']] for a in gts], evaluation.classes, colors, tags=tags)

    out_dirs = {name: work_dir / 'images' / name for name in IMAGE_DIRS}
    for folder in out_dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob('*.jpg'):
            old.unlink()
    img_ids = evaluation.img_ids if num_predictions < 0 else evaluation.img_ids[:num_predictions]
    for img_id in tqdm(img_ids, desc='drawing predictions', unit='img', disable=not progress):
        name = Path(coco.imgs[img_id]['file_name']).stem + '.jpg'
        pred_panel(load(img_id), img_id, False).save(out_dirs['predictions'] / name, quality=90)
    ranked = [('worst', n, r) for n, r in enumerate(worst)] + [('best', n, r) for n, r in enumerate(best)]
    for kind, n, row in tqdm(ranked, desc='drawing worst/best', unit='img', disable=not progress):
        img = load(row['image_id'])
        caption = (f'{kind} #{n + 1}: {row["file_name"]}   TP {row["tp"]}  FP {row["fp"]}  FN {row["fn"]}   '
                   f'(score >= {thr:.2f}, IoU 0.5)   left: ground truth, right: prediction')
        pic = side_by_side(gt_panel(img, row['image_id']), pred_panel(img, row['image_id'], True), caption)
        pic.save(out_dirs[kind] / f'{n + 1:02d}_{Path(row["file_name"]).stem}.jpg', quality=90)
    return {f'images_{k}': str(v) for k, v in out_dirs.items()}
