"""Launch settings shared by the train and test entry points: mmdet's common arguments, a config set up
from them, CPU DDP and mixed precision."""
from __future__ import annotations

import argparse
import inspect
import os
import os.path as osp
import warnings

from mmengine.config import Config, DictAction

from custom.engine.config import read_config, replace_type


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


def setup_cpu_ddp(cfg: Config) -> None:
    """DDP over CPU processes started by torchrun: gloo, and no CUDA device calls.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` while initialising the process group and
    gives DDP ``device_ids=[LOCAL_RANK]``; both fail without GPUs. The process group is made
    here (mmengine then leaves it alone) and the wrapper gets ``device_ids=None``. SyncBN is
    GPU-only, so on CPUs each process keeps its own BatchNorm statistics.
    """
    replace_type(cfg.model, ('SyncBN',), 'BN')
    from mmdet.registry import MODELS
    detector = MODELS.get(cfg.model.get('type', ''))
    if detector is not None and 'use_syncbn' in inspect.signature(detector).parameters:
        cfg.model.use_syncbn = False  # RTMDet converts its BatchNorms itself when world size > 1
    import torch
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))


def use_mixed_precision(cfg: Config, cuda: bool) -> None:
    """``--amp``: mmengine's fp16 ``AmpOptimWrapper`` (dynamic loss scale) on a GPU, bf16 autocast
    (``CPUBf16OptimWrapper``, forced on) on a CPU, where ``AmpOptimWrapper`` refuses to run."""
    if cuda:
        cfg.optim_wrapper.update(type='AmpOptimWrapper', loss_scale='dynamic')
        cfg.optim_wrapper.pop('enabled', None)  # CPUBf16OptimWrapper's switch, unknown to AmpOptimWrapper
    else:
        cfg.optim_wrapper.update(type='CPUBf16OptimWrapper', enabled=True)
        cfg.optim_wrapper.pop('loss_scale', None)


def config_from_args(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply ``--cfg-options``, ``--launcher`` and ``--work-dir``."""
    # mmdet 3.3 calls the deprecated torch.cuda.amp.autocast at every forward: one warning an epoch
    warnings.filterwarnings('ignore', message=r'`torch\.cuda\.amp\.autocast', category=FutureWarning)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = read_config(args.config)
    cfg.launcher = args.launcher
    if args.launcher == 'pytorch':
        import torch
        if not torch.cuda.is_available():
            setup_cpu_ddp(cfg)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
