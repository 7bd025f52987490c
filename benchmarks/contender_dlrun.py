"""dlrun as its user runs it: `dlrun.runner.run(RunRequest)`, the call behind
`dlrun train` / `dlrun compare`, on the workload's experiments (compare: the five
optimizer experiments with seeds 0, 1, 2), with `--epochs` and `--dataset` overrides.

Epoch times are observed, not changed: the runner's Rich progress bar is told
`completed=epoch + 1` after every epoch, and we note the time of those updates.
"""

import tempfile
from pathlib import Path

from rich import progress

import common
from dlrun.config import get_experiment
from dlrun.data import DatasetName
from dlrun.runner import Overrides, RunRequest, run


def observe_epochs(clock: common.Clock) -> None:
    """Note the time whenever the runner marks another epoch of a task completed."""
    update, seen = progress.Progress.update, {}

    def timed_update(self, task_id, *args, completed=None, **kwargs):
        update(self, task_id, *args, completed=completed, **kwargs)
        if completed is not None and completed > seen.get(task_id, 0):
            seen[task_id] = completed
            clock.epoch_done(task_id)

    progress.Progress.update = timed_update


def experiments(workload: common.Workload, overrides: Overrides) -> tuple:
    """The dlrun experiments, checked against the settings every other contender uses."""
    chosen = []
    for v in workload.variants:
        exp = overrides.apply(get_experiment(v.dlrun_name))
        assert exp.model.hidden == v.hidden and exp.model.activation.name == v.activation, exp.name
        assert exp.optimizer.learning_rate == v.lr and exp.batch_size == common.BATCH, exp.name
        chosen.append(exp)
    return tuple(chosen)


def main() -> None:
    args = common.parse_args(__doc__)
    data = common.load_data(args.dataset, args.data_dir)  # for the table's sizes; dlrun loads its own
    workload = common.WORKLOADS[args.workload]
    overrides = Overrides(epochs=args.epochs, dataset=DatasetName(args.dataset))
    command = "compare" if workload.kind == "compare" else "train"
    with tempfile.TemporaryDirectory() as out:
        request = RunRequest(command, f"bench-{workload.name}", experiments(workload, overrides), None,
                             workload.seeds, Path(args.data_dir) if args.data_dir else None, Path(out))
        clock = common.Clock()
        observe_epochs(clock)
        record = run(request)
    accs = [a for r in record["results"] for a in record["final_per_seed"][r["variant"]].get("test_accuracy", [])]
    common.write_result(args, "dlrun", data, clock, accs, statuses=[r["status"] for r in record["results"]],
                        compile_s=sum(r["compile_s"] for r in record["results"]),
                        environment=record.get("environment"))


if __name__ == "__main__":
    common.main_guard("dlrun", main)
