"""Benchmark several detector configs and write a report: accuracy, speed, size, curves, pictures.

Used by ``tools/analysis_tools/benchmark.py``. For each config the model is trained through the
training entry point (:mod:`custom.apis.train`, in a subprocess) unless its work dir already
holds the final checkpoint, an interrupted run is continued with ``--resume``, the final
checkpoint is evaluated on the test split by the test entry point (:mod:`custom.apis.test`),
and speed, parameters and FLOPs are measured in this process.

* :mod:`.presets`: the configs to benchmark (named sets of globs, repo-relative paths);
* :mod:`.schedule`: ``--cfg-options`` that compress a config's schedule to fewer epochs;
* :mod:`.environment`: the machine and software the numbers were measured on;
* :mod:`.timing`: inference and training speed, parameters and FLOPs;
* :mod:`.layout_check`: one training step in each memory layout against float64;
* :mod:`.runner`: training and evaluation in subprocesses, one config's row, the whole run;
* :mod:`.results`: reading evaluation outputs, comparing reports, the table cells;
* :mod:`.plots`: the speed-vs-mAP and per-class AP figures;
* :mod:`.render`: ``report.json``, ``report.md`` and a self-contained ``report.html``.

Importing any module of this package is light: torch, mmengine, mmdet, matplotlib and jinja2 are
imported inside the functions that use them.
"""


class BenchmarkError(RuntimeError):
    """A problem the user can fix (bad path, stale work dir, failed subprocess); the message says how."""
