#!/usr/bin/env bash
# cosmos-ar under mpirun with --tp / --pp: logits and sampled tokens equal to the single-process run;
# impossible layouts rejected on every rank with a clear message and no hang (every mpirun is
# bounded by `timeout`). Usage: test_cli_mpi.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/mpi_prologue.sh" "$@"
D=$SRC/tests/data
run() { timeout 120 "$MPIRUN" --oversubscribe "$@"; }

for name in tiny-ar-4b tiny-ar-13b-video2world; do
  ctx=()
  [ -f "$D/$name.context.h5" ] && ctx=(--context "$D/$name.context.h5")
  "$BIN" logits --model "$D/$name.h5" --tokens "$D/$name.tokens.txt" "${ctx[@]}" --out "$WORK/$name.1.h5" 2>/dev/null \
    || bad "$name: single-process logits"
  for layout in "2 1" "4 1" "1 2" "2 2"; do
    set -- $layout
    tp=$1 pp=$2 np=$(($1 * $2))
    if run -np $np "$BIN" logits --tp $tp --pp $pp --model "$D/$name.h5" --tokens "$D/$name.tokens.txt" "${ctx[@]}" \
      --out "$WORK/$name.$tp.$pp.h5" 2>"$WORK/err.txt"; then
      if h5diff -d 1e-5 "$WORK/$name.1.h5" "$WORK/$name.$tp.$pp.h5" >/dev/null; then ok; else bad "$name: tp $tp pp $pp logits differ by more than 1e-5"; fi
    else
      bad "$name: tp $tp pp $pp run failed: $(tail -3 "$WORK/err.txt")"
    fi
  done
  head -c 400 "$D/$name.tokens.txt" | awk '{for(i=1;i<=NF&&i<=30;i++) printf "%s ", $i; print ""}' >"$WORK/prompt.txt"
  "$BIN" sample --model "$D/$name.h5" --tokens "$WORK/prompt.txt" "${ctx[@]}" --num-gen 24 --seed 9 --top-p 0.9 \
    --out "$WORK/g1.txt" 2>/dev/null || bad "$name: single-process sample"
  if run -np 2 "$BIN" sample --tp 2 --model "$D/$name.h5" --tokens "$WORK/prompt.txt" "${ctx[@]}" --num-gen 24 \
    --seed 9 --top-p 0.9 --out "$WORK/g2.txt" 2>/dev/null && cmp -s "$WORK/g1.txt" "$WORK/g2.txt"; then
    ok
  else
    bad "$name: seeded top-p tokens differ under tp 2"
  fi
  if run -np 4 "$BIN" sample --tp 2 --pp 2 --model "$D/$name.h5" --tokens "$WORK/prompt.txt" "${ctx[@]}" --num-gen 24 \
    --seed 9 --top-p 0.9 --out "$WORK/g4.txt" 2>/dev/null && cmp -s "$WORK/g1.txt" "$WORK/g4.txt"; then
    ok
  else
    bad "$name: seeded top-p tokens differ under tp 2 x pp 2"
  fi
done

# A device backend's exchange without a GPU: cpu-staged runs the model's device paths (weights copied
# in, TP all-reduces and PP activations through host staging buffers) and must give the same
# logits and tokens as the cpu backend in one process.
name=tiny-ar-13b-video2world
ctx=(--context "$D/$name.context.h5")
for layout in "1 1" "2 1" "1 2" "2 2"; do
  set -- $layout
  tp=$1 pp=$2 np=$(($1 * $2))
  if run -np $np "$BIN" logits --backend cpu-staged --tp $tp --pp $pp --model "$D/$name.h5" \
    --tokens "$D/$name.tokens.txt" "${ctx[@]}" --out "$WORK/staged.$tp.$pp.h5" 2>"$WORK/err.txt"; then
    if h5diff -d 1e-5 "$WORK/$name.1.h5" "$WORK/staged.$tp.$pp.h5" >/dev/null; then ok; else bad "cpu-staged tp $tp pp $pp logits differ by more than 1e-5"; fi
    if [ $np -gt 1 ]; then
      if grep -q "exchanged through host staging buffers" "$WORK/err.txt"; then ok; else bad "cpu-staged tp $tp pp $pp: the staging path was not taken"; fi
    fi
  else
    bad "cpu-staged tp $tp pp $pp run failed: $(tail -3 "$WORK/err.txt")"
  fi
done
head -c 400 "$D/$name.tokens.txt" | awk '{for(i=1;i<=NF&&i<=30;i++) printf "%s ", $i; print ""}' >"$WORK/prompt.txt"
"$BIN" sample --model "$D/$name.h5" --tokens "$WORK/prompt.txt" "${ctx[@]}" --num-gen 24 --seed 9 --top-p 0.9 \
  --out "$WORK/s1.txt" 2>/dev/null || bad "$name: single-process sample"
if run -np 4 "$BIN" sample --backend cpu-staged --tp 2 --pp 2 --model "$D/$name.h5" --tokens "$WORK/prompt.txt" \
  "${ctx[@]}" --num-gen 24 --seed 9 --top-p 0.9 --out "$WORK/s4.txt" 2>/dev/null && cmp -s "$WORK/s1.txt" "$WORK/s4.txt"; then
  ok
else
  bad "cpu-staged: seeded top-p tokens differ under tp 2 x pp 2"
fi

# expect_reject NP "needle" -- args: every rank exits non-zero, quickly, saying why
expect_reject() {
  local np=$1 needle=$2
  shift 3
  local err rc
  err=$(run -np "$np" "$BIN" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then bad "tp layout '$*': exit $rc"; return; fi
  if ! grep -qF -- "$needle" <<<"$err"; then bad "tp layout '$*': no '$needle' in: $err"; return; fi
  ok
}
M=$D/tiny-ar-4b.h5
T=$D/tiny-ar-4b.tokens.txt
expect_reject 3 "n_heads = 8 is not a multiple of 3" -- logits --tp 3 --model "$M" --tokens "$T" --out "$WORK/x.h5"
expect_reject 2 "needs 4 ranks, but 2 were started" -- logits --tp 4 --model "$M" --tokens "$T" --out "$WORK/x.h5"
expect_reject 3 "pipeline parallelism 3: model 'tiny-ar-4b' has 2 layers" -- logits --pp 3 --model "$M" --tokens "$T" --out "$WORK/x.h5"
expect_reject 2 "pipeline stage layers sum to 3, but model 'tiny-ar-4b' has 2 layers" -- logits --pp 2 --pp-layers 1,2 --model "$M" --tokens "$T" --out "$WORK/x.h5"
expect_reject 2 "--pp-layers gives 3 stages, --pp is 2" -- logits --pp 2 --pp-layers 1,1,1 --model "$M" --tokens "$T" --out "$WORK/x.h5"
expect_reject 2 "no such file" -- logits --tp 2 --model "$WORK/missing.h5" --tokens "$T" --out "$WORK/x.h5"
# an output rank 0 cannot create: every rank stops (the others ran the forward and waited forever);
# rank 0 says why before any rank can exit (the others may be ended before their own message)
expect_reject 4 "cannot create HDF5 file" -- logits --tp 2 --pp 2 --model "$M" --tokens "$T" \
  --out "$WORK/no-dir/x.h5"
[ -e "$WORK/x.h5" ] && bad "a rejected run wrote its output"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
