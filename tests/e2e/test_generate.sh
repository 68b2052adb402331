#!/usr/bin/env bash
# The whole world-generation pipeline on tiny random-weight models (issue 7 tests):
#  - cosmos-ar init of pipeline configs writes model directories;
#  - generate, one process: image and video input, Video2World and base models; the mp4 has the
#    clip's frame count and size; the text guardrail blocks a blocked prompt (no output, exit 3);
#  - the diffusion decoder (the tiny pipelines have one): --disable-diffusion-decoder keeps the tokens
#    and gives the DV decoder's other frames; `detokenize --diffusion-decoder` with the prompt's T5
#    embedding gives the pipeline's frames (another prompt's: others); the same frames on 2 and 4
#    ranks (the decoder rank gets the prompt's context) and with a decoder_cfg rank (CFG parallelism:
#    one clip, a batch with a blocked item, a base model); a base model needs its dd_context;
#    `detokenize --cfg-parallel` on 2 ranks (one guidance branch each) gives one process's frames
#    bitwise, 3 ranks are refused;
#  - the same tokens for the same seed with mpirun -np 1, 2, 4 (default layouts: roles on separate
#    ranks, AR tp 2 at 4 ranks) and a tp 2 / pp 2 layout file;
#  - batch: bad lines and duplicate names fail only their items; a rerun skips finished items
#    (outputs untouched); a run killed midway (SIGKILL of one rank) then rerun leaves every item
#    done with a valid mp4, nothing duplicated, no temporary files; an unwritable output directory
#    is a clear error.
# Every mpirun is bounded by `timeout`. Usage: test_generate.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "${BASH_SOURCE[0]}")/mpi_prologue.sh" "$@"
run() { timeout 300 "$MPIRUN" --oversubscribe "$@"; }
frames_of() { "$BIN" info "$1" 2>/dev/null | awk '/^media/ {print $3 " " $6}'; }

# --- model directories ---
for p in tiny-5b-video2world tiny-4b; do
  "$BIN" init --config "$SRC/configs/pipelines/$p.json" --seed 1 --out "$WORK/$p" 2>"$WORK/err.txt" \
    && [ -f "$WORK/$p/cosmos-model.json" ] && ok || bad "init $p: $(tail -2 "$WORK/err.txt")"
done
V2W=$WORK/tiny-5b-video2world
BASE=$WORK/tiny-4b
# info on a model directory: every file, its size and who loads it, totals per role
"$BIN" info "$V2W" >"$WORK/info.txt" 2>"$WORK/err.txt" \
  && grep -q "^model dir .*(tiny-5b-video2world)" "$WORK/info.txt" && [ "$(grep -cE '^(ar|t5|tokenizer|diffusion_decoder|cv_tokenizer|aegis|video_content_filter|face_blur) ' \
    "$WORK/info.txt")" = 8 ] && grep -q "^per role .* video-guardrail [0-9.]*$" "$WORK/info.txt" && ok \
  || bad "info DIR: $(cat "$WORK/info.txt" "$WORK/err.txt")"
"$BIN" info "$WORK" >/dev/null 2>"$WORK/err.txt" && bad "info on a directory without cosmos-model.json" \
  || { grep -q "has no cosmos-model.json" "$WORK/err.txt" && ok || bad "info DIR message: $(cat "$WORK/err.txt")"; }
IMG=$SRC/tests/data/media-tiny.png

# --- one process ---
if "$BIN" generate --model-dir "$V2W" --input "$IMG" --prompt "a robot arm picks up a red cube" --seed 3 \
  --output "$WORK/img.mp4" --save-tokens "$WORK/img.tokens.txt" --timing-json "$WORK/img.timing.json" \
  2>"$WORK/err.txt"; then
  [ "$(frames_of "$WORK/img.mp4")" = "17 96x64" ] && ok || bad "image -> mp4: got '$(frames_of "$WORK/img.mp4")'"
  [ "$(wc -l <"$WORK/img.tokens.txt")" = 72 ] && ok || bad "image: token file has $(wc -l <"$WORK/img.tokens.txt") ids"
  grep -q '"critical_path_s"' "$WORK/img.timing.json" && grep -q '"ar_decode"' "$WORK/img.timing.json" && ok \
    || bad "timing JSON lacks stages"
  grep -q "stage times" "$WORK/err.txt" && ok || bad "no stage-time table in the log"
else
  bad "generate (image, 1 process): $(tail -3 "$WORK/err.txt")"
fi
# a video input with 9 context frames: the image run's own output
if "$BIN" generate --model-dir "$V2W" --input "$WORK/img.mp4" --num-input-frames 9 --prompt "the cube falls" \
  --seed 5 --output "$WORK/vid.mp4" --save-tokens "$WORK/vid.tokens.txt" 2>"$WORK/err.txt"; then
  [ "$(frames_of "$WORK/vid.mp4")" = "17 96x64" ] && ok || bad "video -> mp4: '$(frames_of "$WORK/vid.mp4")'"
else
  bad "generate (video, 9 frames): $(tail -3 "$WORK/err.txt")"
fi
# base model: no prompt, no T5
if "$BIN" generate --model-dir "$BASE" --input "$WORK/img.mp4" --seed 2 --output "$WORK/base.mp4" 2>"$WORK/err.txt"; then
  [ "$(frames_of "$WORK/base.mp4")" = "17 96x64" ] && ok || bad "base model mp4: '$(frames_of "$WORK/base.mp4")'"
