"""The VOC -> COCO converter: conventions, problem reports, safety, real data."""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import SAMPLE, run_tool, shared_dataset, voc_xml, write_image

from custom.datasets.coco_writer import EncodedCOCO, subset, write_coco_splits
from custom.datasets.converter import BOX_DROP_KINDS, convert_voc_to_coco, parse_class_map
from custom.datasets.splits import kfold_splits, random_splits
from custom.datasets.voc_xml import VOCError, parse_voc_xml, voc_box_to_coco


def make_voc(root: Path, items: dict[str, str], images: bool = True) -> Path:
    """A VOCdevkit-style folder with the given {stem: xml} annotations and blank images."""
    (root / 'Annotations').mkdir(parents=True)
    for stem, xml in items.items():
        (root / 'Annotations' / f'{stem}.xml').write_text(xml)
        if images:
            write_image(root / 'JPEGImages' / f'{stem}.jpg')
    return root


def test_box_convention_voc_1_based_inclusive_to_coco_0_based():
    assert voc_box_to_coco((1, 1, 100, 80), 100, 80) == ([0, 0, 100, 80], False)
    assert voc_box_to_coco((10, 20, 30, 40), 100, 80) == ([9, 19, 21, 21], False)


def test_whole_pixel_boxes_are_written_as_integers_others_as_floats(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml(objects=[('cat', 1, 2, 30, 40), ('dog', '1.5', 2, '30.25', 40),
                                                             ('cow', ' 3 ', 4, 50, 60)])})
    (root / 'ImageSets' / 'Main').mkdir(parents=True)
    (root / 'ImageSets' / 'Main' / 'train.txt').write_text('a\n')
    write_coco_splits(root, tmp_path / 'out')
    text = (tmp_path / 'out' / 'annotations' / 'train.json').read_text()
    assert '"bbox":[0,1,30,39],"area":1170,' in text      # ints stay ints: exact, no 30.0
    assert '"bbox":[0.5,1.0,29.75,39.0],"area":1160.25,' in text  # a box with a fraction: floats
    assert '"bbox":[2,3,48,57],"area":2736,' in text


def test_degenerate_and_inverted_boxes_are_rejected():
    assert voc_box_to_coco((5, 5, 5, 5), 100, 80) == (None, False)       # single click (BCCD)
    assert voc_box_to_coco((30, 20, 10, 40), 100, 80) == (None, False)   # swapped x


def test_boxes_outside_the_image_are_clipped_and_flagged():
    box, clipped = voc_box_to_coco((0, -5, 120, 40), 100, 80)
    assert box == [0, 0, 100, 40] and clipped


def test_unreadable_xml_names_file_and_line(tmp_path):
    path = tmp_path / 'broken.xml'
    path.write_text('<annotation>\n<filename>a.jpg</filename>\n<object>\n</annotation>')
    with pytest.raises(VOCError, match=r'broken\.xml: unreadable XML at line \d+'):
        parse_voc_xml(path)


def test_bad_coordinates_drop_only_that_box_with_file_and_value_named(tmp_path):
    path = tmp_path / 'bad.xml'
    path.write_text(voc_xml(objects=[('cat', 'abc', 1, 5, 5), ('cat', 1, 1, 'nan', 5), ('dog', 1, 1, 9, 9)]))
    item = parse_voc_xml(path)
    assert [o.name for o in item.objects] == ['dog']
    assert item.bad_objects[0].endswith("bad.xml: <xmin> is not a number: 'abc'")
    assert item.bad_objects[1].endswith("bad.xml: <xmax> is not a finite number: 'nan'")


def test_missing_coordinate_and_missing_bndbox(tmp_path):
    path = tmp_path / 'nobox.xml'
    path.write_text('<annotation><object><name>cat</name></object>'
                    '<object><name>cat</name><bndbox><xmin>1</xmin></bndbox></object></annotation>')
    item = parse_voc_xml(path)
    assert item.objects == []
    assert item.bad_objects[0].endswith("nobox.xml: <object> 'cat' has no <bndbox>")
    assert item.bad_objects[1].endswith('nobox.xml: missing <ymin>')


