"""Test-time augmentation (``tools/test.py --tta``): the TTA config of every model family, the model running
at its TTA scales, and real ``tools/test.py --tta`` runs on the sample (merged boxes, flips undone)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import CLI_CONFIG, REPO, run_tool
from custom.engine.config import read_config
from custom.engine.tta import TTAConfigError, fitting_pad, step_type, tta_line, tta_scales, use_tta

DERIVED, OWN = 'derived from the test pipeline', 'config tta_pipeline'
NO_FLIP_THEN_FLIP = [None, 'horizontal']
S320 = [[320, 320], [256, 256], [384, 384]]  # 320 x (1, 0.83, 1.2): 320, 265.6 -> 256, 384
# config, detector type, TTA scales, flips, keep_ratio, pipeline origin, merge NMS IoU, max boxes an image
FAMILIES = {
    'rtmdet': ('configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb8-50e_bccd.py', 'RTMDet', S320, NO_FLIP_THEN_FLIP,
               True, DERIVED, 0.6, 100),  # mmdet's tta_model (IoU 0.6); its 640/320/960 pipeline is for 640 px
    'yolov3_mobilenetv2': ('configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py', 'YOLOV3', S320,
                           NO_FLIP_THEN_FLIP, True, DERIVED, 0.45, 100),
    'yolov3_d53': ('configs/bccd/yolov3_d53_1xb8-ms-608-100e_bccd.py', 'YOLOV3',
                   [[608, 608], [512, 512], [736, 736]], NO_FLIP_THEN_FLIP, True, DERIVED, 0.45, 100),
    'ssd300': ('configs/bccd/ssd300_1xb8-60e_bccd.py', 'SingleStageDetector', [[300, 300], [352, 352]],
               NO_FLIP_THEN_FLIP, False, DERIVED, 0.45, 200),  # 0.83 x 300 -> 256: too small for SSD300
    'ssdlite': ('configs/bccd/ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_bccd.py', 'SingleStageDetector', S320,
                NO_FLIP_THEN_FLIP, False, DERIVED, 0.45, 200),
    'retinanet': ('configs/bccd/retinanet_r50_fpn_1xb8-24e_bccd.py', 'RetinaNet',
                  [[1333, 800], [666, 400], [2000, 1200]], ['horizontal', None], True, OWN, 0.5, 100),
}
FLIP_KEYS = {'flip', 'flip_direction'}


def _groups(cfg) -> list[list[dict]]:
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert [step_type(s) for s in pipeline] == ['LoadImageFromFile', 'TestTimeAug']
    return pipeline[1]['transforms']


@pytest.mark.parametrize('family', FAMILIES)
def test_tta_config_of_each_family(family):
    path, detector, scales, flips, keep_ratio, origin, iou, max_per_img = FAMILIES[family]
    cfg = read_config(path, import_custom_modules=False)
    assert cfg.model.type == detector
    preprocessor = cfg.model.data_preprocessor
    summary = use_tta(cfg, source=path)
    assert cfg.model.type == 'DetTTAModel' and cfg.model.module.type == detector
    # not the top-level data_preprocessor the Runner would hand the wrapper (SSDLite: NCHW, not channels-last)
    assert cfg.model.data_preprocessor == cfg.model.module.data_preprocessor == preprocessor
    assert cfg.model.tta_cfg == {'nms': {'type': 'nms', 'iou_threshold': iou}, 'max_per_img': max_per_img}
    groups = _groups(cfg)
    resizes, flip_options = groups[0], groups[1]
    assert [step_type(r) for r in resizes] == ['Resize'] * len(scales)
    assert [list(r['scale']) for r in resizes] == scales
    assert {r['keep_ratio'] for r in resizes} == {keep_ratio}
    assert [step_type(f) for f in flip_options] == ['RandomFlip', 'RandomFlip']
    assert [bool(f['prob']) for f in flip_options] == [d is not None for d in flips]
    assert all(len(g) == 1 for g in groups[2:])  # after the flips: one fixed step each (Pad, annotations, pack)
    pack = groups[-1][0]
    assert step_type(pack) == 'PackDetInputs' and FLIP_KEYS <= set(pack['meta_keys'])
    assert summary['pipeline'] == origin and summary['scales'] == scales and summary['flips'] == flips
    assert summary['scales_too_small'] == ([[256, 256]] if family == 'ssd300' else [])


@pytest.mark.parametrize('path', sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs').glob('*/*.py')))
def test_every_config_gets_flips_and_its_test_scale(path):
    cfg = read_config(str(REPO / path), import_custom_modules=False)
    summary = use_tta(cfg, source=path)
    tuned = path.endswith(('bccd-trainval.py', 'face_mask-balanced.py'))  # their views fused by WBF (chosen on val)
    assert cfg.model.type == ('WBFDetTTAModel' if tuned else 'DetTTAModel') == summary['merged_by']
    assert summary['test_scale'] in summary['scales']
    assert set(summary['flips']) == {'horizontal', None} and len(summary['flips']) == 2
    assert FLIP_KEYS <= set(_groups(cfg)[-1][0]['meta_keys'])


def test_the_printed_line_names_scales_flips_merge_and_what_was_left_out():
    cfg = read_config(FAMILIES['ssd300'][0], import_custom_modules=False)
    assert tta_line(use_tta(cfg)) == (
        "test-time augmentation (derived from the test pipeline): scales [[300, 300], [352, 352]] x flips "
        "[None, 'horizontal'], merged by class-wise NMS (IoU 0.45, at most 200 boxes an image); left out "
        "[[256, 256]]: under the smallest input the model takes")


def test_the_printed_line_says_when_the_views_are_fused_by_weighted_boxes_fusion():
    cfg = read_config(FAMILIES['yolov3_mobilenetv2'][0], import_custom_modules=False)
    cfg.tta_model = {'type': 'WBFDetTTAModel', 'tta_cfg': {'wbf': {'iou_thr': 0.7}, 'max_per_img': 300}}
    summary = use_tta(cfg)
    assert cfg.model.type == 'WBFDetTTAModel' and summary['merged_by'] == 'WBFDetTTAModel'
    assert tta_line(summary).endswith("flips [None, 'horizontal'], fused by weighted boxes fusion (IoU 0.7, at most "
                                      "300 boxes an image)")
    cfg = read_config(FAMILIES['yolov3_mobilenetv2'][0], import_custom_modules=False)
    cfg.tta_model = {'type': 'WBFDetTTAModel'}  # mmdet's weighted_boxes_fusion IoU and DetTTAModel's box cap
    assert tta_line(use_tta(cfg)).endswith('fused by weighted boxes fusion (IoU 0.55, at most 100 boxes an image)')
    cfg = read_config(FAMILIES['yolov3_mobilenetv2'][0], import_custom_modules=False)
    cfg.tta_model = {'type': 'WBFDetTTAModel', 'tta_cfg': {'wbf': {'iou_thr': 0.6, 'conf_type': 'max'}}}
    assert tta_line(use_tta(cfg)).endswith('fused by weighted boxes fusion (IoU 0.6, scores: max, at most 100 boxes '
                                           'an image)')


def test_rtmdet_fixed_pad_becomes_a_square_pad_after_the_flip():
    cfg = read_config(FAMILIES['rtmdet'][0], import_custom_modules=False)
    use_tta(cfg)
    groups = _groups(cfg)
    assert [step_type(g[0]) for g in groups] == ['Resize', 'RandomFlip', 'Pad', 'LoadAnnotations', 'PackDetInputs']
    pad = groups[2][0]
    assert pad['pad_to_square'] is True and 'size' not in pad  # 320 -> 320x320, 384 -> 384x384
    assert tuple(pad['pad_val']['img']) == (114, 114, 114)


def test_scales_are_the_test_scale_and_its_ratios_in_multiples_of_32():
    assert tta_scales((320, 320), (1, 0.83, 1.2)) == [(320, 320), (256, 256), (384, 384)]
    assert tta_scales((300, 300), (1, 0.83, 1.2)) == [(300, 300), (256, 256), (352, 352)]  # 300 kept as it is
    assert tta_scales((416, 416), (1, 0.83, 1.2)) == [(416, 416), (352, 352), (512, 512)]  # 345.3, 499.2
    assert tta_scales((1333, 800), (0.83,)) == [(1120, 672)]  # 1106.4 -> 1120, 664 -> 672
    assert tta_scales((320, 320), (1, 1.01, 0.01)) == [(320, 320), (32, 32)]  # 323.2 -> 320 once; at least 32
    with pytest.raises(TTAConfigError, match='ratio 0'):
        tta_scales((320, 320), (1, 0))


def test_pad_to_a_fixed_size_fits_every_scale():
    pad = {'type': 'Pad', 'size': (640, 640), 'pad_val': 0}
    assert fitting_pad(pad, [(640, 640), (512, 512)]) == {'type': 'Pad', 'pad_val': 0, 'pad_to_square': True}
    assert fitting_pad(pad, [(1333, 800), (666, 400)]) == {'type': 'Pad', 'pad_val': 0, 'size': (1333, 800)}
    assert fitting_pad({'type': 'Pad', 'size_divisor': 32}, [(1333, 800)]) == {'type': 'Pad', 'size_divisor': 32}


def test_ratios_given_derive_the_pipeline_even_when_the_config_has_one():
    cfg = read_config(FAMILIES['retinanet'][0], import_custom_modules=False)
    summary = use_tta(cfg, ratios=[1])
    assert summary['pipeline'] == DERIVED
    assert summary['scales'] == [[1333, 800]] and summary['flips'] == NO_FLIP_THEN_FLIP


def _config(test_dataset: dict, **extra):
    from mmengine.config import Config
    return Config(dict(model=dict(type='Toy', test_cfg=None), test_dataloader=dict(dataset=test_dataset), **extra))


PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(320, 320), keep_ratio=True),
            dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]


def test_the_pipeline_is_set_inside_dataset_wrappers():
    inner = dict(type='CocoDataset', pipeline=PIPELINE)
    cfg = _config(dict(type='ClassBalancedDataset', oversample_thr=0.1, dataset=dict(type='RepeatDataset', times=2,
                                                                                     dataset=inner)))
    summary = use_tta(cfg)
    outer = cfg.test_dataloader.dataset
    assert 'pipeline' not in outer and 'pipeline' not in outer.dataset
    steps = outer.dataset.dataset.pipeline
    assert [step_type(s) for s in steps] == ['LoadImageFromFile', 'TestTimeAug']
    assert summary['scales'] == S320
    assert cfg.model.tta_cfg == {'nms': {'type': 'nms', 'iou_threshold': 0.5}, 'max_per_img': 100}  # no test_cfg


def test_own_tta_pipeline_for_the_test_scale_is_used_and_given_flip_keys():
    own = [dict(type='LoadImageFromFile'), dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(320, 320), keep_ratio=True),
         dict(type='Resize', scale=(480, 480), keep_ratio=True)],
        [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)],
        [dict(type='PackDetInputs', meta_keys=('img_id', 'ori_shape', 'img_shape', 'scale_factor'))]])]
    cfg = _config(dict(type='CocoDataset', pipeline=PIPELINE), tta_pipeline=own)
    summary = use_tta(cfg)
    assert summary['pipeline'] == OWN and summary['scales'] == [[320, 320], [480, 480]]
    assert set(_groups(cfg)[-1][0]['meta_keys']) == {'img_id', 'ori_shape', 'img_shape', 'scale_factor', *FLIP_KEYS}
    stale = _config(dict(type='CocoDataset', pipeline=PIPELINE), tta_pipeline=own)
    stale.test_dataloader.dataset.pipeline[1]['scale'] = (640, 640)  # the config's pipeline is for 320 px
    assert use_tta(stale)['pipeline'] == DERIVED


def test_the_configs_tta_ratios_choose_its_scales_unless_ratios_are_given():
    cfg = _config(dict(type='CocoDataset', pipeline=PIPELINE), tta_ratios=[1, 1.2, 1.4])
    summary = use_tta(cfg)
    # 320 x 1.2 = 384; 320 x 1.4 = 448 (both multiples of 32)
    assert summary['pipeline'] == 'config tta_ratios' and summary['scales'] == [[320, 320], [384, 384], [448, 448]]
    assert tta_line(summary).startswith('test-time augmentation (config tta_ratios): scales [[320, 320], [384, 384]')
    given = use_tta(_config(dict(type='CocoDataset', pipeline=PIPELINE), tta_ratios=[1, 1.2, 1.4]), ratios=[1])
    assert given['pipeline'] == DERIVED and given['scales'] == [[320, 320]]


def test_configs_that_cannot_be_augmented_say_why():
    no_resize = [s for s in PIPELINE if s['type'] != 'Resize']
    with pytest.raises(TTAConfigError, match=r'my_config\.py: .*Resize.*give the config a tta_pipeline'):
        use_tta(_config(dict(type='CocoDataset', pipeline=no_resize)), source='my_config.py')
    ssd = read_config(FAMILIES['ssd300'][0], import_custom_modules=False)
    with pytest.raises(TTAConfigError, match=r'\[\(160, 160\)\] has a side under 257 px'):
        use_tta(ssd, ratios=[0.5])
    with pytest.raises(TTAConfigError, match='no test_dataloader'):
        use_tta(_config(None))


# ------------------------------------------------------------------ real models and the real CLI (slow)

TUNED_BCCD = 'configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb4-32e_bccd-trainval.py'  # tta_model: WBF
STEPPED = [f for f in FAMILIES if f != 'retinanet']  # RetinaNet: ~90 s on CPU


@pytest.mark.slow
@pytest.mark.parametrize('path, scales', [(FAMILIES[f][0], FAMILIES[f][2]) for f in STEPPED] + [(TUNED_BCCD, S320)],
                         ids=STEPPED + ['yolov3_tuned_wbf'])
def test_each_family_predicts_at_all_its_tta_scales(path, scales, sample_data_root, monkeypatch):
    import torch
    from mmengine.dataset import pseudo_collate
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    monkeypatch.setenv('BCCD_ROOT', sample_data_root)
    cfg = read_config(path)
    use_tta(cfg)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    torch.manual_seed(0)
    if cfg.get('data_preprocessor') is not None:  # as the Runner builds it
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model).eval()
    assert type(model.module.data_preprocessor).__name__ == cfg.model.module.data_preprocessor.type
    batch = pseudo_collate([dataset[0]])
    assert len(batch['inputs']) == 2 * len(scales)  # every scale, unflipped and flipped
    with torch.no_grad():
        out = model.test_step(batch)
    assert type(model).__name__ == cfg.model.type  # DetTTAModel, or WBFDetTTAModel for the tuned config
    pred = out[0].pred_instances
    assert len(out) == 1 and pred.bboxes.shape[1] == 4
    assert bool((pred.scores[:-1] >= pred.scores[1:]).all())  # best first (NMS and WBF both sort)


@pytest.mark.slow
def test_test_cli_with_tta_records_it_and_scores_the_merged_boxes(trained_sample, sample_data_root, tmp_path):
    work, _ = trained_sample
    result = run_tool('tools/test.py', CLI_CONFIG, str(work / 'epoch_2.pth'), '--work-dir', str(tmp_path),
                      '--tta', '--no-pictures', env={'BCCD_ROOT': sample_data_root})
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'test-time augmentation' in result.stdout and '[256, 256]' in result.stdout
    metrics = json.loads((tmp_path / 'metrics_test.json').read_text())
    assert metrics['tta'] == {'pipeline': DERIVED, 'test_scale': [320, 320], 'scales': S320,
                              'flips': NO_FLIP_THEN_FLIP, 'scales_too_small': [], 'merged_by': 'DetTTAModel',
                              'merge': {'nms': {'type': 'nms', 'iou_threshold': 0.45}, 'max_per_img': 200}}
    # mmdet's CocoMetric scored the merged boxes as the analysis of detections.bbox.json does
    assert metrics['overall']['mAP50'] == pytest.approx(metrics['raw']['coco/bbox_mAP_50'], abs=5.1e-4)
    assert metrics['overall']['mAP50:95'] == pytest.approx(metrics['raw']['coco/bbox_mAP'], abs=5.1e-4)
    dets = json.loads((tmp_path / 'detections.bbox.json').read_text())
    per_image = np.bincount([d['image_id'] for d in dets])
    assert len(set(d['image_id'] for d in dets)) == 12 and per_image.max() <= 200  # merged, capped at max_per_img


def _symmetric_sample(data_root: str, out: Path, n_images: int = 4) -> str:
    """A data root whose test images are the sample's with the left half mirrored onto the right (PNG, exact)."""
    from PIL import Image
    gt = json.loads((Path(data_root) / 'annotations' / 'test.json').read_text())
    gt['images'] = gt['images'][:n_images]
    keep = {im['id'] for im in gt['images']}
    gt['annotations'] = [a for a in gt['annotations'] if a['image_id'] in keep]
    (out / 'images').mkdir(parents=True)
    (out / 'annotations').mkdir()
    for im in gt['images']:
        with Image.open(Path(data_root) / 'images' / im['file_name']) as img:
            pixels = np.asarray(img.convert('RGB')).copy()
        half = pixels.shape[1] // 2
        pixels[:, pixels.shape[1] - half:] = pixels[:, :half][:, ::-1]
        assert (pixels == pixels[:, ::-1]).all()
        im['file_name'] = f'{im["id"]}.png'
        Image.fromarray(pixels).save(out / 'images' / im['file_name'])
    (out / 'annotations' / 'test.json').write_text(json.dumps(gt))
    return f'{out}/'


