"""Ablations: designed reruns from a study's baseline to a target, and what each fix buys."""
