"""Converter speed vs merely parsing the same XML files with lxml, as whole processes, side by side.

The parse-only baseline is the least any converter must do: lxml-parse every XML file and
read each object's name and four box coordinates (no validation, no images, no output).

    python tools/benchmark_converter.py [--repeats 7] [--datasets ../shared/datasets/bccd ...]

For each dataset it alternates the two commands, takes the median wall time of each and
prints files/s, boxes/s and the ratio convert / parse-only (target: <= 1.5).
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / 'shared' / 'datasets'
PARSE_ONLY = ('import sys\nfrom pathlib import Path\nfrom lxml import etree\n'
              'root = Path(sys.argv[1])\n'
              'sub = next((root / s for s in ("Annotations", "annotations") if (root / s).is_dir()), root)\n'
              'files = sorted(sub.glob("*.xml")) if sub != root else sorted(root.rglob("*.xml"))\n'
              'boxes = []\n'
              'for f in files:\n'
              '    for o in etree.parse(str(f)).getroot().iterfind("object"):\n'
              '        b = o.find("bndbox")\n'
              '        coords = (float(b.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))\n'
              '        boxes.append((o.findtext("name"), *coords))\n'
              'print(len(files), len(boxes))\n')


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--datasets', nargs='+', default=[str(SHARED / 'face-mask'), str(SHARED / 'bccd')])
    args = parser.parse_args(argv)
    rows = []
    for dataset in args.datasets:
        extra = [] if Path(dataset, 'ImageSets', 'Main').is_dir() else ['--split', '0.8,0.1,0.1']
        parse_t, convert_t = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.repeats):
                t, out = timed([sys.executable, '-c', PARSE_ONLY, dataset])
                parse_t.append(t)
                t, _ = timed([sys.executable, 'tools/dataset_converters/voc2coco.py', dataset,
                              '--out-dir', f'{tmp}/out{i}', *extra])
                convert_t.append(t)
        files, boxes = map(int, out.split())
        p, c = statistics.median(parse_t), statistics.median(convert_t)
        rows.append({'dataset': Path(dataset).name, 'files': files, 'boxes': boxes, 'parse_only_s': round(p, 3),
                     'convert_s': round(c, 3), 'ratio': round(c / p, 2), 'files_per_s': round(files / c),
                     'boxes_per_s': round(boxes / c)})
    print('| dataset | files | boxes | lxml parse only | convert | ratio | files/s | boxes/s |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['dataset']} | {r['files']} | {r['boxes']} | {r['parse_only_s']} s | {r['convert_s']} s "
              f"| {r['ratio']} | {r['files_per_s']} | {r['boxes_per_s']} |")
    print(json.dumps(rows))


if __name__ == '__main__':
    main()
