#!/usr/bin/env bash
# CLI end-to-end for the diffusion decoder DiT files (spec components.md 4.4; docs/weights.md
# "Diffusion decoder files"): `cosmos-ar init` on configs/models/dd-tiny.json writes a file that
# `cosmos-ar info` reads back through the strict loader (architecture, 183 744 parameters); the same
# seed gives the same tensors; info on the committed fixture tests/data/dd-tiny.h5; a bad config
# and a truncated file fail with a message naming the problem and leave no output file.
# Usage: test_dit_cli.sh COSMOS_AR_BINARY SOURCE_DIR WORK_DIR
set -u
BIN=$1
SRC=$2
WORK=$3
rm -rf "$WORK"
mkdir -p "$WORK"
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

DD=$WORK/dd.h5
if "$BIN" init --config "$SRC/configs/models/dd-tiny.json" --seed 3 --out "$DD" 2>/dev/null; then ok
else bad "init dd-tiny"; fi
info=$("$BIN" info "$DD" 2>/dev/null)
if [ $? -eq 0 ] && grep -q "^model_type *diffusion_decoder" <<<"$info" && grep -q "^name *dd-tiny" <<<"$info" &&
   grep -q "^blocks *2 x FA-CA-MLP, AdaLN-LoRA dim 16" <<<"$info" &&
   grep -q "^model_channels *64, heads 4 (head_dim 16), mlp 256" <<<"$info" &&
   grep -q "^parameters *183744 " <<<"$info" && grep -q "^weight bytes *367488 " <<<"$info"; then ok
else bad "info dd-tiny: $info"; fi

# same seed -> the same tensors (the files differ only in HDF5 bookkeeping, if at all)
"$BIN" init --config "$SRC/configs/models/dd-tiny.json" --seed 3 --out "$WORK/dd2.h5" 2>/dev/null
if h5diff "$DD" "$WORK/dd2.h5" >/dev/null 2>&1; then ok; else bad "two inits with seed 3 differ"; fi
"$BIN" init --config "$SRC/configs/models/dd-tiny.json" --seed 4 --out "$WORK/dd3.h5" 2>/dev/null
if ! h5diff "$DD" "$WORK/dd3.h5" >/dev/null 2>&1; then ok; else bad "seeds 3 and 4 give the same tensors"; fi

# the committed fixture (tools/reference/make_dit_fixtures.py)
info=$("$BIN" info "$SRC/tests/data/dd-tiny.h5" 2>/dev/null)
if [ $? -eq 0 ] && grep -q "^model_type *diffusion_decoder" <<<"$info" && grep -q "^parameters *183744 " <<<"$info"; then ok
else bad "info tests/data/dd-tiny.h5: $info"; fi

# the 7B config: parameter count in the init banner, without writing 14 GB (bad --out directory)
err=$("$BIN" init --config "$SRC/configs/models/cosmos-1.0-diffusion-7b-decoder.json" --out "$WORK/no/such/dir/7b.h5" 2>&1)
if [ $? -ne 0 ] && grep -qF "7237.257 M parameters" <<<"$err"; then ok; else bad "7B banner: $err"; fi

# errors: a bad config names the key, no output file
sed 's/"block_config": "FA-CA-MLP"/"block_config": "FA-MLP"/' "$SRC/configs/models/dd-tiny.json" >"$WORK/bad.json"
err=$("$BIN" init --config "$WORK/bad.json" --out "$WORK/bad.h5" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ $rc -le 2 ] && grep -qF "'block_config' \"FA-MLP\" is not supported" <<<"$err" &&
   ! ls "$WORK"/bad.h5* >/dev/null 2>&1; then ok
else bad "bad config: rc $rc: $err"; fi
# a truncated file is refused by info
head -c 100000 "$DD" >"$WORK/trunc.h5"
err=$("$BIN" info "$WORK/trunc.h5" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ $rc -le 2 ] && grep -q "trunc.h5" <<<"$err"; then ok; else bad "truncated file: rc $rc: $err"; fi

echo "test_dit_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