def test_wrong_root_element_is_a_file_error(tmp_path):
    path = tmp_path / 'svg.xml'
    path.write_text('<svg></svg>')
    with pytest.raises(VOCError, match=r'svg\.xml: root element is <svg>, expected <annotation>'):
        parse_voc_xml(path)


def test_external_entities_are_refused(tmp_path):
    path = tmp_path / 'xxe.xml'
    path.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
                    '<annotation><filename>&x;</filename></annotation>')
    with pytest.raises(VOCError, match=r'xxe\.xml: declares XML entities'):
        parse_voc_xml(path)


def test_filename_cannot_escape_the_dataset_folder(tmp_path):
    outside = tmp_path / 'secret.jpg'
    write_image(outside)
    root = make_voc(tmp_path / 'voc', {'x': voc_xml('../secret.jpg', objects=[('cat', 1, 1, 5, 5)])},
                    images=False)
    coco, _, report = convert_voc_to_coco(root)
    assert coco['images'] == []
    assert report.problems['missing_image'] == ["x.xml: <filename> '../secret.jpg' not found"]


def test_every_problem_is_reported_and_counts_balance(tmp_path):
    root = make_voc(tmp_path / 'voc', {
        'ok': voc_xml('ok.jpg', objects=[('cat', 1, 1, 50, 40), ('dog', 2, 2, 10, 10, 1), ('cat', 'x', 1, 2, 3)]),
        'click': voc_xml('click.jpg', objects=[('cat', 5, 5, 5, 5)]),
        'edge': voc_xml('edge.jpg', objects=[('cat', 0, 0, 120, 40)]),
        'empty': voc_xml('empty.jpg'),
        'broken': '<annotation><filename>',
    })
    (root / 'Annotations' / 'lost.xml').write_text(voc_xml('lost.jpg', objects=[('cat', 1, 1, 5, 5)]))
    coco, _, report = convert_voc_to_coco(root, classes=['cat'])
    kinds = {k: len(v) for k, v in report.problems.items()}
    assert kinds == {'unreadable_xml': 1, 'missing_image': 1, 'degenerate_box': 1, 'clipped_box': 1,
                     'unknown_class': 1, 'empty_image': 1, 'bad_object': 1}
    assert report.problems['unknown_class'] == ["ok.xml: 'dog'"]
    counts = report.counts
    dropped = sum(kinds.get(k, 0) for k in BOX_DROP_KINDS) + counts['boxes_of_dropped_images']
    assert counts['boxes_in'] == counts['boxes_out'] + dropped == 6
    assert counts['images'] + kinds['missing_image'] + kinds['unreadable_xml'] == counts['xml_files'] == 6


def test_duplicate_ids_keep_the_first_and_count_the_second(tmp_path):
    root = tmp_path / 'roboflow'  # XML beside the images, in two folders with the same stem
    for folder, x2 in (('train', 5), ('valid', 6)):
        write_image(root / folder / 'a.jpg')
        (root / folder / 'a.xml').write_text(voc_xml('a.jpg', objects=[('cat', 1, 1, x2, x2)]))
    coco, _, report = convert_voc_to_coco(root)
    assert [im['file_name'] for im in coco['images']] == ['train/a.jpg']
    assert report.counts['boxes_of_dropped_images'] == 1
    assert "id 'a' also used by" in report.problems['duplicate_name'][0]


def test_class_map_merges_and_unknown_policy(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('kitty', 1, 1, 5, 5), ('dog', 1, 1, 9, 9)])})
    coco, _, report = convert_voc_to_coco(root, classes=['cat'], class_map={'kitty': 'cat'})
    assert [a['category_id'] for a in coco['annotations']] == [1]
    assert report.problems['unknown_class'] == ["a.xml: 'dog'"]
    with pytest.raises(VOCError, match=r"classes \['dog'\] are not in the class list \['cat'\] "
                                       r"\(first seen in \{'dog': 'a.xml'\}\); add them, map them"):
        convert_voc_to_coco(root, classes=['cat'], class_map={'kitty': 'cat'}, unknown='error')
    assert parse_class_map(['a=b', ' c = d ']) == {'a': 'b', 'c': 'd'}
    with pytest.raises(ValueError, match="class map entry 'ab' is not of the form old=new"):
        parse_class_map(['ab'])


