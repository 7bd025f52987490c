"""The end-to-end memory network and the LSTM reader as Flax NNX modules (configs:
dlrun.families.memory.config).

Both read the same arrays: `memories` [B, M, L], the word ids of a question's M most recent
statements, the most recent first (slot 0), each statement left-aligned and padded with
PAD; an empty slot is all PAD. `question` [B, Lq] likewise. Both return answer logits
over the vocabulary [B, V].
"""

import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.families.memory.config import LSTMReaderConfig, MemoryNetworkConfig
from dlrun.families.sequence.config import Cell
from dlrun.families.sequence.models import CELLS

PAD = 0  # the padding word id (dlrun.families.memory.task's vocabulary)
INIT_STD = 0.1  # Sukhbaatar et al. 2015: weights drawn from N(0, 0.1^2)
# As in dlrun.families.sentiment.models: LeCun-normal recurrent kernels, not Flax's
# orthogonal default, whose LAPACK QR can deadlock vmapped seeds on XLA:CPU.
RECURRENT_INIT = nnx.initializers.lecun_normal()


def position_encoding(lengths: jax.Array, width: int, dim: int) -> jax.Array:
    """Sukhbaatar et al.'s weights l_kj = (1 - j/J) - (k/d)(1 - 2j/J) of word j (1..J) in
    dimension k (1..d), for sentences of `lengths` J [...] padded to `width`: [..., width, dim].
    Padding words (j > J) weigh 0, so a sentence's vector ignores its padding."""
    j = jnp.arange(1, width + 1, dtype=jnp.float32)  # [L]
    k = jnp.arange(1, dim + 1, dtype=jnp.float32) / dim  # [d]
    big_j = jnp.maximum(lengths, 1).astype(jnp.float32)[..., None]  # [..., 1]
    weights = (1 - j / big_j)[..., None] - k * (1 - 2 * j / big_j)[..., None]  # [..., L, d]
    return jnp.where((j <= big_j)[..., None], weights, 0.0)


def position_bags(words: jax.Array, vocab_size: int) -> jax.Array:
    """Word ids [..., L] -> [..., 2, V]: the sentence's words weighted by a_j = 1 - j/J and by
    b_j = 1 - 2j/J, summed per word id. Since l_kj = a_j - (k/d) b_j, the position-encoded
    sum of a table's rows is bags[0] @ E - (k/d) * bags[1] @ E: two small matrix products
    instead of a gather, whose gradient (a scatter) XLA:CPU runs slowly."""
    j = jnp.arange(1, words.shape[-1] + 1, dtype=jnp.float32)  # [L]
    big_j = jnp.maximum(jnp.sum(words != PAD, axis=-1), 1).astype(jnp.float32)[..., None]  # [..., 1]
    real = words != PAD
    a = jnp.where(real, 1 - j / big_j, 0.0)  # [..., L]
    b = jnp.where(real, 1 - 2 * j / big_j, 0.0)
    one_hot = jax.nn.one_hot(words, vocab_size)  # [..., L, V]
    return jnp.einsum("...sl,...lv->...sv", jnp.stack([a, b], axis=-2), one_hot)


def sentence_vectors(tables: jax.Array, bags: jax.Array) -> jax.Array:
    """Position-encoded sums of a sentence's rows of each table [T, V, d], from its
    `position_bags` [..., 2, V]: [..., T, d]. One matrix product for all the tables."""
    count, vocab, dim = tables.shape
    k = jnp.arange(1, dim + 1, dtype=jnp.float32) / dim  # [d]
    flat = bags.reshape(-1, vocab) @ jnp.transpose(tables, (1, 0, 2)).reshape(vocab, count * dim)
    both = flat.reshape(*bags.shape[:-1], count, dim)  # [..., 2, T, d]
    return both[..., 0, :, :] - k * both[..., 1, :, :]


def masked_softmax(scores: jax.Array, real: jax.Array) -> jax.Array:
    """Softmax over the last axis among the `real` entries only; the others get exactly 0
    (an empty memory: all 0, no NaN)."""
    top = jnp.max(jnp.where(real, scores, -jnp.inf), axis=-1, keepdims=True)
    # exp(-inf) = 0 for the padding, whose gradient is then 0 too (no inf * 0 in the backward pass).
    e = jnp.exp(jnp.where(real, scores - jnp.where(jnp.isfinite(top), top, 0.0), -jnp.inf))
    return e / jnp.maximum(jnp.sum(e, axis=-1, keepdims=True), jnp.finfo(e.dtype).tiny)


class Updates(nnx.Variable):
    """Training updates made so far: model state, not a weight (the linear start's clock)."""


