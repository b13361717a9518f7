"""Download a Pascal-VOC dataset and convert it to COCO JSON in one step.

    python tools/download_dataset.py roboflow WORKSPACE/PROJECT/VERSION --out-dir data/NAME
    python tools/download_dataset.py bccd --out-dir data/bccd        # a dataset of datasets/registry.json
    python tools/download_dataset.py --list

Roboflow: the API key comes from ROBOFLOW_API_KEY or --api-key-file and is never printed or saved;
the version's train/ valid/ test/ folders become the train / val / test splits. Registry datasets
are checked against their SHA-256 before use. Writes data/NAME/raw/ (the VOC files),
data/NAME/annotations/*.json, report.json, stats.json and source.json, all at once: after a failure
or an interruption data/NAME is as it was, and a rerun continues a partial download.
"""
import argparse
import sys

from custom.datasets.acquire import AcquireError, acquire_registry, acquire_roboflow
from custom.datasets.archives import ArchiveError
from custom.datasets.fetch import DownloadError
from custom.datasets.registry import DEFAULT_REGISTRY, RegistryError, load_registry
from custom.datasets.voc_xml import VOCError

ERRORS = (AcquireError, ArchiveError, DownloadError, RegistryError, VOCError, ValueError, OSError, RuntimeError)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', nargs='?', help="'roboflow', or a dataset name of the registry (see --list)")
    parser.add_argument('spec', nargs='?', help='for roboflow: WORKSPACE/PROJECT/VERSION')
    parser.add_argument('--out-dir', help='dataset folder to write, e.g. data/NAME')
    parser.add_argument('--api-key-file', help='file whose first line is the Roboflow API key '
                        '(default: the ROBOFLOW_API_KEY environment variable)')
    parser.add_argument('--force', action='store_true', help='replace an existing --out-dir (also when up to date)')
    parser.add_argument('--registry', default=str(DEFAULT_REGISTRY), help='registry file (default: %(default)s)')
    parser.add_argument('--content-sha256', help='accept registry files with this content SHA-256 instead of the '
                        "registry's (printed when they differ)")
    parser.add_argument('--max-gb', type=float, default=50, help='refuse archives larger than this, packed or '
                        'unpacked (default %(default)g GiB)')
    parser.add_argument('--list', action='store_true', help='list the registry datasets and exit')
    parser.add_argument('--quiet', action='store_true', help='no progress bars')
    return parser.parse_args(argv)


def list_registry(path: str) -> None:
    for name, entry in load_registry(path).items():
        how = 'download' if entry.downloadable else f'needs {entry.credentials} credentials'
        print(f'{name:12s} {entry.title}\n{"":12s} {entry.licence}; {how}; {entry.homepage}')


def run(args) -> int:
    if args.list:
        list_registry(args.registry)
        return 0
    if not args.source or not args.out_dir:
        raise ValueError('give a source and --out-dir, e.g. `roboflow WORKSPACE/PROJECT/VERSION --out-dir data/NAME` '
                         'or `bccd --out-dir data/bccd` (--list shows the registry)')
    max_bytes = int(args.max_gb * 2 ** 30)
    if args.source == 'roboflow':
        from custom.datasets.roboflow_source import parse_spec, read_api_key
        if not args.spec:
            raise ValueError('roboflow needs WORKSPACE/PROJECT/VERSION, e.g. my-team/blood-cells/2')
        version = parse_spec(args.spec)
        result = acquire_roboflow(version, read_api_key(args.api_key_file), args.out_dir, force=args.force,
                                  max_bytes=max_bytes, progress=not args.quiet)
    else:
        if args.spec:
            raise ValueError(f'{args.spec!r}: only roboflow takes a WORKSPACE/PROJECT/VERSION argument')
        registry = load_registry(args.registry)
        if args.source not in registry:
            raise ValueError(f'{args.source!r} is not in {args.registry}: choose roboflow or one of '
                             f'{", ".join(registry)}')
        result = acquire_registry(registry[args.source], args.out_dir, force=args.force, max_bytes=max_bytes,
                                  content_sha=args.content_sha256, progress=not args.quiet)
    if result.up_to_date:
        print(f'{result.out_dir} already holds {result.source["id"]}: nothing to do (--force downloads it again)')
    else:
        print(result.report.summary())
        print(f'wrote {result.out_dir}/raw/, annotations/*.json, report.json, stats.json and source.json')
    for key in ('licence', 'citation'):
        if result.source.get(key):
            print(f'{key}: {result.source[key]}')
    print(f'next: python tools/misc/make_configs.py {result.out_dir}')
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'interrupted: {args.out_dir} is unchanged; rerun the same command to continue the download',
              file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
