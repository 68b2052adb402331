"""docs/troubleshooting.md cannot drift from the engine: every message piece in the first column of
its tables (the backticked text) must occur, literally, in a string of the engine's source (core/,
launcher/, parallel/, kernels/, slurm/), and a table must have rows at all.
Usage: test_troubleshooting.py SOURCE_DIR"""

import os
import re
import sys

from harness import check, summary

SRC = sys.argv[1]
ROOTS = ["core", "launcher", "parallel", "kernels", "slurm"]


def engine_text():
    parts = []
    for root in ROOTS:
        for d, _, files in os.walk(os.path.join(SRC, root)):
            for f in files:
                if f.endswith((".c", ".h", ".cc", ".cu", ".sh", ".sbatch")):
                    with open(os.path.join(d, f), encoding="utf-8", errors="replace") as fh:
                        parts.append(fh.read())
    # C string literals split over lines ("...abc "\n  "def...") read as one
    return re.sub(r'"\s*\n\s*"', "", "\n".join(parts))


def rows():
    with open(os.path.join(SRC, "docs", "troubleshooting.md"), encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"\|\s*`([^`]+)`\s*\|", line)
            if m:
                yield m.group(1)


TEXT = engine_text()
PIECES = list(rows())


def has_rows():
    assert len(PIECES) >= 20, PIECES


check("the tables have rows", has_rows)
for piece in PIECES:
    def found(piece=piece):
        assert piece in TEXT, f"'{piece}' is in docs/troubleshooting.md but no longer in the engine's source"
    check(f"message: {piece}", found)


def catches_a_stale_row():  # the check itself can fail
    assert "a message the engine never prints" not in TEXT


check("a stale row would be caught", catches_a_stale_row)
sys.exit(summary(need_a_pass=True))
