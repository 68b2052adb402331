#!/usr/bin/env bash
# `cosmos-ar guardrail` (launcher/cmd_guardrail.c; docs/guardrail.md) on a tiny random model
# directory: a safe prompt (exit 0, "safe", --json), a blocklisted one (exit 3, the check and entry),
# the Aegis check alone; a safe video (exit 0, --output written with every frame), a content filter
# edited to always say Violence (exit 3, no output), a detector edited to see faces everywhere (the
# output differs from the input); bad requests (no input, both inputs, --output with a prompt, a
# video check on a prompt, an unknown check, a missing file) exit non-zero and write nothing.
# Usage: test_guardrail_cli.sh COSMOS_AR SOURCE_DIR WORK_DIR
set -u
BIN=$1
SRC=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
export OMP_NUM_THREADS=1
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
frames_of() { "$BIN" info "$1" 2>/dev/null | awk '/^media/ {print $3 " " $6}'; }

M=$WORK/model
"$BIN" init --config "$SRC/configs/pipelines/tiny-5b-video2world.json" --seed 1 --out "$M" 2>"$WORK/err.txt" \
  || { echo "FAIL: init: $(tail -2 "$WORK/err.txt")"; exit 1; }

# --- prompts ---
out=$("$BIN" guardrail --model-dir "$M" --prompt "a robot arm picks up a red cube" --json "$WORK/p.json" 2>"$WORK/err.txt")
rc=$?
[ $rc = 0 ] && [ "$out" = "safe" ] && grep -q '"safe": true' "$WORK/p.json" && grep -q '"checks_run": 2' "$WORK/p.json" \
  && ok || bad "safe prompt: exit $rc, '$out', $(tail -1 "$WORK/err.txt")"
out=$("$BIN" guardrail --model-dir "$M" --prompt "how to build a bomb" --json "$WORK/b.json" 2>"$WORK/err.txt")
rc=$?
[ $rc = 3 ] && [ "${out#unsafe blocklist: }" != "$out" ] && grep -q '"check": "blocklist"' "$WORK/b.json" && ok \
  || bad "blocked prompt: exit $rc, '$out'"
out=$("$BIN" guardrail --model-dir "$M" --prompt "how to build a bomb" --checks aegis 2>"$WORK/err.txt")
rc=$?
[ $rc = 0 ] && [ "$out" = "safe" ] && ok || bad "aegis alone (a random model answers nothing): exit $rc, '$out'"

# --- videos ---
"$BIN" generate --model-dir "$M" --input "$SRC/tests/data/media-tiny.png" --prompt "a red cube" --seed 3 \
  --output "$WORK/v.mp4" --disable-guardrail 2>"$WORK/err.txt" || bad "generate: $(tail -2 "$WORK/err.txt")"
out=$("$BIN" guardrail --model-dir "$M" --input "$WORK/v.mp4" --output "$WORK/g.mp4" --json "$WORK/v.json" 2>"$WORK/err.txt")
rc=$?
[ $rc = 0 ] && [ "$out" = "safe" ] && [ "$(frames_of "$WORK/g.mp4")" = "17 96x64" ] && grep -q '"frames": 17' "$WORK/v.json" \
  && ok || bad "safe video: exit $rc, '$out', $(tail -1 "$WORK/err.txt")"
if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  cp -r "$M" "$WORK/edited"
  /usr/bin/python3 "$SRC/tests/e2e/edit_guardrail_models.py" --unsafe "$WORK/edited/video_content_filter.h5" \
    --faces "$WORK/edited/face_blur.h5"
  out=$("$BIN" guardrail --model-dir "$WORK/edited" --input "$WORK/v.mp4" --output "$WORK/u.mp4" 2>"$WORK/err.txt")
  rc=$?
  [ $rc = 3 ] && [ "${out#unsafe video_content_filter: frame 0: Violence}" != "$out" ] && [ ! -e "$WORK/u.mp4" ] && ok \
    || bad "unsafe video: exit $rc, '$out'"
  out=$("$BIN" guardrail --model-dir "$WORK/edited" --checks face_blur --input "$WORK/v.mp4" --output "$WORK/f.mp4" \
    2>"$WORK/err.txt")
  rc=$?
  [ $rc = 0 ] && [ "$(frames_of "$WORK/f.mp4")" = "17 96x64" ] && ! cmp -s "$WORK/f.mp4" "$WORK/g.mp4" && ok \
    || bad "face blur did not change the frames: exit $rc, '$out'"
else
  echo "SKIPPED: the edited-model checks (/usr/bin/python3 has no h5py; tools/install_deps.sh test)"
fi

# --- bad requests: non-zero, nothing written ---
expect_fail() { # what, then the command
  local what=$1
  shift
  "$@" >/dev/null 2>"$WORK/err.txt" && bad "$what: accepted" || ok
}
expect_fail "no input" "$BIN" guardrail --model-dir "$M"
expect_fail "both inputs" "$BIN" guardrail --model-dir "$M" --prompt x --input "$WORK/v.mp4"
expect_fail "--output with a prompt" "$BIN" guardrail --model-dir "$M" --prompt x --output "$WORK/x.mp4"
expect_fail "a video check on a prompt" "$BIN" guardrail --model-dir "$M" --prompt x --checks face_blur
grep -q "does not look at a prompt" "$WORK/err.txt" && ok || bad "video-check message: $(tail -2 "$WORK/err.txt")"
expect_fail "unknown check" "$BIN" guardrail --model-dir "$M" --prompt x --checks blocklst
grep -q "unknown check 'blocklst'" "$WORK/err.txt" && ok || bad "unknown-check message"
expect_fail "no weights" "$BIN" guardrail --prompt x
grep -q "aegis_weights" "$WORK/err.txt" && ok || bad "no-weights message: $(tail -2 "$WORK/err.txt")"
expect_fail "missing video" "$BIN" guardrail --model-dir "$M" --input "$WORK/missing.mp4" --output "$WORK/x.mp4"
grep -q "missing.mp4" "$WORK/err.txt" && ok || bad "missing-video message"
[ ! -e "$WORK/x.mp4" ] && ok || bad "a refused request wrote an output"

echo "test_guardrail_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
