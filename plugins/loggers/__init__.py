"""Loggers: plugins that send runs to the trackers ML people already use.

One module per tracker (TensorBoard, MLflow, Weights & Biases, CSV), each registered as a
plugin of its own through the ``bench.plugins`` entry-point group, on the observer hooks
``run_started``, ``log_metrics`` and ``run_finished``, and importing only what ``bench``
exports, as a third party's logger would. ``bench run --log-to KIND[:TARGET]`` picks them
by their plugin name. What they share (a thread per destination, so a slow or failing
tracker never slows or fails the run) is :mod:`bench_plugins.loggers.common`; W&B's and
MLflow's trackers run in a process of their own (:mod:`bench_plugins.loggers.tracker_process`).
"""