def test_difficult_becomes_iscrowd(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('cat', 1, 1, 5, 5, 1)])})
    coco, _, _ = convert_voc_to_coco(root)
    assert coco['annotations'][0]['iscrowd'] == 1
    coco, _, _ = convert_voc_to_coco(root, difficult_as_crowd=False)
    assert coco['annotations'][0]['iscrowd'] == 0


def test_size_missing_from_xml_is_read_from_the_image(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', width=0, height=0, objects=[('c', 1, 1, 5, 5)])})
    coco, _, report = convert_voc_to_coco(root)
    assert (coco['images'][0]['width'], coco['images'][0]['height']) == (100, 80)
    assert report.problems['size_from_image'] == ['a.xml: no usable <size>, image is 100x80']


def test_size_that_disagrees_with_the_image_is_reported_and_the_image_wins(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', width=200, height=160, objects=[('c', 1, 1, 150, 5)]),
                                       'b': voc_xml('b.jpg', width=80, height=100, objects=[('c', 1, 1, 5, 5)])})
    coco, _, report = convert_voc_to_coco(root)
    assert [(im['width'], im['height']) for im in coco['images']] == [(100, 80), (100, 80)]
    assert report.problems['size_mismatch'] == [
        'a.xml: <size> says 200x160, the image is 100x80; boxes are clipped to the image',
        'b.xml: <size> says 80x100, the image is 100x80 (rotated by EXIF orientation?); boxes are clipped '
        'to the image']
    assert coco['annotations'][0]['bbox'] == [0, 0, 100, 5]
    assert report.problems['clipped_box'] == ['a.xml: c [1, 1, 150, 5]']


def test_unreadable_image_drops_the_image_and_counts_its_boxes(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('c', 1, 1, 5, 5)] * 2),
                                       'b': voc_xml('b.jpg', objects=[('c', 1, 1, 5, 5)])})
    (root / 'JPEGImages' / 'a.jpg').write_bytes(b'<html>not an image</html>')
    coco, _, report = convert_voc_to_coco(root)
    assert [im['file_name'] for im in coco['images']] == ['JPEGImages/b.jpg']
    assert report.problems['unreadable_image'] == [
        f"a.xml: {root / 'JPEGImages' / 'a.jpg'}: not a JPEG, PNG or BMP image (starts with b'<html>no')"]
    assert report.counts['boxes_of_dropped_images'] == 2 and report.counts['boxes_out'] == 1


@pytest.mark.parametrize('fmt,mode', [('JPEG', 'RGB'), ('JPEG', 'L'), ('PNG', 'RGBA'), ('PNG', 'P'),
                                      ('PNG', 'I;16'), ('BMP', 'RGB'), ('JPEG', 'CMYK')])
def test_image_size_reads_headers_like_pillow(tmp_path, fmt, mode):
    from PIL import Image
    from custom.datasets.imagesize import image_size
    path = tmp_path / f'x.{fmt.lower()}'
    Image.new(mode, (37, 23)).save(path, fmt, **({'progressive': True} if fmt == 'JPEG' else {}))
    assert image_size(str(path)) == (37, 23)


def test_image_size_applies_exif_rotation_and_refuses_truncated_files(tmp_path):
    from PIL import Image
    from custom.datasets.imagesize import ImageSizeError, image_size
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / 'r.jpg'
    Image.new('RGB', (40, 30)).save(path, exif=exif.tobytes())
    assert image_size(str(path)) == (30, 40)
    (tmp_path / 't.jpg').write_bytes(path.read_bytes()[:40])
    with pytest.raises(ImageSizeError, match=r't.jpg: truncated image header'):
        image_size(str(tmp_path / 't.jpg'))
    (tmp_path / 'e.png').write_bytes(b'')
    with pytest.raises(ImageSizeError, match=r'e.png: not a JPEG, PNG or BMP image \(empty file\)'):
        image_size(str(tmp_path / 'e.png'))


