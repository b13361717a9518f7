"""Train a detector: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]``.

The same entry point runs as ``python -m custom.apis.train`` (see :func:`custom.apis.entry_command`).

Before training it checks the config, the annotation files, the images, the work dir and the
free disk (``--preflight``), and stops with every problem named. ``--resume`` without a value
continues from the newest complete checkpoint in the work dir; a checkpoint to resume that is
unreadable, or was trained with other classes or another model, is refused before training.
An image that fails to load during training stops it with the file named (no DataLoader traceback).

Pretrained weights (``--weights``, :mod:`custom.engine.weights`): the config's own by default,
downloaded into the torch hub cache before training when missing; with no network and no cached
file it stops before training, naming the URL, the cache path and ``--weights none`` / ``PATH``.
"""
from __future__ import annotations

import argparse
import sys

import torch
from mmdet.utils import register_all_modules, setup_cache_size_limit_of_dynamo
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from custom.engine.checkpoint import CheckpointError
from custom.engine.checkpoint_files import find_resume_checkpoint
from custom.engine.hooks import PretrainedHeadHook, ProgressBarHook
from custom.engine.launch import add_common_args, config_from_args, use_mixed_precision
from custom.engine.preflight import FULL_DECODE_BYTES, SAMPLE_IMAGES, PreflightError, count_parameters, preflight
from custom.engine.resume_check import ResumeMismatchError, check_resume
from custom.engine.weights import (CONFIG, WeightsUnavailableError, drop_pretrained_inits, ensure_weights,
                                   select_weights)
from custom.models.loading import ImageLoadError, image_load_message, use_checked_image_loading


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``tools/train.py`` (mmdet's, plus --preflight and --tensorboard)."""
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 with loss scaling on a GPU, bf16 autocast on a CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by (total batch size / auto_scale_lr.base_batch_size)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or without a value from the latest checkpoint in the work dir')
    parser.add_argument('--preflight', choices=['sample', 'full', 'off'], default='sample',
                        help='before training, check that every image exists and decode them all when they '
                        f'total at most {FULL_DECODE_BYTES // 2**20} MiB, else {SAMPLE_IMAGES} a split (sample, '
                        'the default); decode all (full); or '
                        'look at no image (off); annotation files, classes, work dir and disk are always checked')
    parser.add_argument('--weights', default=CONFIG, metavar='config|none|PATH|URL',
                        help='pretrained weights: the config\'s (default; a COCO detector for every config not '
                        'named scratch, downloaded once into the torch hub cache), none (train from scratch), '
                        'or a checkpoint file/URL to fine-tune from')
    parser.add_argument('--seed', type=int, help='random seed (default: the config\'s randomness.seed or random)')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic algorithms (same seed -> same run on the same machine; slower on GPU)')
    parser.add_argument('--tensorboard', action='store_true',
                        help='also log scalars for TensorBoard (work_dir/<timestamp>/vis_data)')
    add_common_args(parser)
    return parser


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


def use_pretrained_weights(cfg, config: str) -> None:
    """Make the run's pretrained files local (or stop, naming them), say which weights it starts from,
    and have a fine-tuning run re-initialise the layers that differ (:class:`PretrainedHeadHook`)."""
    sources = ensure_weights(cfg, config)
    for source in sources:
        print(f'weights: {source.key} = {source.path}' + (f' ({source.url})' if source.url else ''), flush=True)
    if not sources:
        print('weights: none, training from scratch', flush=True)
    if cfg.get('load_from'):
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type=PretrainedHeadHook.__name__)]


def train(args: argparse.Namespace) -> None:
    """Check, then train ``args.config`` with MMEngine's Runner (``args`` from :func:`build_parser`)."""
    setup_cache_size_limit_of_dynamo()
    cfg = config_from_args(args)
    if args.seed is not None or args.deterministic:
        cfg.randomness = dict(cfg.get('randomness') or {}, deterministic=args.deterministic,
                              **({'seed': args.seed} if args.seed is not None else {}))
    if args.tensorboard:
        cfg.visualizer.vis_backends = [*cfg.visualizer.get('vis_backends', []), dict(type='TensorboardVisBackend')]
    register_all_modules(init_default_scope=False)
    try:
        notes = preflight(cfg, count_parameters(cfg.model), images=args.preflight)
    except PreflightError as err:
        sys.exit(f'error: {args.config}: {err}')
    for note in notes:
        print(f'preflight: {note}', flush=True)
    for key in cfg.keys():  # an image that fails to load names itself: ImageLoadError
        use_checked_image_loading(cfg[key])
    if args.amp:
        use_mixed_precision(cfg, cuda=torch.cuda.is_available())
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError(f'{args.config}: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if not any(h.get('type') == ProgressBarHook.__name__ for h in cfg.get('custom_hooks', [])):
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type=ProgressBarHook.__name__)]  # on a terminal
    select_weights(cfg, args.weights)
    apply_resume(cfg, args.resume)
    try:
        if cfg.get('resume') and cfg.get('load_from'):
            check_resume(cfg, cfg.load_from)
            drop_pretrained_inits(cfg.model)  # every weight comes from the checkpoint
        else:
            use_pretrained_weights(cfg, args.config)
    except ResumeMismatchError as err:
        sys.exit(f'error: {args.config}: {err}')
    except (CheckpointError, FileNotFoundError, WeightsUnavailableError) as err:
        sys.exit(f'error: {err}')
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    try:
        runner.train()
    except CheckpointError as err:  # an unreadable load_from (fine-tuning)
        sys.exit(f'error: {err}')
    except ImageLoadError as err:  # raised in a DataLoader worker, re-raised here with its traceback
        sys.exit(f'error: {image_load_message(err)}')


if __name__ == '__main__':
    train(build_parser().parse_args())
