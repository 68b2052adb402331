"""The little test harness of the Python tests of tools/ (run by tests/tools/run_py.sh): each case
is a function; a failing case is reported with its traceback and the next one runs; summary()
prints the counts and gives the exit code."""

import traceback

RESULTS = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        fn()
    except Exception:  # report and go on with the next case
        RESULTS["failed"] += 1
        print(f"FAIL {name}")
        traceback.print_exc()
    else:
        RESULTS["passed"] += 1
        print(f"ok   {name}")


def summary(need_a_pass=False):
    """Prints "N passed, M failed"; 1 when a case failed (or, with need_a_pass, none passed)."""
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] or (need_a_pass and not RESULTS["passed"]) else 0
