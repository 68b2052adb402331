#!/usr/bin/env bash
# CLI end-to-end: init/info/logits/sample on the tiny models, and the bad inputs of the
# foundation issue (wrong token ids, empty token file, missing context, truncated or mislabelled
# HDF5, bad flags): each must exit non-zero with a message that names the problem and leave no
# output file. Usage: test_cli.sh COSMOS_AR_BINARY SOURCE_DIR WORK_DIR
set -u
BIN=$1
SRC=$2
WORK=$3
rm -rf "$WORK"
mkdir -p "$WORK"
pass=0
fail=0
DATA=$SRC/tests/data

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_fail NAME "needle in stderr" OUTFILE -- command...
expect_fail() {
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

expect_ok() {
  local name=$1
  shift
  local err
  if ! err=$("$@" 2>&1 >/dev/null); then bad "$name: $err"; return 1; fi
  ok
}

M4=$DATA/tiny-ar-4b.h5
M5=$DATA/tiny-ar-5b-video2world.h5
T4=$DATA/tiny-ar-4b.tokens.txt
T5=$DATA/tiny-ar-5b-video2world.tokens.txt
C5=$DATA/tiny-ar-5b-video2world.context.h5

# --- happy paths
sed 's/"context_len": 16/"context_len": 12/' "$SRC/configs/models/tiny-ar-13b-video2world.json" >"$WORK/ctx12.json"
expect_ok "init" "$BIN" init --config "$WORK/ctx12.json" --seed 3 --out "$WORK/m13.h5"
if "$BIN" info "$WORK/m13.h5" | grep -q "tiny-ar-13b-video2world"; then ok; else bad "info does not name the model"; fi
expect_ok "logits prefill" "$BIN" logits --model "$M5" --tokens "$T5" --context "$C5" --out "$WORK/l.h5"
expect_ok "logits in blocks of 16" "$BIN" logits --model "$M5" --tokens "$T5" --context "$C5" --out "$WORK/lc.h5" --chunk 16
if h5diff -d 1e-5 "$WORK/l.h5" "$WORK/lc.h5" >/dev/null; then ok; else bad "logits written in blocks of 16 differ from one block"; fi
expect_ok "logits decode" "$BIN" logits --model "$M5" --tokens "$T5" --context "$C5" --out "$WORK/ld.h5" --decode
head -c 600 "$T4" | awk '{for(i=1;i<=NF&&i<=30;i++) printf "%s ", $i; print ""}' >"$WORK/prompt.txt"
if h5diff -d 1e-5 "$WORK/l.h5" "$WORK/ld.h5" >/dev/null; then ok; else bad "CLI decode logits differ from prefill"; fi
expect_ok "sample" "$BIN" sample --model "$M4" --tokens "$WORK/prompt.txt" --num-gen 40 --seed 5 --out "$WORK/g1.txt"
expect_ok "sample again" "$BIN" sample --model "$M4" --tokens "$WORK/prompt.txt" --num-gen 40 --seed 5 --out "$WORK/g2.txt"
expect_ok "sample other seed" "$BIN" sample --model "$M4" --tokens "$WORK/prompt.txt" --num-gen 40 --seed 6 --out "$WORK/g3.txt"
if cmp -s "$WORK/g1.txt" "$WORK/g2.txt"; then ok; else bad "same seed, different tokens"; fi
if cmp -s "$WORK/g1.txt" "$WORK/g3.txt"; then bad "another seed gave the same 40 tokens"; else ok; fi
if [ "$(wc -l <"$WORK/g1.txt")" -eq 40 ]; then ok; else bad "sample wrote $(wc -l <"$WORK/g1.txt") lines, not 40"; fi
if awk '$1 < 0 || $1 >= 512 { exit 1 }' "$WORK/g1.txt"; then ok; else bad "sampled id out of range"; fi
expect_ok "sample v2w greedy" "$BIN" sample --model "$M5" --tokens "$T5" --context "$C5" --num-gen 10 --temperature 0 \
  --out "$WORK/g5.txt"

# --- prep-video (the input stage): an image becomes a 33-frame clip of the asked size
PNG=$SRC/tests/data/media-tiny.png
expect_ok "prep-video" "$BIN" prep-video --input "$PNG" --num-input-frames 1 --height 32 --width 48 --out "$WORK/v.h5"
if h5dump -H "$WORK/v.h5" 2>/dev/null | grep -q "SIMPLE { ( 3, 33, 32, 48 )"; then ok; else bad "prep-video: /video is not [3, 33, 32, 48]"; fi
# far from the clip's size: a warning says how much the centre crop drops or how far it upscales
# (the 80x48 test image into a portrait 48x96 clip, and into the full 1024x640); near it, none
"$BIN" prep-video --input "$PNG" --num-input-frames 1 --height 96 --width 48 --out "$WORK/w1.h5" 2>"$WORK/err.txt" \
  && grep -q "another aspect ratio than the clip's 48x96: the centre crop keeps 30% of each frame" "$WORK/err.txt" \
  && ok || bad "prep-video portrait: no crop warning: $(cat "$WORK/err.txt")"
"$BIN" prep-video --input "$PNG" --num-input-frames 1 --out "$WORK/w2.h5" 2>"$WORK/err.txt" \
  && grep -q "upscaled 13.3x to fill the clip's 1024x640" "$WORK/err.txt" && ok \
  || bad "prep-video 1024x640: no upscale warning: $(cat "$WORK/err.txt")"
grep -q WARN <("$BIN" prep-video --input "$PNG" --num-input-frames 1 --height 64 --width 96 --out "$WORK/w3.h5" 2>&1) \
  && bad "prep-video 96x64: a warning for a near size" || ok
expect_fail "prep-video missing input" "cannot open media file" "$WORK/v2.h5" -- "$BIN" prep-video --input "$WORK/none.mp4" --out "$WORK/v2.h5"
expect_fail "prep-video not media" "$T4" "$WORK/v3.h5" -- "$BIN" prep-video --input "$T4" --out "$WORK/v3.h5"
expect_fail "prep-video frames" "--num-input-frames must be 1 or 9" "$WORK/v4.h5" -- "$BIN" prep-video --input "$PNG" --num-input-frames 4 --out "$WORK/v4.h5"
expect_fail "prep-video size" "multiples of 16" "$WORK/v5.h5" -- "$BIN" prep-video --input "$PNG" --height 30 --out "$WORK/v5.h5"

# --- bad inputs
printf '1 2 512 3\n' >"$WORK/bad_id.txt"
expect_fail "id >= vocab" "token 512 at index 2 is invalid" "$WORK/o1.h5" -- "$BIN" logits --model "$M4" --tokens "$WORK/bad_id.txt" --out "$WORK/o1.h5"
printf '512 1 600\n' >"$WORK/bad_v2w.txt"
expect_fail "id past BOV" "token 600 at index 2 is invalid" "$WORK/o2.h5" -- "$BIN" logits --model "$M5" --tokens "$WORK/bad_v2w.txt" --context "$C5" --out "$WORK/o2.h5"
printf -- '-1 4\n' >"$WORK/neg.txt"
expect_fail "negative id" "token -1 at index 0 is invalid" "$WORK/o3.h5" -- "$BIN" logits --model "$M4" --tokens "$WORK/neg.txt" --out "$WORK/o3.h5"
printf '1 2 x3\n' >"$WORK/word.txt"
expect_fail "non-integer" "token 2 is 'x3', not an integer id" "$WORK/o4.h5" -- "$BIN" logits --model "$M4" --tokens "$WORK/word.txt" --out "$WORK/o4.h5"
: >"$WORK/empty.txt"
expect_fail "empty tokens" "the token file is empty" "$WORK/o5.h5" -- "$BIN" logits --model "$M4" --tokens "$WORK/empty.txt" --out "$WORK/o5.h5"
expect_fail "missing token file" "cannot open token file" "$WORK/o6.h5" -- "$BIN" logits --model "$M4" --tokens "$WORK/nope.txt" --out "$WORK/o6.h5"
mkdir -p "$WORK/tokdir"
expect_fail "token file is a folder" "cannot read token file '$WORK/tokdir' (Is a directory)" "$WORK/o6.h5" -- "$BIN" logits --model "$M4" --tokens "$WORK/tokdir" --out "$WORK/o6.h5"
expect_fail "too many tokens" "more than 128 tokens" "$WORK/o7.h5" -- "$BIN" logits --model "$M4" --tokens <(seq 0 200) --out "$WORK/o7.h5"
expect_fail "missing context" "needs --context" "$WORK/o8.h5" -- "$BIN" logits --model "$M5" --tokens "$T5" --out "$WORK/o8.h5"
expect_fail "context on base model" "takes no --context" "$WORK/o9.h5" -- "$BIN" logits --model "$M4" --tokens "$T4" --context "$C5" --out "$WORK/o9.h5"
expect_fail "context wrong shape" "context has shape" "$WORK/o10.h5" -- "$BIN" logits --model "$WORK/m13.h5" --tokens "$T5" --context "$C5" --out "$WORK/o10.h5"
expect_fail "context not h5" "is not an HDF5 file" "$WORK/o11.h5" -- "$BIN" logits --model "$M5" --tokens "$T5" --context "$T5" --out "$WORK/o11.h5"
expect_fail "context without dataset" "no dataset '/context'" "$WORK/o12.h5" -- "$BIN" logits --model "$M5" --tokens "$T5" --context "$M4" --out "$WORK/o12.h5"
head -c 300000 "$M4" >"$WORK/trunc.h5"
expect_fail "truncated model" "truncated" "$WORK/o13.h5" -- "$BIN" logits --model "$WORK/trunc.h5" --tokens "$T4" --out "$WORK/o13.h5"
expect_fail "mislabelled model" "not a cosmos-ar weight file" "$WORK/o14.h5" -- "$BIN" logits --model "$C5" --tokens "$T4" --out "$WORK/o14.h5"
expect_fail "text as model" "is not an HDF5 file" "$WORK/o15.h5" -- "$BIN" logits --model "$T4" --tokens "$T4" --out "$WORK/o15.h5"
expect_fail "missing model" "no such file" "$WORK/o16.h5" -- "$BIN" logits --model "$WORK/none.h5" --tokens "$T4" --out "$WORK/o16.h5"
expect_fail "unknown flag" "unknown option '--temprature'" "$WORK/o17.txt" -- "$BIN" sample --model "$M4" --tokens "$T4" --num-gen 2 --temprature 1 --out "$WORK/o17.txt"
expect_fail "bad top-p" "top-p must be in (0, 1]" "$WORK/o18.txt" -- "$BIN" sample --model "$M4" --tokens "$WORK/prompt.txt" --num-gen 2 --top-p 1.5 --out "$WORK/o18.txt"
expect_fail "bad number" "bad value 'abc' for --num-gen" "$WORK/o19.txt" -- "$BIN" sample --model "$M4" --tokens "$WORK/prompt.txt" --num-gen abc --out "$WORK/o19.txt"
# broken weights (a NaN in a norm weight of the last layer): the logits are checked before any
# draw, so sampling fails naming the position instead of writing noise (also greedy)
cp "$M4" "$WORK/nan.h5" \
  && /usr/bin/python3 "$SRC/tests/e2e/poison_weight.py" "$WORK/nan.h5" layers.1.ffn_norm.weight
expect_fail "NaN weights" "non-finite value(s) of 512" "$WORK/o20.txt" -- "$BIN" sample \
  --model "$WORK/nan.h5" --tokens "$WORK/prompt.txt" --num-gen 4 --out "$WORK/o20.txt"
expect_fail "NaN weights, greedy" "non-finite value(s)" "$WORK/o21.txt" -- "$BIN" sample --model "$WORK/nan.h5" \
  --tokens "$WORK/prompt.txt" --num-gen 4 --temperature 0 --out "$WORK/o21.txt"
expect_fail "too long generation" "exceed max_seq_len 128" "$WORK/o20.txt" -- "$BIN" sample --model "$M4" --tokens "$WORK/prompt.txt" --num-gen 200 --out "$WORK/o20.txt"
expect_fail "unwritable output" "cannot create" "" -- "$BIN" logits --model "$M4" --tokens "$T4" --out "$WORK/no/such/dir/l.h5"
expect_fail "bad config" "unknown key" "$WORK/o21.h5" -- "$BIN" init --config <(echo '{"dim": 8, "bogus": 1}') --out "$WORK/o21.h5"
expect_fail "unknown backend" "unknown backend 'gpu'" "$WORK/o22.h5" -- "$BIN" logits --backend gpu --model "$M4" --tokens "$T4" --out "$WORK/o22.h5"
expect_fail "cuda without a CUDA build or device" "no CUDA support" "$WORK/o23.h5" -- "$BIN" logits --backend cuda:0 --model "$M4" --tokens "$T4" --out "$WORK/o23.h5"
expect_fail "unknown command" "unknown command 'frobnicate'" "" -- "$BIN" frobnicate

# env: the build and the machine, readable and as JSON; the CUDA section says why it lists no device
# here (no GPU, or no CUDA in the build); the environment variables the engine reads are shown when set
if OMP_NUM_THREADS=1 COSMOS_COMM_TIMEOUT=77 COSMOS_CUDA_TF32=1 COSMOS_CUDA_ATTENTION=f32 COSMOS_CUDA_GEMV=cublaslt "$BIN" env --json "$WORK/env.json" >"$WORK/env.txt" 2>"$WORK/err.txt"; then
  ok
else
  bad "env: exit $?, $(tail -1 "$WORK/err.txt")"
fi
grep -q "^engine  *version  *$("$BIN" --version | awk '{print $2}')$" "$WORK/env.txt" \
  && grep -q "^libraries  *hdf5  *[0-9]" "$WORK/env.txt" && grep -q "^libraries  *ffmpeg " "$WORK/env.txt" \
  && grep -q "^environment  *COSMOS_COMM_TIMEOUT  *77$" "$WORK/env.txt" && ok || bad "env report: $(head -30 "$WORK/env.txt")"
/usr/bin/python3 - "$WORK/env.json" <<'EOF' && ok || bad "env --json"
import json, sys
e = json.load(open(sys.argv[1]))
assert set(e) == {"engine", "host", "libraries", "cuda", "environment"}, list(e)
assert e["engine"]["git_sha"] and isinstance(e["engine"]["cuda_built"], bool), e["engine"]
assert e["host"]["online_cpus"] >= 1 and e["host"]["memory_bytes"] > 0, e["host"]
assert {"openblas", "hdf5", "ffmpeg", "jansson", "mpi", "nccl", "cublaslt"} <= set(e["libraries"]), e["libraries"]
lt = e["libraries"]["cublaslt"]
if e["engine"]["cuda_built"]:  # opened from the toolkit on first use (not linked): a version and its file
    assert lt[0].isdigit() and "libcublasLt.so" in lt, lt
else:
    assert lt.startswith("none: this build has no CUDA"), lt
devs = e["cuda"]["devices"]
assert devs or e["cuda"]["note"], e["cuda"]  # a device list, or why there is none
assert e["environment"].get("OMP_NUM_THREADS") == "1" and e["environment"].get("COSMOS_COMM_TIMEOUT") == "77", e["environment"]
assert e["environment"].get("COSMOS_CUDA_TF32") == "1", e["environment"]
assert e["environment"].get("COSMOS_CUDA_ATTENTION") == "f32", e["environment"]
assert e["environment"].get("COSMOS_CUDA_GEMV") == "cublaslt", e["environment"]
EOF
# a COSMOS_CUBLASLT that names no library: env still reports (exit 0), cuBLASLt as "none" with why
COSMOS_CUBLASLT="$WORK/no-such-libcublasLt.so" "$BIN" env --json "$WORK/env-lt.json" >/dev/null 2>&1 && ok \
  || bad "env with a bad COSMOS_CUBLASLT: exit $?"
/usr/bin/python3 - "$WORK/env-lt.json" "$WORK/no-such-libcublasLt.so" <<'EOF' && ok || bad "env --json, bad COSMOS_CUBLASLT"
import json, sys
e = json.load(open(sys.argv[1]))
lt = e["libraries"]["cublaslt"]
assert e["environment"].get("COSMOS_CUBLASLT") == sys.argv[2], e["environment"]
if e["engine"]["cuda_built"]:
    assert lt.startswith("none: cannot open cuBLASLt (COSMOS_CUBLASLT=" + sys.argv[2]), lt
EOF
expect_fail "env with a stray argument" "unknown option '--bogus'" "" -- "$BIN" env --bogus

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
