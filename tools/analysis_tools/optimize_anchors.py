"""Fit a YOLOv3 config's anchors to its training boxes (mmdet's k-means), ready to paste into the config.

    python tools/analysis_tools/optimize_anchors.py CONFIG [--input-shape W H] [--iters 1000] [--seed 0]
        [--device cpu] [--out anchors.json] [--cfg-options ...]

The boxes are scaled as the test pipeline's keep-ratio Resize scales them (or to --input-shape).
Prints the boxes' mean best IoU with the config's anchors and with the fitted ones, the fitted
``base_sizes`` per level, how many anchors the config's assigner (YOLOv3's GridAssigner) makes
positive a box with either set, and the ``--cfg-options`` item that trains with them; --out writes
the same as JSON. Whether fitted anchors train a better model is for val to say (docs/benchmarks.md).
The work is done by :mod:`custom.models.anchors`.
"""
import argparse
import json
import sys
from dataclasses import asdict

from mmengine.config import DictAction

from custom.engine.checkpoint_files import atomic_write
from custom.engine.config import read_config
from custom.models.anchors import (AnchorError, count_positives, fit_yolo_anchors, training_dataset,
                                   yolo_anchor_generator)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Fit YOLO anchors to a config\'s training boxes (k-means)')
    parser.add_argument('config')
    parser.add_argument('--input-shape', type=int, nargs=2, metavar=('W', 'H'),
                        help='input size the boxes are scaled to (default: the test pipeline\'s Resize scale)')
    parser.add_argument('--iters', type=int, default=1000, help='most k-means iterations (default 1000)')
    parser.add_argument('--seed', type=int, default=0, help='k-means start (default 0; same seed, same anchors)')
    parser.add_argument('--device', default='cpu', help='where the IoUs are computed (default cpu)')
    parser.add_argument('--out', help='also write the result as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = read_config(args.config, args.cfg_options)
    except FileNotFoundError as exc:
        sys.exit(f'error: {exc}')
    try:
        yolo_anchor_generator(cfg)  # before the dataset is read
        dataset = training_dataset(cfg)
        fitted = fit_yolo_anchors(cfg, args.input_shape, args.iters, args.seed, args.device, dataset)
        positives = count_positives(cfg, fitted, dataset)
    except AnchorError as exc:
        sys.exit(f'error: {args.config}: {exc}')
    width, height = fitted.input_shape
    print(f'{fitted.num_boxes} training boxes at {width}x{height}: mean best IoU {fitted.config_mean_iou:.3f} with '
          f'the config\'s anchors, {fitted.mean_iou:.3f} with the fitted ones')
    strides = cfg.model.bbox_head.anchor_generator.get('strides') or [None] * len(fitted.base_sizes)
    for stride, level in zip(strides, fitted.base_sizes):
        print(f'  stride {stride}: ' + ' '.join(f'({w}, {h})' for w, h in level))
    if positives:
        print(f'positive anchors a box (the config\'s GridAssigner, pos_iou_thr {positives.pos_iou_thr}): '
              f'{positives.config_anchors:.2f} with the config\'s anchors, {positives.fitted_anchors:.2f} with the '
              f'fitted ones; {positives.fitted_at_matching:.2f} with the fitted ones at pos_iou_thr '
              f'{positives.matching_thr}')
    print(f'train with them:\n  --cfg-options "{fitted.cfg_option()}"')
    if args.out:
        atomic_write(args.out, json.dumps(
            {'config': args.config, 'input_shape': list(fitted.input_shape), 'boxes': fitted.num_boxes,
             'base_sizes': fitted.base_sizes, 'mean_iou': round(fitted.mean_iou, 4),
             'config_mean_iou': round(fitted.config_mean_iou, 4), 'seed': args.seed,
             'positives_per_box': positives and {k: round(v, 4) for k, v in asdict(positives).items()}},
            indent=1).encode())
        print(f'written: {args.out}')


if __name__ == '__main__':
    main()
