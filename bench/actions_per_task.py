"""User actions per task in the chat: ``python -m bench.actions_per_task``.

Runs the scripted stories of tests/integration/bot/test_actions_*.py (the real bot, over
the Bot API stand-in and a real database), where every typed message and every button
press counts one action, the command that starts the task included, and prints each
task's count beside the issue's goal and the count measured before the conversations
moved into core flows (#14), where one was measured.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not anchored at the line's start: pytest's progress dots share the line.
LINE = re.compile(r"ACTIONS (?P<task>[\w-]+): (?P<n>\d+) \(goal <= (?P<goal>\d+)\)")
#: Counted on main before #14 (ca84988), by hand in the sandbox, as issue #14 reports it.
BEFORE = {"review": 10}


def main() -> int:
    stories = sorted(str(p) for p in (ROOT / "tests/integration/bot").glob("test_actions_*.py"))
    if not stories:
        print("no scripted stories found (tests/integration/bot/test_actions_*.py)")
        return 1
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly", "-k", "sqlite", *stories],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found = list(LINE.finditer(run.stdout))
    print(f"{'task':<12} {'actions':>7} {'goal':>5} {'before':>7}  within goal")
    for match in found:
        task, n, goal = match["task"], int(match["n"]), int(match["goal"])
        before = BEFORE.get(task)
        shown_before = str(before) if before is not None else "-"
        print(f"{task:<12} {n:>7} {goal:>5} {shown_before:>7}  {'yes' if n <= goal else 'NO'}")
    if run.returncode != 0:
        print(run.stdout[-3000:])
        return run.returncode
    return 0 if all(int(m["n"]) <= int(m["goal"]) for m in found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
