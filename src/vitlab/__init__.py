"""vitlab: the training engine behind ``study``.

Manifests, the stratified split, the min-images filter, the decode-once image cache, the
augmentation ladder, the timm model factory, checkpoints and the train/eval loop
(``Trainer(config).fit()`` yields one record per epoch). It knows nothing about Optuna or
``study`` (tests/vitlab/test_independence.py checks it).
"""

__version__ = "0.1.0"
