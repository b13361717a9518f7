"""Does a checkpoint fit a config's model, and which class names and colours go with it?

mmengine's ``load_checkpoint`` is not strict: a checkpoint of another dataset loads with a warning
about the tensors it could not place, and the detector then predicts with a randomly initialised
head. Inference refuses that instead, naming both sides (:func:`fit_problems`).

Class names and palette come from the checkpoint's ``meta['dataset_meta']`` (what it was trained
on) when present, else from the config's test dataset ``metainfo``; never from COCO.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

from custom.engine.config import dataset_info
from custom.engine.resume_check import find_num_classes, saved_model_config, shape_differences
from custom.inference.errors import CheckpointMismatchError, SetupError


class ClassInfo(NamedTuple):
    """Class names in label order, their palette (RGB tuples, may be empty) and where the names came from."""

    classes: tuple[str, ...]
    palette: list[tuple[int, int, int]]
    source: str


def state_dict_of(checkpoint: Mapping) -> dict[str, Any]:
    """The model weights of a loaded checkpoint (``state_dict``, or the mapping itself), ``module.`` prefixes
    of a distributed wrapper removed."""
    state = checkpoint['state_dict'] if 'state_dict' in checkpoint else checkpoint
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def fit_problems(checkpoint: Mapping, expected_shapes: Mapping[str, tuple], model_cfg: Mapping) -> list[str]:
    """How a loaded checkpoint differs from the model ``model_cfg`` builds (``expected_shapes``: its state
    dict's names -> shapes); empty when it fits."""
    meta = checkpoint.get('meta') or {}
    config_n = find_num_classes(model_cfg)
    saved_model = saved_model_config(meta)
    saved_n = find_num_classes(saved_model) if saved_model is not None else None
    saved_classes = (meta.get('dataset_meta') or {}).get('classes')
    problems = []
    if saved_n is not None and config_n is not None and saved_n != config_n:
        problems.append(f'num_classes: checkpoint {saved_n}, config {config_n}')
    elif saved_classes is not None and config_n is not None and len(saved_classes) != config_n:
        problems.append(f'classes: the checkpoint was trained on {len(saved_classes)} classes '
                        f'{list(saved_classes)}, the config model has num_classes={config_n}')
    if saved_model is not None and saved_model.get('type') != model_cfg.get('type'):
        problems.append(f"model type: checkpoint {saved_model.get('type')}, config {model_cfg.get('type')}")
    differences = shape_differences(state_dict_of(checkpoint), expected_shapes)
    if differences:
        problems.append('weights: ' + '; '.join(differences))
    return problems


def check_fit(checkpoint: Mapping, expected_shapes: Mapping[str, tuple], model_cfg: Mapping,
              checkpoint_path: str, config_path: str) -> None:
    """Raise :class:`CheckpointMismatchError` naming both files and every difference unless the checkpoint fits."""
    problems = fit_problems(checkpoint, expected_shapes, model_cfg)
    if problems:
        raise CheckpointMismatchError(
            f'{checkpoint_path} does not fit {config_path} (it was trained with another model or dataset):\n  - '
            + '\n  - '.join(problems) + '\n  run it with the config it was trained with')


def class_info(meta: Mapping, cfg: Any, num_classes: int | None, checkpoint_path: str,
               config_path: str) -> ClassInfo:
    """Class names and palette for a checkpoint's predictions (see the module docstring).

    Raises :class:`custom.inference.errors.SetupError` naming the files when neither side names the
    classes, or when their number is not the model's ``num_classes``.
    """
    dataset_meta = {str(k).lower(): v for k, v in (meta.get('dataset_meta') or {}).items()}
    info = dataset_info(cfg, 'test')
    if dataset_meta.get('classes'):
        classes, palette = tuple(dataset_meta['classes']), dataset_meta.get('palette') or info['palette']
        source = f'{checkpoint_path} (meta dataset_meta)'
    elif info['classes']:
        classes, palette, source = info['classes'], info['palette'], f'{config_path} (test_dataloader metainfo)'
    else:
        raise SetupError(f'no class names: neither {checkpoint_path} (meta dataset_meta) nor {config_path} '
                         f'(test_dataloader.dataset.metainfo.classes) gives them')
    if num_classes is not None and len(classes) != num_classes:
        raise SetupError(f'{source} names {len(classes)} classes {list(classes)} but the model has '
                         f'num_classes={num_classes}')
    colours = palette if isinstance(palette, (list, tuple)) else []  # mmdet also allows names such as 'random'
    return ClassInfo(classes, [tuple(int(v) for v in c) for c in colours], source)


def class_note(info: ClassInfo, config_classes: Sequence[str] | None) -> str | None:
    """A line when the checkpoint's class names differ from the config's (the checkpoint's are used)."""
    if config_classes and tuple(config_classes) != info.classes:
        return f'class names from {info.source}: {list(info.classes)} (the config names {list(config_classes)})'
    return None
