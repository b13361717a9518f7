"""Evaluate a checkpoint: COCO bbox mAP and per-class AP, saved to WORK_DIR/metrics_test.json.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir show] [--out results.pkl]
"""
import argparse
import os.path as osp

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from custom.cli import add_common_args, load_config
from custom.evaluation import format_summary, save_json, summarize_coco_metrics


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='also dump raw predictions to this .pkl file')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='save images with ground truth (left) and predictions '
                        '(right) to WORK_DIR/<timestamp>/SHOW_DIR')
    parser.add_argument('--show-score-thr', type=float, default=0.3,
                        help='draw predicted boxes scoring at least this (default 0.3)')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each shown image stays')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'{args.checkpoint}: no such checkpoint (train first, or give a .pth path)')
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out {args.out}: the dump file must end in .pkl')
    setup_cache_size_limit_of_dynamo()
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.test_evaluator.classwise = True
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
        cfg.default_hooks.visualization.score_thr = args.show_score_thr
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    summary = summarize_coco_metrics(metrics, runner.test_dataloader.dataset.metainfo['classes'])
    summary.update(config=args.config, checkpoint=args.checkpoint)
    path = save_json(summary, osp.join(cfg.work_dir, 'metrics_test.json'))
    print(format_summary(summary))
    print(f'metrics saved to {path}')


if __name__ == '__main__':
    main()
