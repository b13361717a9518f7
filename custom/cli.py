"""Argument and config handling shared by tools/train.py and tools/test.py (MMDetection-compatible)."""
from __future__ import annotations

import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local-rank`` as in mmdet's tools."""
    parser.add_argument('--work-dir', help='where logs, checkpoints and metrics go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_epochs=5 '
                        'train_dataloader.batch_size=4 (mmengine DictAction syntax)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher: pytorch for torchrun (DDP), slurm for srun')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply ``--cfg-options``, ``--launcher`` and ``--work-dir``."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'{args.config}: no such config file (configs live under configs/<dataset>/)')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.launcher != 'none' and not torch.cuda.is_available():
        cfg.env_cfg.dist_cfg = dict(backend='gloo')  # NCCL needs GPUs; gloo runs DDP on CPUs
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
