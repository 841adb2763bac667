"""``python -m study confirm``: the top configurations rerun with fresh seeds and scored once on
the held-out test split, the only step that reads it."""