@pytest.mark.slow
def test_flip_only_tta_of_symmetric_images_merges_each_box_and_its_mirror(trained_sample, sample_data_root,
                                                                           tmp_path):
    """A symmetric image looks the same flipped, so the flipped view predicts the plain boxes exactly; undone, the
    flip mirrors them. The merged boxes are therefore plain boxes or their mirrors, with their own scores, and
    the best score of each image is the plain one."""
    work, _ = trained_sample
    root = _symmetric_sample(sample_data_root, tmp_path / 'data')
    runs = {}
    for name, extra in (('plain', []), ('flip', ['--tta-ratios', '1'])):
        result = run_tool('tools/test.py', CLI_CONFIG, str(work / 'epoch_2.pth'), '--work-dir', str(tmp_path / name),
                          '--no-pictures', *extra, env={'BCCD_ROOT': root})
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = json.loads((tmp_path / name / 'detections.bbox.json').read_text())
    assert json.loads((tmp_path / 'flip' / 'metrics_test.json').read_text())['tta']['scales'] == [[320, 320]]
    assert json.loads((tmp_path / 'plain' / 'metrics_test.json').read_text())['tta'] is None
    width = 640
    plain: dict[tuple, list] = {}
    for d in runs['plain']:
        plain.setdefault((d['image_id'], d['category_id'], d['score']), []).append(np.array(d['bbox']))
    kinds = []
    for d in runs['flip']:  # each merged box: a plain box, or the mirror of one, with the same class and score
        box = np.array(d['bbox'])
        mirror = np.array([width - box[0] - box[2], *box[1:]])
        candidates = plain.get((d['image_id'], d['category_id'], d['score']), [])
        same = any(np.abs(c - box).max() < 0.01 for c in candidates)
        mirrored = any(np.abs(c - mirror).max() < 0.01 for c in candidates)
        assert same or mirrored, d
        kinds.append('mirrored' if mirrored and not same else 'plain')
    assert 'mirrored' in kinds  # some boxes come from the flipped view, its flip undone
    for img in {d['image_id'] for d in runs['plain']}:
        best = max(d['score'] for d in runs['plain'] if d['image_id'] == img)
        assert max(d['score'] for d in runs['flip'] if d['image_id'] == img) == best
