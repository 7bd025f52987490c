"""Losses with the Keras (2016) semantics the lecture's numbers depend on.

Both take logits [B, C] and integer labels [B] and return a scalar float32 mean over the
batch (bfloat16 logits, under mixed precision, are widened first).
"""

import jax
import jax.numpy as jnp
import optax


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Keras `categorical_crossentropy` after a softmax: mean over the batch."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels).mean()


def softmax_mse(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Keras `mse` on softmax outputs: mean over the C outputs AND the batch.

    A sum over classes would make the gradient 10x larger and change the lesson.
    """
    probs = jax.nn.softmax(logits.astype(jnp.float32))  # [B, C]
    one_hot = jax.nn.one_hot(labels, logits.shape[-1])  # [B, C]
    return jnp.mean((probs - one_hot) ** 2)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose arg-max is the label."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)
