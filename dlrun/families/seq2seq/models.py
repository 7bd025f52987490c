"""The sequence-to-sequence auto-encoder as a Flax NNX module (config: dlrun.families.seq2seq.config).

The encoder RNN reads the phoneme ids [B, T]; its state after each sequence's last real
phoneme (`last_real`: padding after it cannot reach it) becomes the code [B, C]. The decoder
RNN starts from a state made from the code. In training it reads the true sequence shifted
right (teacher forcing: <s> + phonemes, predicting phonemes + </s>); to reconstruct, it
reads its own previous guess (`generate`, greedy, a lax.scan of fixed length).
"""

import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.data.cmudict import BOS
from dlrun.families.seq2seq.config import Cell, Seq2SeqConfig
from dlrun.families.sequence.models import CELLS


def last_real(outputs: jax.Array, lengths: jax.Array) -> jax.Array:
    """outputs [B, T, H] -> the output at each sequence's last real position [B, H]."""
    return jnp.take_along_axis(outputs, (lengths - 1)[:, None, None], axis=1)[:, 0]


class Seq2SeqAutoEncoder(nnx.Module):
    def __init__(self, config: Seq2SeqConfig, rngs: nnx.Rngs):
        cell = CELLS[config.cell]
        self.lstm = config.cell is Cell.LSTM
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        # rngs=False: the carries start from zeros or from the code, so the layers hold no RNG state.
        self.encoder = nnx.RNN(cell(config.embed, config.hidden, rngs=rngs), rngs=False)
        self.to_code = nnx.Linear(config.hidden, config.code, rngs=rngs)
        self.from_code = nnx.Linear(config.code, config.hidden, rngs=rngs)
        self.decoder = nnx.RNN(cell(config.embed, config.hidden, rngs=rngs), rngs=False)
        self.out = nnx.Linear(config.hidden, config.vocab_size, rngs=rngs)

    def encode(self, tokens: jax.Array, lengths: jax.Array) -> jax.Array:
        """Phoneme ids [B, T] and lengths [B] -> codes [B, C] in (-1, 1)."""
        x = self.embed(tokens)  # [B, T, E]
        zeros = self.encoder.cell.initialize_carry(x[:, 0].shape, nnx.Rngs(carry=0))
        states = self.encoder(x, initial_carry=zeros)  # [B, T, H]: h after each phoneme
        return jnp.tanh(self.to_code(last_real(states, lengths)))

    def decoder_carry(self, code: jax.Array):
        """The decoder's first state: h from the code (an LSTM's memory cell starts at zero)."""
        h = jnp.tanh(self.from_code(code))  # [B, H]
        return (jnp.zeros_like(h), h) if self.lstm else h

    def __call__(self, tokens: jax.Array, lengths: jax.Array, decoder_inputs: jax.Array) -> jax.Array:
        """Teacher forcing: logits [B, T', V] of each next symbol, given the true ones before it."""
        return self.teacher_forced(self.encode(tokens, lengths), decoder_inputs)

    def teacher_forced(self, code: jax.Array, decoder_inputs: jax.Array) -> jax.Array:
        """The decoder from the code [B, C], reading `decoder_inputs` [B, T']: logits [B, T', V]."""
        carry = self.decoder_carry(code)
        return self.out(self.decoder(self.embed(decoder_inputs), initial_carry=carry))

    def generate(self, code: jax.Array, steps: int) -> jax.Array:
        """Greedy decoding: from <s>, each step feeds back its arg-max; ids [B, steps]."""
        graphdef, state = nnx.split((self.embed, self.decoder.cell, self.out))

        def step(carried, _):
            carry, previous = carried
            embed, cell, out = nnx.merge(graphdef, state)
            carry, y = cell(carry, embed(previous))
            guess = jnp.argmax(out(y), axis=-1).astype(jnp.int32)
            return (carry, guess), guess

        start = jnp.full(code.shape[:1], BOS, jnp.int32)
        _, ids = jax.lax.scan(step, (self.decoder_carry(code), start), None, length=steps)
        return ids.T  # [B, steps]
