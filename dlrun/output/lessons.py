"""What a table says in words: the lesson in one sentence, as the lecture puts it, the
variants still improving when training stopped, and why a number differs from the slide.

The sentences live in the declarations (`Group.lesson`, `Experiment.gap_reason`); the
record carries them, so the terminal, Markdown and HTML say the same. Imports no JAX."""

from dlrun.record_format import DEFAULT_COLUMNS

IMPROVING_EPOCHS = 3  # still improving: the headline rose over the last IMPROVING_EPOCHS epochs
IMPROVING_GAIN = 0.01  # ... by more than this (accuracy, F1; relative for larger numbers)
LECTURE_TOLERANCE = 0.015  # the slides print two decimals: closer than this is the same number
# Headline metrics where smaller is better (a reconstruction error, a loss); the rest are
# accuracies, F1 or returns.
LOWER_IS_BETTER = ("loss", "recon", "error")


def higher_is_better(metric: str) -> bool:
    return not metric.endswith(LOWER_IS_BETTER)


def _mean(values) -> float | None:
    numbers = [v for v in (values if isinstance(values, list) else [values]) if isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) if numbers else None


def still_improving(history: list[dict], key: str) -> bool:
    """Whether the mean over seeds of `key` per epoch improved by more than IMPROVING_GAIN
    over the last IMPROVING_EPOCHS epochs: more epochs would likely change the number."""
    curve = [_mean(epoch.get(key)) for epoch in history]
    if len(curve) <= IMPROVING_EPOCHS or curve[-1] is None or curve[-1 - IMPROVING_EPOCHS] is None:
        return False
    gain = curve[-1] - curve[-1 - IMPROVING_EPOCHS]
    scale = max(1.0, abs(curve[-1]))  # 1% of a loss in nats; 0.01 of an accuracy
    return (gain if higher_is_better(key) else -gain) > IMPROVING_GAIN * scale


def differs_from_lecture(result: dict, key: str) -> bool:
    """dlrun's mean is further from the slide's number than the seeds' spread (two
    standard deviations) and the slide's rounding."""
    ours, lecture = result.get(key), result.get("reference")
    if ours is None or lecture is None:
        return False
    return abs(ours - lecture) > max(2 * (result.get(f"{key}_std") or 0.0), LECTURE_TOLERANCE)


def status_label(result: dict) -> str:
    """The status, marked when the variant was still improving at its last epoch."""
    return result.get("status", "?") + (" · still improving" if result.get("still_improving") else "")


def lesson_sentence(record: dict) -> str | None:
    return f"The lesson: {record['lesson']}" if record.get("lesson") else None


# Command-line options that move a run off the lecture's settings, as the record names them.
LECTURE_SETTINGS = {
    "epochs": "--epochs",
    "train_size": "--train-size",
    "batch_size": "--batch-size",
    "learning_rate": "--lr",
    "precision": "--precision",
}


def changed_settings(record: dict) -> list[str]:
    """The options of this run that differ from the experiment's declaration, e.g. ["--epochs 3"]."""
    request = record.get("request")
    overrides = request.get("overrides") if isinstance(request, dict) else None
    if not isinstance(overrides, dict):
        return []
    return [f"{flag} {overrides[key]}" for key, flag in LECTURE_SETTINGS.items() if overrides.get(key) is not None]


def gap_lines(record: dict) -> list[str]:
    """One line per variant whose number differs from the slide's, saying why."""
    key = (record.get("columns") or DEFAULT_COLUMNS)[0][0]
    changed = changed_settings(record)
    lines = []
    for r in record.get("results") or []:
        if not differs_from_lecture(r, key):
            continue
        reason = r.get("gap_reason") or "no reason declared"
        if changed:  # the run's own settings come first: they explain more than the declaration
            reason = f"this run sets {', '.join(changed)}; {reason}"
        if r.get("still_improving"):
            reason += "; it was still improving when training stopped"
        lines.append(f"{r['variant']}: {r[key]:.2f} here, {r['reference']:.2f} on the slide — {reason}")
    return lines
