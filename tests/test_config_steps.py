"""Every config trains one iteration and validates one batch through its real pipelines.

The data is a tiny COCO set written to tmp_path with the config's own classes (two 160x120
JPEGs, a box of every class on each), reached through the config's data-root variable
(BCCD_ROOT / FACE_MASK_ROOT) exactly as a user would. Only what needs the network is turned
off: ImageNet `Pretrained` initialisation and `load_from`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner, set_random_seed

from conftest import REPO
from custom.engine.config import innermost_dataset
from custom.engine.weights import drop_pretrained_inits

CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
ROOT_VARIABLES = ('BCCD_ROOT', 'FACE_MASK_ROOT')  # every dataset base's data-root env var
# one train step takes over 20 s on a CPU thread (RetinaNet at 1333x800: ~30 s); all others 1-8 s
SLOW = {'retinanet_r50_fpn_1xb8-24e_bccd.py', 'retinanet_r50_fpn_1xb8-24e_face_mask.py'}
IMAGES = {'a.jpg': 20, 'b.jpg': 55}  # file name -> top of its row of boxes
REPEAT = 3  # train.json lists the two images 3 times: CachedMosaic mixes only once it holds 5


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Batches of two small images gain little from intra-op threads, while on a busy 2-core machine
    spinning thread pools make a step 10-100x slower; the setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _write_dataset(root: Path, classes: tuple[str, ...]) -> None:
    """COCO train/trainval/val/test JSON over two JPEGs, one filled box per class on each image."""
    from PIL import Image, ImageDraw
    (root / 'images').mkdir(parents=True)
    (root / 'annotations').mkdir()
    width, height, box_w = 160, 120, 150 // len(classes)
    images: list = []
    for file_name, top in IMAGES.items():
        image = Image.new('RGB', (width, height), (90, 110, 100))
        draw = ImageDraw.Draw(image)
        boxes = []
        for label in range(len(classes)):
            x, w, h = 5 + label * box_w, box_w - 8, 40
            draw.rectangle([x, top, x + w - 1, top + h - 1], fill=(60 * label % 255, 200, 40 + 70 * label % 255))
            boxes.append((label + 1, [x, top, w, h]))
        image.save(root / 'images' / file_name, quality=95)
        images.append((file_name, boxes))

    def coco(repeat: int) -> dict:
        out = {'images': [], 'annotations': [],
               'categories': [{'id': i + 1, 'name': name} for i, name in enumerate(classes)]}
        for _ in range(repeat):
            for file_name, boxes in images:
                image_id = len(out['images']) + 1
                out['images'].append({'id': image_id, 'file_name': file_name, 'width': width, 'height': height})
                for category_id, bbox in boxes:
                    out['annotations'].append({'id': len(out['annotations']) + 1, 'image_id': image_id,
                                               'category_id': category_id, 'bbox': bbox,
                                               'area': bbox[2] * bbox[3], 'iscrowd': 0})
        return out

    for split, repeat in (('train', REPEAT), ('trainval', REPEAT), ('val', 1), ('test', 1)):
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(coco(repeat)))


def _loader(loader_cfg):
    loader_cfg = loader_cfg.copy()
    loader_cfg.update(batch_size=2, num_workers=0, persistent_workers=False)
    return Runner.build_dataloader(loader_cfg, seed=0)


def _last_batch(loader):
    batches = list(loader)  # every batch goes through the pipeline, filling mosaic/mixup caches
    return batches[-1]


def _params(path: Path):
    marks = [pytest.mark.slow] if path.name in SLOW else []
    return pytest.param(path, id=path.name, marks=marks)


@pytest.mark.parametrize('path', [_params(p) for p in CONFIGS])
def test_one_train_iteration_and_one_val_step(path: Path, tmp_path, monkeypatch):
    root = tmp_path / 'data'
    for variable in ROOT_VARIABLES:
        monkeypatch.setenv(variable, f'{root}/')
    register_all_modules()
    set_random_seed(0)
    cfg = Config.fromfile(str(path))
    train_set = innermost_dataset(cfg.train_dataloader.dataset)
    assert train_set.data_root == f'{root}/', 'the config must take its data root from the env variable'
    classes = tuple(train_set.metainfo.classes)
    _write_dataset(root, classes)

    drop_pretrained_inits(cfg.model)
    cfg.load_from = None
    head = cfg.model.get('test_cfg') or {}
    for key in ('score_thr', 'conf_thr'):  # an untrained head scores low: keep every box for the checks
        if key in head:
            head[key] = 0.0
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)

    model.train()
    train_loader = _loader(cfg.train_dataloader)
    assert len(train_loader.dataset) == REPEAT * len(IMAGES)
    batch = _last_batch(train_loader)
    assert len(batch['inputs']) == 2
    losses = model.train_step(batch, optim_wrapper)
    assert losses['loss'] > 0
    for name, value in losses.items():
        assert math.isfinite(float(torch.as_tensor(value).detach())), f'{name} is {value}'

    model.eval()
    val_loader = _loader(cfg.val_dataloader)
    batch = next(iter(val_loader))
    with torch.no_grad():
        outputs = model.val_step(batch)
    assert len(outputs) == 2
    for sample in outputs:
        pred = sample.pred_instances
        n = len(pred.bboxes)
        assert n > 0 and pred.bboxes.shape == (n, 4) and pred.scores.shape == (n,) and pred.labels.shape == (n,)
        assert torch.isfinite(pred.bboxes).all() and torch.isfinite(pred.scores).all()
        assert 0 <= int(pred.labels.min()) and int(pred.labels.max()) < len(classes)

    evaluator = Evaluator(cfg.val_evaluator)  # the config's CocoMetric on the config's val annotations
    evaluator.dataset_meta = val_loader.dataset.metainfo
    evaluator.process(data_samples=outputs, data_batch=batch)
    metrics = evaluator.evaluate(len(outputs))
    assert 0 <= metrics['coco/bbox_mAP_50'] <= 1
    assert set(f'coco/{c}_precision' for c in classes) <= set(metrics)