def test_image_size_finds_frame_headers_past_the_first_read(tmp_path):
    """EXIF and the frame header behind big metadata blocks (ICC profiles, XMP) are read from the file."""
    from PIL import Image
    from custom.datasets.imagesize import ImageSizeError, image_size
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 270 degrees when displayed
    path = tmp_path / 'r.jpg'
    Image.new('RGB', (40, 30)).save(path, exif=exif.tobytes())
    data = path.read_bytes()
    padding = b'\xff\xe2' + (20002).to_bytes(2, 'big') + bytes(20000)  # a 20 kB APP2 block before the EXIF
    big = tmp_path / 'big.jpg'
    big.write_bytes(data[:2] + padding + data[2:])
    assert image_size(str(big)) == (30, 40)
    big.write_bytes(data[:2] + padding + padding + b'\xff\xc0\x00')  # cut inside the frame header
    with pytest.raises(ImageSizeError, match=r'big.jpg: truncated image header'):
        image_size(str(big))


def test_parallel_conversion_gives_the_same_bytes(tmp_path):
    for workers in (1, 2):
        write_coco_splits(SAMPLE, tmp_path / f'w{workers}', workers=workers)
    for name in ('train', 'val', 'test', 'trainval'):
        one = (tmp_path / 'w1' / 'annotations' / f'{name}.json').read_bytes()
        assert one == (tmp_path / 'w2' / 'annotations' / f'{name}.json').read_bytes()
        assert one == json.dumps(json.loads(one), separators=(',', ':')).encode()  # streamed = dumps
    assert (tmp_path / 'w1' / 'report.json').read_text() == (tmp_path / 'w2' / 'report.json').read_text()


_coordinate = st.one_of(st.integers(-20, 130), st.floats(-20, 130).map(lambda v: round(v, 3)))


def _expected_coco_box(box: tuple, width: int, height: int) -> tuple[list | None, bool]:
    """The README's convention, written out here independently of the converter: x = xmin - 1, w = xmax - xmin + 1,
    clipped to [0, width] x [0, height]; None for xmax <= xmin, ymax <= ymin or nothing left inside."""
    xmin, ymin, xmax, ymax = box
    if xmax <= xmin or ymax <= ymin:
        return None, False
    left, top, right, bottom = xmin - 1, ymin - 1, xmax, ymax
    cl, ct = min(max(left, 0), width), min(max(top, 0), height)
    cr, cb = min(max(right, 0), width), min(max(bottom, 0), height)
    clipped = (cl, ct, cr, cb) != (left, top, right, bottom)
    if cr <= cl or cb <= ct:
        return None, clipped
    return [cl, ct, cr - cl, cb - ct], clipped


@pytest.mark.parametrize('box,expected', [
    ((1, 1, 100, 80), [0, 0, 100, 80]),          # the whole 100x80 image
    ((10, 20, 30, 40), [9, 19, 21, 21]),
    ((100, 80, 100, 80), None),                  # one click: degenerate
    ((50, 10, 60, 90), [49, 9, 11, 71]),         # ymax 90 clipped to the bottom (80)
    ((-4, 5, 3, 7), [0, 4, 3, 3]),               # xmin -4 -> x = -5, clipped to 0
    ((0.5, 1.25, 10.5, 2.75), [0, 0.25, 10.5, 2.5]),
    ((101, 1, 120, 5), None),                    # wholly right of the image
])
def test_converted_boxes_are_the_hand_written_ones(tmp_path, box, expected):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml(objects=[('cat', *box)])})
    coco, _, _ = convert_voc_to_coco(root)
    assert [a['bbox'] for a in coco['annotations']] == ([expected] if expected else [])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(box=st.tuples(_coordinate, _coordinate, _coordinate, _coordinate))
def test_converted_box_is_the_documented_conversion_for_any_coordinates(tmp_path, box):
    # what the converter writes for any box is voc_box_to_coco's result, rounded to 0.01 px, and its report
    root = Path(tempfile.mkdtemp(dir=tmp_path)) / 'voc'
    make_voc(root, {'a': voc_xml(objects=[('cat', *box)])})
    coco, _, report = convert_voc_to_coco(root)
    expected, clipped = _expected_coco_box(box, 100, 80)
    if expected is None:
        assert coco['annotations'] == [] and ('degenerate_box' in report.problems)
    else:
        (ann,) = coco['annotations']
        assert ann['bbox'] == [round(v, 2) for v in expected]
        assert ann['area'] == round(expected[2] * expected[3], 2)
        assert ('clipped_box' in report.problems) == clipped


