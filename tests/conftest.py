"""Shared fixtures: offline settings, a tiny separable image set, tiny experiments."""

import hashlib
import os
import tempfile
from dataclasses import replace

import numpy as np
import optax
import pytest

from dlrun.core.config import Experiment, Optimizer, resolved
from dlrun.core.devices import configure
from dlrun.data.images import ImageData
from dlrun.families.mlp.config import Activation, MLPConfig
from dlrun.families.mlp.task import CLASSIFICATION

# The suite's compiled programs go to a cache of its own (shared by the test processes it
# starts), never into the user's ~/.cache/dlrun.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="dlrun-test-cache-")
# Offline for the whole session, module-scoped fixtures included (the autouse fixture
# below also restores this after any test that changes it).
os.environ["DLRUN_NO_TFDS"] = "1"
os.environ.pop("DLRUN_DATA_DIR", None)
# One CPU device on any machine, for this process and the dlrun processes tests start
# (a second device slows the first, and each program would compile partitioned); tests that
# spread replicas over devices ask for them in a process of their own.
os.environ["DLRUN_CPU_DEVICES"] = "1"
configure()  # now, before any test's JAX work: JAX decides on the compile cache at its first compile


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may reach tensorflow-datasets, a user's data dir or the debug mode."""
    monkeypatch.setenv("DLRUN_NO_TFDS", "1")
    monkeypatch.delenv("DLRUN_DATA_DIR", raising=False)
    monkeypatch.delenv("DLRUN_DEBUG", raising=False)


def make_images(n_train: int = 400, n_test: int = 200, seed: int = 0) -> ImageData:
    """28x28 uint8 images of a separable pattern: class k lights rows 4+2k and 5+2k on a
    noisy dark background. Labels cycle 0..9, so every class is present in any subset."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (np.arange(n) % 10).astype(np.int32)
        rng.shuffle(y)
        x = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for k in range(10):
            x[y == k, 4 + 2 * k : 6 + 2 * k, 4:24] = 220
        return x, y

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    digest = hashlib.sha256()
    for a in (x_train, y_train, x_test, y_test):
        digest.update(a.tobytes())
    return ImageData(x_train, y_train, x_test, y_test, "synthetic stripes (tests)", digest.hexdigest(), None)


@pytest.fixture(scope="session")
def images() -> ImageData:
    return make_images()


@pytest.fixture(scope="session")
def tiny_exp() -> Experiment:
    """One hidden layer of 32 ReLUs, SGD 0.1, 400 examples in batches of 50, 3 epochs
    (resolved: its loss is the function itself, as in a run)."""
    return resolved(
        Experiment(
            name="tiny",
            description="test",
            reference=None,
            model=MLPConfig(hidden=(32,), activation=Activation.RELU),
            task=CLASSIFICATION,
            optimizer=Optimizer(optax.sgd, 0.1),
            train_size=400,
            batch_size=50,
            epochs=3,
        )
    )


@pytest.fixture
def tiny(tiny_exp):
    """`tiny(**changes)`: the tiny experiment with some fields replaced."""
    return lambda **changes: replace(tiny_exp, **changes)
