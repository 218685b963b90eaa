"""Stop unpromising trials early: report validation loss to Optuna after every epoch."""

from __future__ import annotations

import keras
import optuna


class PruneOnValidationLoss(keras.callbacks.Callback):
    """Reports `monitor` to the trial after each epoch; raises `optuna.TrialPruned` if the pruner says so.

    Args:
        trial: the running Optuna trial.
        epochs: the trial's number of epochs. The last one is reported but never pruned: its training is done,
            so the trial is scored rather than thrown away.
        monitor: the logged value to report (lower is better).
    """

    def __init__(self, trial: optuna.Trial, epochs: int, monitor: str = "val_loss"):
        super().__init__()
        self.trial = trial
        self.epochs = epochs
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        self.trial.report(float(value), step=epoch)
        if epoch + 1 < self.epochs and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} ({self.monitor} {float(value):.4f})")
