"""``python -m study audit-pruner``: the trials the pruner stopped, rerun to the full epoch
budget, to count the ones it should not have stopped."""