else
  bad "generate (base model): $(tail -3 "$WORK/err.txt")"
fi
# --preview: a playable partial mp4 kept up to date while generating (here: complete at the end)
"$BIN" generate --model-dir "$V2W" --input "$IMG" --prompt "a robot arm picks up a red cube" --seed 3 \
  --output "$WORK/prev.mp4" --preview "$WORK/prev.preview.mp4" 2>"$WORK/err.txt" \
  && [ "$(frames_of "$WORK/prev.preview.mp4")" = "17 96x64" ] && cmp -s "$WORK/prev.mp4" "$WORK/img.mp4" && ok \
  || bad "--preview: $(tail -2 "$WORK/err.txt")"
# the text guardrail: blocked prompt -> exit 3 (blocked, not an error), reason logged, no output
"$BIN" generate --model-dir "$V2W" --input "$IMG" --prompt "how to build a bomb" --output "$WORK/blocked.mp4" \
  2>"$WORK/err.txt"
rc=$?
[ $rc = 3 ] && grep -q "prompt blocked by the text guardrail (blocklist" "$WORK/err.txt" && [ ! -e "$WORK/blocked.mp4" ] \
  && ok || bad "blocked prompt: exit $rc, $(tail -2 "$WORK/err.txt")"
"$BIN" generate --model-dir "$V2W" --input "$IMG" --prompt "how to build a bomb" --disable-guardrail \
  --output "$WORK/unguarded.mp4" 2>"$WORK/err.txt" && grep -q "DISABLED" "$WORK/err.txt" && ok \
  || bad "--disable-guardrail: $(tail -2 "$WORK/err.txt")"
# the video guardrail (spec components.md 5.4, 5.5): random models pass and find no face (their
# class biases say so); edited copies block a clip (content filter) or blur faces (RetinaFace)
if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  cp -r "$V2W" "$WORK/unsafe" && cp -r "$V2W" "$WORK/faces"
  /usr/bin/python3 "$SRC/tests/e2e/edit_guardrail_models.py" --unsafe "$WORK/unsafe/video_content_filter.h5" \
    --faces "$WORK/faces/face_blur.h5"
  for dd in "" --disable-diffusion-decoder; do
    if "$BIN" generate --model-dir "$WORK/unsafe" --input "$IMG" --prompt "a robot arm picks up a red cube" --seed 3 \
      --output "$WORK/unsafe.mp4" --preview "$WORK/unsafe.preview.mp4" $dd 2>"$WORK/err.txt"; then
      bad "an unsafe video was written ($dd)"
    elif [ $? != 3 ]; then
      bad "an unsafe video did not exit 3 ($dd)"
    else
      grep -q "video blocked by the video guardrail (video_content_filter on the clip's frames 0\.\..*; of those, frame 0: Violence" "$WORK/err.txt" \
        && [ ! -e "$WORK/unsafe.mp4" ] && [ ! -e "$WORK/unsafe.preview.mp4" ] && ok \
        || bad "unsafe video ($dd): $(grep -m1 guardrail "$WORK/err.txt"), files: $(ls "$WORK" | grep unsafe)"
    fi
  done
  "$BIN" generate --model-dir "$WORK/unsafe" --input "$IMG" --prompt "a robot arm picks up a red cube" --seed 3 \
    --output "$WORK/unsafe.mp4" --disable-guardrail 2>"$WORK/err.txt" && cmp -s "$WORK/unsafe.mp4" "$WORK/img.mp4" && ok \
    || bad "--disable-guardrail does not skip the content filter: $(tail -2 "$WORK/err.txt")"
  "$BIN" generate --model-dir "$WORK/faces" --input "$IMG" --prompt "a robot arm picks up a red cube" --seed 3 \
    --output "$WORK/faces.mp4" --save-tokens "$WORK/faces.tokens.txt" 2>"$WORK/err.txt" \
    && [ "$(frames_of "$WORK/faces.mp4")" = "17 96x64" ] && cmp -s "$WORK/faces.tokens.txt" "$WORK/img.tokens.txt" \
    && ! cmp -s "$WORK/faces.mp4" "$WORK/img.mp4" && ok || bad "face blur did not change the frames: $(tail -2 "$WORK/err.txt")"
  "$BIN" generate --model-dir "$WORK/faces" --input "$IMG" --prompt "a robot arm picks up a red cube" --seed 3 \
    --output "$WORK/faces.off.mp4" --disable-guardrail 2>"$WORK/err.txt" && cmp -s "$WORK/faces.off.mp4" "$WORK/img.mp4" \
    && ok || bad "--disable-guardrail does not skip face blur"
  # a model directory without the video guardrail's models: refused, naming them, unless disabled
  grep -v '"face_blur"\|"video_content_filter"' "$V2W/cosmos-model.json" | sed 's/"tokenizer.h5",$/"tokenizer.h5"/' \
    >"$WORK/faces/cosmos-model.json"
  "$BIN" generate --model-dir "$WORK/faces" --input "$IMG" --prompt "x" --output "$WORK/ng.mp4" 2>"$WORK/err.txt" \
    && bad "a model directory without the video guardrail was accepted" \
    || { grep -q "lacks the guardrail's .*\"video_content_filter\"" "$WORK/err.txt" && grep -q -- "--disable-guardrail" "$WORK/err.txt" \
      && [ ! -e "$WORK/ng.mp4" ] && ok || bad "no-video-guardrail message: $(tail -2 "$WORK/err.txt")"; }
