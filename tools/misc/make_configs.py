"""Write the dataset base and one model config per recipe for a converted dataset.

    python tools/misc/make_configs.py data/NAME [--models MODEL ...] [--out configs/NAME]

Reads the classes from DATA_DIR/annotations/*.json (written by tools/dataset_converters/voc2coco.py;
train.json and val.json are required, test.json is optional: without it the configs test on val)
and writes configs/_base_/datasets/NAME.py plus OUT/<recipe>_NAME.py for each recipe of
configs/_base_/recipes/ that --models names. Then it loads every written config and checks it.

Data root: DATA_DIR must exist, and the path as given (relative to the current folder) becomes
the configs' default data root; the environment variable <NAME>_ROOT (e.g. BCCD_ROOT) overrides it
at training time. So run the tool from the folder you train from (the repository root). Data kept
elsewhere: link it in (ln -s /disk/NAME data/NAME) or set <NAME>_ROOT when training; an absolute
DATA_DIR outside the current folder is refused, since configs hold no absolute paths.

Existing files that would change are listed and nothing is written, unless --force. Every file's
header states the command that reproduces it.
"""
import argparse
import sys

from custom.datasets.config_writer import GROUPS, ConfigWriterError, changed_files, check_configs, plan_configs, \
    write_files


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_dir', help='converted dataset folder (voc2coco.py --out-dir), e.g. data/NAME')
    parser.add_argument('--models', nargs='+', default=['all'], metavar='MODEL',
                        help='recipe names of configs/_base_/recipes/ (without .py), shell patterns such as '
                        "'yolov3*', or the groups " + ', '.join(f'{g} ({w})' for g, w in GROUPS.items())
                        + ' (default: all)')
    parser.add_argument('--out', help='folder of the model configs (default configs/NAME); it must sit beside '
                        'configs/_base_/, where the dataset base is written')
    parser.add_argument('--name', help='prefix of the config keys, file names and NAME_ROOT (default: the base '
                        'name of DATA_DIR lower-cased, other characters than a-z 0-9 _ made _)')
    parser.add_argument('--palette', nargs='+', metavar='R,G,B',
                        help='one colour per class, in class order (default: a fixed table of distinct colours)')
    parser.add_argument('--force', action='store_true', help='overwrite existing files that would change')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        plan = plan_configs(args.data_dir, args.models, out=args.out, name=args.name, palette=args.palette)
        changed = [] if args.force else changed_files(plan.files)
        if changed:
            raise ConfigWriterError('these files exist with other content; nothing was written (pass --force '
                                    'to overwrite them):\n  ' + '\n  '.join(changed))
        done = write_files(plan.files)
    except (ConfigWriterError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    for path, status in done:
        print(f'{status}: {path}')
    problems = check_configs(plan.configs)
    if problems:
        print('error: written configs fail their check:\n  - ' + '\n  - '.join(problems), file=sys.stderr)
        return 1
    print(f'checked {len(plan.configs)} configs; next: python tools/train.py {plan.first_to_train}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
