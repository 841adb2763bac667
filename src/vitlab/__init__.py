"""vitlab: the training engine behind ``study``.

Manifests, the stratified split, the min-images filter, the decode-once image cache and (later)
the model factory and the train/eval loop. It knows nothing about Optuna.
"""

__version__ = "0.1.0"
