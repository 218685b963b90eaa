"""Stop unpromising trials early: report validation loss to Optuna after every epoch."""

from __future__ import annotations

import keras
import optuna


class PruneOnValidationLoss(keras.callbacks.Callback):
    """Reports `monitor` to the trial after each epoch; raises `optuna.TrialPruned` if the pruner says so."""

    def __init__(self, trial: optuna.Trial, monitor: str = "val_loss"):
        super().__init__()
        self.trial = trial
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} ({self.monitor} {float(value):.4f})")
