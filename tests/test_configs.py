"""Every config loads, is consistent and builds its model; the checker catches broken ones."""
import re
from pathlib import Path

import pytest
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from conftest import REPO
from custom.engine.config import innermost_dataset
from custom.engine.config_check import ConfigError, assert_config_consistent, check_config

CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)


def test_there_are_configs():
    assert CONFIGS, 'no configs found under configs/'


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_is_consistent_and_builds(path: Path):
    register_all_modules()
    cfg = Config.fromfile(str(path))
    assert check_config(cfg) == []
    assert 'custom.modules' in cfg.custom_imports['imports']
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


PAIRS = [(p, p.parent.parent / 'face_mask' / p.name.replace('_bccd.py', '_face_mask.py'))
         for p in CONFIGS if p.parent.name == 'bccd' and p.name.endswith('_bccd.py')]


def _training_recipe(path: Path) -> dict:
    """A config without what comes from its dataset: the model's training recipe."""
    cfg = Config.fromfile(str(path)).to_dict()
    for key in list(cfg):
        if key.startswith(('bccd_', 'face_mask_')) or key.endswith('_evaluator'):
            del cfg[key]
    cfg['model']['bbox_head'].pop('num_classes')
    for split in ('train', 'val', 'test'):
        inner = innermost_dataset(cfg[f'{split}_dataloader']['dataset'])
        for key in ('data_root', 'metainfo', 'ann_file'):
            inner.pop(key)
    return cfg


@pytest.mark.parametrize('pair', PAIRS, ids=lambda pair: pair[0].name.replace('_bccd.py', ''))
def test_each_model_trains_the_same_way_on_both_datasets(pair):
    bccd, face_mask = pair
    assert face_mask.is_file(), f'{bccd.name} has no face-mask twin {face_mask}'
    assert _training_recipe(bccd) == _training_recipe(face_mask)


def test_default_data_root_and_env_override(monkeypatch):
    path = str(CONFIGS[0])
    assert Config.fromfile(path).test_dataloader.dataset.data_root.startswith('data/')
    monkeypatch.setenv('BCCD_ROOT', '/elsewhere/bccd/')
    cfg = Config.fromfile(path)
    assert cfg.test_dataloader.dataset.data_root == '/elsewhere/bccd/'
    assert cfg.test_evaluator.ann_file == '/elsewhere/bccd/annotations/test.json'


def test_checker_names_each_inconsistency():
    cfg = Config.fromfile(str(CONFIGS[0]))
    cfg.model.bbox_head.num_classes = 80
    cfg.val_dataloader.dataset.metainfo = None
    cfg.test_evaluator.ann_file = 'data/other/test.json'
    with pytest.raises(ConfigError) as err:
        assert_config_consistent(cfg, 'my.py')
    message = str(err.value)
    assert ('model.bbox_head.num_classes is 80 but the dataset has 3 classes: '
            'set model.bbox_head.num_classes=3') in message
    assert 'val_dataloader.dataset has no metainfo.classes' in message
    assert "test_evaluator.ann_file is 'data/other/test.json'" in message


