"""Running training: config reading and checks, preflight, launch settings, safe checkpoints, resume and its checks,
hooks, the CPU bf16 optimizer wrapper and training logs.

:mod:`custom.engine.config`, :mod:`custom.engine.checkpoint_files` and
:mod:`custom.engine.training_logs` import no torch.
"""
