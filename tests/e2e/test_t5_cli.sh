#!/usr/bin/env bash
# CLI end-to-end for `encode-text` (issue 6): init a tiny random T5, encode a prompt (the /context
# file must be readable by the AR side's format: float32 [512, d_model]), and the bad inputs: empty
# prompt, invalid UTF-8, missing/mislabelled weight file, missing flags -> non-zero exit, a message
# naming the problem, and no output file. A >512-token prompt warns and says what was cut.
# Usage: test_t5_cli.sh COSMOS_AR_BINARY SOURCE_DIR WORK_DIR
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

expect_fail() { # NAME NEEDLE OUTFILE -- cmd...
  local name=$1 needle=$2 out=$3
  shift 4
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 0 ]; then bad "$name: exit 0"; return; fi
  if [ $rc -gt 2 ]; then bad "$name: exit $rc (crash?): $err"; return; fi
  if ! grep -qF -- "$needle" <<<"$err"; then bad "$name: message lacks '$needle': $err"; return; fi
  if [ -n "$out" ] && ls "$out"* >/dev/null 2>&1; then bad "$name: left an output file"; return; fi
  ok
}

T5=$WORK/t5.h5
if "$BIN" init --config "$SRC/configs/models/t5-tiny.json" --seed 3 --out "$T5" 2>/dev/null; then ok; else bad "init t5-tiny"; fi
# info: the file's bytes and, on a GPU, the matmul weights widened to f32 (2 layers x 4 x 64 x 64 +
# 2 x 256 x 64 = 98304 of them: 393216 bytes, + the bf16 embedding 65536 + f32 norms and bias 1792)
info=$("$BIN" info "$T5" 2>/dev/null)
grep -q "^on a GPU *460544 bytes" <<<"$info" && ok || bad "info t5: $(grep -i gpu <<<"$info")"
if "$BIN" encode-text --t5 "$T5" --prompt "A robot arm picks up a red cube." --out "$WORK/c.h5" 2>/dev/null \
   && [ -f "$WORK/c.h5" ]; then ok; else bad "encode-text"; fi
if [ -f "$WORK/c.h5" ] && command -v h5dump >/dev/null; then
  if h5dump -H -d context "$WORK/c.h5" | grep -q "( 512, 64 )"; then ok; else bad "context shape"; fi
fi
printf 'A prompt read from a file.\n' >"$WORK/p.txt"
if "$BIN" encode-text --t5 "$T5" --prompt-file "$WORK/p.txt" --out "$WORK/c2.h5" 2>/dev/null; then ok; else bad "prompt-file"; fi

expect_fail empty "prompt is empty" "$WORK/e.h5" -- "$BIN" encode-text --t5 "$T5" --prompt "" --out "$WORK/e.h5"
expect_fail blank "prompt is empty" "$WORK/e.h5" -- "$BIN" encode-text --t5 "$T5" --prompt "   " --out "$WORK/e.h5"
expect_fail utf8 "not valid UTF-8" "$WORK/e.h5" -- "$BIN" encode-text --t5 "$T5" --prompt $'bad \xff byte' --out "$WORK/e.h5"
expect_fail no_t5 "--t5 and --out are required" "$WORK/e.h5" -- "$BIN" encode-text --prompt "x" --out "$WORK/e.h5"
expect_fail missing_file "missing.h5" "$WORK/e.h5" -- "$BIN" encode-text --t5 "$WORK/missing.h5" --prompt "x" --out "$WORK/e.h5"
expect_fail ar_file "expected 't5'" "$WORK/e.h5" -- "$BIN" encode-text --t5 "$SRC/tests/data/tiny-ar-4b.h5" --prompt "x" --out "$WORK/e.h5"
expect_fail both "exactly one of --prompt" "$WORK/e.h5" -- "$BIN" encode-text --t5 "$T5" --prompt "x" --prompt-file "$WORK/p.txt" --out "$WORK/e.h5"

long=$(for i in $(seq 1 400); do printf 'robot arm %d, ' "$i"; done)
err=$("$BIN" encode-text --t5 "$T5" --prompt "$long" --out "$WORK/long.h5" 2>&1 >/dev/null)
if [ $? -eq 0 ] && grep -q "were cut" <<<"$err" && grep -q "more than the 300" <<<"$err"; then ok; else bad "long prompt warnings: $err"; fi

echo "test_t5_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