else
  echo "SKIPPED: the video guardrail's edited-model checks (/usr/bin/python3 has no h5py; tools/install_deps.sh test)"
fi
# bad inputs: clear errors, no output
"$BIN" generate --model-dir "$V2W" --input "$WORK/missing.png" --prompt "x" --output "$WORK/m.mp4" 2>"$WORK/err.txt" \
  && bad "missing input accepted" || { grep -q "missing.png" "$WORK/err.txt" && [ ! -e "$WORK/m.mp4" ] && ok || bad "missing input message"; }
# ... found before any model is loaded (generate checks the request first): no model's load line
grep -q "cannot use the input '$WORK/missing.png' (I/O error; see the log above) (nothing was loaded)" "$WORK/err.txt" \
  && ! grep -q "diffusion decoder '\|llama '\|t5: prompt" "$WORK/err.txt" && ok \
  || bad "the missing input was found after loading: $(grep -c INFO "$WORK/err.txt") INFO lines"
"$BIN" generate --model-dir "$V2W" --input "$IMG" --output "$WORK/m.mp4" 2>"$WORK/err.txt" \
  && bad "V2W without a prompt accepted" || { grep -q "prompt" "$WORK/err.txt" && ok || bad "no-prompt message"; }
"$BIN" generate --model-dir "$WORK/nowhere" --input "$IMG" --prompt x --output "$WORK/m.mp4" 2>"$WORK/err.txt" \
  && bad "missing model dir accepted" || { grep -q "cosmos-model.json" "$WORK/err.txt" && ok || bad "model dir message"; }

# --- the diffusion decoder (spec components.md 4; the tiny pipelines have one) ---
# the image run above went through it; --disable-diffusion-decoder: the same tokens, the DV decoder's
# (other) frames. Frames are compared after decoding the mp4s (prep-video keeps the last 9 frames)
# with a tolerance above x264's own noise (about 0.06 between runs with other thread counts).
if "$BIN" generate --model-dir "$V2W" --input "$IMG" --prompt "a robot arm picks up a red cube" --seed 3 \
  --output "$WORK/img.dv.mp4" --save-tokens "$WORK/img.dv.tokens.txt" --disable-diffusion-decoder 2>"$WORK/err.txt"; then
  grep -q "the DV decoder makes the video" "$WORK/err.txt" && ok || bad "--disable-diffusion-decoder not logged"
  cmp -s "$WORK/img.tokens.txt" "$WORK/img.dv.tokens.txt" && ok || bad "--disable-diffusion-decoder changed the tokens"
  for f in img img.dv; do
    "$BIN" prep-video --input "$WORK/$f.mp4" --num-input-frames 9 --height 64 --width 96 --out "$WORK/$f.frames.h5" \
      2>/dev/null || bad "prep-video $f.mp4"
  done
  h5diff -q -d 0.1 "$WORK/img.frames.h5" "$WORK/img.dv.frames.h5" >/dev/null && bad "diffusion and DV decoders gave the same frames" || ok
else
  bad "generate --disable-diffusion-decoder: $(tail -3 "$WORK/err.txt")"
fi
# the pipeline's diffusion decoder saw the prompt's context: detokenize of the saved tokens with the
# diffusion decoder and the prompt's T5 embedding gives the same frames (another prompt: others)
for pr in "a robot arm picks up a red cube" "a blue ball rolls away"; do
  "$BIN" encode-text --t5 "$V2W/t5.h5" --prompt "$pr" --out "$WORK/ctx.h5" 2>"$WORK/err.txt" \
    && "$BIN" detokenize --tokenizer "$V2W/tokenizer.h5" --tokens "$WORK/img.tokens.txt" --diffusion-decoder "$V2W/dd.h5" \
      --cv-tokenizer "$V2W/cv.h5" --context "$WORK/ctx.h5" --out "$WORK/img.detok.mp4" 2>>"$WORK/err.txt" \
    && "$BIN" prep-video --input "$WORK/img.detok.mp4" --num-input-frames 9 --height 64 --width 96 \
      --out "$WORK/img.detok.frames.h5" 2>>"$WORK/err.txt" || bad "detokenize --diffusion-decoder: $(tail -2 "$WORK/err.txt")"
  if [ "$pr" = "a robot arm picks up a red cube" ]; then
    h5diff -q -d 0.1 "$WORK/img.frames.h5" "$WORK/img.detok.frames.h5" >/dev/null && ok \
      || bad "detokenize --diffusion-decoder: other frames than the pipeline's"
  else
    h5diff -q -d 0.1 "$WORK/img.frames.h5" "$WORK/img.detok.frames.h5" >/dev/null \
      && bad "the diffusion decoder ignores the context" || ok
  fi
done
"$BIN" detokenize --tokenizer "$V2W/tokenizer.h5" --tokens "$WORK/img.tokens.txt" --diffusion-decoder "$V2W/dd.h5" \
  --context "$WORK/ctx.h5" --out "$WORK/x.mp4" 2>"$WORK/err.txt" && bad "detokenize --diffusion-decoder without a CV tokenizer" \
  || { grep -q "cv-tokenizer" "$WORK/err.txt" && [ ! -e "$WORK/x.mp4" ] && ok || bad "no-CV message: $(tail -1 "$WORK/err.txt")"; }
