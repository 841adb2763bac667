"""``python -m study run``: the options resolved once (``plan``), the checks before data is read
(``preflight``), the runner, the objective (one trial), the optimize loop, live progress and the
Ctrl-C gate."""
