"""``python -m study dashboard``: the optuna-dashboard server, and the notes, curves pages and
plotly.js artifact that ``run`` writes for it."""