def test_encoded_subsets_are_the_bytes_of_json_dumps(tmp_path, monkeypatch):
    coco, _, _ = convert_voc_to_coco(SAMPLE)
    coco['images'].append({'id': 999, 'file_name': 'a "quoted" é.jpg', 'width': 3, 'height': 2})  # no boxes
    coco['images'].append({'id': 1000, 'file_name': 'x},{"id":7}.jpg', 'width': 3, 'height': 2})  # a record seam
    monkeypatch.setattr('custom.datasets.coco_writer.JSON_CHUNK', 7)  # several chunks per file
    encoded = EncodedCOCO(coco)
    ids = [im['id'] for im in coco['images']]
    for keep in ([], ids, ids[::3], [999, 1000], [ids[5], ids[1]]):
        encoded.write(tmp_path / 'part.json', keep)
        expected = json.dumps(subset(coco, keep), separators=(',', ':'))
        assert (tmp_path / 'part.json').read_text(encoding='utf-8') == expected, keep


def test_random_split_is_deterministic_and_complete():
    ids = [f'im{i}' for i in range(50)]
    first = random_splits(ids, [0.8, 0.1, 0.1], seed=3)
    assert first == random_splits(list(reversed(ids)), [0.8, 0.1, 0.1], seed=3)
    assert [len(first[s]) for s in ('train', 'val', 'test')] == [40, 5, 5]
    assert sorted(first['train'] + first['val'] + first['test']) == sorted(ids)
    with pytest.raises(ValueError, match='summing to 1'):
        random_splits(ids, [0.5, 0.2], seed=0)


def _xml_boxes(voc_dir: Path) -> set[tuple]:
    """Every box of the XML files, read with the standard library and converted by the README's formula."""
    import xml.etree.ElementTree as ET
    boxes = set()
    for xml in (voc_dir / 'Annotations').glob('*.xml'):
        for obj in ET.parse(xml).getroot().iter('object'):
            x1, y1, x2, y2 = (int(obj.find(f'bndbox/{k}').text) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            if x2 > x1 and y2 > y1:
                boxes.add((xml.stem, obj.find('name').text, x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1))
    return boxes


def _json_boxes(out: Path, split: str) -> set[tuple]:
    data = json.loads((out / 'annotations' / f'{split}.json').read_text())
    names = {c['id']: c['name'] for c in data['categories']}
    stems = {im['id']: Path(im['file_name']).stem for im in data['images']}
    return {(stems[a['image_id']], names[a['category_id']], *a['bbox']) for a in data['annotations']}


def test_shipped_sample_round_trips_with_official_splits(tmp_path):
    report = write_coco_splits(SAMPLE, tmp_path / 'out')
    out = tmp_path / 'out'
    train, val, test = (_json_boxes(out, s) for s in ('train', 'val', 'test'))
    assert train | val | test == _xml_boxes(SAMPLE)  # every XML box, right class and coordinates
    assert _json_boxes(out, 'trainval') == train | val
    for split, n in (('train', 32), ('val', 8), ('test', 12), ('trainval', 40)):
        assert report.counts[f'images_{split}'] == n
    assert (out / 'images' / 'JPEGImages').is_dir()  # the link makes file_name resolve


def test_output_is_byte_identical_for_same_input(tmp_path):
    write_coco_splits(SAMPLE, tmp_path / 'a')
    write_coco_splits(SAMPLE, tmp_path / 'b')
    for name in ('train', 'val', 'test', 'trainval'):
        assert (tmp_path / 'a/annotations' / f'{name}.json').read_bytes() == \
            (tmp_path / 'b/annotations' / f'{name}.json').read_bytes()


def test_real_bccd_converts_with_its_two_degenerate_boxes_reported(tmp_path):
    from pycocotools.coco import COCO
    bccd = shared_dataset('bccd')
    report = write_coco_splits(bccd, tmp_path / 'bccd')
    assert report.counts['images'] == 364
    assert sorted(d.split(':')[0] for d in report.problems['degenerate_box']) == \
        ['BloodImage_00338.xml', 'BloodImage_00343.xml']
    assert report.counts['boxes_in'] == 4155 + 372 + 361 == report.counts['boxes_out'] + 2
    coco = COCO(str(tmp_path / 'bccd/annotations/test.json'))
    assert len(coco.getImgIds()) == 72
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == ['Platelets', 'RBC', 'WBC']


def test_real_face_mask_flat_layout_needs_and_gets_a_seeded_split(tmp_path):
    face = shared_dataset('face-mask')
    with pytest.raises(VOCError, match='no ImageSets/Main'):
        write_coco_splits(face, tmp_path / 'x')
    report = write_coco_splits(face, tmp_path / 'fm', split=[0.8, 0.1, 0.1], seed=0)
    assert report.counts['images'] == 700
    assert (report.counts['images_train'], report.counts['images_val'], report.counts['images_test']) == (560, 70, 70)
    data = json.loads((tmp_path / 'fm/annotations/train.json').read_text())
    assert [c['name'] for c in data['categories']] == ['mask_weared_incorrect', 'with_mask', 'without_mask']


def test_png_originals_resolve_by_stem_when_filename_differs(tmp_path):
    originals = shared_dataset('face-mask/png-originals')
    coco, _, report = convert_voc_to_coco(originals)
    assert len(coco['images']) == 12 and 'missing_image' not in report.problems
    assert all(im['file_name'].endswith('.png') for im in coco['images'])


def test_cli_reports_a_missing_folder_with_exit_code_2(tmp_path):
    result = run_tool('tools/dataset_converters/voc2coco.py', str(tmp_path / 'nope'),
                      '--out-dir', str(tmp_path / 'o'))
    assert result.returncode == 2
    assert f'error: {tmp_path / "nope"}: no such folder' in result.stderr


def test_cli_strict_fails_on_problems(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('cat', 5, 5, 5, 5)])})
    result = run_tool('tools/dataset_converters/voc2coco.py', str(root), '--out-dir', str(tmp_path / 'o'),
                      '--split', '1,0', '--strict')
    assert result.returncode == 1
    assert 'PROBLEM degenerate_box (1): a.xml' in result.stdout


