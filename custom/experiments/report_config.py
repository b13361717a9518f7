"""What a trained config says about a model (:class:`Recipe`): optimizer, losses, architecture, regularisation,
schedule.

Reads only the config dict (a dumped ``vis_data/config.py``), never builds the model: nothing
here imports torch, mmengine or mmdet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from custom.engine.config import dataset_levels, innermost_dataset, step_type

NOT_AUGMENTATION = ('Pad', 'FilterAnnotations', 'Resize', 'FixShapeResize')  # besides loading and packing
WARMUP_TYPES = ('LinearLR', 'QuadraticWarmupLR', 'QuadraticWarmupParamScheduler', 'ConstantLR')
_SCHEDULER_KEYS = ('milestones', 'step_size', 'gamma', 'T_max', 'eta_min', 'eta_min_ratio', 'start_factor',
                   'end_factor', 'factor', 'power')
_BACKBONE_KEYS = ('arch', 'depth', 'deepen_factor', 'widen_factor')


@dataclass(frozen=True)
class Loss:
    """One ``loss_*`` setting of the model: its key (path under ``model``, ``bbox_head.`` dropped), type, weight."""
    key: str
    type: str
    weight: float | None


@dataclass(frozen=True)
class Recipe:
    """The facts of one config the report answers from; text fields are ``'-'`` where the config has nothing."""
    optimizer: str
    lr: float | None
    momentum: str
    weight_decay: float | None
    decay_multipliers: str          # paramwise_cfg's norm / bias decay multipliers ('' when none)
    wrapper: str
    grad_clip: str
    losses: tuple[Loss, ...]
    detector: str
    backbone: str
    neck: str
    head: str
    input_size: str
    augmentations: tuple[str, ...]
    pipeline_switch: str            # PipelineSwitchHook ('' when none)
    save_best: str
    ema: str
    early_stopping: str
    batch_size: int | None
    epochs: str
    max_epochs: int | None
    schedule: tuple[str, ...]
    warmup: str
    auto_scale_lr: str

    @property
    def architecture(self) -> str:
        """``'YOLOV3 (MobileNetV2 + YOLOV3Neck + YOLOV3Head)'``: detector (backbone + neck + head)."""
        parts = [p for p in (self.backbone, self.neck, self.head) if p != '-']
        return f"{self.detector} ({' + '.join(parts)})" if parts else self.detector


def num(value: Any) -> str:
    """A config number as short text (``0.0005``, ``1e-05``, ``35``); ``'-'`` for ``None``."""
    if value is None:
        return '-'
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f'{value:g}'


def _type(node: Any) -> str:
    """A config dict's ``type`` without its scope; ``'-'`` when there is none."""
    return step_type(node) if isinstance(node, Mapping) and node.get('type') else '-'


