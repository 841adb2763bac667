"""``python -m study run``: the runner, the objective (one trial), the optimize loop, live
progress and the Ctrl-C gate."""
