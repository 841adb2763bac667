"""Pruners: the overfitting rule and its pruner, the floor, any-of, the registry that builds them
from a space's ``pruner:`` mapping, and the decision each one records."""
