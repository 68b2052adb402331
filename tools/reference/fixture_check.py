"""The `--check` of the fixture generators (make_fixtures.py, make_retinaface_fixtures.py,
make_siglip_fixtures.py): regenerated files against the committed ones in tests/data.

Weight files and other inputs must reproduce bit for bit. In a golden file (*.golden.h5) every
dataset has the same names, shapes and dtypes; the ones the caller's `tolerance(key, array)` gives
a number for (computed outputs, whose last bits may differ across CPUs and BLAS builds) compare
within that absolute tolerance, the others exactly.
"""

import filecmp
import os

import h5py
import numpy as np


def same_fixture(new, ref, tolerance):
    if not new.endswith(".golden.h5"):
        return filecmp.cmp(new, ref, shallow=False)
    with h5py.File(new, "r") as a, h5py.File(ref, "r") as b:
        if sorted(a.keys()) != sorted(b.keys()):
            return False
        for k in a.keys():
            x, y = a[k][()], b[k][()]
            if x.shape != y.shape or x.dtype != y.dtype:
                return False
            tol = tolerance(k, y)
            if tol is None:
                if not np.array_equal(x, y):
                    return False
            elif np.abs(x.astype(np.float64) - y).max(initial=0) > tol:
                return False
    return True


def compare_regenerated(paths, out_dir, tolerance, what):
    """Exit status of `--check`: 0 when every regenerated file in paths matches its namesake in
    out_dir (what: the message saying what was compared how), 1 naming those that do not."""
    bad = [os.path.basename(p) for p in paths
           if not os.path.exists(os.path.join(out_dir, os.path.basename(p)))
           or not same_fixture(p, os.path.join(out_dir, os.path.basename(p)), tolerance)]
    if bad:
        print("differs from committed fixtures: " + ", ".join(bad))
        return 1
    print(f"fixtures reproduce ({what})")
    return 0


def fixture_main(argv, what, make, tolerance, compared, repo, size_limit):
    """The command line of a fixture generator: `[--out-dir DIR] [--check]`. make(folder) writes the
    fixtures into folder and returns their paths; --check regenerates them in a temporary folder and
    compares (compare_regenerated; `compared` says how), else they go to DIR (default
    REPO/tests/data) with their sizes, warned about when their total reaches size_limit bytes."""
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=f"generate the {what} fixtures (see the module docstring)")
    ap.add_argument("--out-dir", default=os.path.join(repo, "tests", "data"))
    ap.add_argument("--check", action="store_true", help="regenerate into a temporary folder and compare")
    args = ap.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            return compare_regenerated(make(tmp), args.out_dir, tolerance, compared)
    os.makedirs(args.out_dir, exist_ok=True)
    total = 0
    for p in make(args.out_dir):
        total += os.path.getsize(p)
        print(f"  {os.path.relpath(p, repo)}: {os.path.getsize(p)} bytes")
    print(f"  total {total} bytes" + ("" if total < size_limit else f"   WARNING: {size_limit} bytes or more"))
    return 0
