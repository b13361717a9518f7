"""Convert a Pascal-VOC folder to COCO JSON splits for MMDetection.

    python tools/dataset_converters/voc2coco.py VOC_DIR --out-dir data/NAME
"""
import argparse
import sys

from custom.datasets.coco_writer import write_coco_splits
from custom.datasets.converter import parse_class_map
from custom.datasets.voc_xml import MAX_XML_BYTES, VOCError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('voc_dir', help='folder with Annotations/ (or annotations/, or XML beside the images)')
    parser.add_argument('--out-dir', required=True, help='writes annotations/<split>.json, report.json, images link')
    classes = parser.add_mutually_exclusive_group()
    classes.add_argument('--classes', help='comma-separated class names in category-id order '
                         '(default: every name found, sorted)')
    classes.add_argument('--classes-file', help='text file with one class name per line, in category-id order')
    parser.add_argument('--class-map', nargs='+', default=[], metavar='OLD=NEW',
                        help='rename or merge classes before anything else, e.g. mask_weared_incorrect=without_mask')
    parser.add_argument('--unknown', choices=['drop', 'error'], default='drop',
                        help='a class outside --classes: drop the box and count it, or stop with an error')
    parser.add_argument('--split', help='train,val[,test] fractions, stratified by class (overrides ImageSets/Main); '
                        'a 0 leaves that split out: 0,0,1 writes one test.json')
    parser.add_argument('--allow-overlap', action='store_true',
                        help='keep ImageSets lists that share ids between train/val/test (reported, not an error)')
    parser.add_argument('--max-xml-mb', type=float, default=MAX_XML_BYTES / 2 ** 20,
                        help='refuse (and report) XML files larger than this many MiB (default %(default)g)')
    parser.add_argument('--kfold', type=int, default=0, help='also write K stratified fold<i>_train/val pairs')
    parser.add_argument('--seed', type=int, default=0, help='seed of --split/--kfold (same input + seed = same files)')
    parser.add_argument('--plots', action='store_true', help='also draw class counts and box sizes to OUT/plots/')
    parser.add_argument('--workers', type=int, help='processes that parse the XML (default: one per core, '
                        'up to 8, from 20,000 files on; else 1)')
    parser.add_argument('--strict', action='store_true', help='exit 1 when any problem is reported')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        classes = [c.strip() for c in args.classes.split(',')] if args.classes else None
        if args.classes_file:
            with open(args.classes_file) as f:
                classes = [line.strip() for line in f if line.strip()]
        split = [float(f) for f in args.split.split(',')] if args.split else None
        report = write_coco_splits(args.voc_dir, args.out_dir, classes=classes,
                                   class_map=parse_class_map(args.class_map), unknown=args.unknown,
                                   split=split, kfold=args.kfold, seed=args.seed,
                                   progress=True, workers=args.workers, allow_overlap=args.allow_overlap,
                                   max_xml_bytes=int(args.max_xml_mb * 2 ** 20))
    except (VOCError, ValueError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.plots:
        from custom.visualization.dataset_plots import plot_split_files  # matplotlib only when asked for
        plot_split_files(args.out_dir)
    print(report.summary())
    print(f'wrote {args.out_dir}/annotations/*.json, report.json and stats.json')
    return 1 if args.strict and report.problems else 0


if __name__ == '__main__':
    sys.exit(main())
