"""Converter speed vs merely parsing the same XML files with lxml, as whole processes, side by side.

The parse-only baseline is the least any converter must do: lxml-parse every XML file and
read each object's name and four box coordinates (no validation, no images, no output).

    python tools/analysis_tools/benchmark_converter.py [--repeats 7] [--datasets ../shared/datasets/bccd ...]

For each dataset it runs each command once untimed (so Python's bytecode cache is warm, as
on a user's second run; PYTHONDONTWRITEBYTECODE is cleared for the children), then
alternates the two, takes the median wall time and the median CPU time (user + system) of
each and prints files/s, boxes/s and the ratios convert / parse-only (target: <= 1.5). The
CPU ratio is the steadier of the two when other work shares the machine.

``--big N`` (default 100000; 0 skips) then builds an N-file folder from BCCD's annotations
(its 364 images copied once, each XML repeated under new names) and converts it with one
process and with one per core, printing wall time and peak memory of each.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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


def _env() -> dict:
    env = dict(os.environ)
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    return env


def timed(cmd):
    """Run ``cmd``; return (wall seconds, stdout, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True, env=_env()).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# Runs a tool as __main__ and then prints the peak RSS of this process and of its pool workers.
PEAK_RSS = ('import resource, runpy, sys\n'
            'sys.argv = sys.argv[1:]\n'
            'try:\n'
            '    runpy.run_path(sys.argv[0], run_name="__main__")\n'
            'except SystemExit:\n'
            '    pass\n'
            'own, kids = (resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n'
            'print("PEAK_RSS_MB", own // 1024, kids // 1024)\n')


def make_big_folder(bccd: Path, root: Path, n: int) -> None:
    """An ``n``-file VOCdevkit folder: BCCD's XML files repeated under new names, its images once."""
    shutil.copytree(bccd / 'JPEGImages', root / 'JPEGImages')
    (root / 'Annotations').mkdir()
    sources = sorted((bccd / 'Annotations').glob('*.xml'))
    texts = [p.read_text() for p in sources]
    for i in range(n):
        (root / 'Annotations' / f'{i:07d}.xml').write_text(texts[i % len(texts)])


def big_folder_rows(bccd: Path, n: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        make_big_folder(bccd, Path(tmp, 'voc'), n)
        for workers in (1, os.cpu_count() or 1):
            t, out, _ = timed([sys.executable, '-c', PEAK_RSS, 'tools/dataset_converters/voc2coco.py', f'{tmp}/voc',
                            '--out-dir', f'{tmp}/out{workers}', '--split', '0.8,0.1,0.1', '--workers', str(workers)])
            main_mb, worker_mb = map(int, out.split('PEAK_RSS_MB')[1].split())
            rows.append({'files': n, 'workers': workers, 'convert_s': round(t, 1), 'files_per_s': round(n / t),
                         'peak_rss_mb': main_mb, 'worker_peak_rss_mb': worker_mb})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--datasets', nargs='+', default=[str(SHARED / 'face-mask'), str(SHARED / 'bccd')])
    parser.add_argument('--big', type=int, default=100000, help='files in the big-folder run (0: skip it)')
    parser.add_argument('--bccd', default=str(SHARED / 'bccd'), help='source of the big folder')
    args = parser.parse_args(argv)
    rows = []
    for dataset in args.datasets:
        extra = [] if Path(dataset, 'ImageSets', 'Main').is_dir() else ['--split', '0.8,0.1,0.1']
        parse_cmd = [sys.executable, '-c', PARSE_ONLY, dataset]
        with tempfile.TemporaryDirectory() as tmp:
            convert_cmd = [sys.executable, 'tools/dataset_converters/voc2coco.py', dataset, *extra, '--out-dir']
            timed(parse_cmd), timed([*convert_cmd, f'{tmp}/warm'])  # untimed: bytecode and file caches warm
            parse_runs, convert_runs = [], []
            for i in range(args.repeats):
                parse_runs.append(timed(parse_cmd))
                convert_runs.append(timed([*convert_cmd, f'{tmp}/out{i}']))
        files, boxes = map(int, parse_runs[-1][1].split())
        p, c = (statistics.median(r[0] for r in runs) for runs in (parse_runs, convert_runs))
        p_cpu, c_cpu = (statistics.median(r[2] for r in runs) for runs in (parse_runs, convert_runs))
        rows.append({'dataset': Path(dataset).name, 'files': files, 'boxes': boxes, 'parse_only_s': round(p, 3),
                     'convert_s': round(c, 3), 'ratio': round(c / p, 2), 'files_per_s': round(files / c),
                     'boxes_per_s': round(boxes / c), 'parse_only_cpu_s': round(p_cpu, 3),
                     'convert_cpu_s': round(c_cpu, 3), 'cpu_ratio': round(c_cpu / p_cpu, 2)})
    print('| dataset | files | boxes | lxml parse only | convert | ratio | CPU ratio | files/s | boxes/s |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['dataset']} | {r['files']} | {r['boxes']} | {r['parse_only_s']} s | {r['convert_s']} s "
              f"| {r['ratio']} | {r['cpu_ratio']} | {r['files_per_s']} | {r['boxes_per_s']} |")
    big = big_folder_rows(Path(args.bccd), args.big) if args.big else []
    if big:
        print('\n| files | processes | convert | files/s | peak RSS main / worker |')
        print('|---|---|---|---|---|')
        for r in big:
            print(f"| {r['files']} | {r['workers']} | {r['convert_s']} s | {r['files_per_s']} "
                  f"| {r['peak_rss_mb']} / {r['worker_peak_rss_mb']} MB |")
    print(json.dumps({'datasets': rows, 'big_folder': big}))


if __name__ == '__main__':
    main()
