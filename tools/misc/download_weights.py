"""Fetch the pretrained weights of configs into the torch hub cache, or check that they are there.

    python tools/misc/download_weights.py CONFIG [CONFIG ...] [--check]

Prints, for each config, every file it starts from with its URL and cache path
(``$TORCH_HOME/hub/checkpoints``). On a machine without network, run it on one that has it and
copy the printed files to the same paths. ``--check`` downloads nothing. Exit status 1 when any
file is missing (``make demo`` uses it to choose between fine-tuning and training from scratch).
"""
import argparse
import sys

from custom.engine.config import read_config
from custom.engine.weights import CONFIG, WeightsUnavailableError, ensure_weights, select_weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Download (or check) the pretrained weights of configs')
    parser.add_argument('configs', nargs='+', metavar='CONFIG', help='config files')
    parser.add_argument('--check', action='store_true', help='only report whether each file is cached')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    status = 0
    for config in args.configs:
        cfg = read_config(config)
        select_weights(cfg, CONFIG)
        try:
            sources = ensure_weights(cfg, config, allow_download=False if args.check else None)
        except WeightsUnavailableError as err:
            print(f'missing: {err}', file=sys.stderr)
            status = 1
            continue
        for source in sources:
            print(f'ready: {config}: {source.key} = {source.path}' + (f' ({source.url})' if source.url else ''))
        if not sources:
            print(f'ready: {config}: trains from scratch, no pretrained file')
    return status


if __name__ == '__main__':
    sys.exit(main())
