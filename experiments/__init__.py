"""The catalog of lessons: one module per lesson family, each registering its experiments
and compare groups on import. Adding a lesson = adding a module here; it is found by name."""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
