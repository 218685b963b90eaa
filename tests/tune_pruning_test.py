"""The pruning callback reports validation loss every epoch and prunes any epoch but the last."""

from __future__ import annotations

import optuna
import pytest

from ferkit.tuning.pruning import PruneOnValidationLoss


def _trial():
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    return study, study.ask()


def test_reports_every_epoch_and_prunes_when_the_pruner_says_so():
    study, trial = _trial()
    callback = PruneOnValidationLoss(trial, epochs=3)
    callback.on_epoch_end(0, {"val_loss": 0.9, "loss": 5.0})
    with pytest.raises(optuna.TrialPruned, match=r"pruned after epoch 2 \(val_loss 1\.5000\)"):
        callback.on_epoch_end(1, {"val_loss": 1.5})
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    assert study.trials[0].intermediate_values == {0: 0.9, 1: 1.5}


def test_the_last_epoch_is_scored_not_pruned():
    study, trial = _trial()
    callback = PruneOnValidationLoss(trial, epochs=2)
    callback.on_epoch_end(0, {"val_loss": 0.5})
    callback.on_epoch_end(1, {"val_loss": 7.0})
    callback.on_epoch_end(1, {"loss": 7.0})
    assert trial.should_prune() and study.trials[0].intermediate_values == {0: 0.5, 1: 7.0}