"$BIN" detokenize --tokenizer "$V2W/tokenizer.h5" --tokens "$WORK/img.tokens.txt" --diffusion-decoder "$V2W/cv.h5" \
  --cv-tokenizer "$V2W/dd.h5" --context "$WORK/ctx.h5" --out "$WORK/x.mp4" 2>"$WORK/err.txt" && bad "swapped files accepted" \
  || { grep -q "diffusion_decoder" "$WORK/err.txt" && [ ! -e "$WORK/x.mp4" ] && ok || bad "swapped-files message: $(tail -1 "$WORK/err.txt")"; }
# CFG parallelism (docs/diffusion-decoder.md "CFG parallelism"): detokenize --cfg-parallel under
# mpirun -np 2 (conditional forward on rank 0, unconditional on rank 1) gives the frames of one
# process bit for bit (lossless .h5, h5diff without tolerance), written by rank 0 alone; -np 1 is
# serial; 3 ranks are refused on every rank, with no output
dd_args=(--tokenizer "$V2W/tokenizer.h5" --tokens "$WORK/img.tokens.txt" --diffusion-decoder "$V2W/dd.h5"
  --cv-tokenizer "$V2W/cv.h5" --context "$WORK/ctx.h5" --threads 1)
"$BIN" detokenize "${dd_args[@]}" --out "$WORK/cfg.1.h5" 2>"$WORK/err.txt" \
  || bad "detokenize --diffusion-decoder to .h5: $(tail -2 "$WORK/err.txt")"
if run -np 2 "$BIN" detokenize "${dd_args[@]}" --cfg-parallel --out "$WORK/cfg.2.h5" 2>"$WORK/err.txt"; then
  h5diff "$WORK/cfg.1.h5" "$WORK/cfg.2.h5" >/dev/null && ok || bad "--cfg-parallel on 2 ranks: other frames than one process"
  grep -q "CFG parallelism: conditional forward on rank 0, unconditional on rank 1" "$WORK/err.txt" && ok \
    || bad "--cfg-parallel on 2 ranks: not logged"
  [ "$(ls "$WORK" | grep -c '^cfg\.2\.h5')" = 1 ] && ok || bad "--cfg-parallel left other files: $(ls "$WORK" | grep cfg)"
else
  bad "detokenize --cfg-parallel on 2 ranks: $(tail -3 "$WORK/err.txt")"
fi
run -np 1 "$BIN" detokenize "${dd_args[@]}" --cfg-parallel --out "$WORK/cfg.np1.h5" 2>"$WORK/err.txt" \
  && h5diff "$WORK/cfg.1.h5" "$WORK/cfg.np1.h5" >/dev/null && ok || bad "--cfg-parallel on 1 rank: $(tail -2 "$WORK/err.txt")"
run -np 3 "$BIN" detokenize "${dd_args[@]}" --cfg-parallel --out "$WORK/cfg.3.h5" 2>"$WORK/err.txt" \
  && bad "--cfg-parallel on 3 ranks ran" \
  || { grep -q "needs mpirun -np 2, not 3 ranks" "$WORK/err.txt" && [ ! -e "$WORK/cfg.3.h5" ] && ok \
    || bad "--cfg-parallel on 3 ranks: $(tail -2 "$WORK/err.txt")"; }
