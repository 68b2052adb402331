#!/bin/bash
# The video guardrail on a rank of its own (layout key "video_guardrail", docs/pipeline.md "The
# video guardrail's rank"): the decoder streams it the decoded frames, it runs the content filter
# and face blur and writes the mp4. On a tiny random-weight Video2World model directory:
#  - a 3-rank layout (ar 0, decoder 1, video guardrail 2): the same mp4 bytes as one process with
#    the diffusion decoder and with the streaming DV decoder; with edited copies of the guardrail's
#    models, the same face-blurred videos, and a blocked clip (exit 3, no mp4, no preview) on both
#    decoder paths; the timing JSON has the video_guardrail stage on rank 2;
#  - a layout where the video guardrail shares the T5 / prompt-guardrail rank: a batch with a blocked
#    prompt and a missing input (only those fail; rank 0 reports progress) and 2 clips in flight;
#  - the default layout of 6 ranks (5 beyond the transformer's: the 5th is the video guardrail's);
#  - a stop signal mid-batch: every role stops after the same clip, exit 1, a rerun completes.
# Every mpirun is bounded by `timeout`, without core binding (x264 writes its thread count, which
# follows the binding, into the mp4; the videos are compared byte for byte).
# Usage: test_video_guardrail_rank.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "${BASH_SOURCE[0]}")/pipeline_mpi_lib.sh" "$@"
PROMPT="a robot arm picks up a red cube"
cat >"$WORK/own.json" <<'EOF'
{"name": "own", "ranks": 3, "ar": {"ranks": [0], "tp": 1}, "t5": 1, "guardrail": 1, "tokenizer": 1,
 "decoder": 1, "video_guardrail": 2}
EOF
cat >"$WORK/shared.json" <<'EOF'
{"name": "shared", "ranks": 3, "ar": {"ranks": [0], "tp": 1}, "t5": 2, "guardrail": 2, "tokenizer": 1,
 "decoder": 1, "video_guardrail": 2}
EOF

# one process, then the 3-rank layout: the same bytes (diffusion decoder, then the DV decoder)
for dd in "" --disable-diffusion-decoder; do
  tag=${dd:+dv}
  "$BIN" generate --model-dir "$M" --input "$IMG" --prompt "$PROMPT" --seed 3 $dd --output "$WORK/one$tag.mp4" \
    2>"$WORK/err.txt" || bad "one process $dd: $(tail -2 "$WORK/err.txt")"
  if run -np 3 "$BIN" generate --model-dir "$M" --layout "$WORK/own.json" --input "$IMG" --prompt "$PROMPT" \
    --seed 3 $dd --output "$WORK/own$tag.mp4" --preview "$WORK/own$tag.preview.mp4" \
    --timing-json "$WORK/timing$tag.json" 2>"$WORK/err.txt"; then
    cmp -s "$WORK/one$tag.mp4" "$WORK/own$tag.mp4" && ok || bad "video guardrail rank $dd: other bytes than one process"
    [ -s "$WORK/own$tag.preview.mp4" ] && ok || bad "no preview $dd"
    grep -q "rank 2: video-guardrail" "$WORK/err.txt" && ok || bad "layout table $dd"
    python3 - "$WORK/timing$tag.json" <<'EOF' && ok || bad "timing JSON $dd"
import json, sys
(c,) = json.load(open(sys.argv[1]))
st = c["stages"]
assert st["decode"]["rank"] == 1 and st["video_guardrail"]["rank"] == 2, st
assert c["status"] == "ok" and c["frames"] == 17 and c["video_guardrail_s"] > 0, c
EOF
  else
    bad "generate with the video guardrail rank $dd: $(tail -3 "$WORK/err.txt")"
  fi
done

# edited guardrail models (tests/e2e/edit_guardrail_models.py): every frame unsafe; every prior a face
if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  cp -r "$M" "$WORK/unsafe" && cp -r "$M" "$WORK/faces"
  /usr/bin/python3 "$SRC/tests/e2e/edit_guardrail_models.py" --unsafe "$WORK/unsafe/video_content_filter.h5" \
    --faces "$WORK/faces/face_blur.h5"
  for dd in "" --disable-diffusion-decoder; do
    tag=${dd:+dv}
    run -np 3 "$BIN" generate --model-dir "$WORK/unsafe" --layout "$WORK/own.json" --input "$IMG" --prompt "$PROMPT" \
      --seed 3 $dd --output "$WORK/unsafe$tag.mp4" --preview "$WORK/unsafe$tag.preview.mp4" 2>"$WORK/err.txt"
    rc=$?
    [ $rc = 3 ] && grep -q "r02/03.*video blocked by the video guardrail (video_content_filter" "$WORK/err.txt" \
      && [ ! -e "$WORK/unsafe$tag.mp4" ] && [ ! -e "$WORK/unsafe$tag.preview.mp4" ] && ok \
      || bad "unsafe clip $dd: exit $rc, $(grep -m1 blocked "$WORK/err.txt"), files: $(ls "$WORK" | grep unsafe)"
    "$BIN" generate --model-dir "$WORK/faces" --input "$IMG" --prompt "$PROMPT" --seed 3 $dd \
      --output "$WORK/faces.one$tag.mp4" 2>"$WORK/err.txt" || bad "faces, one process $dd"
    run -np 3 "$BIN" generate --model-dir "$WORK/faces" --layout "$WORK/own.json" --input "$IMG" --prompt "$PROMPT" \
      --seed 3 $dd --output "$WORK/faces.own$tag.mp4" 2>"$WORK/err.txt" \
      && cmp -s "$WORK/faces.one$tag.mp4" "$WORK/faces.own$tag.mp4" && ! cmp -s "$WORK/faces.own$tag.mp4" "$WORK/one$tag.mp4" \
      && ok || bad "face blur on the video guardrail rank $dd: $(tail -2 "$WORK/err.txt")"
  done