class MemoryNetwork(nnx.Module):
    """Hop k (1..K): p = softmax(u . m_i) over the real statements, m_i through E_(k-1);
    u += sum_i p_i c_i, c_i through E_k; the answer's logits are u after hop K times E_K^T."""

    def __init__(self, config: MemoryNetworkConfig, rngs: nnx.Rngs):
        self.linear_start = config.linear_start
        self.updates = Updates(jnp.zeros((), jnp.int32))
        init = nnx.initializers.normal(INIT_STD)
        tables = config.hops + 1
        self.hops = config.hops
        self.embed = nnx.Param(init(rngs.params(), (tables, config.vocab_size, config.embed)))  # E_0..E_K
        # T_0..T_K: one learned vector per memory slot (age), tied across hops like the tables.
        self.temporal = (
            nnx.Param(init(rngs.params(), (tables, config.memory, config.embed))) if config.temporal else None
        )

    def __call__(self, memories: jax.Array, question: jax.Array, train: bool = False) -> jax.Array:
        logits = self.read(memories, question)[0]
        if train:  # this call makes one more update
            self.updates[...] = self.updates[...] + 1
        return logits

    def read(self, memories: jax.Array, question: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(answer logits [B, V], attention [B, K, M]: hop k's weights over the memory slots,
        summing to 1 over the real statements, 0 on empty slots; during the linear start,
        the raw scores of the real statements instead)."""
        real = memories[..., 0] != PAD  # [B, M]
        embed = self.embed[...]
        vocab = embed.shape[1]
        u = sentence_vectors(embed[:1], position_bags(question, vocab))[:, 0]  # [B, d]
        slots = self._slots(embed, memories)  # [B, M, K + 1, d]
        attention = []
        linear = self.updates[...] < self.linear_start  # the first `linear_start` updates
        for k in range(self.hops):
            scores = jnp.einsum("bmd,bd->bm", slots[:, :, k], u)  # keys: E_k
            p = jnp.where(linear, jnp.where(real, scores, 0.0), masked_softmax(scores, real))
            u = u + jnp.einsum("bm,bmd->bd", p, slots[:, :, k + 1])  # values: E_(k+1)
            attention.append(p)
        return u @ embed[self.hops].T, jnp.stack(attention, axis=1)

    def _slots(self, embed: jax.Array, memories: jax.Array) -> jax.Array:
        """The memory as seen through every table: [B, M, K + 1, d], with each slot's age vector added."""
        vectors = sentence_vectors(embed, position_bags(memories, embed.shape[1]))
        if self.temporal is None:
            return vectors
        return vectors + jnp.swapaxes(self.temporal[...][:, : memories.shape[1]], 0, 1)  # [M, K + 1, d]


def story_then_question(memories: jax.Array, question: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The words an LSTM reads, in order: the statements oldest first, then the question,
    padding moved to the end: (ids [B, M*L + Lq], lengths [B])."""
    b = memories.shape[0]
    chronological = memories[:, ::-1].reshape(b, -1)  # [B, M*L]: slot 0 is the most recent
    tokens = jnp.concatenate([chronological, question], axis=1)  # [B, T], PAD scattered
    order = jnp.argsort(tokens == PAD, axis=1, stable=True)  # real words first, in their order
    return jnp.take_along_axis(tokens, order, axis=1), jnp.sum(tokens != PAD, axis=1)


class LSTMReader(nnx.Module):
    """Embedding -> LSTM over the story's words (oldest statement first) and then the
    question's -> its state after the last word -> dense -> answer logits."""

    def __init__(self, config: LSTMReaderConfig, rngs: nnx.Rngs):
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        cell = CELLS[Cell.LSTM](config.embed, config.hidden, recurrent_kernel_init=RECURRENT_INIT, rngs=rngs)
        # rngs=False: the carry starts at zero (passed in), so the layer holds no RNG state.
        self.rnn = nnx.RNN(cell, rngs=False)
        self.out = nnx.Linear(config.hidden, config.vocab_size, rngs=rngs)

    def __call__(self, memories: jax.Array, question: jax.Array, train: bool = False) -> jax.Array:
        del train  # the reader behaves alike in training and in use
        tokens, lengths = story_then_question(memories, question)
        x = self.embed(tokens)  # [B, T, E]
        zeros = self.rnn.cell.initialize_carry(x[:, 0].shape, nnx.Rngs(carry=0))
        h = self.rnn(x, initial_carry=zeros, seq_lengths=lengths)  # [B, T, H]
        last = h[jnp.arange(h.shape[0]), jnp.maximum(lengths - 1, 0)]  # [B, H]: after the question's last word
        return self.out(last)
