"""Lecture IV, "sequence-to-sequence auto-encoder" (Hung-yi Lee, 2016): an RNN encoder reads
an audio segment into one vector, an RNN decoder rebuilds the segment from it, and segments
that sound alike get nearby vectors. dlrun's version reads pronunciations instead of audio:
ARPAbet phoneme sequences of the CMU Pronouncing Dictionary (stress stripped, 39 phonemes),
with 5% of the words held out (dlrun.data.cmudict). Without the dictionary the lesson runs
on a generated lexicon of pseudo-words. Run it with

    dlrun compare seq2seq                       # the dictionary when found, else the generated lexicon
    DLRUN_NO_CMUDICT=1 dlrun compare seq2seq    # the generated lexicon
    dlrun train cmudict-gru --data-dir DIR      # DIR/cmudict or DIR/cmudict/cmudict (NLTK's 0.7a file)

The headline is the phoneme accuracy of the greedy reconstruction of held-out words; the
lecture prints no number. The trivial baseline (the most frequent training phoneme at each
position) and the code-space distances are measured after training (dlrun.families.seq2seq.task).
"""

from dataclasses import replace

from dlrun.core.config import Claim, Experiment, Group, Loop, Optimizer
from dlrun.core.registry import register, register_group
from dlrun.families.seq2seq.config import AUTOENCODING, CLIPPED_ADAM, MASKED_CROSS_ENTROPY, Cell, Seq2SeqConfig

CLIPPED_ADAM_5E3 = Optimizer(CLIPPED_ADAM, 5e-3, extra=(("max_norm", 5.0),))

GRU = register(
    Experiment(
        name="cmudict-gru",
        description="GRU encoder -> 64-d code -> GRU decoder (128 units each), rebuilding held-out pronunciations",
        reference=None,  # the lecture shows pictures, no number
        model=Seq2SeqConfig(Cell.GRU, code=64),
        task=AUTOENCODING,
        loss=MASKED_CROSS_ENTROPY,
        optimizer=CLIPPED_ADAM_5E3,
        dataset=None,  # the CMU dictionary or the generated lexicon, found by the task (dlrun.data.cmudict)
        loop=Loop.STEPS,  # as the slot-filling taggers: faster epochs than SCAN on XLA:CPU
        train_size=20_000,  # of 108,796 training pronunciations: the compare runs in minutes on 2 CPU cores
        batch_size=128,
        epochs=10,
    )
)
GRU_CODE8 = register(
    replace(
        GRU,
        name="cmudict-gru-code8",
        description="the same with an 8-d code: a narrower bottleneck",
        model=Seq2SeqConfig(Cell.GRU, code=8),
    )
)
LSTM = register(
    replace(
        GRU,
        name="cmudict-lstm",
        description="LSTM encoder and decoder (128 units), 64-d code",
        model=Seq2SeqConfig(Cell.LSTM, code=64),
    )
)

register_group(
    Group(
        "seq2seq",
        "sequence-to-sequence auto-encoder on pronunciations: rebuild held-out words, code neighbours sound alike",
        (GRU.name, GRU_CODE8.name),
        (
            Claim(
                GRU.name,
                None,
                0.5,
                metric="gain_over_baseline",
                text="held-out words are rebuilt from the code: phoneme accuracy beats the most frequent "
                "phoneme per position by more than 0.5",
            ),
            Claim(
                GRU.name,
                None,
                2.0,
                metric="neighbour_distance_gain",
                text="a held-out word's nearest training word in code space is more than 2 phoneme edits "
                "closer than a random one",
            ),
            Claim(
                GRU.name,
                None,
                0.25,
                metric="gain_over_untrained",
                text="training brings code neighbours closer in pronunciation than an untrained encoder's "
                "(by more than 0.25 edits)",
            ),
            Claim(
                GRU.name,
                GRU_CODE8.name,
                0.1,
                metric="test_exact",
                text="a 64-d code rebuilds more held-out words exactly than an 8-d code",
            ),
        ),
        lesson=(
            "An encoder reads a sequence into one vector and a decoder rebuilds it: sequences that sound alike "
            "get nearby vectors."
        ),
    )
)
