"""The words a run record is written in, shared by the code that writes records (the
trainer and the runner) and the code that reads them (tables, curves, reports). Imports
nothing, so the commands that only read records stay light."""

# A variant's status: trained to the end (or early-stopped), stopped by a NaN or exploding
# loss, or stopped by Ctrl-C / SIGTERM before its last epoch.
OK, DIVERGED, INTERRUPTED = "ok", "diverged", "interrupted"

# A claim's verdict, given the spread over seeds.
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, INCONCLUSIVE, NOT_REPRODUCED)

# A family's table columns, (final metric, label), headline first: what a task shows unless
# it says otherwise, and what a record without "columns" is read with.
DEFAULT_COLUMNS = (("test_accuracy", "test acc"), ("train_accuracy", "train acc"), ("test_loss", "test loss"))
# Final metrics every result carries (null where a family has no accuracy): scripts rely on them.
STANDARD_METRICS = tuple(key for key, _ in DEFAULT_COLUMNS)
