"""Train a detector: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]``.

Before training it checks the config, the annotation files, a sample of the images, the work
dir and the free disk (``--preflight``), and stops with every problem named. ``--resume``
without a value continues from the newest complete checkpoint in the work dir. The work is
done by :mod:`custom.apis.train` and MMEngine's Runner.
"""
from custom.apis.train import build_parser, train


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def main(argv=None):
    train(parse_args(argv))


if __name__ == '__main__':
    main()
