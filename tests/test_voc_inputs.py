"""The converter's inputs: no file hangs or aborts a run, and nothing is lost without a report (issue 17, 1-2)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import run_tool, voc_xml, write_image

from custom.datasets.coco_writer import write_coco_splits
from custom.datasets.converter import BOX_DROP_KINDS, convert_voc_to_coco
from custom.datasets.voc_xml import VOCError, parse_voc_xml

CLI = 'tools/dataset_converters/voc2coco.py'


def make_voc(root: Path, items: dict[str, str], splits: dict[str, str] | None = None) -> Path:
    """A VOCdevkit-style folder: {stem: xml} annotations, a blank image per stem, ImageSets/Main/{name}.txt."""
    (root / 'Annotations').mkdir(parents=True)
    for stem, xml in items.items():
        (root / 'Annotations' / f'{stem}.xml').write_text(xml)
        write_image(root / 'JPEGImages' / f'{stem}.jpg')
    for name, text in (splits or {}).items():
        (root / 'ImageSets' / 'Main').mkdir(parents=True, exist_ok=True)
        (root / 'ImageSets' / 'Main' / f'{name}.txt').write_text(text)
    return root


def assert_boxes_balance(counts: dict, problems: dict) -> None:
    drops = sum(len(problems.get(kind, {'items': []})['items']) for kind in BOX_DROP_KINDS)
    assert counts['boxes_in'] == counts['boxes_out'] + counts['boxes_of_dropped_images'] + drops


# --- 1. no file hangs or aborts the run -------------------------------------------------------------------------

@pytest.mark.parametrize('layout', ['Annotations', 'flat'])
def test_fifo_folder_and_dangling_link_named_xml_are_reported_and_skipped(tmp_path, layout):
    root = tmp_path / 'voc'
    xml_dir = root / 'Annotations' if layout == 'Annotations' else root
    xml_dir.mkdir(parents=True)
    (xml_dir / 'a.xml').write_text(voc_xml('a.jpg', objects=[('cat', 1, 1, 5, 5)]))
    write_image(root / 'JPEGImages' / 'a.jpg')
    os.mkfifo(xml_dir / 'pipe.xml')  # opening it for reading would wait forever for a writer
    (xml_dir / 'folder.xml').mkdir()
    (xml_dir / 'gone.xml').symlink_to(tmp_path / 'nowhere.xml')
    result = run_tool(CLI, str(root), '--out-dir', str(tmp_path / 'out'), '--split', '1,0', timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert report['problems']['not_a_file']['items'] == [
        f'{xml_dir / "folder.xml"}: a folder named *.xml, not a file; skipped',
        f'{xml_dir / "gone.xml"}: a dangling link or a link to a non-file named *.xml, not a file; skipped',
        f'{xml_dir / "pipe.xml"}: a FIFO, socket or device named *.xml, not a file; skipped',
    ]
    assert report['counts']['images'] == 1 and report['counts']['xml_files'] == 1


def test_a_fifo_given_to_the_parser_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / 'pipe.xml')
    with pytest.raises(VOCError, match=r'pipe\.xml: not a regular file'):
        parse_voc_xml(tmp_path / 'pipe.xml')


def test_wrongly_encoded_files_are_reported_by_name_and_the_rest_converted(tmp_path):
    root = make_voc(tmp_path / 'voc', {'ok': voc_xml('ok.jpg', objects=[('cat', 1, 1, 5, 5)])})
    latin = voc_xml('café.jpg', objects=[('cat', 1, 1, 5, 5), ('dog', 1, 1, 6, 6)]).encode('latin-1')
    (root / 'Annotations' / 'latin.xml').write_bytes(latin)  # Latin-1, no declaration: UTF-8 is assumed
    cp = ('<?xml version="1.0" encoding="UTF-8"?>' + voc_xml('“q”.jpg', objects=[('cat', 1, 1, 5, 5)])).encode('cp1252')
    (root / 'Annotations' / 'quotes.xml').write_bytes(cp)
    declared = '<?xml version="1.0" encoding="ISO-8859-1"?>' + voc_xml('d.jpg', objects=[('café', 1, 1, 5, 5)])
    (root / 'Annotations' / 'd.xml').write_bytes(declared.encode('latin-1'))  # declared right: read
    write_image(root / 'JPEGImages' / 'd.jpg')
    coco, _, report = convert_voc_to_coco(root)
    assert sorted(c['name'] for c in coco['categories']) == ['café', 'cat']
    items = report.problems['unreadable_xml']
    assert [m.split(': ')[0] for m in items] == [str(root / 'Annotations' / n) for n in ('latin.xml', 'quotes.xml')]
    assert all('save it as UTF-8, or declare its encoding' in m for m in items)
    assert items[0].endswith('(~2 boxes: <object> tags counted, not parsed)')
    assert report.counts['boxes_in'] == 2 + 2 + 1 and report.counts['boxes_in_estimated'] == 3
    assert report.counts['boxes_out'] == 2 and report.counts['boxes_of_dropped_images'] == 3


def test_an_os_error_reading_one_file_is_a_reported_problem(tmp_path, monkeypatch):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('cat', 1, 1, 5, 5)]),
                                       'b': voc_xml('b.jpg', objects=[('cat', 1, 1, 5, 5)])})
    real_read = os.read

    def failing_read(fd: int, n: int) -> bytes:
        if os.readlink(f'/proc/self/fd/{fd}').endswith('b.xml'):
            raise OSError(5, 'Input/output error')
        return real_read(fd, n)

    monkeypatch.setattr(os, 'read', failing_read)
    coco, _, report = convert_voc_to_coco(root)
    assert [im['file_name'] for im in coco['images']] == ['JPEGImages/a.jpg']
    assert report.problems['unreadable_xml'] == [f"{root / 'Annotations' / 'b.xml'}: cannot be read "
                                                 f"(Input/output error)"]


def test_a_file_name_that_is_not_utf8_is_reported_escaped(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('cat', 1, 1, 5, 5)])})
    bad = os.path.join(os.fsencode(root / 'Annotations'), b'caf\xe9.xml')
    with open(bad, 'wb') as f:
        f.write(voc_xml('a.jpg', objects=[('cat', 1, 1, 5, 5)] * 2).encode())
    result = run_tool(CLI, str(root), '--out-dir', str(tmp_path / 'out'), '--split', '1,0', timeout=60)
    assert result.returncode == 0, result.stderr
    expected = f"{root / 'Annotations'}/caf\\xe9.xml: the name is not UTF-8; rename the file"
    assert f'PROBLEM file_name_not_utf8 (1): {expected}' in result.stdout
    report = json.loads((tmp_path / 'out' / 'report.json').read_text(encoding='utf-8'))
    assert report['problems']['file_name_not_utf8']['items'] == [expected]
    assert report['counts']['boxes_in'] == 3 and report['counts']['boxes_of_dropped_images'] == 2


def test_xml_extension_in_any_case_is_read(tmp_path):
    root = tmp_path / 'voc'
    (root / 'Annotations').mkdir(parents=True)
    for name in ('a.XML', 'b.Xml', 'c.xml'):
        (root / 'Annotations' / name).write_text(voc_xml(objects=[('cat', 1, 1, 5, 5)]))
        write_image(root / 'JPEGImages' / f'{name[0]}.jpg')
    coco, ids, _ = convert_voc_to_coco(root)
    assert sorted(ids) == ['a', 'b', 'c'] and len(coco['annotations']) == 3


# --- 2. no silent loss ------------------------------------------------------------------------------------------

def test_an_image_in_no_split_is_reported(tmp_path):
    root = make_voc(tmp_path / 'voc', {s: voc_xml(f'{s}.jpg', objects=[('cat', 1, 1, 5, 5)]) for s in 'abc'},
                    splits={'train': 'a\n', 'val': 'b\n'})
    report = write_coco_splits(root, tmp_path / 'out')
    assert report.problems['image_in_no_split'] == [
        'c: in none of ImageSets/Main/{train,val}.txt; its boxes are in no output file']


def test_an_id_in_two_splits_is_an_error_unless_allowed(tmp_path):
    items = {s: voc_xml(f'{s}.jpg', objects=[('cat', 1, 1, 5, 5)]) for s in 'abc'}
    root = make_voc(tmp_path / 'voc', items, splits={'train': 'a\nb\n', 'val': 'b\n', 'test': 'c\n',
                                                      'trainval': 'a\nb\n'})  # trainval = train + val: fine
    with pytest.raises(VOCError, match=r"Main: 1 ids in both train and val: b\. An image in two splits leaks "
                                       r".* pass --allow-overlap"):
        write_coco_splits(root, tmp_path / 'out')
    assert not (tmp_path / 'out').exists()  # refused before anything was written
    report = write_coco_splits(root, tmp_path / 'out', allow_overlap=True)
    assert report.problems['split_overlap'] == ['1 ids in both train and val: b']
    assert (report.counts['images_train'], report.counts['images_val']) == (2, 1)


def test_two_xml_files_naming_one_image_are_reported(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('cat', 1, 1, 5, 5)]),
                                       'b': voc_xml('a.jpg', objects=[('cat', 1, 1, 6, 6)])})  # copied, not edited
    coco, _, report = convert_voc_to_coco(root)
    assert report.problems['shared_image'] == ['b.xml: names the image a.jpg of a.xml too; both kept, '
                                               'fix the <filename> of one']
    assert len(coco['annotations']) == 2


def test_ids_with_spaces_are_kept_whole_and_reported(tmp_path):
    root = make_voc(tmp_path / 'voc', {'my image': voc_xml('my image.jpg', objects=[('cat', 1, 1, 5, 5)])},
                    splits={'train': 'my image\n'})
    report = write_coco_splits(root, tmp_path / 'out')
    assert report.counts['images_train'] == 1 and 'split_id_without_image' not in report.problems
    assert report.problems['id_with_space'] == [
        f"{root / 'Annotations' / 'my image.xml'}: id 'my image' has a space (ImageSets lines are read whole)"]


def test_boxes_of_oversized_and_unreadable_files_are_counted_in(tmp_path):
    root = make_voc(tmp_path / 'voc', {'ok': voc_xml('ok.jpg', objects=[('cat', 1, 1, 5, 5)]),
                                       'broken': voc_xml('b.jpg', objects=[('cat', 1, 1, 5, 5)] * 2)[:-5]})
    big = voc_xml('big.jpg', objects=[('cat', 1, 1, 5, 5)] * 3, extra='<!--' + 'x' * 2000 + '-->')
    (root / 'Annotations' / 'big.xml').write_text(big)
    coco, _, report = convert_voc_to_coco(root, max_xml_bytes=1500)
    assert report.problems['unreadable_xml'][0].startswith(
        f"{root / 'Annotations' / 'big.xml'}: {len(big)} bytes is too large for a VOC annotation (limit 1500, "
        f"see --max-xml-mb)")
    assert report.problems['unreadable_xml'][0].endswith('(~3 boxes: <object> tags counted, not parsed)')
    assert report.counts['boxes_in'] == 1 + 2 + 3 == report.counts['boxes_out'] + 5
    assert report.counts['boxes_in_estimated'] == 5 and report.counts['boxes_of_dropped_images'] == 5
    assert_boxes_balance(report.counts, report.to_dict()['problems'])


def test_object_tags_of_a_huge_file_are_counted_across_read_chunks(tmp_path):
    obj = b'<object><name>a</name></object>'
    head = b'<annotation>' + b' ' * (2 ** 20 - 12 - 3)  # the second <object> straddles the first 1 MiB
    data = head + obj + b'\n' + obj * 4 + b'</annotation>'
    (tmp_path / 'huge.xml').write_bytes(data)
    with pytest.raises(VOCError, match=r'huge\.xml: \d+ bytes is too large') as err:
        parse_voc_xml(tmp_path / 'huge.xml', max_bytes=1000)
    assert (err.value.boxes, err.value.estimated) == (5, True)


@pytest.mark.parametrize('value,message', [
    ('1e308', "<xmax> '1e308' is beyond 1e+06 px; fix the box"),
    ('99999999999', "<xmax> '99999999999' is beyond 1e+06 px; fix the box"),
    ('1_0', "<xmax> is not a number: '1_0'"),
    ('١٠', "<xmax> is not a number: '١٠'"),  # Arabic-Indic digits: int() would read 10
    ('-inf', "<xmax> is not a finite number: '-inf'"),
])
def test_absurd_and_lookalike_coordinates_are_bad_values(tmp_path, value, message):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('cat', 2, 2, value, 5), ('cat', 1, 1, 5, 5)])})
    coco, _, report = convert_voc_to_coco(root)
    assert [a['bbox'] for a in coco['annotations']] == [[0, 0, 5, 5]]  # never a whole-image box
    assert report.problems['bad_object'] == [f"{root / 'Annotations' / 'a.xml'}: {message}"]


def test_class_names_differing_only_by_case_are_reported(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('RBC', 1, 1, 5, 5)]),
                                       'b': voc_xml('b.jpg', objects=[('rbc', 1, 1, 5, 5)])})
    _, _, report = convert_voc_to_coco(root)
    assert report.problems['class_case_clash'] == [
        "class names differ only by case: 'RBC' in JPEGImages/a.jpg, 'rbc' in JPEGImages/b.jpg; "
        "merge them with --class-map rbc=RBC"]
    _, _, report = convert_voc_to_coco(root, classes=['RBC'])
    assert report.problems['class_case_clash'] == [
        "class names differ only by case: 'RBC' in JPEGImages/a.jpg, 'rbc' in b.xml; merge them with "
        "--class-map rbc=RBC"]
    _, _, report = convert_voc_to_coco(root, class_map={'rbc': 'RBC'})
    assert 'class_case_clash' not in report.problems


def test_the_size_limit_is_set_from_the_cli(tmp_path):
    root = make_voc(tmp_path / 'voc', {'a': voc_xml('a.jpg', objects=[('cat', 1, 1, 5, 5)]),
                                       'b': voc_xml('b.jpg', objects=[('cat', 1, 1, 5, 5)], extra=' ' * 2000)})
    result = run_tool(CLI, str(root), '--out-dir', str(tmp_path / 'out'), '--split', '1,0', '--max-xml-mb', '0.001')
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert report['problems']['unreadable_xml']['items'][0].startswith(
        f"{root / 'Annotations' / 'b.xml'}: {(root / 'Annotations' / 'b.xml').stat().st_size} bytes is too large "
        f"for a VOC annotation (limit 1048, ")  # 0.001 MiB
    assert report['counts']['boxes_in'] == 2 and report['counts']['boxes_out'] == 1
