"""Lecture III, "slot filling" (Hung-yi Lee, 2016): a tagger needs memory.

"arrive Taipei on November 2nd" makes Taipei the destination and November 2nd the arrival
date; "leave Taipei on November 2nd" makes them the origin and the departure date. A
feed-forward tagger sees one word at a time and cannot tell them apart; a network with
memory (Elman RNN, LSTM, GRU, bidirectional LSTM) can. The lecture points to ATIS, where
published RNN/LSTM taggers reach a slot F1 of about 0.95 (Mesnil et al. 2015): that is
each recurrent experiment's `reference`. Without ATIS files the lesson runs on a
generated booking corpus (dlrun.data.text). Run it with

    dlrun compare slot-filling                   # ATIS when found, else the generated corpus
    DLRUN_NO_ATIS=1 dlrun compare slot-filling   # the generated corpus
    dlrun train atis-bilstm --data-dir DIR       # DIR/atis/atis.train.w-intent.iob (+ test file)
"""

from dataclasses import replace

from dlrun.core.config import Claim, Experiment, Group, Loop, Optimizer
from dlrun.core.registry import register, register_group
from dlrun.data.text import BOOKING_TRAIN, VALIDATION_SENTENCES
from dlrun.families.sequence.config import (
    CLIPPED_ADAM,
    MASKED_CROSS_ENTROPY,
    SLOT_FILLING,
    Cell,
    FeedForwardConfig,
    RecurrentConfig,
)

MESNIL_2015_F1 = 0.95  # slot F1 of RNN/LSTM taggers on ATIS, as the lecture quotes
CLIPPED_ADAM_5 = Optimizer(CLIPPED_ADAM, 1e-2, extra=(("max_norm", 5.0),))

_BASE = Experiment(
    name="atis-base",
    description="",
    reference=MESNIL_2015_F1,
    model=RecurrentConfig(Cell.LSTM),
    loss=MASKED_CROSS_ENTROPY,
    optimizer=CLIPPED_ADAM_5,  # clipping on for every tagger; it matters for the RNNs
    task=SLOT_FILLING,
    dataset=None,  # ATIS or the generated corpus, found by the task (dlrun.data.text)
    # STEPS trains these taggers' epochs faster than SCAN, which compiles faster (docs/lessons.md).
    loop=Loop.STEPS,
    train_size=BOOKING_TRAIN - VALIDATION_SENTENCES,  # all 4,478 (ATIS holds out 500 too)
    batch_size=32,
    epochs=5,
)
FEEDFORWARD = register(
    replace(
        _BASE,
        name="atis-feedforward",
        reference=None,
        description="window of one word: embedding -> 100 tanh -> tags; no memory",
        model=FeedForwardConfig(),
    )
)
ELMAN = register(
    replace(
        _BASE,
        name="atis-elman",
        description="Elman RNN tagger (tanh, 100 units)",
        model=RecurrentConfig(Cell.ELMAN),
    )
)
LSTM = register(
    replace(
        _BASE,
        name="atis-lstm",
        description="LSTM tagger (100-d embeddings, 100 units), Adam clipped to norm 5",
    )
)
GRU = register(
    replace(
        _BASE,
        name="atis-gru",
        description="GRU tagger (100 units): a simpler gated memory than the LSTM",
        model=RecurrentConfig(Cell.GRU),
    )
)
BILSTM = register(
    replace(
        _BASE,
        name="atis-bilstm",
        description="bidirectional LSTM (100 units each way): also reads the words after a slot",
        model=RecurrentConfig(Cell.LSTM, bidirectional=True),
    )
)

register_group(
    Group(
        "slot-filling",
        "feed-forward vs recurrent taggers on ATIS slot filling (entity F1)",
        (FEEDFORWARD.name, ELMAN.name, LSTM.name, GRU.name, BILSTM.name),
        (
            Claim(
                BILSTM.name,
                FEEDFORWARD.name,
                0.1,
                metric="test_f1",
                text="bidirectional LSTM beats feed-forward slot F1 by more than 0.1",
            ),
            Claim(LSTM.name, FEEDFORWARD.name, 0.0, metric="test_f1", text="LSTM beats feed-forward slot F1"),
        ),
        lesson=(
            'A network with memory tags a word by the words before it: "arrive" and "leave" make Taipei a '
            "destination or an origin."
        ),
    )
)
