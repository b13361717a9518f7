"""tools/infer.py and custom.inference: inputs of every kind, outputs, VOC round trip, clear errors.

The checkpoint is an untrained RTMDet-tiny of the sample config saved with other class names and
palette in its meta (the names must come from there); its regression biases are set so that boxes
have a size, and ``--score-thr 0`` keeps every box the model gives (its scores are about 0.5).
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SAMPLE, run_tool

CONFIG = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py'
CLASSES = ('cell_a', 'cell_b', 'cell_c')  # not the config's Platelets/RBC/WBC
PALETTE = [(255, 0, 255), (0, 255, 0), (0, 0, 255)]
BLOOD = SAMPLE / 'JPEGImages' / 'BloodImage_00000.jpg'  # 640 x 480


def _model(num_classes: int = 3):
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from custom.engine.config import read_config
    register_all_modules()
    cfg = read_config(str(REPO / CONFIG), {'model.bbox_head.num_classes': num_classes})
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    for conv in model.bbox_head.rtm_reg:  # distances relu(2) * stride: boxes of 4 strides, not points
        torch.nn.init.constant_(conv.bias, 2.0)
    return model, cfg


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    import torch
    model, _ = _model()
    path = tmp_path_factory.mktemp('ckpt') / 'untrained.pth'
    torch.save({'meta': {'dataset_meta': {'classes': CLASSES, 'palette': PALETTE}},
                'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='module')
def detector(checkpoint):
    from custom.inference.detector import load_detector
    return load_detector(str(REPO / CONFIG), checkpoint, score_thr=0.0)


def _exif_rotated_jpeg(path: Path) -> None:
    """Stored 60 x 40 with EXIF orientation 6 (rotate 90 degrees): displayed 40 wide, 60 high."""
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new('RGB', (60, 40), (200, 30, 30)).save(path, exif=exif.tobytes())


def _video(path: Path, frames: int = 6, fps: float = 10.0, size: tuple[int, int] = (64, 48)) -> None:
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


@pytest.fixture(scope='module')
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    """A folder (nested subfolder, RGBA, 16-bit, EXIF-rotated, WebP, corrupt, a text file) and a 6-frame video."""
    from PIL import Image
    root = tmp_path_factory.mktemp('inputs')
    folder = root / 'photos'
    (folder / 'sub').mkdir(parents=True)
    (folder / 'top.jpg').write_bytes(BLOOD.read_bytes())
    (folder / 'sub' / 'nested.jpg').write_bytes(BLOOD.read_bytes())
    Image.new('RGBA', (50, 40), (10, 20, 30, 0)).save(folder / 'alpha.png')
    Image.fromarray(np.full((40, 30), 100 * 256 + 255, np.uint16)).save(folder / 'deep16.png')
    _exif_rotated_jpeg(folder / 'rotated.jpg')
    Image.new('RGB', (24, 16), (0, 90, 0)).save(folder / 'small.webp', lossless=True)
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a JPEG')
    (folder / 'notes.txt').write_text('not an image: ignored')
    video = root / 'clip.mp4'
    _video(video)
    return folder, video


@pytest.fixture(scope='module')
def run(detector, checkpoint, inputs, tmp_path_factory):
    """One in-process run over the folder and the video: every 2nd frame, batches of 2, VOC files."""
    from custom.inference.run import run_inference
    folder, video = inputs
    out = tmp_path_factory.mktemp('out')
    summary = run_inference(str(REPO / CONFIG), checkpoint, [str(folder), str(video)], str(out), score_thr=0.0,
                            batch_size=2, video_stride=2, save_voc=True, progress=False, detector=detector)
    return out, summary, json.loads((out / 'predictions.json').read_text())


# --- what each input becomes ----------------------------------------------------------------------------------

def test_every_image_and_sampled_frame_is_listed_with_its_upright_size(run, inputs):
    out, summary, predictions = run
    folder, _ = inputs
    images = [(im['file_name'], im.get('frame'), im['width'], im['height']) for im in predictions['images']]
    assert images == [('alpha.png', None, 50, 40), ('deep16.png', None, 30, 40),
                      ('rotated.jpg', None, 40, 60),  # EXIF orientation 6: stored 60 x 40
                      ('small.webp', None, 24, 16), ('top.jpg', None, 640, 480), ('sub/nested.jpg', None, 640, 480),
                      ('clip.mp4', 0, 64, 48), ('clip.mp4', 2, 64, 48), ('clip.mp4', 4, 64, 48)]
    assert predictions['images'][5]['path'] == str(folder / 'sub' / 'nested.jpg')
    assert (summary.images, summary.frames) == (6, 3)


def test_a_corrupt_file_is_skipped_and_listed_the_others_processed(run, inputs):
    out, summary, predictions = run
    folder, _ = inputs
    message = f'{folder}/broken.jpg: does not decode as an image (corrupt, truncated or not an image)'
    assert summary.skipped == [message]
    assert (out / 'skipped.txt').read_text() == message + '\n'
    assert predictions['info']['skipped'] == [message]
    assert any(line.strip() == message for line in summary.lines(str(out)))


def test_images_decode_as_in_training(tmp_path):
    from PIL import Image

    from custom.inference.media import read_image
    Image.fromarray(np.full((4, 5), 100 * 256 + 255, np.uint16)).save(tmp_path / 'deep16.png')
    Image.new('RGBA', (5, 4), (10, 20, 30, 0)).save(tmp_path / 'alpha.png')
    _exif_rotated_jpeg(tmp_path / 'rotated.jpg')
    deep = read_image(str(tmp_path / 'deep16.png'))
    assert deep.shape == (4, 5, 3) and deep.dtype == np.uint8 and deep[0, 0].tolist() == [100, 100, 100]
    assert read_image(str(tmp_path / 'alpha.png'))[0, 0].tolist() == [30, 20, 10]  # BGR, alpha dropped
    assert read_image(str(tmp_path / 'rotated.jpg')).shape == (60, 40, 3)


def test_kept_boxes_are_cut_by_score_and_clipped_to_the_image():
    from custom.inference.detector import kept_detections
    boxes = np.array([[-3.5, 2, 12, 9.5], [1, 1, 2, 2], [4, -1, 30, 25]], np.float32)
    found = kept_detections(boxes, np.array([0.9, 0.1, 0.5], np.float32), np.array([2, 0, 1]),
                            np.zeros((8, 10, 3), np.uint8), score_thr=0.5)
    assert found.boxes.tolist() == [[0, 2, 10, 8], [4, 0, 10, 8]]  # x to 0..W=10, y to 0..H=8
    assert found.scores.tolist() == pytest.approx([0.9, 0.5]) and found.labels.tolist() == [2, 1]
    assert found.boxes.dtype == np.float64 and found.labels.dtype == np.int64
    assert kept_detections(boxes, np.zeros(3, np.float32), np.zeros(3), np.zeros((8, 10)), 0.5).boxes.shape == (0, 4)


# --- outputs ------------------------------------------------------------------------------------------------

def test_class_names_and_palette_come_from_the_checkpoint(run, detector, checkpoint):
    out, _, predictions = run
    from PIL import Image
    assert predictions['categories'] == [{'id': 1, 'name': 'cell_a'}, {'id': 2, 'name': 'cell_b'},
                                         {'id': 3, 'name': 'cell_c'}]
    assert all(a['category'] == CLASSES[a['category_id'] - 1] for a in predictions['annotations'])
    assert detector.notes == [f"class names from {checkpoint} (meta dataset_meta): "
                              f"['cell_a', 'cell_b', 'cell_c'] (the config names ['Platelets', 'RBC', 'WBC'])"]
    alpha_id = 1
    drawn = {a['category_id'] for a in predictions['annotations'] if a['image_id'] == alpha_id}
    picture = np.asarray(Image.open(out / 'vis' / 'alpha.png').convert('RGB'))
    assert drawn and all((picture == PALETTE[c - 1]).all(-1).any() for c in drawn)  # PNG: exact colours


def test_config_classes_when_the_checkpoint_has_none():
    from custom.engine.config import read_config
    from custom.inference.checkpoint_fit import class_info
    info = class_info({}, read_config(str(REPO / CONFIG)), 3, 'ck.pth', 'cfg.py')
    assert info.classes == ('Platelets', 'RBC', 'WBC')
    assert info.palette == [(255, 187, 0), (220, 20, 60), (30, 144, 255)]


def test_json_and_csv_hold_the_same_boxes(run):
    out, summary, predictions = run
    with open(out / 'predictions.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    annotations = predictions['annotations']
    assert len(rows) == len(annotations) == summary.boxes > 0
    assert list(rows[0]) == ['image_id', 'file', 'frame', 'class', 'score', 'xmin', 'ymin', 'xmax', 'ymax']
    first, ann = rows[0], annotations[0]
    x, y, w, h = ann['bbox']
    assert (first['file'], first['frame'], first['class']) == ('alpha.png', '', ann['category'])
    assert [float(first[k]) for k in ('xmin', 'ymin', 'xmax', 'ymax')] == pytest.approx([x, y, x + w, y + h])
    frames = {(r['file'], r['frame']) for r in rows if r['file'] == 'clip.mp4'}
    assert frames <= {('clip.mp4', '0'), ('clip.mp4', '2'), ('clip.mp4', '4')}


def test_pictures_and_the_video_keep_names_sizes_and_frame_rate(run):
    import cv2
    from PIL import Image
    out, summary, _ = run
    vis = out / 'vis'
    assert sorted(str(p.relative_to(vis)) for p in vis.rglob('*') if p.is_file()) == [
        'alpha.png', 'clip.mp4', 'deep16.png', 'rotated.jpg', 'small.webp', 'sub/nested.jpg', 'top.jpg']
    assert Image.open(vis / 'rotated.jpg').size == (40, 60)
    assert Image.open(vis / 'deep16.png').mode == 'RGB'
    assert summary.videos == [str(vis / 'clip.mp4')]
    capture = cv2.VideoCapture(str(vis / 'clip.mp4'))
    assert capture.get(cv2.CAP_PROP_FPS) == 10.0
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (64, 48)
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 6  # every frame of the source, the unsampled ones with the last sampled boxes


# --- VOC pre-annotation round trip ----------------------------------------------------------------------------

def test_voc_corners_round_half_up_to_1_based_pixels(tmp_path):
    from custom.datasets.converter import convert_voc_to_coco
    from custom.inference.voc_export import voc_corners, voc_xml
    assert voc_corners((10.4, 20.6, 50.5, 70.49)) == (11, 22, 51, 70)
    assert voc_corners((0, 0, 100, 80)) == (1, 1, 100, 80)  # the whole image
    assert voc_corners((5.0, 5.0, 6.4, 9.0)) is None  # 1 px wide after rounding: the converter drops it
    (tmp_path / 'Annotations').mkdir()
    (tmp_path / 'JPEGImages').mkdir()
    from PIL import Image
    Image.new('RGB', (100, 80)).save(tmp_path / 'JPEGImages' / 'a.png')
    (tmp_path / 'Annotations' / 'a.xml').write_bytes(
        voc_xml('a.png', 100, 80, [('cell_b', (11, 22, 51, 70)), ('cell_a', (1, 1, 100, 80))]))
    coco, _, report = convert_voc_to_coco(tmp_path, classes=CLASSES[:2])
    assert [(a['category_id'], a['bbox']) for a in coco['annotations']] == [(2, [10, 21, 41, 49]),
                                                                           (1, [0, 0, 100, 80])]
    assert report.problems == {}


def test_voc_files_convert_back_to_the_predicted_boxes(run):
    from custom.datasets.converter import convert_voc_to_coco
    out, summary, predictions = run
    coco, _, report = convert_voc_to_coco(out / 'voc', classes=CLASSES)
    assert set(report.problems) <= {'class_without_boxes'}  # nothing dropped, clipped or missing
    names = {im['id']: im['file_name'] for im in coco['images']}
    assert sorted(names.values()) == ['JPEGImages/alpha.png', 'JPEGImages/clip_000000.jpg',
                                      'JPEGImages/clip_000002.jpg', 'JPEGImages/clip_000004.jpg',
                                      'JPEGImages/deep16.png', 'JPEGImages/rotated.jpg',
                                      'JPEGImages/small.png',  # WebP: the converter reads no WebP header
                                      'JPEGImages/sub__nested.jpg', 'JPEGImages/top.jpg']
    sizes = {im['file_name']: (im['width'], im['height']) for im in coco['images']}
    assert sizes['JPEGImages/rotated.jpg'] == (40, 60) and sizes['JPEGImages/clip_000002.jpg'] == (64, 48)
    voc_of = {'alpha.png': 'alpha.png', 'deep16.png': 'deep16.png', 'rotated.jpg': 'rotated.jpg',
              'small.webp': 'small.png', 'top.jpg': 'top.jpg', 'sub/nested.jpg': 'sub__nested.jpg'}
    back: dict[str, list] = {}
    for ann in coco['annotations']:
        back.setdefault(names[ann['image_id']], []).append(ann)
    tolerance = 0.5 + 0.01  # corners rounded to whole pixels; the JSON rounds to 0.01 px
    left_out = 0
    for image in predictions['images']:
        voc_name = voc_of.get(image['file_name']) or f"clip_{image['frame']:06d}.jpg"
        converted = iter(back.get('JPEGImages/' + voc_name, []))
        pending = next(converted, None)
        for ann in (a for a in predictions['annotations'] if a['image_id'] == image['id']):
            x, y, w, h = ann['bbox']
            if pending is not None and pending['category_id'] == ann['category_id']:
                cx, cy, cw, ch = pending['bbox']
                corners = [cx - x, cy - y, cx + cw - (x + w), cy + ch - (y + h)]
                if all(abs(d) <= tolerance for d in corners):
                    pending = next(converted, None)
                    continue
            assert w < 3 or h < 3, ann  # only a box under 2 px after rounding is left out
            left_out += 1
        assert pending is None, pending  # every converted box was matched, in order
    assert left_out == summary.voc_small_boxes
    assert len(coco['annotations']) + left_out == len(predictions['annotations'])


def test_voc_names_are_unique_ids():
    from custom.inference.naming import UniqueNames, flat_name
    names = UniqueNames(by_stem=True)
    assert [names.claim(n) for n in ('x.jpg', 'x.png', 'X.jpg', flat_name('sub/x.jpg'), 'sub__x.png')] == [
        'x.jpg', 'x-2.png', 'X-3.jpg', 'sub__x.jpg', 'sub__x-2.png']


# --- clear errors ------------------------------------------------------------------------------------------

def test_bad_inputs_are_named(tmp_path):
    from custom.inference.errors import InputError
    from custom.inference.run import run_inference
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'anim.gif').write_bytes(b'GIF89a')
    (tmp_path / 'bad.mp4').write_bytes(b'not a video')
    (tmp_path / 'only_text').mkdir()
    (tmp_path / 'only_text' / 'a.txt').write_text('x')
    cases = {str(tmp_path / 'empty'): f'{tmp_path}/empty: folder holds no image or video (.jpg, .jpeg, .png, .bmp, '
                                      f'.webp, .mp4, .avi, .mov; searched recursively)',
             f'{tmp_path}/*.jpeg': f'{tmp_path}/*.jpeg: the pattern matches no file',
             f'{tmp_path}/only_text/*': f'{tmp_path}/only_text/*: the pattern matches 1 files or folders, none an '
                                        f'image or video (.jpg, .jpeg, .png, .bmp, .webp, .mp4, .avi, .mov)',
             str(tmp_path / 'anim.gif'): f"{tmp_path}/anim.gif: unsupported extension '.gif'; images: .jpg, .jpeg, "
                                         f".png, .bmp, .webp; videos: .mp4, .avi, .mov",
             str(tmp_path / 'missing.jpg'): f'{tmp_path}/missing.jpg: no such file or folder',
             str(tmp_path / 'bad.mp4'): f'{tmp_path}/bad.mp4: cannot be opened as a video (corrupt, not a video, '
                                        f'or a codec this OpenCV build lacks)'}
    for item, message in cases.items():
        with pytest.raises(InputError) as err:
            run_inference(CONFIG, 'never-loaded.pth', [item], str(tmp_path / 'out'))
        assert str(err.value) == message
    assert not (tmp_path / 'out').exists()  # nothing written before the inputs are checked


def test_the_output_folder_inside_an_input_folder_is_not_read(tmp_path):
    from custom.inference.errors import InputError
    from custom.inference.sources import expand_inputs
    (tmp_path / 'out' / 'vis').mkdir(parents=True)
    (tmp_path / 'out' / 'vis' / 'a.jpg').write_bytes(b'a picture of an earlier run')
    (tmp_path / 'a.jpg').write_bytes(b'an input')
    assert [m.file_name for m in expand_inputs([str(tmp_path)], exclude=str(tmp_path / 'out'))] == ['a.jpg']
    with pytest.raises(InputError, match='every image and video it holds lies in the output folder'):
        expand_inputs([str(tmp_path / 'out')], exclude=str(tmp_path / 'out'))


def test_a_video_in_a_folder_that_does_not_open_is_skipped(tmp_path):
    from custom.inference.run import survey_videos
    from custom.inference.sources import expand_inputs
    (tmp_path / 'bad.mp4').write_bytes(b'not a video')
    _video(tmp_path / 'good.mp4', frames=3)
    skipped: list[str] = []
    infos = survey_videos(expand_inputs([str(tmp_path)]), skipped)
    assert list(infos) == [str(tmp_path / 'good.mp4')] and infos[str(tmp_path / 'good.mp4')].frames == 3
    assert skipped == [f'{tmp_path}/bad.mp4: cannot be opened as a video (corrupt, not a video, or a codec this '
                       f'OpenCV build lacks)']


def test_options_out_of_range_are_refused():
    from custom.inference.errors import SetupError
    from custom.inference.run import check_options
    for args, message in (((1.5, 1, 1), '--score-thr 1.5: must lie in [0, 1]'),
                          ((0.3, 0, 1), '--batch-size 0: must be at least 1'),
                          ((0.3, 1, 0), '--video-stride 0: must be at least 1')):
        with pytest.raises(SetupError, match=message.replace('[', r'\[').replace(']', r'\]')):
            check_options(*args)


def test_a_checkpoint_of_another_num_classes_is_refused(tmp_path):
    import torch

    from custom.inference.detector import load_detector
    from custom.inference.errors import CheckpointMismatchError
    model, cfg = _model(num_classes=5)
    path = tmp_path / 'five.pth'
    torch.save({'meta': {'dataset_meta': {'classes': ('a', 'b', 'c', 'd', 'e')}, 'cfg': cfg.pretty_text},
                'state_dict': model.state_dict()}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_detector(str(REPO / CONFIG), str(path))
    assert str(err.value) == (
        f'{path} does not fit {REPO / CONFIG} (it was trained with another model or dataset):\n'
        f'  - num_classes: checkpoint 5, config 3\n'
        f'  - weights: 6 tensors differ in shape (e.g. bbox_head.rtm_cls.0.weight: checkpoint (5, 96, 1, 1), '
        f'config (3, 96, 1, 1), bbox_head.rtm_cls.0.bias: checkpoint (5,), config (3,))\n'
        f'  run it with the config it was trained with')


# --- the CLI ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_on_a_glob(checkpoint, inputs, tmp_path):
    folder, _ = inputs
    out = tmp_path / 'out'
    result = run_tool('tools/infer.py', CONFIG, checkpoint, f'{folder}/**/*.jpg', '--out-dir', str(out),
                      '--score-thr', '0', '--batch-size', '3', timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = json.loads((out / 'predictions.json').read_text())
    assert [im['file_name'] for im in predictions['images']] == ['rotated.jpg', 'sub/nested.jpg', 'top.jpg']
    assert '3 images and 0 video frames' in result.stdout and 'images/s' in result.stdout
    assert f'skipped 1 unreadable files (listed in {out}/skipped.txt)' in result.stdout
    assert (out / 'skipped.txt').read_text().startswith(f'{folder}/broken.jpg: ')
    with open(out / 'predictions.csv', newline='') as f:
        assert sum(1 for _ in f) - 1 == len(predictions['annotations']) > 0


@pytest.mark.slow
def test_cli_names_a_mismatched_checkpoint_and_exits_2(tmp_path):
    import torch
    model, _ = _model(num_classes=5)
    path = tmp_path / 'five.pth'
    torch.save({'meta': {'dataset_meta': {'classes': ('a', 'b', 'c', 'd', 'e')}}, 'state_dict': model.state_dict()},
               path)
    result = run_tool('tools/infer.py', CONFIG, str(path), str(BLOOD), '--out-dir', str(tmp_path / 'out'),
                      timeout=600)
    assert result.returncode == 2
    error = result.stderr[result.stderr.index('error: '):]  # after the libraries' import warnings
    assert error.startswith(
        f"error: {path} does not fit {CONFIG} (it was trained with another model or dataset):\n"
        f"  - classes: the checkpoint was trained on 5 classes ['a', 'b', 'c', 'd', 'e'], the config model has "
        f"num_classes=3\n  - weights: 6 tensors differ in shape"), result.stderr[-3000:]
    assert not (tmp_path / 'out').exists()


def test_tool_help_runs_from_anywhere_without_torch():
    result = subprocess.run([sys.executable, str(REPO / 'tools' / 'infer.py'), '--help'], capture_output=True,
                            text=True, cwd=os.path.dirname(REPO), timeout=120)
    assert result.returncode == 0 and '--video-stride N' in result.stdout
    probe = ('import sys, custom.apis.infer, custom.inference.sources, custom.inference.naming\n'
             'print(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "mmdet", "mmcv", "mmengine", "cv2"}))')
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.stdout.strip() == '[]', result.stderr[-2000:]
