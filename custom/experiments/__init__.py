"""Experiments over many trainings: K-fold cross-validation, hyper-parameter search, the report on them.

* :mod:`.folds`: stratified folds of a config's train + val images, as COCO files;
* :mod:`.kfold`: one training per fold (resumable, one fold per process if wanted), the report;
  :mod:`.kfold_report`: its Markdown page and per-fold plot;
* :mod:`.search_space`: search spaces (default and YAML) and how a sampled point changes a config;
* :mod:`.tuning`: an Optuna study of a config's hyper-parameters, trials trained in subprocesses;
  :mod:`.tune_report`: trials table, ``tune.json``, history and importance plots;
* :mod:`.pruning`: the hook that reports validation mAP to a trial and stops a pruned one (a registered
  MMEngine hook: importing it imports mmengine);
* :mod:`.report`, :mod:`.report_config`, :mod:`.report_render`: the experiment report
  (``tools/analysis_tools/experiment_report.py``): optimizer, losses, architectures, regularisation and
  schedule of training, K-fold and tuning work dirs, answered from their saved configs and logs.

Importing the other modules is light: torch, mmengine, optuna and matplotlib load inside the functions.
"""


class ExperimentError(RuntimeError):
    """A problem the user can fix (missing split file, stale work dir, failed training); the message says how."""
