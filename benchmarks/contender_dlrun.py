"""dlrun as its user runs it: the `dlrun` command line, in this process, from parsing to
the fast exit. A single workload is `dlrun train NAME`; the compare workload is `dlrun
compare A,B,C,D,E --seeds 3` over the five optimizer experiments. Both with `--epochs`,
`--dataset` and `--data-dir`; dlrun loads the data itself, once.

Epoch times are observed, not changed: the runner's Rich progress bar is told
`completed=epoch + 1` after every epoch, and we note the time of those updates.
"""

import json
import tempfile
from pathlib import Path

import common
from rich import progress

from dlrun import cli
from dlrun.core.registry import get_experiment


def observe_epochs(clock: common.Clock) -> None:
    """Note the time whenever the runner marks another epoch of a task completed."""
    update, seen = progress.Progress.update, {}

    def timed_update(self, task_id, *args, completed=None, **kwargs):
        update(self, task_id, *args, completed=completed, **kwargs)
        if completed is not None and completed > seen.get(task_id, 0):
            seen[task_id] = completed
            clock.epoch_done(task_id)

    progress.Progress.update = timed_update


def command_line(workload: common.Workload, args, out: str) -> list[str]:
    """The dlrun command for this workload, after checking that its experiments have the
    settings every other contender uses."""
    for v in workload.variants:
        exp = get_experiment(v.dlrun_name)
        assert exp.model.hidden == v.hidden and exp.model.activation.value == v.activation, exp.name
        assert exp.optimizer.learning_rate == v.lr and exp.batch_size == common.BATCH, exp.name
    seeds = workload.seeds
    assert seeds == tuple(range(seeds[0], seeds[0] + len(seeds))), "dlrun takes consecutive seeds"
    command = "compare" if workload.kind == "compare" else "train"
    return [
        command,
        ",".join(v.dlrun_name for v in workload.variants),
        "--epochs",
        str(args.epochs),
        "--seeds",
        str(len(seeds)),
        "--seed",
        str(seeds[0]),
        "--dataset",
        args.dataset,
        *(["--data-dir", args.data_dir] if args.data_dir else []),
        "--out",
        out,
    ]


def main() -> None:
    args = common.parse_args(__doc__)
    workload = common.WORKLOADS[args.workload]
    with tempfile.TemporaryDirectory() as out:
        clock = common.Clock()
        observe_epochs(clock)
        code = cli.run_command(command_line(workload, args, out))
        record = json.loads(next(Path(out).glob("*/record.json")).read_text())
    if code:
        raise RuntimeError(f"dlrun exited with {code}")
    accs = [a for r in record["results"] for a in record["final_per_seed"][r["variant"]].get("test_accuracy", [])]
    data = record["data"]
    common.write_result(
        args,
        "dlrun",
        (data["train_size"], data["test_size"], data["source"]),
        clock,
        accs,
        statuses=[r["status"] for r in record["results"]],
        compile_s=sum(r["compile_s"] for r in record["results"]),
        environment=record.get("environment"),
    )
    cli.exit_now(0)  # as the `dlrun` command ends


if __name__ == "__main__":
    common.main_guard("dlrun", main)
