"""FER-2013 specifics that make a reported number trustworthy: FER+ majority labels and duplicate images.

FER+ majority label (`ferplus_majority`, defined in `ferkit.data.ferplus`): each row's strict plurality
among its ten crowd votes, mapped onto the model's classes by name; ties, unknown, NF and classes the model
lacks (contempt, for a FER-2013 model) are left out.

Duplicates: hundreds of PublicTest/PrivateTest images are exact pixel copies of Training images, so a model
can score on them by memory. `rows_duplicated_in` finds them by hashing each image's pixel bytes.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ferkit.data.ferplus import NOT_LABELLED, MajorityLabels, ferplus_majority
from ferkit.data.npz import read_ferplus_votes

__all__ = ["NOT_LABELLED", "MajorityLabels", "ferplus_majority", "read_ferplus_votes", "pixel_hash",
           "rows_duplicated_in"]

def pixel_hash(image: np.ndarray) -> bytes:
    """A digest of an image's shape and pixel bytes: equal exactly when the images are identical."""
    image = np.ascontiguousarray(image)
    return hashlib.blake2b(repr(image.shape).encode() + image.tobytes(), digest_size=16).digest()


def rows_duplicated_in(images: np.ndarray, rows: np.ndarray, reference_rows: np.ndarray) -> np.ndarray:
    """Bool mask over `rows`: True where that image is an exact pixel copy of an image in `reference_rows`."""
    reference = {pixel_hash(images[i]) for i in reference_rows}
    return np.array([pixel_hash(images[i]) in reference for i in rows], dtype=bool)
