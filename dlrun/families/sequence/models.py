"""Sequence taggers for slot filling as Flax NNX modules (configs: dlrun.families.sequence.config).

Every tagger maps word ids [B, T] and sentence lengths [B] to tag logits [B, T, C].
A feed-forward tagger sees one word at a time (no memory); the recurrent taggers (Elman,
LSTM, GRU, bidirectional LSTM) carry a state along the sentence. A recurrent tagger reads
at each step a context window of words (Mesnil et al. 2015): the word and its neighbours'
embeddings, concatenated, so a forward RNN also sees the next words. The recurrent layers
get the lengths, so the backward direction of a bidirectional layer starts at each
sentence's last real word.
"""

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from dlrun.families.mlp.models import dropout
from dlrun.families.sequence.config import Cell, FeedForwardConfig, RecurrentConfig

CELLS = {Cell.ELMAN: nnx.SimpleCell, Cell.LSTM: nnx.OptimizedLSTMCell, Cell.GRU: nnx.GRUCell}


def clipped_adam(learning_rate, max_norm) -> optax.GradientTransformation:
    """Adam on gradients clipped to a global L2 norm (exploding RNN gradients, Lecture III).
    Both numbers may be traced: the engine injects them with optax.inject_hyperparams."""
    return optax.chain(optax.clip_by_global_norm(max_norm), optax.adam(learning_rate))


class FeedForwardTagger(nnx.Module):
    def __init__(self, config: FeedForwardConfig, rngs: nnx.Rngs):
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        self.hidden = nnx.Linear(config.embed, config.hidden, rngs=rngs)
        self.out = nnx.Linear(config.hidden, config.num_tags, rngs=rngs)

    def __call__(self, tokens, lengths, dropout_rate=0.0, key=None) -> jax.Array:
        del lengths  # each word alone: padding cannot reach a real word
        keys = (None, None) if key is None else jax.random.split(key)
        x = dropout(self.embed(tokens), dropout_rate, keys[0])  # [B, T, E]
        h = dropout(jnp.tanh(self.hidden(x)), dropout_rate, keys[1])  # [B, T, H]
        return self.out(h)  # [B, T, C]


def context_windows(tokens: jax.Array, lengths: jax.Array, window: int) -> jax.Array:
    """[B, T] word ids -> [B, T, window]: each word's id with the ids of the window // 2
    words on either side; <pad> (id 0) beyond the sentence's ends, whatever the padded
    positions of `tokens` hold."""
    reach = window // 2
    real = jnp.arange(tokens.shape[1])[None] < lengths[:, None]  # [B, T]
    padded = jnp.pad(jnp.where(real, tokens, 0), ((0, 0), (reach, reach)))  # [B, T + 2 reach]
    return jnp.stack([padded[:, i : i + tokens.shape[1]] for i in range(window)], axis=-1)  # [B, T, W]


class RecurrentTagger(nnx.Module):
    def __init__(self, config: RecurrentConfig, rngs: nnx.Rngs):
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        self.window = config.window
        width_in = config.window * config.embed
        # rngs=False: the carry starts at zero (passed in), so the layers hold no RNG state.
        rnn = lambda: nnx.RNN(CELLS[config.cell](width_in, config.hidden, rngs=rngs), rngs=False)  # noqa: E731
        self.bidirectional = config.bidirectional
        self.rnn = nnx.Bidirectional(rnn(), rnn(), rngs=False) if config.bidirectional else rnn()
        width = config.hidden * (2 if config.bidirectional else 1)
        self.out = nnx.Linear(width, config.num_tags, rngs=rngs)

    def __call__(self, tokens, lengths, dropout_rate=0.0, key=None) -> jax.Array:
        keys = (None, None) if key is None else jax.random.split(key)
        windows = self.embed(context_windows(tokens, lengths, self.window))  # [B, T, W, E]
        x = dropout(windows.reshape(*tokens.shape, -1), dropout_rate, keys[0])  # [B, T, W * E]
        # seq_lengths: the backward RNN reads each sentence from its own last word; the
        # forward one reaches padding only after the real words, whose outputs are final.
        h = self.rnn(x, initial_carry=self._zero_carry(x), seq_lengths=lengths)  # [B, T, H or 2H]
        return self.out(dropout(h, dropout_rate, keys[1]))  # [B, T, C]

    def _zero_carry(self, x: jax.Array):
        """Zeros in each cell's carry structure ([B, H], or (c, h) for the LSTM)."""
        rnns = (self.rnn.forward_rnn, self.rnn.backward_rnn) if self.bidirectional else (self.rnn,)
        carries = tuple(r.cell.initialize_carry(x[:, 0].shape, nnx.Rngs(carry=0)) for r in rnns)
        return carries if self.bidirectional else carries[0]