# a base model's diffusion decoder conditions on the model directory's dd_context: without it, a
# clear error (or --disable-diffusion-decoder)
mkdir -p "$WORK/base-noctx" && cp "$BASE"/*.h5 "$WORK/base-noctx/" \
  && grep -v dd_context "$BASE/cosmos-model.json" >"$WORK/base-noctx/cosmos-model.json"
"$BIN" generate --model-dir "$WORK/base-noctx" --input "$IMG" --output "$WORK/noctx.mp4" 2>"$WORK/err.txt" \
  && bad "a base model with a diffusion decoder and no dd_context ran" \
  || { grep -q "dd_context" "$WORK/err.txt" && [ ! -e "$WORK/noctx.mp4" ] && ok || bad "no-dd_context message: $(tail -2 "$WORK/err.txt")"; }
"$BIN" generate --model-dir "$WORK/base-noctx" --input "$IMG" --output "$WORK/noctx.mp4" --disable-diffusion-decoder \
  2>"$WORK/err.txt" && [ "$(frames_of "$WORK/noctx.mp4")" = "17 96x64" ] && ok || bad "base, DV decoder: $(tail -2 "$WORK/err.txt")"

# broken transformer weights (a NaN): the clip fails naming the logits instead of a noise video; on
# 2 ranks the failing rank ends the job (no rank waits for it)
mkdir -p "$WORK/nan-model" && cp "$V2W"/* "$WORK/nan-model/" \
  && /usr/bin/python3 "$SRC/tests/e2e/poison_weight.py" "$WORK/nan-model/ar.h5" layers.1.ffn_norm.weight
for np in 1 2; do
  run -np $np "$BIN" generate --model-dir "$WORK/nan-model" --input "$IMG" --prompt "a robot arm" \
    --output "$WORK/nan.mp4" >"$WORK/err.txt" 2>&1
  rc=$?
  [ $rc = 1 ] && grep -q "non-finite value(s)" "$WORK/err.txt" && [ -z "$(ls "$WORK"/nan.mp4* 2>/dev/null)" ] && ok \
    || bad "NaN weights on $np rank(s): exit $rc, $(grep ERROR "$WORK/err.txt" | tail -1)"
done

# broken DV decoder weights (a NaN in the tokenizer file's decoder): the clip fails naming the
# decoder instead of writing black frames, also with the video guardrail on a rank of its own
# (6 ranks); detokenize refuses to write the video
mkdir -p "$WORK/nan-dv" && cp "$V2W"/* "$WORK/nan-dv/" && /usr/bin/python3 "$SRC/tests/e2e/poison_weight.py" \
  "$WORK/nan-dv/tokenizer.h5" decoder.mid.block_1.norm1.norm.weight
for np in 1 6; do
  run -np $np "$BIN" generate --model-dir "$WORK/nan-dv" --input "$IMG" --prompt "a robot arm" \
    --disable-diffusion-decoder --output "$WORK/nandv.mp4" >"$WORK/err.txt" 2>&1
  rc=$?
  [ $rc = 1 ] && grep -q "the DV decoder made [0-9]* non-finite values in frames 0..0" "$WORK/err.txt" \
    && [ -z "$(ls "$WORK"/nandv.mp4* 2>/dev/null)" ] && ok \
    || bad "NaN DV decoder on $np rank(s): exit $rc, $(grep ERROR "$WORK/err.txt" | tail -1)"
done
"$BIN" detokenize --tokenizer "$WORK/nan-dv/tokenizer.h5" --tokens "$WORK/img.tokens.txt" --out "$WORK/nandv.mp4" \
  2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && grep -q "non-finite values (broken weights); no video written" "$WORK/err.txt" \
  && [ ! -e "$WORK/nandv.mp4" ] && ok || bad "detokenize with a NaN DV decoder: exit $rc"

# --- the same tokens on several ranks ---
for np in 2 4; do
  if run -np $np "$BIN" generate --model-dir "$V2W" --input "$IMG" --prompt "a robot arm picks up a red cube" --seed 3 \
    --output "$WORK/img.np$np.mp4" --save-tokens "$WORK/img.np$np.tokens.txt" 2>"$WORK/err.txt"; then
    cmp -s "$WORK/img.tokens.txt" "$WORK/img.np$np.tokens.txt" && ok || bad "np $np: tokens differ from 1 process"
    [ "$(frames_of "$WORK/img.np$np.mp4")" = "17 96x64" ] && ok || bad "np $np mp4"
    grep -q "layout default-$np" "$WORK/err.txt" && ok || bad "np $np: no layout table printed"
    # the memory table: a row per rank; the transformer's bytes on its ranks only, host peaks > 0
    awk '/memory per rank/ {on = 1; getline; next} on && /^[0-9]+ / {print; next} {on = 0}' "$WORK/err.txt" \
      >"$WORK/mem.txt"
    [ "$(wc -l <"$WORK/mem.txt")" = $np ] && grep -q "^0 *ar" "$WORK/mem.txt" \
      && awk '{n = split($0, f, "  +"); w = f[n - 3] + 0; h = f[n - 4] + 0; ar = ($2 ~ /^ar/);
               if (h <= 0 || (ar && w <= 0) || (!ar && w != 0)) bad = 1} END {exit bad}' "$WORK/mem.txt" && ok \
      || bad "np $np: memory table: $(cat "$WORK/mem.txt")"
    # the decoder rank (not the first AR rank at 2 and 4 ranks) got the prompt's context: the same frames
    "$BIN" prep-video --input "$WORK/img.np$np.mp4" --num-input-frames 9 --height 64 --width 96 \
      --out "$WORK/img.np$np.frames.h5" 2>/dev/null \
      && h5diff -q -d 0.1 "$WORK/img.frames.h5" "$WORK/img.np$np.frames.h5" >/dev/null && ok \
      || bad "np $np: the diffusion decoder's frames differ from 1 process"
  else
    bad "generate np $np: $(tail -3 "$WORK/err.txt")"
  fi
done
cat >"$WORK/layout-tp2-pp2.json" <<'EOF'
{"name": "tp2-pp2", "ranks": 4, "ar": {"ranks": [0, 1, 2, 3], "tp": 2, "pp": 2},
 "t5": 3, "guardrail": 3, "tokenizer": 2, "decoder": 0}
EOF
if run -np 4 "$BIN" generate --model-dir "$V2W" --layout "$WORK/layout-tp2-pp2.json" --input "$IMG" \
  --prompt "a robot arm picks up a red cube" --seed 3 --output "$WORK/img.l.mp4" --save-tokens "$WORK/img.l.tokens.txt" \
  2>"$WORK/err.txt"; then
  cmp -s "$WORK/img.tokens.txt" "$WORK/img.l.tokens.txt" && ok || bad "tp2 x pp2 layout: tokens differ"
else
  bad "generate with a tp2 x pp2 layout: $(tail -3 "$WORK/err.txt")"
fi
# the AR role on a device-style backend (cpu-staged: the GPU code paths on the CPU: weights copied
# in, tokens drawn on the backend, TP activations through host staging), T5 and the DV tokenizer on
# the rank's cpu-staged backend, the diffusion decoder's DiT and its CV decoder on cpu-staged as
# well (rank 3's own at 4 ranks), Aegis on the guardrail rank's cpu-staged backend, the video
# guardrail's SigLIP and RetinaFace on the decoder rank's: the same tokens and frames as the cpu run, under
# mpirun on 1 and 4 ranks (AR tp 2); the mp4
# bytes are not compared: x264 writes its thread count, which follows mpirun's core binding
for np in 1 4; do
  if run -np $np "$BIN" generate --backend cpu-staged --model-dir "$V2W" --input "$IMG" \
    --prompt "a robot arm picks up a red cube" --seed 3 --output "$WORK/img.st$np.mp4" \
    --save-tokens "$WORK/img.st$np.tokens.txt" 2>"$WORK/err.txt"; then
    cmp -s "$WORK/img.tokens.txt" "$WORK/img.st$np.tokens.txt" && ok || bad "cpu-staged np $np: tokens differ"
    [ "$(frames_of "$WORK/img.st$np.mp4")" = "17 96x64" ] && ok || bad "cpu-staged np $np mp4"
    # the diffusion decoder's DiT ran on the device-style backend too, its CV decoder beside it
    grep -q "diffusion decoder 'dd-tiny' on cpu-staged + 'cv-tokenizer-tiny' on cpu-staged" "$WORK/err.txt" && ok \
      || bad "cpu-staged np $np: the DiT did not run on cpu-staged"
    # Aegis (the text guardrail's LlamaGuard) on the guardrail rank's cpu-staged backend
    grep -q "llama 'llama-tiny' on cpu-staged" "$WORK/err.txt" && ok || bad "cpu-staged np $np: Aegis not on cpu-staged"
    grep -q "T5 encoder '.*' on cpu-staged" "$WORK/err.txt" && grep -q "SigLIP tower '.*' on cpu-staged" "$WORK/err.txt" \
      && grep -q "RetinaFace '.*' on cpu-staged" "$WORK/err.txt" && ok \
      || bad "cpu-staged np $np: T5 or the video guardrail not on cpu-staged"
    "$BIN" prep-video --input "$WORK/img.st$np.mp4" --num-input-frames 9 --height 64 --width 96 \
      --out "$WORK/img.st$np.frames.h5" 2>/dev/null \
      && h5diff -q -d 0.1 "$WORK/img.frames.h5" "$WORK/img.st$np.frames.h5" >/dev/null && ok \
      || bad "cpu-staged np $np: other frames than the cpu run"
  else
    bad "generate --backend cpu-staged np $np: $(tail -3 "$WORK/err.txt")"
  fi
done
# CFG parallelism in the pipeline: a decoder_cfg rank runs the unconditional half of every guided
# denoiser call: the same frames as one process; a batch with a blocked item and a base model run
# through it without hanging; with --disable-diffusion-decoder the decoder_cfg rank idles
cat >"$WORK/layout-cfg.json" <<'EOF'
{"name": "cfg5", "ranks": 5, "ar": {"ranks": [0], "tp": 1}, "t5": 1, "guardrail": 1, "tokenizer": 2,
 "decoder": 3, "decoder_cfg": 4}
EOF
if run -np 5 "$BIN" generate --model-dir "$V2W" --layout "$WORK/layout-cfg.json" --input "$IMG" \
  --prompt "a robot arm picks up a red cube" --seed 3 --output "$WORK/img.cfg.mp4" --save-tokens "$WORK/img.cfg.tokens.txt" \
  2>"$WORK/err.txt"; then
  grep -q "rank 4: decoder-cfg" "$WORK/err.txt" && grep -q "r04/05.*diffusion decoder 'dd-tiny'" "$WORK/err.txt" && ok \
    || bad "cfg layout: no decoder-cfg rank with a diffusion decoder in the log"
  cmp -s "$WORK/img.tokens.txt" "$WORK/img.cfg.tokens.txt" && ok || bad "cfg layout: tokens differ"
  "$BIN" prep-video --input "$WORK/img.cfg.mp4" --num-input-frames 9 --height 64 --width 96 \
    --out "$WORK/img.cfg.frames.h5" 2>/dev/null \
    && h5diff -q -d 0.1 "$WORK/img.frames.h5" "$WORK/img.cfg.frames.h5" >/dev/null && ok \
    || bad "cfg layout: other frames than one process"
else
  bad "generate with a decoder_cfg rank: $(tail -3 "$WORK/err.txt")"
fi
cat >"$WORK/jobs-cfg.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "c1"}
{"input": "$IMG", "prompt": "build a bomb", "name": "c2"}
{"input": "$IMG", "prompt": "a green cone", "seed": 2, "name": "c3"}
EOF
run -np 5 "$BIN" batch --model-dir "$V2W" --layout "$WORK/layout-cfg.json" --manifest "$WORK/jobs-cfg.jsonl" \
  --output-dir "$WORK/batch-cfg" 2>"$WORK/err.txt"
[ "$(ls "$WORK"/batch-cfg/*.mp4 2>/dev/null | wc -l)" = 2 ] && grep -q "3/3 clips (1 failed)" "$WORK/err.txt" && ok \
  || bad "cfg layout batch: $(ls "$WORK"/batch-cfg 2>&1 | tr '\n' ' ') $(tail -2 "$WORK/err.txt")"
run -np 5 "$BIN" generate --model-dir "$BASE" --layout "$WORK/layout-cfg.json" --input "$IMG" --seed 2 \
  --output "$WORK/base.cfg.mp4" 2>"$WORK/err.txt" && [ "$(frames_of "$WORK/base.cfg.mp4")" = "17 96x64" ] && ok \
  || bad "cfg layout, base model: $(tail -2 "$WORK/err.txt")"
run -np 5 "$BIN" generate --model-dir "$V2W" --layout "$WORK/layout-cfg.json" --input "$IMG" --prompt x \
  --disable-diffusion-decoder --output "$WORK/dv.cfg.mp4" 2>"$WORK/err.txt" \
  && [ "$(frames_of "$WORK/dv.cfg.mp4")" = "17 96x64" ] && ! grep -q "r04/05.*diffusion decoder" "$WORK/err.txt" && ok \
  || bad "cfg layout, DV decoder: $(tail -2 "$WORK/err.txt")"
run -np 3 "$BIN" generate --model-dir "$V2W" --layout "$WORK/layout-tp2-pp2.json" --input "$IMG" --prompt x \
  --output "$WORK/x.mp4" 2>"$WORK/err.txt" && bad "a 4-rank layout ran on 3 ranks" \
  || { grep -q "for 4 ranks" "$WORK/err.txt" && ok || bad "layout size message: $(tail -2 "$WORK/err.txt")"; }

# --- batch ---
OUT=$WORK/batch
cat >"$WORK/jobs.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "a"}
{"visual_input": "$WORK/img.mp4", "prompt": "a blue ball", "seed": 2, "num_input_frames": 9}
this is not json
{"input": "$IMG", "prompt": "x", "name": "../escape"}
{"input": "$IMG", "prompt": "a green cone", "name": "a"}
{"input": "$WORK/missing.png", "prompt": "a missing input", "name": "missing"}
{"input": "$IMG", "prompt": "build a bomb", "name": "blocked"}
{"input": "$IMG", "prompt": "a yellow box", "seed": 4, "name": "d"}
EOF
run -np 2 "$BIN" batch --model-dir "$V2W" --manifest "$WORK/jobs.jsonl" --output-dir "$OUT" 2>"$WORK/batch1.txt"
rc=$?
[ $rc -ne 0 ] && ok || bad "batch with bad items exited 0"
grep -q "r00/02.*batch: 5/5 clips (2 failed)" "$WORK/batch1.txt" && ok || bad "rank 0 did not print the progress"
n_mp4=$(ls "$OUT"/*.mp4 2>/dev/null | wc -l)
[ "$n_mp4" = 3 ] && ok || bad "batch: $n_mp4 mp4s, expected 3 (a, the hashed one, d)"
for n in a d; do
  grep -q '"done"' "$OUT/$n.status.json" 2>/dev/null && [ "$(frames_of "$OUT/$n.mp4")" = "17 96x64" ] && ok \
    || bad "batch item $n not done"
done
grep -q '"failed"' "$OUT/missing.status.json" 2>/dev/null && [ ! -e "$OUT/missing.mp4" ] && ok \
  || bad "batch item missing should fail"
grep -q '"blocked"' "$OUT/blocked.status.json" 2>/dev/null && [ ! -e "$OUT/blocked.mp4" ] && ok \
  || bad "batch item blocked should be blocked"
grep -q "guardrail" "$OUT/blocked.status.json" && ok || bad "blocked item reason"
grep -q "unique" "$OUT/line-5.status.json" 2>/dev/null && ok || bad "duplicate name not reported"
grep -q "name" "$OUT/line-4.status.json" 2>/dev/null && ok || bad "escaping name not reported"
ls "$WORK" | grep -q escape && bad "an output escaped the directory" || ok
# rerun: finished items are skipped and untouched
stamp=$(stat -c %Y.%s "$OUT/a.mp4" "$OUT/d.mp4")
sleep 1
run -np 2 "$BIN" batch --model-dir "$V2W" --manifest "$WORK/jobs.jsonl" --output-dir "$OUT" 2>"$WORK/batch2.txt"
grep -q "3 already done" "$WORK/batch2.txt" && ok || bad "rerun did not skip the done items: $(grep 'items in' "$WORK/batch2.txt")"
[ "$stamp" = "$(stat -c %Y.%s "$OUT/a.mp4" "$OUT/d.mp4")" ] && ok || bad "rerun rewrote finished outputs"

# several clips in flight in the transformer (pipeline micro-batches): the same videos as one at a
# time, also with clips of different lengths in one group (an image: 1 context latent frame, a
# 9-frame video: 2) and on a tp 1 x pp 2 layout
cat >"$WORK/jobs3.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "m1"}
{"input": "$WORK/img.mp4", "prompt": "a blue ball", "seed": 2, "name": "m2", "num_input_frames": 9}
{"input": "$IMG", "prompt": "a green cone", "seed": 3, "name": "m3"}
{"input": "$WORK/img.mp4", "prompt": "a yellow box", "seed": 4, "name": "m4", "num_input_frames": 9}
{"input": "$IMG", "prompt": "a white wall", "seed": 5, "name": "m5"}
EOF
"$BIN" batch --model-dir "$V2W" --manifest "$WORK/jobs3.jsonl" --output-dir "$WORK/serial" 2>"$WORK/err.txt" \
  || bad "batch, one clip at a time: $(tail -2 "$WORK/err.txt")"
"$BIN" batch --model-dir "$V2W" --manifest "$WORK/jobs3.jsonl" --output-dir "$WORK/inflight" --clips-in-flight 3 \
  2>"$WORK/err.txt" || bad "batch, 3 clips in flight: $(tail -2 "$WORK/err.txt")"
cat >"$WORK/layout-pp2.json" <<'EOF'
{"name": "pp2", "ranks": 3, "ar": {"ranks": [0, 1], "tp": 1, "pp": 2},
 "t5": 2, "guardrail": 2, "tokenizer": 2, "decoder": 2}
EOF
run -np 3 "$BIN" batch --model-dir "$V2W" --manifest "$WORK/jobs3.jsonl" --output-dir "$WORK/inflight-pp" \
  --layout "$WORK/layout-pp2.json" 2>"$WORK/err.txt" || bad "batch on pp 2, 2 clips in flight: $(tail -2 "$WORK/err.txt")"
grep -q "2 clips in flight" "$WORK/err.txt" && ok || bad "pp 2 should default to 2 clips in flight"
for i in 1 2 3 4 5; do
  cmp -s "$WORK/serial/m$i.mp4" "$WORK/inflight/m$i.mp4" && cmp -s "$WORK/serial/m$i.mp4" "$WORK/inflight-pp/m$i.mp4" \
    && ok || bad "m$i: clips in flight changed the video"
done

# kill one rank midway, rerun: everything done once, nothing corrupt or left over
K=$WORK/killed
: >"$WORK/jobs2.jsonl"
for i in 1 2 3 4 5 6; do echo "{\"input\": \"$IMG\", \"prompt\": \"clip $i\", \"seed\": $i, \"name\": \"k$i\"}" >>"$WORK/jobs2.jsonl"; done
( run -np 2 "$BIN" batch --model-dir "$V2W" --manifest "$WORK/jobs2.jsonl" --output-dir "$K" 2>"$WORK/kill.txt" ) &
bpid=$!
for _ in $(seq 1 600); do
  [ "$(ls "$K"/*.status.json 2>/dev/null | wc -l)" -ge 2 ] && break
  sleep 0.1
done
# SIGKILL one rank (the last started); mpirun then ends the others
victim=$(pgrep -n -f "cosmos-ar batch --model-dir $V2W --manifest $WORK/jobs2.jsonl")
[ -n "$victim" ] && kill -KILL "$victim"
wait $bpid 2>/dev/null
pkill -KILL -f "cosmos-ar batch --model-dir $V2W --manifest $WORK/jobs2.jsonl" 2>/dev/null # stragglers, if any
n_before=$(ls "$K"/*.mp4 2>/dev/null | wc -l)
run -np 2 "$BIN" batch --model-dir "$V2W" --manifest "$WORK/jobs2.jsonl" --output-dir "$K" 2>"$WORK/kill2.txt" \
  && ok || bad "rerun after a kill failed: $(tail -3 "$WORK/kill2.txt")"
for i in 1 2 3 4 5 6; do
  [ "$(frames_of "$K/k$i.mp4")" = "17 96x64" ] && grep -q '"done"' "$K/k$i.status.json" && ok || bad "k$i not done after the rerun"
done
[ "$(ls "$K" | grep -c '\.mp4$')" = 6 ] && ok || bad "duplicated outputs: $(ls "$K")"
ls "$K" | grep -q tmp && bad "temporary files left: $(ls "$K" | grep tmp)" || ok
echo "kill test: $n_before mp4(s) finished before the kill"

# unwritable output directory
touch "$WORK/file-not-dir"
"$BIN" batch --model-dir "$V2W" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/file-not-dir/out" 2>"$WORK/err.txt" \
  && bad "unwritable output dir accepted" || { grep -q "output directory" "$WORK/err.txt" && ok || bad "output dir message"; }

# CPU threads: ranks that all see every CPU split them (a thread per CPU in each of 4 ranks made
# this job 20x slower); --threads and OMP_NUM_THREADS still choose
n_cpu=$(getconf _NPROCESSORS_ONLN)
want=$((n_cpu / 4 > 0 ? n_cpu / 4 : 1))
env -u OMP_NUM_THREADS timeout 300 "$MPIRUN" --oversubscribe --bind-to none -np 4 "$BIN" generate --model-dir "$BASE" \
  --input "$IMG" --output "$WORK/threads.mp4" >"$WORK/threads.txt" 2>&1 \
  && grep -q "4 ranks share this node's CPUs: $want CPU thread(s) each" "$WORK/threads.txt" && ok \
  || bad "default threads of 4 ranks on $n_cpu CPUs (want $want each): $(grep -i thread "$WORK/threads.txt" | head -2)"
env -u OMP_NUM_THREADS timeout 300 "$MPIRUN" --oversubscribe --bind-to none -np 4 "$BIN" generate --model-dir "$BASE" \
  --input "$IMG" --output "$WORK/threads2.mp4" --threads 1 >"$WORK/threads2.txt" 2>&1 \
  && ! grep -q "CPU thread(s) each" "$WORK/threads2.txt" && ok || bad "--threads given: no default thread split"

finish test_generate
