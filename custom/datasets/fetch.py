"""HTTP(S) download of one file: progress bar, resume of a partial file, size limit, SHA-256.

The file is written to ``DEST.part`` (with ``DEST.part.json`` naming the file and holding the server's
validators) and renamed to ``DEST`` only when every byte has arrived. An interrupted download
leaves the ``.part`` file; the next call for the same file asks for the rest (HTTP ``Range``, with
``If-Range`` so that a changed file is sent whole). Standard library only (urllib).
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

CHUNK = 1 << 16
TIMEOUT_S = 30  # socket timeout: a stalled connection fails instead of hanging
DEFAULT_MAX_BYTES = 20 * 2 ** 30


class DownloadError(RuntimeError):
    """A download that did not complete or did not verify; the message names the URL and what to do."""


class TooLargeError(DownloadError):
    """A file larger than the download's size limit."""


@dataclass
class Downloaded:
    """A completed download: its path, size, SHA-256 and whether an earlier partial file was continued."""

    path: Path
    size: int
    sha256: str
    resumed_from: int


def display_url(url: str) -> str:
    """``url`` without its query string and credentials: signed links and keys stay out of messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ''
    if parts.port:
        host += f':{parts.port}'
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, '', '')) + ('?...' if parts.query else '')


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _state(meta: Path) -> dict:
    try:
        return json.loads(meta.read_text())
    except (OSError, ValueError):
        return {}


def _request(url: str, start: int, state: dict) -> urllib.request.Request:
    headers = {'User-Agent': 'voc-detkit'}
    if start:
        headers['Range'] = f'bytes={start}-'
        validator = state.get('etag') or state.get('last_modified')
        if validator:
            headers['If-Range'] = validator
    return urllib.request.Request(url, headers=headers)


def _total(response, start: int) -> int | None:
    """The full size of the file from a 200's Content-Length or a 206's Content-Range."""
    if response.status == 206:
        total = (response.headers.get('Content-Range') or '').rpartition('/')[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get('Content-Length')
    return int(length) if length and length.isdigit() else None


def download(url: str, dest: str | os.PathLike, expected_sha256: str | None = None,
             max_bytes: int = DEFAULT_MAX_BYTES, progress: bool = True, desc: str | None = None,
             resume_id: str | None = None) -> Downloaded:
    """Download ``url`` to ``dest``, continuing ``dest.part`` when it holds the start of the same file.

    A ``dest`` already there is returned as it is when it matches ``expected_sha256`` (or none is given).

    The same file means the same ``resume_id`` (default: the URL; signed links change between requests).

    Raises :class:`DownloadError` when the connection fails or ends early (the ``.part`` file is
    kept for the next call), when the file is larger than ``max_bytes``, or when its SHA-256
    differs from ``expected_sha256`` (the file is then deleted: a new call starts over).
    """
    dest = Path(dest)
    part, meta = Path(f'{dest}.part'), Path(f'{dest}.part.json')
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():  # completed by an earlier call
        sha = file_sha256(dest)
        if not expected_sha256 or sha == expected_sha256.lower():
            return Downloaded(dest, dest.stat().st_size, sha, dest.stat().st_size)
        dest.unlink()
    state, identity = _state(meta), resume_id or url
    if state.get('id') != identity or not part.is_file():
        part.unlink(missing_ok=True)
        state = {'id': identity}
    start = part.stat().st_size if part.is_file() else 0
    shown = display_url(url)
    try:
        response = urllib.request.urlopen(_request(url, start, state), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # the part may already hold every byte: restart cleanly
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            return download(url, dest, expected_sha256, max_bytes, progress, desc, resume_id)
        raise DownloadError(f'{shown}: HTTP {err.code} {err.reason}') from None
    except (urllib.error.URLError, OSError, HTTPException) as err:
        reason = getattr(err, 'reason', err)
        raise DownloadError(f'{shown}: cannot connect ({reason}); check the network, then rerun') from None
    with response:
        if response.status != 206:
            start = 0  # the server sent the whole file (no range support, or the file changed)
        total = _total(response, start)
        if total is not None and total > max_bytes:
            raise TooLargeError(f'{shown}: {total} bytes, over the limit of {max_bytes}; raise the limit if '
                                f'the file is expected to be this large')
        state.update(etag=response.headers.get('ETag'), last_modified=response.headers.get('Last-Modified'),
                     total=total)
        meta.write_text(json.dumps(state))
        try:
            _receive(response, part, start, total, max_bytes, shown, progress, desc)
        except TooLargeError:
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            raise
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f'{shown}: the connection ended after {size} of {total} bytes; rerun the same command '
                            f'to continue from byte {size} ({part} is kept)')
    sha = file_sha256(part)
    if expected_sha256 and sha != expected_sha256.lower():
        part.unlink()
        meta.unlink(missing_ok=True)
        raise DownloadError(f'{shown}: SHA-256 {sha} differs from the expected {expected_sha256}; the file was '
                            f'deleted. The server sent another file (changed upstream, or a proxy error page): '
                            f'check the URL in a browser')
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    return Downloaded(dest, size, sha, start)


def _receive(response, part: Path, start: int, total: int | None, max_bytes: int, shown: str,
             progress: bool, desc: str | None) -> None:
    """Append the body of ``response`` to ``part`` (truncated to ``start`` bytes first)."""
    from tqdm import tqdm
    with open(part, 'r+b' if start else 'wb') as f, tqdm(
            total=total, initial=start, unit='B', unit_scale=True, unit_divisor=1024, disable=not progress,
            desc=desc or 'download', dynamic_ncols=True) as bar:
        f.truncate(start)
        f.seek(start)
        written = start
        while True:
            try:
                block = response.read(CHUNK)
            except (OSError, HTTPException) as err:  # IncompleteRead, reset, timeout: keep what arrived
                f.flush()
                raise DownloadError(f'{shown}: the connection broke after {written} bytes ({type(err).__name__}); '
                                    f'rerun the same command to continue ({part} is kept)') from None
            if not block:
                break
            written += len(block)
            if written > max_bytes:
                raise TooLargeError(f'{shown}: more than {max_bytes} bytes, over the limit; raise the limit if '
                                    f'the file is expected to be this large')
            f.write(block)
            bar.update(len(block))