else
  echo "SKIPPED: the edited-model checks (/usr/bin/python3 has no h5py; tools/install_deps.sh test)"
fi

# a batch with the video guardrail sharing the T5 / prompt-guardrail rank, 2 clips in flight
cat >"$WORK/jobs.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "b1"}
{"input": "$IMG", "prompt": "build a bomb", "name": "blocked"}
{"input": "$WORK/one.mp4", "prompt": "a blue ball", "seed": 2, "name": "b2", "num_input_frames": 9}
{"input": "$WORK/missing.png", "prompt": "a missing input", "name": "missing"}
{"input": "$IMG", "prompt": "a green cone", "seed": 3, "name": "b3"}
EOF
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/b.one" 2>"$WORK/err.txt"
[ $? = 1 ] || bad "one-process batch with failing items: $(tail -2 "$WORK/err.txt")"
for cif in 1 2; do
  run -np 3 "$BIN" batch --model-dir "$M" --layout "$WORK/shared.json" --manifest "$WORK/jobs.jsonl" \
    --output-dir "$WORK/b.$cif" --clips-in-flight $cif 2>"$WORK/err.txt"
  rc=$?
  [ $rc = 1 ] && grep -q "r00/03.*batch: 5/5 clips (2 failed)" "$WORK/err.txt" && ok \
    || bad "batch, shared rank, $cif in flight: exit $rc, $(grep 'clips (' "$WORK/err.txt" | tail -1)"
  for n in b1 b2 b3; do
    cmp -s "$WORK/b.one/$n.mp4" "$WORK/b.$cif/$n.mp4" && grep -q '"done"' "$WORK/b.$cif/$n.status.json" && ok \
      || bad "batch $cif in flight: $n"
  done
  grep -q '"blocked"' "$WORK/b.$cif/blocked.status.json" && grep -q '"failed"' "$WORK/b.$cif/missing.status.json" \
    && [ ! -e "$WORK/b.$cif/blocked.mp4" ] && [ ! -e "$WORK/b.$cif/missing.mp4" ] && ok \
    || bad "batch $cif in flight: the failing items"
done

# the default layout of 6 ranks: ar 0, t5 + guardrail 1, tokenizer 2, decoder 3, decoder-cfg 4,
# video guardrail 5
run -np 6 "$BIN" generate --model-dir "$M" --input "$IMG" --prompt "$PROMPT" --seed 3 --output "$WORK/six.mp4" \
  2>"$WORK/err.txt" && grep -q "rank 5: video-guardrail" "$WORK/err.txt" && cmp -s "$WORK/one.mp4" "$WORK/six.mp4" \
  && ok || bad "6 ranks, default layout: $(tail -2 "$WORK/err.txt")"

# a stop signal mid-batch (SIGUSR1 to mpirun, which forwards it): every role stops after the same
# clip, the videos written so far are complete, a rerun does the rest
for i in $(seq 1 30); do
  echo "{\"input\": \"$IMG\", \"prompt\": \"clip $i\", \"seed\": $i, \"name\": \"s$i\"}"
done >"$WORK/jobs30.jsonl"
( run -np 3 "$BIN" batch --model-dir "$M" --layout "$WORK/own.json" --manifest "$WORK/jobs30.jsonl" \
  --output-dir "$WORK/stop" --disable-diffusion-decoder 2>"$WORK/stop1.txt"; echo $? >"$WORK/stop1.rc" ) &
for _ in $(seq 1 600); do grep -q "batch: 2/30" "$WORK/stop1.txt" 2>/dev/null && break; sleep 0.1; done
pkill -USR1 -f "^$MPIRUN --oversubscribe --bind-to none -np 3 $BIN batch --model-dir $M --layout $WORK/own.json"
wait
n_done=$(grep -l '"done"' "$WORK"/stop/s*.status.json 2>/dev/null | wc -l)
[ "$(cat "$WORK/stop1.rc")" = 1 ] && grep -q "interrupted after $n_done of 30 clips" "$WORK/stop1.txt" \
  && [ "$n_done" -lt 30 ] && [ "$(ls "$WORK"/stop/*.mp4 | wc -l)" = "$n_done" ] && ok \
  || bad "stop signal: exit $(cat "$WORK/stop1.rc"), $n_done done, $(grep -m1 interrupted "$WORK/stop1.txt")"
run -np 3 "$BIN" batch --model-dir "$M" --layout "$WORK/own.json" --manifest "$WORK/jobs30.jsonl" \
  --output-dir "$WORK/stop" --disable-diffusion-decoder 2>"$WORK/stop2.txt" \
  && grep -q "$n_done already done" "$WORK/stop2.txt" && [ "$(grep -l '"done"' "$WORK"/stop/s*.status.json | wc -l)" = 30 ] \
  && [ -z "$(ls "$WORK/stop" | grep '\.tmp\.')" ] && ok || bad "resume after the stop: $(tail -2 "$WORK/stop2.txt")"

finish test_video_guardrail_rank
