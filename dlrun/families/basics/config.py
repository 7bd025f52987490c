"""The seed lessons of the lectures' intro (XOR, the vanishing gradient): their tasks,
named for declarations without importing JAX (dlrun.families.basics.task)."""

from dlrun.core.config import Ref

XOR = Ref("dlrun.families.basics.task:XOR")
GRAD_NORMS = Ref("dlrun.families.basics.task:GRAD_NORMS")
XOR_COPIES = 64  # the training set is the truth table repeated, so mini-batches make sense
