#!/usr/bin/env bash
# Clip length control (generate / batch --num-frames; core/pipeline/v2w.h "Clip length"), on a
# tiny random-weight Video2World model whose window is 3 latent frames (17 frames, 24 tokens per
# latent frame), with the DV decoder (the diffusion decoder makes the model's length only):
#  - 9, 17 (default), 33 and 49 frames: the mp4 has that many frames; a shorter clip's tokens are
#    exactly the first tokens of a longer one with the same seed (window 0 is the model's run);
#  - continuation windows: window w of a 49-frame clip is what `cosmos-ar sample` gives for
#    [BOV] + the 2 latent frames before it, with seed cosmos_v2w_window_seed(seed, w) (computed
#    here independently);
#  - the streamed decode of a continued clip is `detokenize` of its tokens, byte for byte;
#  - 9 input frames (video input) continued to 41 frames; the same videos on 4 ranks (default
#    layout) and on a tp 2 / pp 2 layout with 3 clips in flight as in one process;
#  - bad lengths: not 1+8k, negative, too long, with the diffusion decoder, or no longer than the
#    input's context (that clip fails with the reason; in a batch only that item);
#  - batch: an unnamed item's output name changes with --num-frames, so a rerun at another length
#    makes a new clip and a rerun at the same one skips it;
#  - per item: "num_frames" in the manifest, clips of several lengths in one group in flight.
# Usage: test_clip_length.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "$0")/pipeline_mpi_lib.sh"
frames_of() { "$BIN" info "$1" 2>/dev/null | awk '/^media/ {print $3}'; }
F=24 # tokens per latent frame
P="a robot arm picks up a red cube"
gen() { "$BIN" generate --model-dir "$M" --prompt "$P" --disable-diffusion-decoder "$@"; }

# --- lengths; shorter clips are prefixes of longer ones ---
for n in 9 17 33 49; do
  if gen --input "$IMG" --seed 3 --num-frames $n --output "$WORK/n$n.mp4" --save-tokens "$WORK/n$n.txt" \
    2>"$WORK/err.txt"; then
    [ "$(frames_of "$WORK/n$n.mp4")" = $n ] && ok || bad "$n frames: the mp4 has $(frames_of "$WORK/n$n.mp4")"
    t=$(((1 + (n - 1) / 8) * F))
    [ "$(wc -l <"$WORK/n$n.txt")" = $t ] && ok || bad "$n frames: $(wc -l <"$WORK/n$n.txt") tokens, not $t"
  else
    bad "--num-frames $n: $(tail -2 "$WORK/err.txt")"
  fi
done
gen --input "$IMG" --seed 3 --output "$WORK/n17d.mp4" 2>"$WORK/err.txt" && cmp -s "$WORK/n17d.mp4" "$WORK/n17.mp4" \
  && ok || bad "--num-frames 17 (the model's length) differs from the default: $(tail -1 "$WORK/err.txt")"
for pair in "9 17" "17 33" "33 49"; do
  set -- $pair
  k=$(wc -l <"$WORK/n$1.txt")
  head -n "$k" "$WORK/n$2.txt" | cmp -s - "$WORK/n$1.txt" && ok || bad "$1 frames are not the first of $2"
done

# --- continuation windows against `sample` (window w: [BOV] + 2 latent frames, its own seed) ---
BOV=$("$BIN" info "$M/ar.h5" | sed -n 's/.*BOV \([0-9]*\).*/\1/p')
"$BIN" encode-text --t5 "$M/t5.h5" --prompt "$P" --out "$WORK/ctx.h5" 2>"$WORK/err.txt" \
  || bad "encode-text: $(tail -1 "$WORK/err.txt")"
