"""Sentence classifiers for sentiment as Flax NNX modules (configs: dlrun.families.sentiment.config).

Every classifier maps word ids [B, T] and sentence lengths [B] to class logits [B, 2].
Dropout, when on, acts on the sentence's vector before the softmax layer (Kim 2014).
Padding (id 0 beyond each sentence's length) never changes the logits:

- the bag of words averages the embeddings of the real words only: no order at all;
- the recurrent reader (Lecture III's "many to one") takes the RNN's state after each
  sentence's last real word, not after the padding; a bidirectional reader adds the
  backward RNN's state after it has read the sentence from its last word to its first;
- the CNN (Kim 2014) keeps only windows that start at a real word, and sees zeros for the
  padding inside the last windows.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.families.mlp.models import dropout
from dlrun.families.sentiment.config import BagOfWordsConfig, ReaderConfig, WordCNNConfig
from dlrun.families.sequence.models import CELLS

# Recurrent kernels start LeCun-normal (std 1/sqrt(hidden)) rather than Flax's default
# orthogonal matrices: those come from a LAPACK QR, and with the seeds vmapped two of them
# (a bidirectional reader's two cells) can run at once on XLA:CPU's thread pool and wait
# on each other for ever: `dlrun compare sentiment --seeds 3` hung so on a 2-core CPU.
RECURRENT_INIT = nnx.initializers.lecun_normal()


def real_words(tokens: jax.Array, lengths: jax.Array) -> jax.Array:
    """[B, T] bool, True at the first `lengths` positions of each row."""
    return jnp.arange(tokens.shape[1])[None, :] < lengths[:, None]


class BagOfWords(nnx.Module):
    def __init__(self, config: BagOfWordsConfig, rngs: nnx.Rngs):
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        self.out = nnx.Linear(config.embed, config.num_classes, rngs=rngs)

    def __call__(self, tokens, lengths, dropout_rate=0.0, key=None) -> jax.Array:
        mask = real_words(tokens, lengths)[..., None]  # [B, T, 1]
        total = jnp.sum(jnp.where(mask, self.embed(tokens), 0.0), axis=1)  # [B, E]
        mean = total / jnp.maximum(lengths, 1)[:, None].astype(total.dtype)
        return self.out(dropout(mean, dropout_rate, key))  # [B, C]


class RecurrentReader(nnx.Module):
    def __init__(self, config: ReaderConfig, rngs: nnx.Rngs):
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        cell = lambda: CELLS[config.cell](  # noqa: E731
            config.embed, config.hidden, recurrent_kernel_init=RECURRENT_INIT, rngs=rngs
        )
        # rngs=False: the carry starts at zero (passed in), so the layers hold no RNG state.
        rnn = lambda: nnx.RNN(cell(), rngs=False)  # noqa: E731
        self.bidirectional = config.bidirectional
        self.rnn = nnx.Bidirectional(rnn(), rnn(), rngs=False) if config.bidirectional else rnn()
        self.hidden = config.hidden
        self.out = nnx.Linear(config.hidden * (2 if config.bidirectional else 1), config.num_classes, rngs=rngs)

    def __call__(self, tokens, lengths, dropout_rate=0.0, key=None) -> jax.Array:
        x = self.embed(tokens)  # [B, T, E]
        # seq_lengths: the backward RNN starts at each sentence's own last word.
        h = self.rnn(x, initial_carry=self._zero_carry(x), seq_lengths=lengths)  # [B, T, H or 2H]
        return self.out(dropout(self.sentence_state(h, lengths), dropout_rate, key))  # [B, C]

    def sentence_state(self, h: jax.Array, lengths: jax.Array) -> jax.Array:
        """What the softmax reads, [B, H or 2H]: the forward state at each sentence's last
        real word (index length - 1); for a bidirectional reader also the backward state
        at the first word, when it has read the whole sentence."""
        rows = jnp.arange(h.shape[0])
        last = h[rows, jnp.maximum(lengths - 1, 0)]  # [B, H or 2H]
        if not self.bidirectional:
            return last
        return jnp.concatenate([last[:, : self.hidden], h[:, 0, self.hidden :]], axis=-1)

    def _zero_carry(self, x: jax.Array):
        """Zeros in each cell's carry structure ([B, H], or (c, h) for the LSTM)."""
        rnns = (self.rnn.forward_rnn, self.rnn.backward_rnn) if self.bidirectional else (self.rnn,)
        carries = tuple(r.cell.initialize_carry(x[:, 0].shape, nnx.Rngs(carry=0)) for r in rnns)
        return carries if self.bidirectional else carries[0]


class WordCNN(nnx.Module):
    def __init__(self, config: WordCNNConfig, rngs: nnx.Rngs):
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        self.widths = config.widths
        # A convolution over windows of k words is a dense layer on the k embeddings side by side.
        self.convs = nnx.List(nnx.Linear(k * config.embed, config.maps, rngs=rngs) for k in config.widths)
        self.out = nnx.Linear(len(config.widths) * config.maps, config.num_classes, rngs=rngs)

    def __call__(self, tokens, lengths, dropout_rate=0.0, key=None) -> jax.Array:
        mask = real_words(tokens, lengths)  # [B, T]
        x = jnp.where(mask[..., None], self.embed(tokens), 0.0)  # [B, T, E]: padding reads as zeros
        t = tokens.shape[1]
        pooled = []
        for k, conv in zip(self.widths, self.convs):
            padded = jnp.pad(x, ((0, 0), (0, k - 1), (0, 0)))  # the last windows run into zeros
            windows = jnp.concatenate([padded[:, i : i + t] for i in range(k)], axis=-1)  # [B, T, kE]
            h = jax.nn.relu(conv(windows))  # [B, T, maps]
            # Max over the windows that start at a real word; ReLU outputs are >= 0, so 0 for
            # the others never wins over a real window and keeps an empty row finite.
            pooled.append(jnp.max(jnp.where(mask[..., None], h, 0.0), axis=1))  # [B, maps]
        return self.out(dropout(jnp.concatenate(pooled, axis=-1), dropout_rate, key))  # [B, C]
