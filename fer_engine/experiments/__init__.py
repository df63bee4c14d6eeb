"""Experiments: how a model family is trained and evaluated, and where the result is kept.

- :mod:`~fer_engine.experiments.protocols`: fold plans (which participants train, validate, test).
- :mod:`~fer_engine.experiments.training`: ``run_experiment``: plan, fit each fold, pool, write.
- :mod:`~fer_engine.experiments.jobs`: the same training in a background process for the pages.
- :mod:`~fer_engine.experiments.runs`: the run folder, its only reader and writer.
"""