def test_converter_output_loads_through_the_config_dataset(tmp_path, monkeypatch):
    from mmdet.registry import DATASETS

    from conftest import SAMPLE
    from custom.datasets.coco_writer import write_coco_splits
    write_coco_splits(SAMPLE, tmp_path / 'bccd')
    monkeypatch.setenv('BCCD_ROOT', f'{tmp_path}/bccd/')
    register_all_modules()
    cfg = Config.fromfile(str(REPO / 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb8-50e_bccd.py'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == 12 and dataset.metainfo['classes'] == ('Platelets', 'RBC', 'WBC')
    sample = dataset[0]['data_samples']
    assert sample.gt_instances.bboxes.shape[0] > 0 and sample.gt_instances.labels.max() <= 2


def test_checker_catches_a_dataset_merged_into_mmdets_wrapper(tmp_path):
    # ssd300's train set is mmdet's RepeatDataset: a plain dataset dict must go under its `dataset`
    base = REPO / 'configs/bccd/ssd300_1xb8-60e_bccd.py'
    broken = tmp_path / 'broken.py'
    broken.write_text(f"_base_ = '{base}'\ntrain_dataloader = dict(dataset={{{{_base_.bccd_train}}}})\n")
    assert check_config(Config.fromfile(str(broken))) == [
        "train_dataloader.dataset mixes a wrapper's `dataset` key with a dataset's ann_file, data_root, "
        "metainfo (type='CocoDataset'): a dataset dict was merged into the base config's dataset wrapper; "
        "put it under the wrapper as train_dataloader.dataset=dict(dataset=...), or replace the wrapper "
        "with _delete_=True"]


def test_checker_requires_the_fixed_ssd_head():
    cfg = Config.fromfile(str(REPO / 'configs/bccd/ssd300_1xb8-60e_bccd.py'))
    assert check_config(cfg) == []
    cfg.model.bbox_head.type = 'SSDHead'
    assert check_config(cfg) == [
        "model.bbox_head.type is 'SSDHead', whose val/test steps fail under mmdet 3.3 (no attribute "
        "'loss_cls'): set model.bbox_head.type='FixedSSDHead' (custom.modules)"]


def _pretrained_init(cfg, key='model'):
    """Keys of every `Pretrained` init_cfg under ``cfg``."""
    if isinstance(cfg, dict):
        init = cfg.get('init_cfg')
        inits = init if isinstance(init, list) else [init]
        found = [f'{key}.init_cfg' for i in inits if isinstance(i, dict) and i.get('type') == 'Pretrained']
        return found + [k for name, value in cfg.items() for k in _pretrained_init(value, f'{key}.{name}')]
    if isinstance(cfg, list):
        return [k for i, value in enumerate(cfg) for k in _pretrained_init(value, f'{key}[{i}]')]
    return []


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_name_states_gpus_batch_and_epochs(path: Path):
    # mmdet's naming: NxbM = N GPUs x M images each, Ke = K epochs; --auto-scale-lr relies on it
    gpus, per_gpu = map(int, re.search(r'(\d+)xb(\d+)', path.name).groups())
    epochs = int(re.search(r'-(\d+)e[_-]', path.name).group(1))
    cfg = Config.fromfile(str(path))
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == gpus * per_gpu and not cfg.auto_scale_lr.get('enable')
    assert cfg.train_cfg.max_epochs == epochs


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'scratch' in p.name], ids=lambda p: p.name)
def test_scratch_configs_train_offline(path: Path):
    cfg = Config.fromfile(str(path))
    assert cfg.get('load_from') is None
    assert _pretrained_init(cfg.model) == []


def _mmdet_base(path: Path) -> str:
    """The ``mmdet::`` config that ``path`` inherits, following local ``_base_`` files (recipes)."""
    text = path.read_text()
    found = re.search(r"'mmdet::([^']+)'", text)
    if found:
        return found.group(1)
    recipe = re.search(r"'(\.\./_base_/recipes/[^']+|\./[^']+)'", text)  # a recipe, or a recipe's base recipe
    assert recipe, f'{path}: no mmdet:: base and no recipe'
    return _mmdet_base((path.parent / recipe.group(1)).resolve())


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'scratch' not in p.name], ids=lambda p: p.name)
def test_pretrained_configs_fine_tune_from_their_mmdet_coco_checkpoint(path: Path):
    import mmdet
    import yaml
    base = _mmdet_base(path)
    metafile = Path(mmdet.__file__).parent / '.mim/configs' / Path(base).parent / 'metafile.yml'
    weights = {m['Config']: m.get('Weights') for m in yaml.safe_load(metafile.read_text())['Models']}
    assert Config.fromfile(str(path)).load_from == weights[f'configs/{base}']