def find_losses(node: Any, path: str = '') -> Iterator[Loss]:
    """Every ``loss_*`` dict with a ``type`` under ``node`` (nested dicts and lists), depth first."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            sub = f'{path}.{key}' if path else str(key)
            if str(key).startswith('loss_') and isinstance(value, Mapping) and value.get('type'):
                shown = sub[len('bbox_head.'):] if sub.startswith('bbox_head.') else sub
                weight = value.get('loss_weight')
                yield Loss(shown, _type(value), float(weight) if isinstance(weight, (int, float)) else None)
            else:
                yield from find_losses(value, sub)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from find_losses(value, f'{path}.{i}')


def built_in_losses(model: Mapping) -> tuple[Loss, ...]:
    """The losses SSDHead computes inline (it has no ``loss_*`` setting): softmax cross-entropy on hard
    negatives (``train_cfg.neg_pos_ratio``:1) and SmoothL1 (``train_cfg.smoothl1_beta``), summed; () otherwise."""
    head = model.get('bbox_head') or {}
    if not _type(head).endswith('SSDHead'):
        return ()
    train_cfg = model.get('train_cfg') or head.get('train_cfg') or {}
    return (Loss('loss_cls', f"cross-entropy, built in (hard negatives {num(train_cfg.get('neg_pos_ratio'))}:1)", 1.0),
            Loss('loss_bbox', f"SmoothL1, built in (beta {num(train_cfg.get('smoothl1_beta'))})", 1.0))


def _backbone(model: Mapping) -> str:
    backbone = model.get('backbone')
    if not isinstance(backbone, Mapping):
        return '-'
    details = ', '.join(f'{k} {num(backbone[k])}' for k in _BACKBONE_KEYS if backbone.get(k) is not None)
    return f'{_type(backbone)} ({details})' if details else _type(backbone)


def _neck(model: Mapping) -> str:
    neck = model.get('neck')
    if isinstance(neck, (list, tuple)):
        return ' + '.join(_type(n) for n in neck) or '-'
    return _type(neck)


def _head(model: Mapping) -> str:
    if isinstance(model.get('bbox_head'), Mapping):
        return _type(model['bbox_head'])
    heads = [_type(model[k]) for k in ('rpn_head', 'roi_head') if isinstance(model.get(k), Mapping)]
    return ' + '.join(heads) or '-'


def input_size(cfg: Any) -> str:
    """``'320x320'``: the scale of the first resize step of the test pipeline (``'-'`` when none)."""
    loader = cfg.get('test_dataloader') or {}
    pipeline = (innermost_dataset(loader.get('dataset')) or {}).get('pipeline') or cfg.get('test_pipeline') or []
    for step in pipeline:
        for key in ('scale', 'img_scale'):
            if 'Resize' in step_type(step) and step.get(key):
                scale = step[key]
                return 'x'.join(str(s) for s in scale) if isinstance(scale, (list, tuple)) else str(scale)
    return '-'


def augmentations(cfg: Any) -> tuple[str, ...]:
    """Train-pipeline transform types, inner dataset first then its wrappers (Mosaic, MixUp), other than
    loading, packing, fixed-size resizing, padding and annotation filtering."""
    levels = list(dataset_levels((cfg.get('train_dataloader') or {}).get('dataset')))
    steps = [s for _, level in reversed(levels) for s in (level.get('pipeline') or [])]
    out = []
    for step in steps:
        kind = step_type(step)
        if 'Load' in kind or kind.startswith('Pack') or kind in NOT_AUGMENTATION:
            continue
        out.append(kind)
    return tuple(out)


def _hooks(cfg: Any) -> list[Mapping]:
    default = cfg.get('default_hooks') or {}
    return [h for h in [*default.values(), *(cfg.get('custom_hooks') or [])] if isinstance(h, Mapping)]


def _scheduler_text(s: Mapping) -> str:
    args = [f'{k} {list(s[k]) if isinstance(s[k], (list, tuple)) else num(s[k])}' for k in _SCHEDULER_KEYS
            if s.get(k) is not None]
    if 'begin' in s or 'end' in s:
        unit = 'epochs' if s.get('by_epoch', True) else 'iters'
        args.append(f"{unit} {num(s.get('begin', 0))}-{num(s['end']) if 'end' in s else 'end'}")
    return f"{_type(s)} ({', '.join(args)})" if args else _type(s)


def _warmup(schedulers: Sequence[Mapping]) -> str:
    for s in schedulers:
        if _type(s) in WARMUP_TYPES and s.get('begin', 0) == 0 and s.get('end') is not None:
            unit = 'epochs' if s.get('by_epoch', True) else 'iterations'
            return f"{num(s['end'])} {unit}"
    return 'none'


def _epochs(cfg: Any) -> tuple[str, int | None]:
    loop = cfg.get('train_cfg') or {}
    if loop.get('max_epochs') is not None:
        return str(loop['max_epochs']), int(loop['max_epochs'])
    return (f"{loop['max_iters']} iters", None) if loop.get('max_iters') is not None else ('-', None)


def _optimizer(cfg: Any) -> dict[str, Any]:
    wrapper = cfg.get('optim_wrapper') or {}
    opt = wrapper.get('optimizer') or {}
    momentum = num(opt['momentum']) if 'momentum' in opt else (
        f"betas {tuple(opt['betas'])}" if 'betas' in opt else '-')
    clip = wrapper.get('clip_grad')
    grad_clip = 'none' if not clip else ', '.join(f'{k} {num(v)}' for k, v in clip.items())
    paramwise = wrapper.get('paramwise_cfg') or {}
    mults = ', '.join(f"{k[:-len('_decay_mult')]} ×{num(v)}" for k, v in paramwise.items()
                      if k.endswith('_decay_mult'))
    return {'optimizer': _type(opt), 'lr': opt.get('lr'), 'momentum': momentum,
            'weight_decay': opt.get('weight_decay'), 'decay_multipliers': mults,
            'wrapper': wrapper.get('type', 'OptimWrapper') if wrapper else '-', 'grad_clip': grad_clip}


def _regularisation(cfg: Any) -> dict[str, str]:
    hooks = _hooks(cfg)
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    save_best = checkpoint.get('save_best')
    ema = next((h for h in hooks if 'EMAHook' in _type(h)), None)
    stop = next((h for h in hooks if 'EarlyStopping' in _type(h) or 'Pruning' in _type(h)), None)
    switch = next((h for h in hooks if _type(h) == 'PipelineSwitchHook'), None)
    stop_args = ', '.join(f'{k} {num(stop[k])}' for k in ('monitor', 'metric', 'patience', 'warmup_epochs')
                          if stop and stop.get(k) is not None)
    return {'save_best': (f"{save_best} ({checkpoint.get('rule') or 'auto'})" if save_best else 'no'),
            'ema': (f"{_type(ema)} ({ema.get('ema_type', 'ExponentialMovingAverage')}, momentum "
                    f"{num(ema.get('momentum'))})" if ema else 'no'),
            'early_stopping': (f'{_type(stop)} ({stop_args})' if stop and stop_args else _type(stop) if stop
                               else 'no'),
            'pipeline_switch': (f"PipelineSwitchHook at epoch {switch.get('switch_epoch')}" if switch else '')}


def recipe(cfg: Any) -> Recipe:
    """The :class:`Recipe` of ``cfg`` (a config as :func:`custom.engine.config.read_config` returns)."""
    model = cfg.get('model') or {}
    schedulers = cfg.get('param_scheduler') or []
    schedulers = [schedulers] if isinstance(schedulers, Mapping) else list(schedulers)
    auto = cfg.get('auto_scale_lr')
    auto_text = '-' if not auto else (f"{'on' if auto.get('enable') else 'off'} (base batch "
                                      f"{num(auto.get('base_batch_size'))})")
    epochs, max_epochs = _epochs(cfg)
    losses = tuple(find_losses(model)) or built_in_losses(model)
    return Recipe(**_optimizer(cfg), losses=losses, detector=_type(model),
                  backbone=_backbone(model), neck=_neck(model), head=_head(model), input_size=input_size(cfg),
                  augmentations=augmentations(cfg), **_regularisation(cfg),
                  batch_size=(cfg.get('train_dataloader') or {}).get('batch_size'), epochs=epochs,
                  max_epochs=max_epochs, schedule=tuple(_scheduler_text(s) for s in schedulers),
                  warmup=_warmup(schedulers), auto_scale_lr=auto_text)