def test_stratified_split_puts_a_rare_class_in_every_split():
    ids = [f'im{i:03d}' for i in range(100)]
    strata = {i: ('rare' if n % 10 == 0 else 'common') for n, i in enumerate(ids)}  # 10 rare images
    splits = random_splits(ids, [0.8, 0.1, 0.1], seed=1, strata=strata)
    rare = {name: sum(strata[i] == 'rare' for i in splits[name]) for name in ('train', 'val', 'test')}
    assert rare == {'train': 8, 'val': 1, 'test': 1}
    assert [len(splits[n]) for n in ('train', 'val', 'test')] == [80, 10, 10]


def test_kfold_each_image_in_exactly_one_val_fold():
    ids = [f'im{i}' for i in range(23)]
    folds = kfold_splits(ids, 5, seed=0)
    vals = [x for i in range(5) for x in folds[f'fold{i}_val']]
    assert sorted(vals) == sorted(ids)
    for i in range(5):
        assert not set(folds[f'fold{i}_val']) & set(folds[f'fold{i}_train'])
        assert len(folds[f'fold{i}_val']) in (4, 5)
    with pytest.raises(ValueError, match='--kfold needs 2 <= K <= number of images'):
        kfold_splits(ids, 1, seed=0)


def test_real_face_mask_rare_class_is_in_every_split_in_proportion(tmp_path):
    face = shared_dataset('face-mask')
    write_coco_splits(face, tmp_path / 'fm', split=[0.7, 0.15, 0.15], seed=0, kfold=3)
    stats = json.loads((tmp_path / 'fm/stats.json').read_text())
    splits = ('train', 'val', 'test')
    rare = {s: stats[s]['boxes_per_class']['mask_weared_incorrect'] / stats[s]['boxes'] for s in splits}
    total = sum(stats[s]['boxes_per_class']['mask_weared_incorrect'] for s in ('train', 'val', 'test'))
    assert total > 50 and all(0.01 < share < 0.08 for share in rare.values()), rare
    assert {f'fold{i}_{p}' for i in range(3) for p in ('train', 'val')} <= set(stats)