def test_coco_checkpoint_loads_except_the_class_dependent_head_layers(tmp_path):
    # what `load_from` does with an 80-class COCO checkpoint in a 3-class config
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    register_all_modules()
    cfg = Config.fromfile(str(REPO / 'configs/bccd/ssdlite_mobilenetv2_1xb24-120e_bccd.py'))
    model = MODELS.build(cfg.model)
    cfg.model.bbox_head.num_classes = 80
    coco = MODELS.build(cfg.model).state_dict()
    _load_checkpoint_to_model(model, {'state_dict': coco}, strict=False)
    loaded = model.state_dict()
    skipped = sorted(k for k in coco if loaded[k].shape != coco[k].shape)
    assert skipped and all(k.startswith('bbox_head.cls_convs.') for k in skipped)
    assert all(loaded[k].equal(coco[k]) for k in coco if k not in skipped)
    assert loaded['bbox_head.cls_convs.0.1.weight'].shape[0] == 6 * (3 + 1)  # 6 anchors x (classes + bg)


BALANCED = 'face_mask/yolov3_mobilenetv2-scratch_cpu-ms-416_1xb4-45e_face_mask-balanced.py'


def test_balanced_face_mask_config_repeats_the_rare_class_images(tmp_path: Path, monkeypatch):
    """10 images: class 1 on all, class 3 on 4 (share 0.4 > 0.3: once), class 0 on 1 (share 0.1: repeat
    factor sqrt(0.3 / 0.1) = 1.73, shown ceil = 2 times): 11 images an epoch, image 0 twice."""
    import json

    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope
    (tmp_path / 'annotations').mkdir()
    anns = [dict(id=i + 1, image_id=i, category_id=2, bbox=[1, 1, 5, 5], area=25, iscrowd=0) for i in range(10)]
    anns += [dict(id=20 + i, image_id=i, category_id=3, bbox=[8, 8, 5, 5], area=25, iscrowd=0) for i in range(4)]
    anns += [dict(id=30, image_id=0, category_id=1, bbox=[15, 15, 5, 5], area=25, iscrowd=0)]
    coco = dict(images=[dict(id=i, file_name=f'{i}.jpg', width=32, height=32) for i in range(10)], annotations=anns,
                categories=[dict(id=1, name='mask_weared_incorrect'), dict(id=2, name='with_mask'),
                            dict(id=3, name='without_mask')])
    (tmp_path / 'annotations' / 'train.json').write_text(json.dumps(coco))
    monkeypatch.setenv('FACE_MASK_ROOT', f'{tmp_path}/')
    cfg = Config.fromfile(str(REPO / 'configs' / BALANCED))
    init_default_scope('mmdet')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == 11
    names = [Path(dataset.get_data_info(i)['img_path']).name for i in range(len(dataset))]
    assert names.count('0.jpg') == 2 and len(set(names)) == 10


def test_balanced_face_mask_config_weights_the_rare_class_5x_in_the_classification_loss():
    """Zero logits over the 3 classes, summed like YOLOv3's head: a box of mask_weared_incorrect (class 0)
    costs 5 ln 2 (its positive term, x5) + 2 ln 2 (two negative terms) = 7 ln 2 = 4.8520; a with_mask box
    costs 3 ln 2 = 2.0794, the negative terms of class 0 staying unweighted."""
    import torch
    register_all_modules()
    cfg = Config.fromfile(str(REPO / 'configs' / BALANCED))
    assert innermost_dataset(cfg.train_dataloader.dataset).metainfo['classes'][0] == 'mask_weared_incorrect'
    loss = MODELS.build(cfg.model.bbox_head.loss_cls)
    zeros = torch.zeros(1, 3)
    rare, common = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    assert loss(zeros, rare, weight=torch.ones(1, 3)).item() == pytest.approx(4.8520, abs=1e-4)
    assert loss(zeros, common, weight=torch.ones(1, 3)).item() == pytest.approx(2.0794, abs=1e-4)


