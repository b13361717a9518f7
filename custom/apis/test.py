"""Evaluate a checkpoint on the test split: every metric, plots and pictures into WORK_DIR.

The entry point of ``tools/test.py``; also runs as ``python -m custom.apis.test``.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir show] [--out results.pkl]
        [--score-thr T] [--evaluator fast|pycocotools] [--num-ranked 8] [--num-pred-images 100]
        [--no-pictures] [--tta [--tta-ratios 1 0.83 1.2]]

Inference runs once (mmdet's Runner); the detections are saved as COCO results in
WORK_DIR/detections.bbox.json and everything else is computed from that file (re-plot without
inference: tools/analysis_tools/analyze_results.py CONFIG WORK_DIR/detections.bbox.json):

* WORK_DIR/metrics_test.json and printed tables: COCO mAP 50:95/50/75/small/medium/large, AR,
  per-class AP50 and AP50:95, precision/recall/F1 at the best-F1 score threshold (overall and
  per class, IoU 0.5), VOC-style mAP@0.5 ('area' and '11points'), the confusion matrix;
* WORK_DIR/plots/: confusion matrix, PR curves, AP per class, training curves (from the
  checkpoint's work dir when it holds a training log);
* WORK_DIR/images/: predictions in class colours, worst and best images (ground truth | prediction);
* with --show-dir: mmdet's own ground truth | prediction pictures in WORK_DIR/<timestamp>/SHOW_DIR.

``--tta`` predicts each image at several scales, unflipped and flipped, and merges the boxes with the
config's ``tta_model``: mmdet's DetTTAModel (class-wise NMS) or ``WBFDetTTAModel`` (weighted boxes
fusion) (:mod:`custom.engine.tta`); metrics_test.json records the scales, flips and merge under ``tta``.
"""
from __future__ import annotations

import argparse
import os.path as osp

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from custom.engine.config import coco_metrics, dataset_info
from custom.engine.launch import add_common_args, config_from_args
from custom.engine.tta import tta_line, use_tta
from custom.evaluation.analysis import run_analysis
from custom.evaluation.metrics import EVALUATORS

DETECTIONS = 'detections'  # WORK_DIR/detections.bbox.json (mmdet's CocoMetric outfile_prefix naming)


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``tools/test.py`` (mmdet's, plus the evaluation and picture options)."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='also dump raw predictions to this .pkl file')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='save images with ground truth (left) and predictions '
                        '(right) to WORK_DIR/<timestamp>/SHOW_DIR')
    parser.add_argument('--show-score-thr', type=float, default=0.3,
                        help='--show/--show-dir: draw predicted boxes scoring at least this (default 0.3)')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each shown image stays')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='score threshold of the confusion matrix, per-image errors and WORK_DIR/images '
                        '(default: the threshold with the best overall F1)')
    parser.add_argument('--evaluator', choices=EVALUATORS, default='fast',
                        help='COCO AP from the vectorised evaluator (default) or pycocotools\' COCOeval; '
                        'both give the same numbers')
    parser.add_argument('--num-ranked', type=int, default=8, help='worst and best images to draw (default 8 each)')
    parser.add_argument('--num-pred-images', type=int, default=100,
                        help='test images to draw predictions on, in id order (default 100, -1: all)')
    parser.add_argument('--no-pictures', action='store_true', help='metrics and plots only, no WORK_DIR/images')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation: every scale unflipped and flipped, merged by the config\'s '
                        'tta_model (default mmdet\'s DetTTAModel: NMS; WBFDetTTAModel: weighted boxes fusion); '
                        'scales: the config\'s tta_pipeline when made for its test scale, else the test scale x 1, '
                        '0.83, 1.2 rounded to multiples of 32')
    parser.add_argument('--tta-ratios', type=float, nargs='+', metavar='R',
                        help='TTA scales as ratios of the test scale (implies --tta; 1 alone: flips only)')
    add_common_args(parser)
    return parser


def test(args: argparse.Namespace) -> None:
    """Run inference on the test split once and write every metric, plot and picture (``args`` from
    :func:`build_parser`)."""
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'{args.checkpoint}: no such checkpoint (train first, or give a .pth path)')
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out {args.out}: the dump file must end in .pkl')
    setup_cache_size_limit_of_dynamo()
    cfg = config_from_args(args)
    cfg.load_from = args.checkpoint
    tta = use_tta(cfg, args.tta_ratios, args.config) if args.tta or args.tta_ratios else None
    if tta and is_main_process():
        print(tta_line(tta))
    metrics_cfg = coco_metrics(cfg.test_evaluator)
    if not metrics_cfg:
        raise ValueError(f'{args.config}: test_evaluator must be a CocoMetric (tools/test.py computes every '
                         f'metric from its COCO results), got {cfg.test_evaluator}')
    detections = osp.join(osp.abspath(cfg.work_dir), DETECTIONS)
    metrics_cfg[0].classwise = True
    metrics_cfg[0].outfile_prefix = detections
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
        cfg.default_hooks.visualization.score_thr = args.show_score_thr
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    if not is_main_process():
        return
    info = dataset_info(cfg, 'test')
    metainfo = runner.test_dataloader.dataset.metainfo
    run_analysis(metrics_cfg[0].get('ann_file') or info['ann_file'], detections + '.bbox.json', cfg.work_dir,
                 classes=metainfo['classes'], palette=metainfo.get('palette') or info['palette'],
                 img_root=None if args.no_pictures else info['img_root'], score_thr=args.score_thr,
                 evaluator=args.evaluator, num_ranked=args.num_ranked, num_predictions=args.num_pred_images,
                 train_dir=osp.dirname(osp.abspath(args.checkpoint)), metrics_name='metrics_test',
                 max_dets=info['max_dets'],
                 extra={'config': args.config, 'checkpoint': args.checkpoint, 'tta': tta,
                        'raw': {k: float(v) for k, v in metrics.items()}})


if __name__ == '__main__':
    test(build_parser().parse_args())
