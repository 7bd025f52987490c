"""Losses and accuracy against numbers computed by hand with numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlrun.core.losses import accuracy, cross_entropy, softmax_mse

LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]], dtype=np.float32)  # [B=2, C=3]
LABELS = np.array([0, 2], dtype=np.int32)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_cross_entropy_is_batch_mean_of_negative_log_softmax():
    # Row 0: -log(e^2 / (e^2 + e^1 + e^0.1)); row 1: -log(e^-1 / (e^0.5 + e^2.5 + e^-1)).
    row0 = -(2.0 - np.log(np.exp(2.0) + np.exp(1.0) + np.exp(0.1)))
    row1 = -(-1.0 - np.log(np.exp(0.5) + np.exp(2.5) + np.exp(-1.0)))
    assert row0 == pytest.approx(0.4170299, abs=1e-6)  # the hand computation itself
    assert float(cross_entropy(LOGITS, LABELS)) == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_cross_entropy_of_uniform_logits_is_log_classes():
    logits = jnp.zeros((4, 10))
    assert float(cross_entropy(logits, jnp.array([0, 3, 7, 9]))) == pytest.approx(np.log(10), rel=1e-6)


def test_cross_entropy_is_stable_for_huge_logits():
    """No overflow: logsumexp([1000, 0, -1000]) = 1000, so the loss is 0 and 2000."""
    logits = jnp.array([[1000.0, 0.0, -1000.0]] * 2)
    assert float(cross_entropy(logits[:1], jnp.array([0]))) == pytest.approx(0.0, abs=1e-6)
    assert float(cross_entropy(logits[1:], jnp.array([2]))) == pytest.approx(2000.0, rel=1e-6)


def test_softmax_mse_is_keras_mean_over_classes_and_batch():
    probs = _softmax(LOGITS.astype(np.float64))
    one_hot = np.eye(3)[LABELS]
    by_hand = ((probs - one_hot) ** 2).sum() / (2 * 3)  # 6 squared errors, averaged
    assert float(softmax_mse(LOGITS, LABELS)) == pytest.approx(by_hand, rel=1e-5)
    # Row 0, computed out fully: p = (0.6590, 0.2424, 0.0986), target (1, 0, 0).
    p = probs[0]
    assert ((p[0] - 1) ** 2 + p[1] ** 2 + p[2] ** 2) == pytest.approx(0.1848, abs=1e-4)


def test_softmax_mse_is_one_over_classes_of_the_sum_over_classes_version():
    """The lesson depends on Keras' mean over classes: 1/C of the sum-over-classes loss,
    and so 1/C of its gradient."""
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(5, 10)), dtype=jnp.float32)
    labels = jnp.asarray(rng.integers(0, 10, size=5))

    def summed(z):
        return jnp.mean(jnp.sum((jax.nn.softmax(z) - jax.nn.one_hot(labels, 10)) ** 2, axis=-1))

    assert float(softmax_mse(logits, labels)) == pytest.approx(float(summed(logits)) / 10, rel=1e-5)
    g_mean = jax.grad(softmax_mse)(logits, labels)
    g_sum = jax.grad(summed)(logits)
    np.testing.assert_allclose(np.asarray(g_mean) * 10, np.asarray(g_sum), rtol=1e-5, atol=1e-7)


def test_softmax_mse_is_zero_only_for_a_perfect_prediction():
    perfect = jnp.array([[100.0, 0.0, 0.0]])
    assert float(softmax_mse(perfect, jnp.array([0]))) == pytest.approx(0.0, abs=1e-8)
    # Completely wrong and confident: p = (1, 0, 0), target (0, 1, 0) -> (1 + 1 + 0) / 3.
    assert float(softmax_mse(perfect, jnp.array([1]))) == pytest.approx(2 / 3, rel=1e-6)


def test_accuracy_counts_rows_whose_argmax_is_the_label():
    logits = jnp.array([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0], [0.0, 0.0, 5.0], [0.2, 0.1, 0.0]])
    assert float(accuracy(logits, jnp.array([1, 2, 2, 0]))) == pytest.approx(0.75)
    assert float(accuracy(logits, jnp.array([0, 1, 0, 2]))) == pytest.approx(0.0)
    assert float(accuracy(LOGITS, LABELS)) == pytest.approx(0.5)