def test_balanced_face_mask_config_trains_45_epochs_the_first_22_smaller():
    """45 epochs with the LR steps at 36 and 42; progressive resizing: epochs 1-22 (0-based 0-21) at
    RandomResize 256-352, from epoch index 22 on the base recipe's 320-416, set by TrainScaleSwitchHook
    inside the ClassBalancedDataset wrapper."""
    from mmengine.registry import HOOKS

    from custom.engine.hooks import TrainScaleSwitchHook
    cfg = Config.fromfile(str(REPO / 'configs' / BALANCED))
    assert cfg.train_cfg.max_epochs == 45
    assert [s for s in cfg.param_scheduler if s['type'] == 'MultiStepLR'][0]['milestones'] == [36, 42]
    steps = {step['type']: step for step in innermost_dataset(cfg.train_dataloader.dataset).pipeline}
    assert steps['RandomResize']['scale'] == [(256, 256), (352, 352)]
    assert cfg.custom_hooks == [dict(type='TrainScaleSwitchHook', switch_epoch=22, scale=[(320, 320), (416, 416)])]
    assert isinstance(HOOKS.build(cfg.custom_hooks[0]), TrainScaleSwitchHook)


TUNED = ['bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb4-32e_bccd-trainval.py', BALANCED]


@pytest.mark.parametrize('name', TUNED, ids=lambda n: n.split('/')[1])
def test_tuned_configs_restate_their_base_pipeline_at_the_studys_augmentation_strength(name: str):
    """The tuned recipes write their train pipeline out; it must stay the base pipeline as tools/tune.py sets
    ``aug_strength`` 0.71 (Expand to 1.71x, brightness round(32 x 0.71) = 23, contrast and saturation
    1 -/+ 0.355, hue round(18 x 0.71) = 13), so that the recipe is the setting the study measured."""
    from custom.experiments.search_space import apply_params
    path = REPO / 'configs' / name
    cfg = Config.fromfile(str(path))
    base = Config.fromfile(str(path.parent / re.search(r"^_base_ = '\./(.+\.py)'$", path.read_text(), re.M)[1]))
    pipeline = innermost_dataset(cfg.train_dataloader.dataset).pipeline
    tuned = innermost_dataset(apply_params(base, {'aug_strength': 0.71}, {}).train_dataloader.dataset).pipeline
    for hook in cfg.get('custom_hooks', []):  # progressive resizing: the base's scale comes back at the switch
        if hook['type'] == 'TrainScaleSwitchHook':
            pipeline = [dict(step, scale=hook['scale']) if step['type'] == 'RandomResize' else step
                        for step in pipeline]
    assert pipeline == tuned
    steps = {step['type']: step for step in pipeline}
    assert steps['Expand']['ratio_range'] == pytest.approx((1.0, 1.71))
    assert steps['PhotoMetricDistortion']['brightness_delta'] == 23
    assert steps['PhotoMetricDistortion']['contrast_range'] == pytest.approx((0.645, 1.355))
    assert steps['PhotoMetricDistortion']['hue_delta'] == 13


@pytest.mark.parametrize('name, nms_iou, wbf', [(TUNED[0], 0.65, {'iou_thr': 0.7}),
                                               (TUNED[1], 0.55, {'iou_thr': 0.6, 'conf_type': 'max'})],
                         ids=['bccd', 'face_mask'])
def test_tuned_configs_test_with_the_thresholds_chosen_on_val(name: str, nms_iou: float, wbf: dict):
    """Scores down to 0.001, up to 300 boxes an image and the NMS IoU val chose per dataset (mmdet's YOLOv3
    keeps 0.05 / 0.005 / 100 / 0.45), --tta views fused by weighted boxes fusion as val chose (the IoU, and on
    face-mask the best view's score for a fused box); other YOLOv3 configs keep mmdet's."""
    from custom.engine.tta import tta_model_cfg
    cfg = Config.fromfile(str(REPO / 'configs' / name))
    test_cfg = cfg.model.test_cfg
    assert (test_cfg.score_thr, test_cfg.conf_thr, test_cfg.max_per_img) == (0.001, 0.001, 300)
    assert test_cfg.nms == {'type': 'nms', 'iou_threshold': nms_iou}
    tta_model = tta_model_cfg(cfg)
    assert tta_model['type'] == 'WBFDetTTAModel'
    assert tta_model['tta_cfg'] == {'wbf': wbf, 'max_per_img': 300}
    base = Config.fromfile(str(REPO / 'configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py'))
    assert (base.model.test_cfg.score_thr, base.model.test_cfg.nms.iou_threshold) == (0.05, 0.45)
