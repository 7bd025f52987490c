"""word2vec as a Flax NNX module (config: dlrun.families.wordvectors.config): two tables of
vectors, the input vectors (the word vectors that are kept) and the output vectors (what a
context or center word is predicted with). The objective lives in the task."""

import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.families.wordvectors.config import Word2VecConfig


class Word2Vec(nnx.Module):
    def __init__(self, config: Word2VecConfig, rngs: nnx.Rngs):
        self.config = config
        v, d = config.vocab_size, config.dim
        # word2vec.c: syn0 uniform in [-0.5/dim, 0.5/dim), syn1neg zeros.
        self.inputs = nnx.Param(jax.random.uniform(rngs.params(), (v, d), minval=-0.5 / d, maxval=0.5 / d))
        self.outputs = nnx.Param(jnp.zeros((v, d)))

    def __call__(self, words: jax.Array) -> jax.Array:
        """The word vectors of ids [...] -> [..., dim]."""
        return self.inputs[...][words]
