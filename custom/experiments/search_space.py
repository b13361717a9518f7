"""Hyper-parameter search spaces and how a sampled point changes a config.

A space maps a parameter name to a spec: ``type`` (``float``, ``int`` or ``categorical``) with
``low``/``high`` (and ``log``, ``step``) or ``choices``; ``key`` (a dotted config key) for any
parameter beyond the six built-in ones, which know where they go:

* ``lr``, ``weight_decay``: ``optim_wrapper.optimizer.lr`` / ``.weight_decay``;
* ``batch_size``: ``train_dataloader.batch_size``;
* ``epochs``: ``train_cfg.max_epochs`` with the schedule compressed to fit
  (:func:`custom.benchmark.schedule.schedule_options`);
* ``input_size``: every image size in the pipelines (train, val, test, the second-stage and TTA
  pipelines: ``scale``, ``img_scale``, ``crop_size``, ``size``) times ``input_size / test size``,
  rounded to multiples of 32;
* ``aug_strength``: a multiplier of the augmentation ranges (1 = the recipe's): ``Expand`` and
  ``RandomResize`` ratio ranges, ``PhotoMetricDistortion`` and ``YOLOXHSVRandomAug`` deltas,
  ``CachedMixUp``/``MixUp`` probability.

:func:`default_space` derives a space from a config's own values (its lr, weight decay, batch
size, epochs and test size in the middle of each range).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator, Mapping

from custom.experiments import ExperimentError

BUILT_IN = ('lr', 'weight_decay', 'batch_size', 'epochs', 'input_size', 'aug_strength')
SIZE_KEYS = ('scale', 'img_scale', 'crop_size', 'size')
SIZE_STEP = 32
TYPES = ('float', 'int', 'categorical')


def load_space(path: str | Path) -> dict[str, dict]:
    """The space of a YAML file (name -> spec), checked; :class:`ExperimentError` naming the file and entry."""
    import yaml
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ExperimentError(f'{path}: cannot read the search space ({err})') from None
    if not isinstance(data, dict) or not data:
        raise ExperimentError(f'{path}: a search space is a mapping of parameter name -> spec, e.g. '
                              f'"lr: {{type: float, low: 0.001, high: 0.01, log: true}}"')
    for name, spec in data.items():
        check_spec(name, spec, str(path))
    return data


def check_spec(name: str, spec: Any, where: str) -> None:
    """:class:`ExperimentError` unless ``spec`` is a usable spec for parameter ``name``."""
    if not isinstance(spec, dict) or spec.get('type') not in TYPES:
        raise ExperimentError(f'{where}: {name}: give type: float, int or categorical')
    if spec['type'] == 'categorical':
        if not spec.get('choices'):
            raise ExperimentError(f'{where}: {name}: a categorical parameter needs choices: [...]')
    elif 'low' not in spec or 'high' not in spec or not spec['low'] < spec['high']:
        raise ExperimentError(f'{where}: {name}: needs low < high')
    elif spec.get('log') and spec['low'] <= 0:
        raise ExperimentError(f'{where}: {name}: log: true needs low > 0')
    if name not in BUILT_IN and not spec.get('key'):
        raise ExperimentError(f'{where}: {name}: not one of {", ".join(BUILT_IN)}, so it needs key: the dotted '
                              f'config key it sets (e.g. model.bbox_head.loss_cls.loss_weight)')


def suggest(trial: Any, space: Mapping[str, Mapping]) -> dict[str, Any]:
    """One value per parameter of ``space`` from an Optuna ``trial``."""
    params = {}
    for name, spec in space.items():
        if spec['type'] == 'categorical':
            params[name] = trial.suggest_categorical(name, list(spec['choices']))
        elif spec['type'] == 'int':
            params[name] = trial.suggest_int(name, int(spec['low']), int(spec['high']), step=int(spec.get('step', 1)),
                                             log=bool(spec.get('log')))
        else:
            params[name] = trial.suggest_float(name, float(spec['low']), float(spec['high']),
                                               step=spec.get('step'), log=bool(spec.get('log')))
    return params


def test_size(cfg: Any) -> int:
    """The longer side of the test pipeline's ``Resize`` scale (:func:`custom.engine.tta.resize_scale`)."""
    from custom.engine.config import innermost_dataset
    from custom.engine.tta import TTAConfigError, resize_scale
    try:
        return max(resize_scale(innermost_dataset(cfg.test_dataloader.dataset).pipeline))
    except TTAConfigError:
        raise ExperimentError('the test pipeline has no single Resize with a scale, so input_size does not apply; '
                              'leave it out of the space') from None


def _round(value: float) -> int:
    return max(SIZE_STEP, int(round(value / SIZE_STEP)) * SIZE_STEP)


