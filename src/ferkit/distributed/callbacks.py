"""Callbacks for the processes of a distributed run that are not rank 0."""

from __future__ import annotations

import keras


class RestoreOnlyBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that restores rank 0's backup at the start but never writes or deletes it.

    Every process must resume from the same epoch and weights, and only rank 0 writes files, so the other
    ranks read rank 0's backup folder (the run folder must therefore be on storage every host sees).
    """

    def _save_model(self):
        pass

    def on_train_end(self, logs=None):
        pass
