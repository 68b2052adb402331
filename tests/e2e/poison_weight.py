#!/usr/bin/env python3
"""Sets one element of a bf16 weight (stored as uint16) in an HDF5 weight file to NaN, in place:
the broken checkpoint of the NaN-detection tests (test_cli.sh, test_generate.sh).
Usage: poison_weight.py FILE.h5 DATASET [INDEX (default 3)]"""
import sys

import h5py

path, name = sys.argv[1], sys.argv[2]
index = int(sys.argv[3]) if len(sys.argv) > 3 else 3
with h5py.File(path, "r+") as f:
    d = f[name]
    a = d[...]
    a.flat[index] = 0x7FC0  # bf16 quiet NaN
    d[...] = a
