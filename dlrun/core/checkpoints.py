"""Checkpoints (orbax) of a cohort of replicas, so an interrupted run can be resumed and
end with the same numbers as an uninterrupted one (data order and dropout keys depend only
on seed and epoch, so the continuation replays exactly). A checkpoint that cannot be read
is skipped with a notice: the cohort then trains from epoch 0, to the same numbers."""

import contextlib
import json
import logging
import re
import shutil
import time
from pathlib import Path

import jax

from dlrun.console import notice
from dlrun.errors import DlrunError
from dlrun.files import stop_after_writing, write_json_atomic

MARKER = re.compile(r"epoch_(\d+)\.json")

CHECKPOINT_EVERY_S = 30.0  # long runs only: a short run never pays for orbax


class Checkpointer:
    """Saves the training state every `every_epochs` epochs, or after `every_s` seconds,
    under `folder/epoch_<n>/`; `epoch_<n>.json` (written last) marks it complete. With
    `writes=False` (the other processes of a multi-host run) it only restores."""

    def __init__(
        self, folder: Path, every_epochs: int | None = None, every_s: float = CHECKPOINT_EVERY_S, writes: bool = True
    ):
        self.folder, self.every_epochs, self.every_s, self.writes = folder, every_epochs, every_s, writes
        self._last_save = time.monotonic()

    def due(self, epoch: int, stopping: bool = False) -> bool:
        """Whether to save after this epoch: on schedule, or because the run stops here."""
        if not self.writes:
            return False
        if stopping:
            return True
        if self.every_epochs:
            return (epoch + 1) % self.every_epochs == 0
        return time.monotonic() - self._last_save >= self.every_s

    def save(self, epoch: int, state, progress: dict) -> None:
        """Write the state, then the marker; then drop older checkpoints. A stop that
        arrives meanwhile waits for the checkpoint to be complete."""
        with stop_after_writing():
            self._save(epoch, state, progress)
        self._last_save = time.monotonic()

    def _save(self, epoch: int, state, progress: dict) -> None:
        path = self.folder / f"epoch_{epoch}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for stale in [path, *self.folder.glob("*.orbax-checkpoint-tmp*")]:  # half-written by a killed run
                shutil.rmtree(stale, ignore_errors=True)
            with _orbax_quiet():
                checkpointer = _orbax_alone()
                checkpointer.save(path.absolute(), jax.device_get(state))
                checkpointer.wait_until_finished()
        except Exception as e:  # noqa: BLE001 - orbax and TensorStore raise many kinds; the message says it
            for partial in [path, *self.folder.glob("*.orbax-checkpoint-tmp*")]:
                shutil.rmtree(partial, ignore_errors=True)
            raise DlrunError(f"could not write the checkpoint {path}: {_first_line(e)}") from None
        write_json_atomic(self.folder / f"epoch_{epoch}.json", {"epoch": epoch, **progress})
        for old in self._complete():
            if old != epoch:
                (self.folder / f"epoch_{old}.json").unlink(missing_ok=True)
                shutil.rmtree(self.folder / f"epoch_{old}", ignore_errors=True)

    def _complete(self) -> list[int]:
        """Epochs with a finished checkpoint (marker and state both present); other files
        in the folder are not ours and are left alone."""
        names = [p.name for p in self.folder.iterdir()] if self.folder.is_dir() else []
        epochs = [int(m.group(1)) for m in map(MARKER.fullmatch, names) if m]
        return sorted(e for e in epochs if (self.folder / f"epoch_{e}").is_dir())

    def restore(self, target):
        """(epoch, state shaped like `target`, progress) of the latest checkpoint, or None
        when there is none or it cannot be read (then a notice says so)."""
        complete = self._complete()
        if not complete:
            return None
        path = self.folder / f"epoch_{complete[-1]}"
        try:
            return complete[-1], self._read(path, target), json.loads(path.with_suffix(".json").read_text())
        except Exception as e:  # noqa: BLE001 - a damaged checkpoint costs a retrain, never the run
            notice(
                f"checkpoint {path} cannot be read ({_first_line(e)}): skipped, the variants restart "
                "from epoch 0; delete the folder to silence this"
            )
            return None

    @staticmethod
    def _read(path: Path, target):
        import orbax.checkpoint as ocp

        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        with _orbax_quiet():
            state = _orbax_alone().restore(path.absolute(), abstract)
        return jax.device_get(state)  # host arrays, as saved: each process places them on its devices


def save_weights(path: Path, weights) -> None:
    """A trained variant's weights (params, rest) [K, ...] for `dlrun evaluate` and
    `predict`, written whole or not at all: a stop meanwhile waits for it."""
    with stop_after_writing(), _orbax_quiet():
        try:
            shutil.rmtree(path, ignore_errors=True)
            checkpointer = _orbax_alone()
            checkpointer.save(path.absolute(), weights)
            checkpointer.wait_until_finished()
        except Exception as e:  # noqa: BLE001 - orbax and TensorStore raise many kinds
            shutil.rmtree(path, ignore_errors=True)
            raise DlrunError(f"could not save the model to {path}: {_first_line(e)}") from None


def load_weights(path: Path, target):
    """Weights saved by `save_weights`, shaped like `target` (arrays or ShapeDtypeStructs);
    a DlrunError naming the folder when they are missing or cannot be read."""
    if not path.is_dir() or path.is_symlink():
        raise DlrunError(f"no saved model at {path} (trained with --no-save-model, or deleted?)")
    try:
        return Checkpointer._read(path, target)
    except Exception as e:  # noqa: BLE001 - a damaged folder is one line, not a traceback
        raise DlrunError(f"the saved model {path} cannot be read ({_first_line(e)})") from None


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


@contextlib.contextmanager
def _orbax_quiet():
    """orbax logs a failed read or write as pages of tracebacks; dlrun reports it in one line."""
    loggers = [logging.getLogger(name) for name in ("absl", "orbax")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _orbax_alone():
    """An orbax checkpointer that acts as if this process were the only one: in a multi-host
    run process 0 saves alone and every process restores alone (the state is the same
    everywhere), so none waits at a barrier for processes that do not take part."""
    import orbax.checkpoint as ocp  # imported only when a run is long enough to save, or resumes

    me = jax.process_index()
    alone = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
    return ocp.StandardCheckpointer(multiprocessing_options=alone)