for w in 1 2 3; do
  seed=$(/usr/bin/python3 -c "print(3 ^ (($w * 0x9E3779B97F4A7C15) % 2**64))")
  have=$(((2 + w) * F)) # ids known before window w (window 0 ends at the model's 3 latent frames)
  { echo "$BOV"; sed -n "$((have - 2 * F + 1)),${have}p" "$WORK/n49.txt"; } >"$WORK/w$w.prompt.txt"
  if "$BIN" sample --model "$M/ar.h5" --tokens "$WORK/w$w.prompt.txt" --context "$WORK/ctx.h5" --num-gen $F \
    --seed "$seed" --out "$WORK/w$w.txt" 2>"$WORK/err.txt"; then
    sed -n "$((have + 1)),$((have + F))p" "$WORK/n49.txt" | cmp -s - "$WORK/w$w.txt" && ok \
      || bad "window $w is not sample of its context with its seed"
  else
    bad "sample (window $w): $(tail -1 "$WORK/err.txt")"
  fi
done
# window 1 drawn with the clip's own seed is another draw: the window seeds matter
{ echo "$BOV"; sed -n "$((F + 1)),$((3 * F))p" "$WORK/n49.txt"; } >"$WORK/w1.prompt.txt"
"$BIN" sample --model "$M/ar.h5" --tokens "$WORK/w1.prompt.txt" --context "$WORK/ctx.h5" --num-gen $F --seed 3 \
  --out "$WORK/w1s.txt" 2>"$WORK/err.txt" && ! cmp -s "$WORK/w1s.txt" "$WORK/w1.txt" && ok \
  || bad "window 1 with the clip's seed: $(tail -1 "$WORK/err.txt")"

# --- the streamed decode of a continued clip is the whole-clip decode of its tokens ---
gen --input "$IMG" --seed 3 --num-frames 49 --disable-guardrail --output "$WORK/ng49.mp4" 2>"$WORK/err.txt" \
  && "$BIN" detokenize --tokenizer "$M/tokenizer.h5" --tokens "$WORK/n49.txt" --latent 7,4,6 \
    --out "$WORK/d49.mp4" 2>"$WORK/err.txt" && cmp -s "$WORK/d49.mp4" "$WORK/ng49.mp4" && ok \
  || bad "49-frame clip vs detokenize of its tokens: $(tail -1 "$WORK/err.txt")"

# the mp4 bytes are a function of the frames, whatever the heap held before (libx264's MB-tree
# read uninitialised memory: this 41-frame clip encoded differently under each MALLOC_PERTURB_)
"$BIN" generate --model-dir "$M" --disable-diffusion-decoder --input "$WORK/n33.mp4" --num-input-frames 1 \
  --prompt "the cube falls" --seed 7 --num-frames 41 \
  --output "$WORK/p41.mp4" --save-tokens "$WORK/p41.txt" 2>"$WORK/err.txt" \
  || bad "41 frames: $(tail -1 "$WORK/err.txt")"
for p in 0 165 77; do
  MALLOC_PERTURB_=$p "$BIN" detokenize --tokenizer "$M/tokenizer.h5" --tokens "$WORK/p41.txt" --latent 6,4,6 \
    --out "$WORK/p41.$p.mp4" 2>"$WORK/err.txt" || bad "detokenize: $(tail -1 "$WORK/err.txt")"
done
cmp -s "$WORK/p41.0.mp4" "$WORK/p41.165.mp4" && cmp -s "$WORK/p41.0.mp4" "$WORK/p41.77.mp4" && ok \
  || bad "the same frames encoded to different mp4 bytes under MALLOC_PERTURB_"

# --- 9 input frames, continued; other layouts give the same videos ---
gen --input "$WORK/n17.mp4" --num-input-frames 9 --seed 5 --num-frames 41 --output "$WORK/v41.mp4" \
  --save-tokens "$WORK/v41.txt" 2>"$WORK/err.txt" && [ "$(frames_of "$WORK/v41.mp4")" = 41 ] \
  && [ "$(wc -l <"$WORK/v41.txt")" = $((6 * F)) ] && ok || bad "9 input frames -> 41: $(tail -2 "$WORK/err.txt")"
run -np 4 "$BIN" generate --model-dir "$M" --prompt "$P" --disable-diffusion-decoder --input "$IMG" --seed 3 \
  --num-frames 49 --output "$WORK/np4.mp4" 2>"$WORK/err.txt" && cmp -s "$WORK/np4.mp4" "$WORK/n49.mp4" && ok \
  || bad "np 4: $(tail -2 "$WORK/err.txt")"
