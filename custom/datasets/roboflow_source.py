"""A Roboflow dataset version's Pascal-VOC export link, through the roboflow client; the API key kept secret.

The client (roboflow 1.7.3) authenticates, finds the workspace, project and version, and asks for
the ``voc`` export, waiting while Roboflow generates it. The zip itself is fetched by
:mod:`custom.datasets.fetch` (resumable, checked) rather than by ``Version.download``, which after
a truncated download returns success for the partial folder on the next call.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

KEY_ENV = 'ROBOFLOW_API_KEY'
EXPORT_FORMAT = 'voc'
SPEC = re.compile(r'([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/([0-9]+)')


class RoboflowSourceError(RuntimeError):
    """A Roboflow request that failed; the message says what to check and never holds the API key."""


@dataclass(frozen=True)
class RoboflowVersion:
    """``WORKSPACE/PROJECT/VERSION`` as in a Roboflow dataset URL."""

    workspace: str
    project: str
    version: int

    def __str__(self) -> str:
        return f'{self.workspace}/{self.project}/{self.version}'


def parse_spec(spec: str) -> RoboflowVersion:
    """``'ws/project/3'`` -> :class:`RoboflowVersion`; ``ValueError`` with the expected form otherwise."""
    match = SPEC.fullmatch(spec.strip().strip('/'))
    if not match:
        raise ValueError(f'{spec!r} is not WORKSPACE/PROJECT/VERSION (as in universe.roboflow.com/WORKSPACE/PROJECT/'
                         f'dataset/VERSION), e.g. my-team/blood-cells/2')
    return RoboflowVersion(match[1], match[2], int(match[3]))


def read_api_key(key_file: str | None = None) -> str:
    """The API key from ``key_file`` (first line) or the ``ROBOFLOW_API_KEY`` variable; ``ValueError`` when neither
    gives one."""
    if key_file:
        try:
            key = Path(key_file).read_text(encoding='utf-8').strip().splitlines()[0].strip()
        except (OSError, UnicodeDecodeError, IndexError) as err:
            raise ValueError(f'--api-key-file {key_file}: cannot read a key from it ({type(err).__name__}); put the '
                             f'key alone on its first line') from None
    else:
        key = os.environ.get(KEY_ENV, '').strip()
        if not key:
            raise ValueError(f'no Roboflow API key: set {KEY_ENV} (Roboflow > Settings > API Keys > Private API Key) '
                             f'or pass --api-key-file FILE')
    if not any(c.islower() for c in key):  # the client takes such a key for a placeholder and skips auth
        raise ValueError('the Roboflow API key has no lowercase letter, so it is a placeholder, not a key: copy the '
                         'Private API Key from Roboflow > Settings > API Keys')
    return key


def redact(text: str, secret: str) -> str:
    """``text`` with ``secret`` and any ``api_key=...`` value replaced by ``***``."""
    if secret:
        text = text.replace(secret, '***')
    return re.sub(r'(api_key=)[^&\s\'"]+', r'\1***', text)


def export_link(version: RoboflowVersion, api_key: str) -> str:
    """The download link of the Pascal-VOC export of ``version``, generated first when needed.

    Raises :class:`RoboflowSourceError` (key refused, version missing, network down), key redacted.
    """
    os.environ.setdefault('PYTHON_DOTENV_DISABLED', '1')  # roboflow loads a .env found above it at import
    try:
        import roboflow
        from roboflow.adapters import rfapi
        client = roboflow.Roboflow(api_key=api_key)
        project = client.workspace(version.workspace).project(version.project)
        found = project.version(version.version)
        found.export(EXPORT_FORMAT)  # polls while Roboflow generates the export
        info = rfapi.get_version_export(api_key=api_key, workspace_url=version.workspace,
                                        project_url=version.project, version=str(version.version),
                                        format=EXPORT_FORMAT)
        return info['export']['link']
    except Exception as err:  # noqa: BLE001  the client raises RuntimeError, RoboflowError, requests errors
        raise RoboflowSourceError(_explain(err, version, api_key)) from None


def _explain(err: Exception, version: RoboflowVersion, api_key: str) -> str:
    text = redact(str(err), api_key)[:500]
    if '401' in text or 'unauthorized' in text.lower() or 'api key' in text.lower():
        hint = f'the API key was refused: check {KEY_ENV} or --api-key-file (Roboflow > Settings > API Keys)'
    elif type(err).__name__ in ('ConnectionError', 'Timeout', 'ConnectTimeout', 'ReadTimeout'):
        hint = 'Roboflow cannot be reached: check the network (or a proxy), then rerun'
    elif 'not found' in text.lower() or '404' in text:
        hint = f'{version} was not found: check WORKSPACE/PROJECT/VERSION in the dataset\'s Roboflow URL'
    else:
        hint = 'see the reply above'
    return f'Roboflow {version}: {hint} ({type(err).__name__}: {text})'
