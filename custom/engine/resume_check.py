"""Before resuming: is the checkpoint one of this config's runs?

mmengine resumes any checkpoint whose tensors happen to fit (``strict=False``): a BCCD run resumes
into the face-mask config with one warning about the dataset's classes, then trains past its
last epoch (``eta: -1 day``). :func:`check_resume` refuses that before training starts, naming
both sides: classes (``meta['dataset_meta']``), model type and num_classes (the config text
mmengine stores in ``meta['cfg']``) and the weights' names and shapes.

Fine-tuning (``load_from`` without resume) legitimately loads another head and is not checked.
"""
from __future__ import annotations

from typing import Any, Mapping

from custom.engine.config import dataset_info

EXAMPLES = 2  # tensor names quoted per kind of difference


class ResumeMismatchError(RuntimeError):
    """The checkpoint to resume was trained with another dataset or model than the config's."""


def find_num_classes(node: Any) -> int | None:
    """The first ``num_classes`` in a model config (heads nest it: ``bbox_head``, ``roi_head.bbox_head``)."""
    if isinstance(node, Mapping):
        if isinstance(node.get('num_classes'), int):
            return node['num_classes']
        for value in node.values():
            found = find_num_classes(value)
            if found is not None:
                return found
    elif isinstance(node, (list, tuple)):
        for value in node:
            found = find_num_classes(value)
            if found is not None:
                return found
    return None


def saved_model_config(meta: Mapping) -> Mapping | None:
    """The ``model`` of the config text mmengine saved in a checkpoint's meta, or ``None``."""
    text = meta.get('cfg')
    if not isinstance(text, str) or 'model' not in text:
        return None
    from mmengine.config import Config
    try:
        return Config.fromstring(text, '.py').get('model')
    except Exception:  # noqa: BLE001  an unparsable or foreign config text: compare the rest
        return None


def shape_differences(saved: Mapping[str, Any], expected: Mapping[str, tuple]) -> list[str]:
    """Differences between the checkpoint's tensors (``saved``) and the config model's names/shapes."""
    differ = [k for k in expected if k in saved and tuple(saved[k].shape) != expected[k]]
    missing = [k for k in expected if k not in saved]
    extra = [k for k in saved if k not in expected]
    found = []
    if differ:
        shown = ', '.join(f'{k}: checkpoint {tuple(saved[k].shape)}, config {expected[k]}' for k in differ[:EXAMPLES])
        found.append(f'{len(differ)} tensors differ in shape (e.g. {shown})')
    if missing:
        found.append(f'{len(missing)} tensors of the config model are not in the checkpoint '
                     f'(e.g. {", ".join(missing[:EXAMPLES])})')
    if extra:
        found.append(f'{len(extra)} tensors of the checkpoint are not in the config model '
                     f'(e.g. {", ".join(extra[:EXAMPLES])})')
    return found


def resume_problems(cfg: Any, checkpoint: Mapping, expected_shapes: Mapping[str, tuple]) -> list[str]:
    """How ``checkpoint`` (a loaded mmengine checkpoint) differs from ``cfg``, both sides named.

    ``expected_shapes``: tensor name -> shape of the model ``cfg`` builds (:func:`model_shapes`).
    """
    meta = checkpoint.get('meta') or {}
    problems = []
    saved_classes = (meta.get('dataset_meta') or {}).get('classes')
    classes = dataset_info(cfg, 'train')['classes']
    if saved_classes is not None and classes is not None and tuple(saved_classes) != tuple(classes):
        problems.append(f'classes: checkpoint {list(saved_classes)}, config {list(classes)}')
    saved_model = saved_model_config(meta)
    if saved_model is not None:
        if saved_model.get('type') != cfg.model.get('type'):
            problems.append(f"model type: checkpoint {saved_model.get('type')}, config {cfg.model.get('type')}")
        saved_n, config_n = find_num_classes(saved_model), find_num_classes(cfg.model)
        if saved_n != config_n:
            problems.append(f'num_classes: checkpoint {saved_n}, config {config_n}')
    differences = shape_differences(checkpoint.get('state_dict') or {}, expected_shapes)
    if differences:
        problems.append('weights: ' + '; '.join(differences))
    return problems


def model_shapes(model_cfg: Any) -> dict[str, tuple]:
    """Tensor name -> shape of the state dict of the model ``model_cfg`` builds (on the meta device)."""
    from custom.engine.preflight import build_on_meta
    return {k: tuple(v.shape) for k, v in build_on_meta(model_cfg).state_dict().items()}


def check_resume(cfg: Any, path: str) -> None:
    """Raise :class:`ResumeMismatchError` if ``path`` was trained with another dataset or model than ``cfg``.

    A file that is no checkpoint raises :class:`custom.engine.checkpoint.CheckpointError` naming it.
    """
    from custom.engine.checkpoint import load_local_checkpoint  # torch: only when a checkpoint is read
    checkpoint = load_local_checkpoint(path, map_location='cpu')
    problems = resume_problems(cfg, checkpoint, model_shapes(cfg.model))
    if problems:
        raise ResumeMismatchError(
            f'refusing to resume from {path}: it was not trained with this config:\n  - ' + '\n  - '.join(problems)
            + f'\n  resume with the config it was trained with, or train this config in a new work dir '
              f'starting from its weights: --weights {path} (without --resume)')
