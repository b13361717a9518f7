"""tools/download_dataset.py, offline: a loopback server plays GitHub (the registry path) and Roboflow's API
(the real roboflow client, pointed at it through API_URL), serving zips built from the shipped BCCD sample."""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, SAMPLE, run_tool
from loopback import LoopbackServer, Reply, serve_file

TOOL = 'tools/download_dataset.py'
SAMPLE_CONTENT_SHA = 'b06962c00e1368c379bdb0d6409bd1c07375f458d6f245b1892080640e4c6ba5'  # sha256sum lines, by hand
KEY = 'k3yS3cretAbc123xyz'  # has lowercase letters: the client authenticates it
SPLIT_IMAGES = {'train': 32, 'val': 8, 'test': 12}  # datasets/bccd_sample/ImageSets/Main


def github_zip(extra: dict[str, bytes] | None = None) -> bytes:
    """The sample as GitHub's archive of BCCD_Dataset lays it out, plus ``extra`` members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as zf:
        zf.writestr('BCCD_Dataset-master/README.md', 'BCCD')
        for path in sorted(SAMPLE.rglob('*')):
            if path.is_file():
                zf.write(path, f'BCCD_Dataset-master/BCCD/{path.relative_to(SAMPLE).as_posix()}')
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()


def roboflow_zip() -> bytes:
    """The sample as Roboflow's Pascal-VOC export: train/ valid/ test/, each XML beside its image, Roboflow's
    renamed files, and one box of an image starting at pixel 0 (Roboflow writes 0-based boxes)."""
    lists = {'train': 'train', 'valid': 'val', 'test': 'test'}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as zf:
        zf.writestr('README.roboflow.txt', 'exported from roboflow.com')
        for folder, split in lists.items():
            for stem in (SAMPLE / 'ImageSets' / 'Main' / f'{split}.txt').read_text().split():
                name = f'{stem}_jpg.rf.0123abcd'
                xml = (SAMPLE / 'Annotations' / f'{stem}.xml').read_text()
                xml = xml.replace(f'<filename>{stem}.jpg</filename>', f'<filename>{name}.jpg</filename>')
                if stem == 'BloodImage_00000':
                    xml = xml.replace('<xmin>260</xmin>', '<xmin>0</xmin>', 1)
                zf.writestr(f'{folder}/{name}.xml', xml)
                zf.write(SAMPLE / 'JPEGImages' / f'{stem}.jpg', f'{folder}/{name}.jpg')
    return buffer.getvalue()


def write_registry(tmp_path: Path, url: str, **fields) -> Path:
    entry = {'title': 'BCCD sample', 'url': url, 'root': 'BCCD_Dataset-master/BCCD',
             'content': ['Annotations', 'ImageSets/Main', 'JPEGImages'], 'content_sha256': SAMPLE_CONTENT_SHA,
             'licence': 'MIT', 'citation': 'Shenggan, BCCD Dataset, 2017', 'homepage': 'https://example.org/bccd'}
    entry.update(fields)
    path = tmp_path / 'registry.json'
    path.write_text(json.dumps({'datasets': {'bccd': entry}}))
    return path


def download(tmp_path: Path, *args: str, env: dict | None = None):
    env = {'NO_PROXY': '127.0.0.1', 'no_proxy': '127.0.0.1', 'TQDM_DISABLE': '1', **(env or {})}
    return run_tool(TOOL, *args, env=env, timeout=300)


def images_per_split(out: Path) -> dict[str, int]:
    return {p.stem: len(json.loads(p.read_text())['images']) for p in (out / 'annotations').glob('*.json')}


def leftovers(data: Path) -> list[str]:
    """What a failed run left beside the dataset folder, archives in .downloads excepted."""
    return sorted(p.name for p in data.iterdir() if p.name != '.downloads')


# --- registry datasets ----------------------------------------------------------------------------------------

def test_registry_dataset_is_downloaded_verified_and_converted(tmp_path):
    body = github_zip()
    with LoopbackServer(lambda r: serve_file(body, r)) as server:
        registry = write_registry(tmp_path, f'{server.url}/master.zip')
        out = tmp_path / 'data' / 'bccd'
        result = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry))
    assert result.returncode == 0, result.stderr
    assert images_per_split(out) == {**SPLIT_IMAGES, 'trainval': 40}
    assert len(list((out / 'raw' / 'Annotations').glob('*.xml'))) == 52
    assert (out / 'images' / 'JPEGImages' / 'BloodImage_00000.jpg').is_file()  # the link resolves into raw/
    source = json.loads((out / 'source.json').read_text())
    assert source['id'] == 'registry:bccd' and source['content_sha256'] == SAMPLE_CONTENT_SHA
    assert 'boxes_out: 699' in result.stdout and 'licence: MIT' in result.stdout
    assert 'tools/misc/make_configs.py' in result.stdout
    assert list((tmp_path / 'data' / '.downloads').iterdir()) == []  # the archive is deleted after success
    assert leftovers(tmp_path / 'data') == ['bccd']


def test_archive_checksum_mismatch_deletes_the_file_and_writes_nothing(tmp_path):
    body = github_zip()
    with LoopbackServer(lambda r: serve_file(body, r)) as server:
        registry = write_registry(tmp_path, f'{server.url}/master.zip', archive_sha256='0' * 64)
        out = tmp_path / 'data' / 'bccd'
        result = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry))
    assert result.returncode == 2
    assert '/master.zip: SHA-256 ' in result.stderr and 'differs from the expected 0000' in result.stderr
    assert leftovers(tmp_path / 'data') == []
    assert list((tmp_path / 'data' / '.downloads').iterdir()) == []


def test_changed_content_is_refused_then_accepted_with_the_printed_checksum(tmp_path):
    body = github_zip()
    with LoopbackServer(lambda r: serve_file(body, r)) as server:
        registry = write_registry(tmp_path, f'{server.url}/master.zip', content_sha256='f' * 64)
        out = tmp_path / 'data' / 'bccd'
        result = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry))
        assert result.returncode == 2
        assert f'content SHA-256 {SAMPLE_CONTENT_SHA}, expected {"f" * 64}' in result.stderr
        assert leftovers(tmp_path / 'data') == []
        result = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry),
                          '--content-sha256', SAMPLE_CONTENT_SHA)
    assert result.returncode == 0, result.stderr
    assert server.paths() == ['/master.zip']  # the kept archive was used, not downloaded twice
    assert images_per_split(out)['test'] == 12


def test_an_interrupted_download_is_continued_from_where_it_stopped(tmp_path):
    body = github_zip()
    first = {'cut': True}

    def handler(request):
        if first.pop('cut', False):
            return Reply(200, body, {'ETag': '"v1"'}, cut_after=len(body) // 3)
        return serve_file(body, request)

    with LoopbackServer(handler) as server:
        registry = write_registry(tmp_path, f'{server.url}/master.zip')
        out = tmp_path / 'data' / 'bccd'
        result = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry))
        assert result.returncode == 2
        assert 'rerun the same command to continue' in result.stderr
        assert leftovers(tmp_path / 'data') == []  # no dataset folder, no staging folder
        parts = list((tmp_path / 'data' / '.downloads').glob('*.part'))
        assert [p.stat().st_size for p in parts] == [len(body) // 3]
        result = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry))
    assert result.returncode == 0, result.stderr
    assert server.seen[1].headers.get('Range') == f'bytes={len(body) // 3}-'
    assert server.seen[1].headers.get('If-Range') == '"v1"'
    assert images_per_split(out)['train'] == 32


@pytest.mark.parametrize('member, message', [('../evil.txt', 'climbs out of the folder'),
                                             ('/tmp/evil.txt', 'has an absolute path')])
def test_a_zip_slip_archive_is_refused_without_writing_anything(tmp_path, member, message):
    body = github_zip({member: b'pwned'})
    with LoopbackServer(lambda r: serve_file(body, r)) as server:
        registry = write_registry(tmp_path, f'{server.url}/master.zip')
        out = tmp_path / 'data' / 'bccd'
        result = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry))
    assert result.returncode == 2
    assert message in result.stderr and repr(member) in result.stderr
    assert leftovers(tmp_path / 'data') == []
    assert not [p for p in tmp_path.rglob('evil.txt')] and not Path('/tmp/evil.txt').exists()


def test_rerun_is_a_no_op_and_force_replaces_without_stale_or_duplicate_files(tmp_path):
    body = github_zip()
    with LoopbackServer(lambda r: serve_file(body, r)) as server:
        registry = write_registry(tmp_path, f'{server.url}/master.zip')
        out = tmp_path / 'data' / 'bccd'
        assert download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry)).returncode == 0
        (out / 'raw' / 'Annotations' / 'stale.xml').write_text('<annotation/>')
        (out / 'annotations' / 'fold3_val.json').write_text('{}')
        again = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry))
        assert again.returncode == 0 and 'already holds registry:bccd: nothing to do' in again.stdout
        assert server.paths() == ['/master.zip']
        forced = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry), '--force')
    assert forced.returncode == 0, forced.stderr
    assert not (out / 'raw' / 'Annotations' / 'stale.xml').exists()
    assert sorted(p.name for p in (out / 'annotations').iterdir()) == ['test.json', 'train.json', 'trainval.json',
                                                                      'val.json']
    assert len(list((out / 'raw' / 'Annotations').iterdir())) == 52
    assert leftovers(tmp_path / 'data') == ['bccd']


def test_a_folder_not_written_by_the_tool_is_not_replaced_without_force(tmp_path):
    out = tmp_path / 'data' / 'mine'
    out.mkdir(parents=True)
    (out / 'notes.txt').write_text('my notes')
    registry = write_registry(tmp_path, 'http://127.0.0.1:9/never.zip')
    result = download(tmp_path, 'bccd', '--out-dir', str(out), '--registry', str(registry))
    assert result.returncode == 2
    assert f'{out} already holds files not written by tools/download_dataset.py' in result.stderr
    assert '--force' in result.stderr
    assert [p.name for p in out.iterdir()] == ['notes.txt'] and (out / 'notes.txt').read_text() == 'my notes'


def test_a_dataset_behind_credentials_prints_the_commands_to_run(tmp_path):
    result = download(tmp_path, 'face-mask', '--out-dir', str(tmp_path / 'data' / 'face_mask'))
    assert result.returncode == 2
    assert 'needs kaggle credentials' in result.stderr
    assert 'kaggle datasets download -d andrewmvd/face-mask-detection' in result.stderr
    assert not (tmp_path / 'data').exists()


def test_the_shipped_registry_lists_bccd_with_its_checksum_licence_and_citation():
    result = run_tool(TOOL, '--list')
    assert result.returncode == 0, result.stderr
    assert 'bccd' in result.stdout and 'MIT' in result.stdout and 'face-mask' in result.stdout
    entry = json.loads((REPO / 'datasets' / 'registry.json').read_text())['datasets']['bccd']
    assert entry['content_sha256'] == 'debd2d76b13c300a3999f96a08cbe9ada5f231c3f882f9877a65a01a695872d1'


def test_the_bccd_checksum_is_that_of_the_real_dataset():
    from conftest import shared_dataset
    from custom.datasets.registry import content_sha256
    root = shared_dataset('bccd')
    assert content_sha256(root, ['Annotations', 'ImageSets/Main', 'JPEGImages']) == \
        'debd2d76b13c300a3999f96a08cbe9ada5f231c3f882f9877a65a01a695872d1'


# --- Roboflow -------------------------------------------------------------------------------------------------

class FakeRoboflow:
    """Enough of api.roboflow.com for roboflow 1.7.3: key check, workspace, project, version, export, the zip."""

    def __init__(self, zip_body: bytes, generating_polls: int = 1, cut_first_zip: bool = False):
        self.zip_body, self.generating, self.cut = zip_body, generating_polls, cut_first_zip
        self.url = ''

    def __call__(self, request) -> Reply:
        ok = request.query.get('api_key') == KEY
        if request.path.startswith('/dl/'):
            if self.cut:
                self.cut = False
                return Reply(200, self.zip_body, {'ETag': '"z1"'}, cut_after=len(self.zip_body) // 2)
            return serve_file(self.zip_body, request, etag='"z1"')
        if not ok:
            return Reply(401, json.dumps({'error': {'message': 'This API key does not exist (or has been revoked).',
                                                    'status': 401}}).encode())
        if request.method == 'POST':
            return self.json({'workspace': 'team'})
        if request.path == '/team':
            return self.json({'workspace': {'name': 'team', 'url': 'team', 'projects': ['team/cells']}})
        if request.path == '/team/cells':
            project = {'annotation': 'cells', 'classes': {}, 'colors': {}, 'created': 0, 'id': 'team/cells',
                       'images': 52, 'name': 'cells', 'public': False, 'splits': {}, 'type': 'object-detection',
                       'unannotated': 0, 'updated': 0}
            version = {'id': 'team/cells/2', 'augmentation': {}, 'created': 0, 'images': 52, 'preprocessing': {},
                       'splits': {}, 'exports': []}
            return self.json({'project': project, 'versions': [version]})
        if request.path == '/team/cells/2':
            return self.json({'version': {'generating': False, 'images': 52, 'progress': 1.0}})
        if request.path == '/team/cells/2/voc':
            if self.generating:
                self.generating -= 1
                return Reply(202, json.dumps({'progress': 0.5}).encode())
            return self.json({'export': {'link': f'{self.url}/dl/roboflow.zip?key=signed123'}})
        return Reply(404, b'{"error": "not found"}')

    @staticmethod
    def json(data) -> Reply:
        return Reply(200, json.dumps(data).encode(), {'Content-Type': 'application/json'})


def roboflow(tmp_path: Path, server, out: Path, *extra: str, key: str | None = KEY):
    env = {'API_URL': server.url, 'ROBOFLOW_CONFIG_DIR': str(tmp_path / 'no-config.json'),
           'DATASET_DIRECTORY': str(tmp_path / 'client-default')}
    env['ROBOFLOW_API_KEY'] = key or ''
    return download(tmp_path, 'roboflow', 'team/cells/2', '--out-dir', str(out), *extra, env=env)


def assert_key_nowhere(result, *folders: Path) -> None:
    assert KEY not in result.stdout + result.stderr
    for folder in folders:
        for path in folder.rglob('*'):
            if path.is_file() and path.suffix in ('.json', '.txt', '.py'):
                assert KEY not in path.read_text(errors='replace'), path


def test_roboflow_export_is_downloaded_and_its_folders_become_the_splits(tmp_path):
    fake = FakeRoboflow(roboflow_zip(), generating_polls=1)
    with LoopbackServer(fake) as server:
        fake.url = server.url
        out = tmp_path / 'data' / 'cells'
        result = roboflow(tmp_path, server, out)
    assert result.returncode == 0, result.stderr
    assert images_per_split(out) == SPLIT_IMAGES  # train/ valid/ test/ -> train / val / test
    assert 'PROBLEM clipped_box (1): BloodImage_00000_jpg.rf.0123abcd.xml: WBC [0, 177, 491, 376]' in result.stdout
    assert json.loads((out / 'source.json').read_text())['id'] == 'roboflow:team/cells/2'
    assert server.paths().count('/team/cells/2/voc') == 3  # generating, ready, link
    assert_key_nowhere(result, tmp_path / 'data')
    assert not (tmp_path / 'client-default').exists()  # the client's own download() was not used


def test_a_refused_api_key_is_reported_without_showing_it(tmp_path):
    fake = FakeRoboflow(roboflow_zip())
    wrong = 'wrongKeyAbc987'
    with LoopbackServer(fake) as server:
        fake.url = server.url
        out = tmp_path / 'data' / 'cells'
        result = roboflow(tmp_path, server, out, key=wrong)
    assert result.returncode == 2
    assert 'the API key was refused: check ROBOFLOW_API_KEY' in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert not (tmp_path / 'data').exists() or leftovers(tmp_path / 'data') == []


def test_a_missing_key_names_the_variable_and_the_file_option(tmp_path):
    with LoopbackServer(FakeRoboflow(b'')) as server:
        result = roboflow(tmp_path, server, tmp_path / 'data' / 'cells', key=None)
    assert result.returncode == 2
    assert 'set ROBOFLOW_API_KEY' in result.stderr and '--api-key-file' in result.stderr
    assert server.seen == []


def test_a_truncated_roboflow_zip_leaves_nothing_and_the_rerun_completes_it(tmp_path):
    fake = FakeRoboflow(roboflow_zip(), generating_polls=0, cut_first_zip=True)
    key_file = tmp_path / 'key.txt'
    key_file.write_text(KEY + '\n')
    with LoopbackServer(fake) as server:
        fake.url = server.url
        out = tmp_path / 'data' / 'cells'
        first = roboflow(tmp_path, server, out, '--api-key-file', str(key_file), key=None)
        assert first.returncode == 2
        assert 'rerun the same command to continue' in first.stderr and 'signed123' not in first.stderr
        assert leftovers(tmp_path / 'data') == []
        second = roboflow(tmp_path, server, out, '--api-key-file', str(key_file), key=None)
    assert second.returncode == 0, second.stderr
    zips = [s for s in server.seen if s.path == '/dl/roboflow.zip']
    assert zips[1].headers.get('Range') == f'bytes={len(fake.zip_body) // 2}-'
    assert images_per_split(out) == SPLIT_IMAGES
    assert_key_nowhere(first, tmp_path / 'data')
    assert_key_nowhere(second, tmp_path / 'data')


# --- the converter's folder-split layout, on its own -----------------------------------------------------------

def test_voc2coco_reads_train_valid_test_folders_as_the_splits(tmp_path):
    with zipfile.ZipFile(io.BytesIO(roboflow_zip())) as zf:
        zf.extractall(tmp_path / 'export')
    result = run_tool('tools/dataset_converters/voc2coco.py', str(tmp_path / 'export'), '--out-dir',
                      str(tmp_path / 'coco'))
    assert result.returncode == 0, result.stderr
    assert images_per_split(tmp_path / 'coco') == SPLIT_IMAGES


def test_both_valid_and_val_folders_are_refused_naming_them(tmp_path):
    from custom.datasets.splits import read_folder_splits
    for folder in ('train', 'valid', 'val'):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f'{folder}1.xml').write_text('<annotation/>')
    with pytest.raises(ValueError, match='both valid/ and val/ hold annotations for the val split'):
        read_folder_splits(tmp_path)


# --- archive extraction, unit ----------------------------------------------------------------------------------

def _zip(tmp_path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    path = tmp_path / 'a.zip'
    with zipfile.ZipFile(path, 'w') as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, '/etc/passwd')
    return path


def test_extract_refuses_links_oversized_archives_and_leaves_no_folder(tmp_path):
    from custom.datasets.archives import ArchiveError, extract
    with pytest.raises(ArchiveError, match="member 'data/link' is a link or special file"):
        extract(_zip(tmp_path, {'data/a.txt': b'a'}, symlink='data/link'), tmp_path / 'x')
    assert not (tmp_path / 'x').exists()
    with pytest.raises(ArchiveError, match='expands to 2000 bytes, over the limit of 1500'):
        extract(_zip(tmp_path, {'a': b'0' * 1000, 'b': b'1' * 1000}), tmp_path / 'y', max_bytes=1500)
    assert not (tmp_path / 'y').exists()
    (tmp_path / 'page.zip').write_text('<html>rate limited</html>')
    with pytest.raises(ArchiveError, match='not a zip or tar archive'):
        extract(tmp_path / 'page.zip', tmp_path / 'z')
    written = extract(_zip(tmp_path, {'d/a.txt': b'abc', 'd/e/b.txt': b'de'}), tmp_path / 'ok')
    assert written == 5 and (tmp_path / 'ok' / 'd' / 'e' / 'b.txt').read_bytes() == b'de'


def test_extract_refuses_tar_links_outside(tmp_path):
    import tarfile
    from custom.datasets.archives import ArchiveError, extract
    path = tmp_path / 'a.tar.gz'
    with tarfile.open(path, 'w:gz') as tf:
        info = tarfile.TarInfo('ds/up')
        info.type, info.linkname = tarfile.SYMTYPE, '../../etc'
        tf.addfile(info)
    with pytest.raises(ArchiveError, match="member 'ds/up' is a link or special file"):
        extract(path, tmp_path / 'x')
    assert not (tmp_path / 'x').exists() and os.listdir(tmp_path) == ['a.tar.gz']