def test_statistics_and_plots_of_the_sample(tmp_path):
    from PIL import Image

    from custom.visualization.dataset_plots import plot_split_files
    write_coco_splits(SAMPLE, tmp_path / 'out')
    assert not (tmp_path / 'out/plots').exists()  # the converter draws nothing by itself
    assert sorted(p.name for p in plot_split_files(tmp_path / 'out')) == ['box_geometry.png', 'class_counts.png']
    stats = json.loads((tmp_path / 'out/stats.json').read_text())
    train = stats['train']
    assert train['images'] == 32 and train['boxes'] == sum(train['boxes_per_class'].values())
    assert set(train['boxes_per_class']) == {'Platelets', 'RBC', 'WBC'}
    per_image = train['objects_per_image']
    assert per_image['min'] <= per_image['median'] <= per_image['max']
    assert sum(train['size_bucket'].values()) == train['boxes']
    for name in ('class_counts.png', 'box_geometry.png'):
        with Image.open(tmp_path / 'out/plots' / name) as img:
            assert img.width > 300 and img.height > 200


_xml_text = st.text(alphabet=st.characters(blacklist_categories=('Cs',)), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=_xml_text, name=_xml_text, coord=_xml_text,
       width=st.sampled_from(['inf', '-1', 'nan', '1e400', 'x', '']) | _xml_text, cut=st.integers(0, 400))
def test_malformed_xml_never_escapes_as_anything_but_a_clean_error(tmp_path, prefix, name, coord, width, cut):
    from xml.sax.saxutils import escape
    doc = voc_xml(objects=[('cat', 1, 1, 5, 5)])
    doc = doc.replace('<xmin>1</xmin>', f'<xmin>{escape(coord)}</xmin>').replace('cat', escape(name), 1)
    doc = doc.replace('<width>100</width>', f'<width>{escape(width)}</width>')
    doc = (prefix + doc)[:cut] if cut else prefix + doc
    path = tmp_path / 'fuzz.xml'
    path.write_text(doc, encoding='utf-8', errors='surrogatepass')
    try:
        item = parse_voc_xml(path)
    except VOCError as err:
        assert str(err).startswith(str(path))
        return
    for message in item.bad_objects:
        assert message.startswith(str(path))
    for obj in item.objects:
        assert all(math.isfinite(v) for v in obj.bbox)
    assert item.width >= 0 and item.height >= 0


def test_file_names_are_relative_to_the_folder_given_as_dot(tmp_path, monkeypatch):
    root = tmp_path / 'flat'
    write_image(root / 'shots' / 'a.png')
    (root / 'shots' / 'a.xml').write_text(voc_xml('a.png', objects=[('cat', 1, 1, 5, 5)]))
    monkeypatch.chdir(root)
    coco, _, _ = convert_voc_to_coco('.')
    assert [im['file_name'] for im in coco['images']] == ['shots/a.png']


def test_billion_laughs_is_not_expanded(tmp_path):
    lol = '<!ENTITY a0 "lol">' + ''.join(f'<!ENTITY a{i} "{("&a%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    path = tmp_path / 'laughs.xml'
    path.write_text(f'<?xml version="1.0"?><!DOCTYPE annotation [{lol}]>'
                    '<annotation><filename>&a9;</filename><object><name>a</name></object></annotation>')
    with pytest.raises(VOCError, match=r'laughs\.xml: (declares XML entities|unreadable XML.*amplification)') as err:
        parse_voc_xml(path)
    assert err.value.boxes == 1 and err.value.estimated  # its one <object> is still counted


def test_oversized_file_is_refused_by_name(tmp_path):
    path = tmp_path / 'huge.xml'
    path.write_text('<annotation>' + ' ' * (6 * 1024 * 1024) + '</annotation>')
    with pytest.raises(VOCError, match=r'huge\.xml: \d+ bytes is too large for a VOC annotation'):
        parse_voc_xml(path)


def test_conversion_pauses_the_cycle_collector_and_always_restores_it(tmp_path, monkeypatch):
    import gc
    import custom.datasets.converter as converter
    states = []
    parse = converter.parse_voc_xml
    monkeypatch.setattr(converter, 'parse_voc_xml',
                        lambda *args: states.append(gc.isenabled()) or parse(*args))
    write_coco_splits(SAMPLE, tmp_path / 'out')
    assert states and not any(states) and gc.isenabled()
    with pytest.raises(FileNotFoundError, match='no such folder'):
        convert_voc_to_coco(tmp_path / 'missing')
    assert gc.isenabled()