def default_space(cfg: Any) -> dict[str, dict]:
    """A space around ``cfg``'s own lr, weight decay, batch size, epochs, test size and augmentation."""
    optimizer = cfg.optim_wrapper.optimizer
    lr, wd = float(optimizer.lr), float(optimizer.get('weight_decay', 0) or 0)
    batch, epochs = int(cfg.train_dataloader.batch_size), int(cfg.train_cfg.max_epochs)
    space: dict[str, dict] = {
        'lr': {'type': 'float', 'low': lr / 3, 'high': lr * 3, 'log': True},
        'weight_decay': {'type': 'float', 'low': wd / 10 if wd else 1e-6, 'high': wd * 10 if wd else 1e-3,
                         'log': True},
        'batch_size': {'type': 'categorical', 'choices': sorted({max(1, batch // 2), batch})},
        'epochs': {'type': 'categorical', 'choices': sorted({max(1, round(epochs * f)) for f in (0.5, 0.75, 1)})},
    }
    try:
        size = test_size(cfg)
        space['input_size'] = {'type': 'categorical', 'choices': sorted({_round(size * f) for f in (0.8, 1, 1.2)})}
    except ExperimentError:
        pass
    if any(True for _ in _augmentations(cfg)):
        space['aug_strength'] = {'type': 'float', 'low': 0.5, 'high': 1.5}
    return space


def _pipelines(cfg: Any) -> Iterator[list]:
    """Every pipeline list of ``cfg`` that images pass through (train, val, test, switch, TTA)."""
    from custom.engine.config import innermost_dataset
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader and loader.get('dataset'):
            yield innermost_dataset(loader.dataset).pipeline
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('switch_pipeline'):
            yield hook['switch_pipeline']
    if cfg.get('tta_pipeline'):
        yield cfg.tta_pipeline


def _steps(node: Any) -> Iterator[dict]:
    """Transform dicts in a pipeline, also inside TestTimeAug's nested ``transforms`` lists."""
    if isinstance(node, dict):
        if 'type' in node:
            yield node
        for value in node.values():
            if isinstance(value, (list, tuple)):
                yield from _steps(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _steps(item)


def _augmentations(cfg: Any) -> Iterator[dict]:
    from custom.engine.config import step_type
    for pipeline in _pipelines(cfg):
        for step in _steps(pipeline):
            if step_type(step) in ('Expand', 'RandomResize', 'PhotoMetricDistortion', 'YOLOXHSVRandomAug',
                                   'CachedMixUp', 'MixUp') and (step_type(step) != 'RandomResize'
                                                                or step.get('ratio_range')):
                yield step


def _scale_size(value: Any, ratio: float) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return type(value)(_round(v * ratio) for v in value)
    return value


def _spread(pair: Any, s: float, centre: float = 1.0) -> tuple:
    low, high = pair
    return (centre - s * (centre - low), centre + s * (high - centre))


def _strengthen(step: dict, s: float) -> None:
    from custom.engine.config import step_type
    kind = step_type(step)
    if kind in ('Expand', 'RandomResize'):
        step['ratio_range'] = _spread(step['ratio_range'], s)
    elif kind == 'PhotoMetricDistortion':
        step['brightness_delta'] = int(round(step.get('brightness_delta', 32) * s))
        for key in ('contrast_range', 'saturation_range'):
            step[key] = _spread(step.get(key, (0.5, 1.5)), s)
        step['hue_delta'] = int(round(step.get('hue_delta', 18) * s))
    elif kind == 'YOLOXHSVRandomAug':
        for key, default in (('hue_delta', 5), ('saturation_delta', 30), ('value_delta', 30)):
            step[key] = int(round(step.get(key, default) * s))
    elif kind in ('CachedMixUp', 'MixUp'):
        step['prob'] = min(1.0, step.get('prob', 1.0) * s)


def apply_params(cfg: Any, params: Mapping[str, Any], space: Mapping[str, Mapping]) -> Any:
    """A copy of ``cfg`` (an mmengine Config) with ``params`` set (``space`` gives the ``key`` of parameters
    beyond the built-in ones); ``cfg`` is left as it was."""
    from custom.benchmark.schedule import schedule_options
    from custom.engine.config import parse_cfg_options
    new = copy.deepcopy(cfg)
    options: list[str] = []
    for name, value in params.items():
        if name == 'lr':
            new.optim_wrapper.optimizer.lr = float(value)
        elif name == 'weight_decay':
            new.optim_wrapper.optimizer.weight_decay = float(value)
        elif name == 'batch_size':
            new.train_dataloader.batch_size = int(value)
        elif name == 'epochs':
            options += schedule_options(cfg, int(value))
        elif name == 'input_size':
            ratio = int(value) / test_size(cfg)
            for pipeline in _pipelines(new):
                for step in _steps(pipeline):
                    for key in SIZE_KEYS:
                        if key in step:
                            step[key] = _scale_size(step[key], ratio)
        elif name == 'aug_strength':
            for step in _augmentations(new):
                _strengthen(step, float(value))
        else:
            new.merge_from_dict({space[name]['key']: value})
    if options:
        new.merge_from_dict(parse_cfg_options(options))
    return new