cat >"$WORK/layout-tp2-pp2.json" <<'EOF'
{"name": "tp2-pp2", "ranks": 4, "ar": {"ranks": [0, 1, 2, 3], "tp": 2, "pp": 2},
 "t5": 3, "guardrail": 3, "tokenizer": 2, "decoder": 0}
EOF
cat >"$WORK/jobs.jsonl" <<EOF
{"input": "$IMG", "prompt": "$P", "seed": 3, "name": "img"}
{"input": "$WORK/n17.mp4", "prompt": "$P", "seed": 5, "name": "vid"}
{"input": "$WORK/n33.mp4", "prompt": "the cube falls", "seed": 7, "name": "vid1", "num_input_frames": 1}
EOF
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/b1" --disable-diffusion-decoder \
  --num-frames 41 2>"$WORK/err.txt" || bad "batch, 1 process: $(tail -2 "$WORK/err.txt")"
run -np 4 "$BIN" batch --model-dir "$M" --layout "$WORK/layout-tp2-pp2.json" --clips-in-flight 3 \
  --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/b4" --disable-diffusion-decoder --num-frames 41 \
  2>"$WORK/err.txt" || bad "batch, tp 2 / pp 2: $(tail -2 "$WORK/err.txt")"
for x in img vid vid1; do
  [ "$(frames_of "$WORK/b1/$x.mp4")" = 41 ] && cmp -s "$WORK/b1/$x.mp4" "$WORK/b4/$x.mp4" && ok \
    || bad "batch item $x: $(frames_of "$WORK/b1/$x.mp4") frames, or another video on tp 2 / pp 2"
done
cmp -s "$WORK/b1/vid.mp4" "$WORK/v41.mp4" && ok || bad "batch item vid differs from generate"
grep -q '"tokens_generated": 96' "$WORK/b1/vid.status.json" && grep -q '"frames": 41' "$WORK/b1/vid.status.json" \
  && ok || bad "vid: tokens_generated and frames in its status: $(cat "$WORK/b1/vid.status.json")"

# --- per item: "num_frames" in the manifest; clips of several lengths in one group of clips in
# flight (each continues in its own windows, the others sit out); the same videos as generate ---
cat >"$WORK/mixed.jsonl" <<EOF
{"input": "$IMG", "prompt": "$P", "seed": 3, "name": "f9", "num_frames": 9}
{"input": "$IMG", "prompt": "$P", "seed": 3, "name": "f49", "num_frames": 49}
{"input": "$WORK/n17.mp4", "prompt": "$P", "seed": 5, "name": "f41"}
{"input": "$IMG", "prompt": "$P", "seed": 3, "name": "f33", "num_frames": 33}
{"input": "$IMG", "prompt": "$P", "seed": 3, "name": "f20", "num_frames": 20}
{"input": "$IMG", "prompt": "$P", "seed": 3, "name": "fbad", "num_frames": "many"}
EOF
for lay in "" "--layout $WORK/layout-tp2-pp2.json"; do
  np=1 && [ -n "$lay" ] && np=4
  rm -rf "$WORK/mixed"
  run -np $np "$BIN" batch --model-dir "$M" $lay --clips-in-flight 4 --manifest "$WORK/mixed.jsonl" \
    --output-dir "$WORK/mixed" --disable-diffusion-decoder --num-frames 41 2>"$WORK/err.txt"
  rc=$?
  [ $rc = 1 ] && cmp -s "$WORK/mixed/f9.mp4" "$WORK/n9.mp4" && cmp -s "$WORK/mixed/f49.mp4" "$WORK/n49.mp4" \
    && cmp -s "$WORK/mixed/f33.mp4" "$WORK/n33.mp4" && cmp -s "$WORK/mixed/f41.mp4" "$WORK/v41.mp4" && ok \
    || bad "per-item lengths on $np rank(s): exit $rc, $(ls "$WORK/mixed" | tr '\n' ' ')"
  grep -q '"status": "failed"' "$WORK/mixed/f20.status.json" \
    && grep -q "20 output frames" "$WORK/mixed/f20.status.json" && [ ! -e "$WORK/mixed/f20.mp4" ] \
    && grep -q 'num_frames.* must be a positive integer' "$WORK/mixed/line-6.status.json" && ok \
    || bad "bad per-item lengths on $np rank(s): $(cat "$WORK/mixed/f20.status.json" 2>/dev/null)"
