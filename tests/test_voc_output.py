"""The converter's output: nothing written before the inputs are checked, no stale files, options checked,
the README's CLI claims, and hostile bytes through the CLI (issue 17, items 3 and 7)."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import REPO, SAMPLE, run_tool, voc_xml, write_image

from custom.datasets.coco_writer import write_coco_splits
from custom.datasets.converter import BOX_DROP_KINDS, convert_voc_to_coco
from custom.datasets.splits import random_splits
from custom.datasets.voc_xml import VOCError

CLI = 'tools/dataset_converters/voc2coco.py'


def flat_voc(root: Path, stems: str = 'abcde', name: str = 'cat') -> Path:
    """The flat layout: annotations/<stem>.xml and images/<stem>.jpg, one box each."""
    (root / 'annotations').mkdir(parents=True)
    for stem in stems:
        (root / 'annotations' / f'{stem}.xml').write_text(voc_xml(f'{stem}.jpg', objects=[(name, 1, 1, 5, 5)]))
        write_image(root / 'images' / f'{stem}.jpg')
    return root


def written(out: Path) -> list[str]:
    return sorted(p.name for p in (out / 'annotations').iterdir())


# --- 3. output safety -------------------------------------------------------------------------------------------

def test_out_dir_equal_to_or_above_the_input_is_refused_before_writing(tmp_path):
    root = flat_voc(tmp_path / 'data' / 'voc')
    for out in (root, root.parent, tmp_path):  # root/annotations is the XML folder itself
        with pytest.raises(VOCError, match=r'is the dataset folder .* or a folder above it'):
            write_coco_splits(root, out, split=[0.6, 0.4])
    assert written(root) == [f'{s}.xml' for s in 'abcde']
    assert sorted(p.name for p in root.iterdir()) == ['annotations', 'images']
    write_coco_splits(root, root / 'coco', split=[0.6, 0.4])  # below the input is fine


def test_a_rerun_removes_split_files_it_no_longer_writes(tmp_path):
    root, out = flat_voc(tmp_path / 'voc'), tmp_path / 'out'
    write_coco_splits(root, out, split=[0.6, 0.2, 0.2], kfold=2)
    assert written(out) == ['fold0_train.json', 'fold0_val.json', 'fold1_train.json', 'fold1_val.json',
                            'test.json', 'train.json', 'trainval.json', 'val.json']
    (out / 'annotations' / 'notes.json').write_text('{}')  # not a split file: left alone
    report = write_coco_splits(root, out, split=[0.6, 0.4])
    assert written(out) == ['notes.json', 'train.json', 'val.json']
    assert report.counts['stale_split_files_removed'] == 6
    assert sorted(json.loads((out / 'stats.json').read_text())) == ['train', 'val']


def test_nothing_is_written_when_out_images_is_not_the_link(tmp_path):
    root, out = flat_voc(tmp_path / 'voc'), tmp_path / 'out'
    (out / 'images').mkdir(parents=True)
    with pytest.raises(VOCError, match=r'out/images exists and is not a link to .*; remove it or use another'):
        write_coco_splits(root, out, split=[0.6, 0.4])
    assert sorted(p.name for p in out.iterdir()) == ['images']  # no annotations/, stats.json or report.json


@pytest.mark.parametrize('text', ['nan,0.5,0.5', '0.5,nan', 'inf,0,0'])
def test_split_with_nan_or_inf_is_an_error(tmp_path, text):
    fractions = [float(f) for f in text.split(',')]
    with pytest.raises(ValueError, match='finite non-negative numbers summing to 1'):
        random_splits(['a', 'b'], fractions, seed=0)
    result = run_tool(CLI, str(flat_voc(tmp_path / 'voc')), '--out-dir', str(tmp_path / 'out'), '--split', text)
    assert result.returncode == 2 and 'error: split fractions must be' in result.stderr
    assert not (tmp_path / 'out').exists()


def test_a_split_left_empty_by_rounding_is_a_warning(tmp_path):
    report = write_coco_splits(flat_voc(tmp_path / 'voc', 'abc'), tmp_path / 'out', split=[0.9, 0.05, 0.05])
    assert (report.counts['images_train'], report.counts['images_val'], report.counts['images_test']) == (3, 0, 0)
    assert report.problems['empty_split'] == [
        f'{name}.json has no images: its list is empty, or its fraction is too small for 3 images '
        f'(a fraction of 0 leaves a split out)' for name in ('val', 'test')]


def test_a_test_only_set_is_written_as_one_file_on_purpose(tmp_path):
    report = write_coco_splits(flat_voc(tmp_path / 'voc', 'abc'), tmp_path / 'out', split=[0, 0, 1])
    assert written(tmp_path / 'out') == ['test.json']
    assert report.counts['images_test'] == 3 and 'empty_split' not in report.problems


def test_an_empty_class_name_is_an_error_naming_it(tmp_path):
    result = run_tool(CLI, str(flat_voc(tmp_path / 'voc')), '--out-dir', str(tmp_path / 'out'),
                      '--classes', 'cat,,dog', '--split', '1,0')
    assert result.returncode == 2
    assert "error: class list ['cat', '', 'dog']: name 2 is empty (two commas in a row" in result.stderr
    assert not (tmp_path / 'out').exists()


def test_a_listed_class_without_boxes_is_a_warning(tmp_path):
    _, _, report = convert_voc_to_coco(flat_voc(tmp_path / 'voc'), classes=['cat', 'dog'])
    assert report.problems['class_without_boxes'] == ["'dog' is in the class list but no box has it"]


# --- 7. the README's claims from the CLI ------------------------------------------------------------------------

def test_split_and_kfold_output_is_byte_identical_for_the_same_seed(tmp_path):
    args = ['--split', '0.6,0.2,0.2', '--kfold', '3']
    for name, seed in (('a', '4'), ('b', '4'), ('c', '5')):
        result = run_tool(CLI, str(SAMPLE), '--out-dir', str(tmp_path / name), *args, '--seed', seed)
        assert result.returncode == 0, result.stderr
    files = written(tmp_path / 'a')
    assert len(files) == 10 and files == written(tmp_path / 'b')
    for name in files:
        assert (tmp_path / 'a/annotations' / name).read_bytes() == (tmp_path / 'b/annotations' / name).read_bytes()
    assert (tmp_path / 'a/annotations/train.json').read_bytes() != (tmp_path / 'c/annotations/train.json').read_bytes()


def test_classes_file_orders_the_ids_and_unknown_error_stops_the_cli(tmp_path):
    (tmp_path / 'classes.txt').write_text('WBC\n\nRBC\n')
    result = run_tool(CLI, str(SAMPLE), '--out-dir', str(tmp_path / 'x'), '--classes-file',
                      str(tmp_path / 'classes.txt'), '--unknown', 'error')
    assert result.returncode == 2
    assert "classes ['Platelets'] are not in the class list ['WBC', 'RBC']" in result.stderr
    assert not (tmp_path / 'x').exists()
    (tmp_path / 'classes.txt').write_text('WBC\nRBC\nPlatelets\n')
    result = run_tool(CLI, str(SAMPLE), '--out-dir', str(tmp_path / 'y'), '--classes-file',
                      str(tmp_path / 'classes.txt'), '--unknown', 'error')
    assert result.returncode == 0, result.stderr
    train = json.loads((tmp_path / 'y/annotations/train.json').read_text())
    assert [(c['id'], c['name']) for c in train['categories']] == [(1, 'WBC'), (2, 'RBC'), (3, 'Platelets')]


def test_image_links_leading_outside_the_dataset_are_not_followed(tmp_path):
    write_image(tmp_path / 'private' / 'b.jpg')
    write_image(tmp_path / 'private' / 'sub' / 'c.jpg')
    root = flat_voc(tmp_path / 'voc', 'a')
    (root / 'images' / 'b.jpg').symlink_to(tmp_path / 'private' / 'b.jpg')  # a link out of the dataset
    (root / 'images' / 'd.jpg').symlink_to(root / 'images' / 'a.jpg')  # a link inside it: fine
    (root / 'images' / 'sub').symlink_to(tmp_path / 'private' / 'sub')  # a linked folder out of it
    for stem, filename in (('b', 'b.jpg'), ('c', 'sub/c.jpg'), ('d', 'd.jpg')):
        (root / 'annotations' / f'{stem}.xml').write_text(voc_xml(filename, objects=[('cat', 1, 1, 5, 5)]))
    coco, _, report = convert_voc_to_coco(root)
    assert [im['file_name'] for im in coco['images']] == ['images/a.jpg', 'images/d.jpg']
    assert report.problems['missing_image'] == ["b.xml: <filename> 'b.jpg' not found",
                                                "c.xml: <filename> 'sub/c.jpg' not found"]


# --- 7. hostile bytes through the CLI -----------------------------------------------------------------------

def _cli_main():
    spec = importlib.util.spec_from_file_location('voc2coco_cli', REPO / CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


_DECLARATIONS = [b'', b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-8"?>',
                 b'<?xml version="1.0" encoding="ISO-8859-1"?>', b'<?xml version="1.0" encoding="bogus"?>',
                 b'<?xml version="1.0" encoding="UTF-16"?>', b'\xef\xbb\xbf']
_names = st.binary(min_size=1, max_size=10).filter(  # a file name of any bytes but '/' and NUL, not a.xml's
    lambda b: b'/' not in b and b'\0' not in b and b not in (b'.', b'..', b'a'))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(declaration=st.sampled_from(_DECLARATIONS), junk=st.binary(max_size=40), where=st.integers(0, 400),
       name=st.binary(max_size=12), coord=st.binary(max_size=8), stem=_names)
def test_any_bytes_through_the_cli_give_a_report_never_a_crash(tmp_path, declaration, junk, where, name, coord,
                                                               stem):
    root = Path(tempfile.mkdtemp(dir=tmp_path)) / 'voc'
    flat_voc(root, 'a')
    doc = voc_xml('x.jpg', objects=[('NAME', 1, 1, 'COORD', 5), ('cat', 2, 2, 9, 9)]).encode()
    doc = declaration + doc.replace(b'NAME', name).replace(b'COORD', coord)
    doc = doc[:where] + junk + doc[where:]
    path = os_path(root / 'annotations', stem + b'.xml')
    with open(path, 'wb') as f:
        f.write(doc)
    write_image(root / 'images' / 'x.jpg')
    out = root.parent / 'out'
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()) as stderr:
        code = _cli_main()([str(root), '--out-dir', str(out), '--split', '1,0'])
    assert code == 0, stderr.getvalue()
    stdout.getvalue().encode('utf-8')  # printable: no lone surrogates of a file name
    report = json.loads((out / 'report.json').read_bytes())
    counts, problems = report['counts'], report['problems']
    drops = sum(problems.get(kind, {'count': 0})['count'] for kind in BOX_DROP_KINDS)
    assert counts['boxes_in'] == counts['boxes_out'] + counts['boxes_of_dropped_images'] + drops
    train = json.loads((out / 'annotations' / 'train.json').read_bytes())
    assert len(train['annotations']) == counts['boxes_out'] and 1 <= counts['boxes_out'] <= 3
    assert all(math.isfinite(v) and v >= 0 for a in train['annotations'] for v in a['bbox'])


def os_path(folder: Path, name: bytes) -> bytes:
    """A path with a file name of arbitrary bytes (not necessarily UTF-8)."""
    return bytes(folder) + b'/' + name
