"""The catalog of lessons: one module per lesson family, each registering its experiments
on import. Adding a lesson = adding a module here and importing it below."""

from dlrun.experiments import mlp  # noqa: F401
from dlrun.experiments import groups  # noqa: F401  (last: `all` spans every family)