done
# the diffusion decoder refuses another length per item only
printf '%s\n' "{\"input\": \"$IMG\", \"prompt\": \"$P\", \"name\": \"dd25\", \"num_frames\": 25}" \
  "{\"input\": \"$IMG\", \"prompt\": \"$P\", \"name\": \"dd17\"}" >"$WORK/dd.jsonl"
"$BIN" batch --model-dir "$M" --manifest "$WORK/dd.jsonl" --output-dir "$WORK/dd" 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && [ -e "$WORK/dd/dd17.mp4" ] && [ ! -e "$WORK/dd/dd25.mp4" ] \
  && grep -q "disable-diffusion-decoder" "$WORK/dd/dd25.status.json" && ok \
  || bad "per-item length with the diffusion decoder: exit $rc, $(ls "$WORK/dd" | tr '\n' ' ')"

# --- bad lengths: a clear error, exit 2 (1: unsupported), no output ---
for a in 20 -8 0x9 2049; do
  gen --input "$IMG" --num-frames $a --output "$WORK/bad.mp4" 2>"$WORK/err.txt"
  rc=$?
  [ $rc = 2 ] && grep -q -- "frames\|--num-frames" "$WORK/err.txt" && [ ! -e "$WORK/bad.mp4" ] && ok \
    || bad "--num-frames $a: exit $rc, $(tail -1 "$WORK/err.txt")"
done
"$BIN" generate --model-dir "$M" --prompt "$P" --input "$IMG" --num-frames 25 --output "$WORK/bad.mp4" \
  2>"$WORK/err.txt"
rc=$?
[ $rc != 0 ] && grep -q "disable-diffusion-decoder" "$WORK/err.txt" && [ ! -e "$WORK/bad.mp4" ] && ok \
  || bad "--num-frames 25 with the diffusion decoder: exit $rc, $(tail -1 "$WORK/err.txt")"
gen --input "$WORK/n17.mp4" --num-frames 9 --output "$WORK/bad.mp4" 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "leave nothing to generate after 9 input frames" "$WORK/err.txt" && [ ! -e "$WORK/bad.mp4" ] \
  && ok || bad "9 frames after 9 input frames: exit $rc, $(tail -1 "$WORK/err.txt")"
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/b9" --disable-diffusion-decoder \
  --num-frames 9 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && [ "$(frames_of "$WORK/b9/img.mp4")" = 9 ] && [ "$(frames_of "$WORK/b9/vid1.mp4")" = 9 ] \
  && [ ! -e "$WORK/b9/vid.mp4" ] && grep -q "nothing to generate" "$WORK/b9/vid.status.json" && ok \
  || bad "batch --num-frames 9: exit $rc, $(ls "$WORK/b9")"

# --- an unnamed item's name follows the length ---
echo "{\"input\": \"$IMG\", \"prompt\": \"$P\", \"seed\": 3}" >"$WORK/unnamed.jsonl"
ub() { "$BIN" batch --model-dir "$M" --manifest "$WORK/unnamed.jsonl" --output-dir "$WORK/u" \
  --disable-diffusion-decoder "$@" 2>"$WORK/err.txt"; }
ub && ub --num-frames 25 && [ "$(ls "$WORK/u"/*.mp4 | wc -l)" = 2 ] \
  && [ "$(for f in "$WORK/u"/*.mp4; do frames_of "$f"; done | sort -n | tr '\n' ' ')" = "17 25 " ] && ok \
  || bad "unnamed item at two lengths: $(ls "$WORK/u")"
ub --num-frames 25 && grep -q "1 already done" "$WORK/err.txt" && ok || bad "rerun at 25 frames did not skip"

finish test_clip_length
