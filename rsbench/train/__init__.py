"""Training: the plain loop (:func:`fit`, no Ray) and checkpoints. The Ray Tune layer lives in ``train.tune``."""

from rsbench.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from rsbench.train.fit import FitResult, TrainingDiverged, fit

__all__ = ["FitResult", "TrainingDiverged", "fit", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]
