"""Running training: config reading and checks, preflight, launch settings, safe checkpoints, resume and its checks,
pretrained weights, hooks, the CPU bf16 optimizer wrapper and training logs; test-time augmentation of a test config.

:mod:`custom.engine.config`, :mod:`custom.engine.checkpoint_files`, :mod:`custom.engine.training_logs`,
:mod:`custom.engine.tta` and :mod:`custom.engine.weights` import no torch at import.
"""
