"""``--cfg-options`` that train a config for fewer (or more) epochs with its whole schedule kept."""
from __future__ import annotations

from typing import Any, Mapping


def scale_epoch(value: int, epochs: int, max_epochs: int) -> int:
    """An epoch index of a ``max_epochs`` schedule moved to the same place in an ``epochs`` one."""
    return int(round(value * epochs / max_epochs))


def schedule_options(cfg: Any, epochs: int) -> list[str]:
    """``--cfg-options`` that train ``cfg`` for ``epochs`` with its schedule compressed to fit.

    Only ``train_cfg.max_epochs`` changing would cut the schedule short (an un-annealed cosine,
    LR steps and the no-mosaic stage never reached), because configs compute those from
    ``max_epochs`` when they are read. So epoch-based scheduler ``begin``/``end``/``T_max``/
    ``milestones`` and ``PipelineSwitchHook.switch_epoch`` are scaled by ``epochs / max_epochs``;
    iteration-based warm-ups stay; ``dynamic_intervals`` is dropped; ``val_interval`` is capped at
    ``epochs`` so that training validates at least once.
    """
    old = int(cfg.train_cfg.max_epochs)
    opts = [f'train_cfg.max_epochs={epochs}']
    if epochs == old:
        return opts
    if int(cfg.train_cfg.get('val_interval', 1)) > epochs:
        opts.append(f'train_cfg.val_interval={epochs}')
    if cfg.train_cfg.get('dynamic_intervals'):
        opts.append('train_cfg.dynamic_intervals=None')
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, Mapping):
        schedulers = [schedulers]
    for i, sched in enumerate(schedulers):
        if not sched.get('by_epoch', True):
            continue
        for key in ('begin', 'T_max'):
            if key in sched:
                opts.append(f'param_scheduler.{i}.{key}={scale_epoch(sched[key], epochs, old)}')
        if 'end' in sched and sched['end'] <= old:
            opts.append(f'param_scheduler.{i}.end={scale_epoch(sched["end"], epochs, old)}')
        if 'milestones' in sched:
            milestones = ','.join(str(scale_epoch(m, epochs, old)) for m in sched['milestones'])
            opts.append(f'param_scheduler.{i}.milestones=[{milestones}]')
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if hook.get('type') == 'PipelineSwitchHook':
            opts.append(f'custom_hooks.{i}.switch_epoch={scale_epoch(hook["switch_epoch"], epochs, old)}')
    return opts
