"""Train a detector: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]``.

Before training it checks the config, the annotation files, a sample of the images, the work
dir and the free disk (``--preflight``), and stops with every problem named. ``--resume``
without a value continues from the newest complete checkpoint in the work dir.
"""
from __future__ import annotations

import argparse
import sys

import torch
from mmdet.utils import register_all_modules, setup_cache_size_limit_of_dynamo
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from custom.checkpoint import find_resume_checkpoint
from custom.cli import add_common_args, load_config, use_mixed_precision
from custom.hooks import ProgressBarHook
from custom.preflight import PreflightError, count_parameters, preflight


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 with loss scaling on a GPU, bf16 autocast on a CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by (total batch size / auto_scale_lr.base_batch_size)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or without a value from the latest checkpoint in the work dir')
    parser.add_argument('--preflight', choices=['sample', 'full', 'off'], default='sample',
                        help='before training, decode a sample of each split\'s images (default), all of '
                        'them, or none; annotation files, classes, work dir and disk are always checked')
    parser.add_argument('--seed', type=int, help='random seed (default: the config\'s randomness.seed or random)')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic algorithms (same seed -> same run on the same machine; slower on GPU)')
    parser.add_argument('--tensorboard', action='store_true',
                        help='also log scalars for TensorBoard (work_dir/<timestamp>/vis_data)')
    add_common_args(parser)
    return parser.parse_args(argv)


def apply_resume(cfg, resume: str | None) -> None:
    """``--resume`` (latest complete checkpoint of the work dir) or ``--resume CKPT``."""
    if resume is None:
        return
    if resume != 'auto':
        cfg.resume, cfg.load_from = True, resume
        return
    checkpoint, notes = find_resume_checkpoint(cfg.work_dir)
    for note in notes:
        print(f'resume: {note}', flush=True)
    if checkpoint is None:
        print(f'resume: no checkpoint in {cfg.work_dir}: training starts from the beginning', flush=True)
    else:
        cfg.resume, cfg.load_from = True, checkpoint


def main(argv=None):
    args = parse_args(argv)
    setup_cache_size_limit_of_dynamo()
    cfg = load_config(args)
    if args.seed is not None or args.deterministic:
        cfg.randomness = dict(cfg.get('randomness') or {}, deterministic=args.deterministic,
                              **({'seed': args.seed} if args.seed is not None else {}))
    if args.tensorboard:
        cfg.visualizer.vis_backends = [*cfg.visualizer.get('vis_backends', []), dict(type='TensorboardVisBackend')]
    register_all_modules(init_default_scope=False)
    try:
        preflight(cfg, count_parameters(cfg.model), images=args.preflight)
    except PreflightError as err:
        sys.exit(f'error: {args.config}: {err}')
    if args.amp:
        use_mixed_precision(cfg, cuda=torch.cuda.is_available())
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError(f'{args.config}: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if not any(h.get('type') == ProgressBarHook.__name__ for h in cfg.get('custom_hooks', [])):
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type=ProgressBarHook.__name__)]  # on a terminal
    apply_resume(cfg, args.resume)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
