"""Printing benchmark tables and writing their JSON, shared by the scripts here."""

import json
import os
import platform
import time
from pathlib import Path


def machine():
    """A one-line description of where the benchmark ran."""
    import keras

    return (f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
            f"Keras {keras.__version__} on {keras.backend.backend()}")


def print_table(rows, columns, title=None):
    """Print ``rows`` (dicts) as an aligned table of ``columns`` (name -> format spec)."""
    if title:
        print(title)
    cells = [[format(row[name], spec) if isinstance(row[name], (int, float)) else str(row[name])
              for name, spec in columns.items()] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(columns)]
    print("  ".join(name.rjust(width) for name, width in zip(columns, widths)))
    for line in cells:
        print("  ".join(value.rjust(width) for value, width in zip(line, widths)))
    print()


def write_json(path, name, payload):
    """Merge ``payload`` under ``name`` into the JSON file at ``path`` (if given)."""
    if not path:
        return
    path = Path(path)
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[name] = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M"), **payload}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(results, indent=2, default=float))
    os.replace(temporary, path)


def rate(work, seconds):
    return work / seconds if seconds > 0 else float("inf")
