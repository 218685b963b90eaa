"""Batch emotion analysis of large photo and video collections, in one process or on a Ray cluster.

    import ferkit.batch
    summary = ferkit.batch.run(["photos/", "clips/*.mp4"], "results/", engine="ray", fps=1)
    faces = pandas.read_parquet("results/faces")      # one row per face

Or plug the recognizer into your own Ray Dataset (one recognizer per actor, loaded once):

    ds = ray.data.read_images("photos/", include_paths=True, mode="RGB")
    faces = ds.map_batches(ferkit.batch.Recognize, batch_size=16, concurrency=2, num_cpus=1)

Modules: `inputs` (folders, globs, manifests → files), `decode` (files → frames), `recognize` (the
`map_batches` steps), `rows` (the output tables), `store` (atomic, resumable output folder), `engines`
(local / ray), `runner` (`run`). Importing `ferkit.batch` loads pyarrow and OpenCV, never Ray (only the
ray engine imports it) nor a model (each step loads its recognizer when it is created).
"""

from ferkit.batch.inputs import list_inputs
from ferkit.batch.recognize import Recognize, RecognizeFiles
from ferkit.batch.runner import BatchSummary, run

__all__ = ["BatchSummary", "Recognize", "RecognizeFiles", "list_inputs", "run"]
