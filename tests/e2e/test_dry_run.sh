#!/bin/bash
# `cosmos-ar batch --dry-run` (docs/pipeline.md "Batch") on a tiny Video2World model directory with
# a diffusion decoder:
#  - a manifest with items that run (image, 9-frame video, variants), a missing and a corrupt input,
#    no prompt, a bad length, a length the diffusion decoder cannot make, a blocklisted prompt, a
#    line that is not JSON and a duplicate name: the table gives each row its state and the run's
#    reason, exit 2, and nothing is written (the output directory is not even created); under
#    mpirun only the first rank prints it;
#  - the dry run predicts the real run: every item's state and reason equal the status file the
#    real batch then writes, and the tokens equal its tokens_generated; the status files of the
#    items that ran record their prompt, seed (variant v: seed + v) and the run's settings;
#  - after the run the finished items are "done"; a manifest of finished items exits 0, one whose
#    only problem is a blocked prompt exits 3;
#  - with --disable-diffusion-decoder: a 41-frame clip runs (its tokens are the run's), and a 9-frame
#    video input asked for 9 frames fails ("nothing to generate");
#  - --save-tokens: token files equal generate's; an item without its token file is not done;
#  - generate --dry-run: one clip's frames and tokens, nothing written; a missing input fails;
#  - output directories: one whose parent is missing (exit 1) and a file (exit 2);
#  - hostile manifests (random bytes, a 10 MB line, deep nesting, NUL bytes, wrong types, names
#    escaping OUT): a BAD or FAIL row per item, exit 2, no crash;
#  - info DIR --check (before a long job): all files OK here; a truncated file and a NaN weight are
#    named (exit 1); info of T5 and context files.
# Usage: test_dry_run.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "${BASH_SOURCE[0]}")/pipeline_mpi_lib.sh" "$@"
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a robot arm" --seed 9 --output "$WORK/in.mp4" \
  2>"$WORK/err.txt" || { echo "FAIL: input video: $(tail -2 "$WORK/err.txt")"; exit 1; }
printf 'not an image' >"$WORK/broken.png"

cat >"$WORK/jobs.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "ok-image"}
{"input": "$WORK/in.mp4", "prompt": "a blue ball", "seed": 2, "name": "ok-video", "num_input_frames": 9}
{"input": "$WORK/missing.png", "prompt": "a green cone", "name": "missing"}
{"input": "$WORK/broken.png", "prompt": "a cube", "name": "broken"}
{"input": "$IMG", "name": "no-prompt"}
{"input": "$IMG", "prompt": "a wall", "num_frames": 12, "name": "bad-length"}
{"input": "$IMG", "prompt": "a wall", "num_frames": 25, "name": "dd-length"}
{"input": "$IMG", "prompt": "build a bomb", "name": "blocked"}
this is not json
{"input": "$IMG", "prompt": "a red cube", "name": "ok-image"}
{"input": "$IMG", "prompt": "a yellow box", "seed": 5}
EOF
# state of each row: line name state (the table's first three columns)
rows() { awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1, $2, $3}' "$1"; }

"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/out" --dry-run \
  --dry-run-json "$WORK/dry.json" >"$WORK/dry.txt" 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && ok || bad "dry run of a manifest with problems: exit $rc, $(tail -1 "$WORK/err.txt")"
[ ! -e "$WORK/out" ] && ok || bad "the dry run created the output directory"
unnamed=$(awk '$1 == 11 {print $2}' "$WORK/dry.txt")
expect="1 ok-image run
2 ok-video run
3 missing FAIL
4 broken FAIL
5 no-prompt FAIL
6 bad-length FAIL
7 dd-length FAIL
8 blocked BLOCKED
9 - BAD
10 - BAD
11 $unnamed run"
[ "$(rows "$WORK/dry.txt")" = "$expect" ] && ok || bad "dry-run table: $(rows "$WORK/dry.txt" | tr '\n' ';')"
[[ $unnamed == clip-* ]] && ok || bad "the unnamed item's name: '$unnamed'"
grep -q "cannot use the input '$WORK/missing.png'" "$WORK/dry.txt" && grep -q "a Video2World model needs a prompt" "$WORK/dry.txt" \
  && grep -q "12 output frames: the tokenizer makes 1 + 8k frames" "$WORK/dry.txt" \
  && grep -q "the diffusion decoder makes 17-frame clips only (asked for 25 frames)" "$WORK/dry.txt" \
  && grep -q "blocklist: 'bomb'" "$WORK/dry.txt" && grep -q "output name 'ok-image' (also on line 1)" "$WORK/dry.txt" && ok \
  || bad "dry-run reasons: $(cat "$WORK/dry.txt")"
grep -q "dry run of .*: 3 clip(s) would run (.* tokens to generate), 0 already done, 5 would fail, 1 prompt(s) blocked by the blocklist, 2 bad line(s)" \
  "$WORK/dry.txt" && ok || bad "dry-run summary: $(tail -1 "$WORK/dry.txt")"

# --dry-run-json: the same rows and counts for scripts
/usr/bin/python3 - "$WORK/dry.txt" "$WORK/dry.json" <<'EOF' && ok || bad "--dry-run-json is not the table"
import json, sys
table = [l.split()[:5] for l in open(sys.argv[1]).read().splitlines()[1:] if l.split() and l.split()[0].isdigit()]
j = json.load(open(sys.argv[2]))
assert len(j["items"]) == len(table) == 11, (len(j["items"]), len(table))
for t, e in zip(table, j["items"]):
    assert [int(t[0]), t[1], t[2]] == [e["line"], e["name"] or "-", e["state"]], (t, e)
    assert (t[3] == "-") == ("frames" not in e) and (t[4] == "-") == ("tokens" not in e), (t, e)
    assert ("reason" in e) == (e["state"] not in ("run", "done")), e
sm = j["summary"]
assert (sm["run"], sm["done"], sm["fail"], sm["blocked"], sm["bad"]) == (3, 0, 5, 1, 2), sm
assert sm["tokens"] == sum(e.get("tokens", 0) for e in j["items"]) > 0, sm
EOF
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/out" --dry-run-json "$WORK/x.json" \
  >/dev/null 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q -- "--dry-run-json goes with --dry-run" "$WORK/err.txt" && [ ! -e "$WORK/x.json" ] && ok \
  || bad "--dry-run-json without --dry-run: exit $rc"

# under a launcher the first rank does the dry run alone: one table, the same rows, the same exit
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/out" --dry-run \
  >"$WORK/dry-np2.txt" 2>/dev/null
rc=$?
[ $rc = 2 ] && [ "$(grep -c '^dry run of' "$WORK/dry-np2.txt")" = 1 ] && [ "$(rows "$WORK/dry-np2.txt")" = "$expect" ] \
  && [ ! -e "$WORK/out" ] && ok || bad "dry run on 2 ranks: exit $rc, $(grep -c '^dry run of' "$WORK/dry-np2.txt") summaries"

# generate --dry-run: the same check for one clip, its frames and tokens (batch's row for the same
# item), nothing written; a missing input fails it
tok1=$(awk '$1 == 1 {print $5}' "$WORK/dry.txt")
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a red cube" --seed 1 --output "$WORK/g-dry.mp4" --dry-run \
  >"$WORK/g-dry.txt" 2>/dev/null
rc=$?
[ $rc = 0 ] && grep -q "generate would make .*g-dry.mp4, 17 frames, $tok1 tokens to generate" "$WORK/g-dry.txt" \
  && [ ! -e "$WORK/g-dry.mp4" ] && ok || bad "generate --dry-run: exit $rc, $(cat "$WORK/g-dry.txt")"
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a red cube" --output "$WORK/g-dry.mp4" --dry-run \
  --num-frames 41 --disable-diffusion-decoder 2>/dev/null | grep -q "41 frames" && ok || bad "generate --dry-run, 41 frames"
"$BIN" generate --model-dir "$M" --input "$WORK/missing.png" --prompt x --output "$WORK/g-dry.mp4" --dry-run \
  >/dev/null 2>&1
rc=$?
[ $rc = 1 ] && [ ! -e "$WORK/g-dry.mp4" ] && ok || bad "generate --dry-run of a missing input: exit $rc"

# seeds of the whole uint64 range: above 2^63 - 1 a manifest writes them as strings, and the JSON
# reports them so (an integer there is refused with that advice); variants wrap around
cat >"$WORK/seeds.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": "18446744073709551615", "name": "big"}
{"input": "$IMG", "prompt": "a red cube", "seed": 18446744073709551615, "name": "too-big"}
EOF
"$BIN" batch --model-dir "$M" --manifest "$WORK/seeds.jsonl" --output-dir "$WORK/out-seeds" --dry-run --variants 2 \
  --dry-run-json "$WORK/seeds.json" >"$WORK/seeds.txt" 2>/dev/null
grep -q "written as a string" "$WORK/seeds.txt" && /usr/bin/python3 - "$WORK/seeds.json" <<'EOF' && ok || bad "big seeds: $(cat "$WORK/seeds.txt")"
import json, sys
items = json.load(open(sys.argv[1]))["items"]
run = {e["name"]: e["seed"] for e in items if e["state"] == "run"}
assert run == {"big-v0": "18446744073709551615", "big-v1": 0}, items
assert [e["state"] for e in items if e["state"] != "run"] == ["BAD"], items
EOF
head -1 "$WORK/seeds.jsonl" >"$WORK/seed-big.jsonl"
"$BIN" batch --model-dir "$M" --manifest "$WORK/seed-big.jsonl" --output-dir "$WORK/out-seeds" >/dev/null 2>&1 \
  && /usr/bin/python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["seed"] == "18446744073709551615"' \
  "$WORK/out-seeds/big.status.json" && ok || bad "the status of a clip with a seed above 2^63"

# --- the real run: each status file says what the dry run predicted ---
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/out" >/dev/null 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && ok || bad "the real batch: exit $rc (1 expected: failed items)"
python3 - "$WORK/dry.txt" "$WORK/out" <<'EOF' && ok || bad "the dry run does not predict the real run"
import json, os, re, sys
dry, out = sys.argv[1], sys.argv[2]
state_of = {"run": "done", "FAIL": "failed", "BLOCKED": "blocked", "BAD": "failed"}
n = 0
for row in open(dry).read().splitlines()[1:]:
    m = re.match(r"(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$", row)
    if not m:
        continue
    line, name, state, frames, tokens, reason = m.groups()
    path = os.path.join(out, (name if name != "-" else "line-" + line) + ".status.json")
    s = json.load(open(path))
    assert s["status"] == state_of[state], (row, s)
    assert s["line"] == int(line), (row, s)
    if state == "run":
        assert s["tokens_generated"] == int(tokens) and int(tokens) > 0, (row, s)
        assert s["frames"] == int(frames), (row, s)
        # what made the clip (batch_settings_json): the item's prompt and seed, the run's settings
        st = s["settings"]
        assert s["prompt"] and isinstance(s["seed"], int) and s["num_input_frames"] in (1, 9), s
        assert st["engine"].startswith("cosmos-ar ") and st["model"] == "tiny-5b-video2world", st
        assert st["temperature"] == 1.0 and st["top_p"] == 0.7 and st["top_k"] == 0, st
        assert st["guardrail"] is True and st["decoder"] == "diffusion decoder", st
    else:
        assert s["reason"] == reason, (row, s["reason"])
    if name == "ok-image":
        assert s["seed"] == 1, s
    if state in ("FAIL", "BLOCKED"):
        assert "settings" in s and "seed" in s, s  # items that ran record how, failed or not
    if state == "BAD":
        assert "settings" not in s, s
    n += 1
assert n == 11, n
EOF

# --- after the run: finished items are done; a manifest of them alone is clean (exit 0) ---
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/out" --dry-run >"$WORK/dry2.txt" 2>/dev/null
[ "$(rows "$WORK/dry2.txt" | awk '$3 == "done"' | wc -l)" = 3 ] && grep -q ": 0 clip(s) would run (0 tokens to generate), 3 already done" "$WORK/dry2.txt" \
  && ok || bad "dry run after the run: $(tail -1 "$WORK/dry2.txt")"
head -2 "$WORK/jobs.jsonl" >"$WORK/done.jsonl"
ls -l --time-style=full-iso "$WORK/out" >"$WORK/before.txt"
"$BIN" batch --model-dir "$M" --manifest "$WORK/done.jsonl" --output-dir "$WORK/out" --dry-run >"$WORK/dry3.txt" 2>/dev/null
rc=$?
ls -l --time-style=full-iso "$WORK/out" >"$WORK/after.txt"
[ $rc = 0 ] && cmp -s "$WORK/before.txt" "$WORK/after.txt" && ok || bad "dry run of finished items: exit $rc, or files changed"
sed -n 8p "$WORK/jobs.jsonl" >"$WORK/blocked.jsonl"
"$BIN" batch --model-dir "$M" --manifest "$WORK/blocked.jsonl" --output-dir "$WORK/out2" --dry-run >/dev/null 2>&1
rc=$?
[ $rc = 3 ] && [ ! -e "$WORK/out2" ] && ok || bad "dry run of a blocked prompt only: exit $rc"

# --- the DV decoder: other lengths; variants; the 9-frame input that fills a 9-frame clip ---
cat >"$WORK/dv.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "long", "num_frames": 41}
{"input": "$WORK/in.mp4", "prompt": "a blue ball", "name": "full", "num_input_frames": 9, "num_frames": 9}
EOF
"$BIN" batch --model-dir "$M" --manifest "$WORK/dv.jsonl" --output-dir "$WORK/dv" --disable-diffusion-decoder \
  --variants 2 --dry-run >"$WORK/dry4.txt" 2>/dev/null
rc=$?
[ $rc = 2 ] && [ "$(rows "$WORK/dry4.txt" | tr '\n' ';')" = "1 long-v0 run;1 long-v1 run;2 full-v0 FAIL;2 full-v1 FAIL;" ] \
  && grep -q "9 output frames leave nothing to generate after 9 input frames" "$WORK/dry4.txt" && ok \
  || bad "DV decoder dry run: exit $rc, $(cat "$WORK/dry4.txt")"
"$BIN" batch --model-dir "$M" --manifest "$WORK/dv.jsonl" --output-dir "$WORK/dv" --disable-diffusion-decoder \
  --variants 2 >/dev/null 2>&1
tok=$(awk '$2 == "long-v1" {print $5}' "$WORK/dry4.txt")
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['status']=='done' and s['tokens_generated']==int(sys.argv[2]) and s['frames']==41 and s['seed']==2 and s['settings']['decoder']=='DV decoder', s" \
  "$WORK/dv/long-v1.status.json" "$tok" && ok || bad "41-frame clip: tokens not the dry run's $tok"
grep -q "nothing to generate" "$WORK/dv/full-v0.status.json" && ok || bad "the real run of the full clip"

# --- --save-tokens: NAME.tokens.txt beside each clip, generate's --save-tokens byte for byte; an item
# is done only with its token file, so a rerun with the flag makes the missing ones (dry run: "run") ---
head -2 "$WORK/jobs.jsonl" >"$WORK/tok.jsonl"
"$BIN" batch --model-dir "$M" --manifest "$WORK/tok.jsonl" --output-dir "$WORK/tok" 2>/dev/null || bad "batch without tokens"
"$BIN" batch --model-dir "$M" --manifest "$WORK/tok.jsonl" --output-dir "$WORK/tok" --save-tokens --dry-run \
  >"$WORK/dry-tok.txt" 2>/dev/null
[ "$(rows "$WORK/dry-tok.txt" | tr '\n' ';')" = "1 ok-image run;2 ok-video run;" ] && ok \
  || bad "dry run with --save-tokens over clips without tokens: $(rows "$WORK/dry-tok.txt" | tr '\n' ';')"
"$BIN" batch --model-dir "$M" --manifest "$WORK/tok.jsonl" --output-dir "$WORK/tok" --save-tokens 2>/dev/null \
  || bad "batch --save-tokens"
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a red cube" --seed 1 --output "$WORK/tok-g.mp4" \
  --save-tokens "$WORK/tok-g.tokens.txt" 2>/dev/null || bad "generate --save-tokens"
cmp -s "$WORK/tok-g.tokens.txt" "$WORK/tok/ok-image.tokens.txt" && cmp -s "$WORK/tok-g.mp4" "$WORK/tok/ok-image.mp4" \
  && [ -s "$WORK/tok/ok-video.tokens.txt" ] && [ -z "$(ls -A "$WORK/tok" | grep tmp)" ] && ok \
  || bad "batch --save-tokens: not generate's tokens, or files missing: $(ls "$WORK/tok")"
"$BIN" batch --model-dir "$M" --manifest "$WORK/tok.jsonl" --output-dir "$WORK/tok" --save-tokens --dry-run \
  >"$WORK/dry-tok.txt" 2>/dev/null && [ "$(rows "$WORK/dry-tok.txt" | awk '{print $3}' | tr '\n' ' ')" = "done done " ] \
  && ok || bad "after batch --save-tokens the items are not done"

# --- hostile manifests (random bytes, a 10 MB line, 100000 nested brackets, a NUL byte, wrong
# types, names that try to leave OUT): a BAD or FAIL row per item with a reason, exit 2, no crash ---
/usr/bin/python3 - "$WORK/fz" "$IMG" <<'EOF'
import json, os, random, sys
out, img = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
random.seed(5)
open(os.path.join(out, "1.jsonl"), "wb").write(bytes(random.getrandbits(8) for _ in range(20000)))
open(os.path.join(out, "2.jsonl"), "w").write('{"input": "' + "a" * 10_000_000 + '", "prompt": "x"}\n')
open(os.path.join(out, "3.jsonl"), "w").write("[" * 100000 + "]" * 100000 + "\n")
open(os.path.join(out, "4.jsonl"), "wb").write(b'{"input": "' + img.encode() + b'", "prompt": "a\x00b"}\n')
with open(os.path.join(out, "5.jsonl"), "w") as f:
    for e in ({"input": img, "prompt": "x" * 100000, "name": "n" * 500},
              {"input": img, "prompt": "ok", "seed": -5, "num_frames": 1e30, "num_input_frames": "9"},
              {"input": 123, "prompt": ["a"]}, {"input": "../../etc/passwd", "prompt": "x", "name": "../../evil"}):
        f.write(json.dumps(e) + "\n")
EOF
for k in 1 2 3 4 5; do
  timeout 120 "$BIN" batch --model-dir "$M" --manifest "$WORK/fz/$k.jsonl" --output-dir "$WORK/fz/out" --dry-run \
    >"$WORK/fz/$k.out" 2>"$WORK/fz/$k.err"
  rc=$?
  [ $rc = 2 ] && grep -q "^dry run of " "$WORK/fz/$k.out" && [ "$(rows "$WORK/fz/$k.out" | grep -cv ' run$')" -ge 1 ] \
    && [ ! -e "$WORK/fz/out" ] && ok || bad "hostile manifest $k: exit $rc, $(tail -1 "$WORK/fz/$k.err")"
done

# --- info DIR --check: every file strictly, its values, and the files together; a truncated file
# and a NaN weight are found and named; T5 and context files are described too ---
"$BIN" info "$M" --check >"$WORK/check.txt" 2>"$WORK/err.txt"
rc=$?
[ $rc = 0 ] && grep -q "check of .*: 8 file(s), all OK" "$WORK/check.txt" \
  && [ "$(grep -c '^values  *all finite' "$WORK/check.txt")" = 8 ] && grep -q "^consistent " "$WORK/check.txt" \
  && grep -q "^model_type  *t5 " "$WORK/check.txt" && ok || bad "info --check of a sound directory: exit $rc, $(tail -2 "$WORK/check.txt")"
cp -r "$M" "$WORK/m-trunc" && truncate -s 4096 "$WORK/m-trunc/dd.h5"
"$BIN" info "$WORK/m-trunc" --check >"$WORK/check.txt" 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && grep -q "FAILED: diffusion_decoder$" "$WORK/check.txt" && grep -q "damaged or truncated" "$WORK/err.txt" && ok \
  || bad "info --check of a truncated dd.h5: exit $rc, $(tail -1 "$WORK/check.txt")"
cp -r "$M" "$WORK/m-nan" && /usr/bin/python3 "$SRC/tests/e2e/poison_weight.py" "$WORK/m-nan/ar.h5" layers.1.ffn_norm.weight
"$BIN" info "$WORK/m-nan" --check >"$WORK/check.txt" 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && grep -q "FAILED: ar$" "$WORK/check.txt" \
  && grep -q "1 non-finite value(s) (NaN or Inf), the first in tensor 'layers.1.ffn_norm.weight'" "$WORK/err.txt" && ok \
  || bad "info --check of a NaN weight: exit $rc, $(grep ERROR "$WORK/err.txt" | head -1)"
"$BIN" info "$M/ar.h5" --check >/dev/null 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q -- "--check checks a model directory" "$WORK/err.txt" && ok || bad "info FILE --check: exit $rc"
"$BIN" info "$SRC/tests/data/tiny-ar-13b-video2world.context.h5" >"$WORK/ctx.txt" 2>&1 \
  && grep -q "^context  *float32 \[16, 64\]" "$WORK/ctx.txt" && ok || bad "info of a context file: $(tail -1 "$WORK/ctx.txt")"

# --- output directories ---
"$BIN" batch --model-dir "$M" --manifest "$WORK/done.jsonl" --output-dir "$WORK/nope/out" --dry-run >/dev/null 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && grep -q "does not exist and cannot be created in '$WORK/nope'" "$WORK/err.txt" && [ ! -e "$WORK/nope" ] && ok \
  || bad "dry run into a missing parent: exit $rc, $(tail -1 "$WORK/err.txt")"
"$BIN" batch --model-dir "$M" --manifest "$WORK/done.jsonl" --output-dir "$WORK/broken.png" --dry-run >/dev/null 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "is not a directory" "$WORK/err.txt" && ok || bad "dry run into a file: exit $rc, $(tail -1 "$WORK/err.txt")"

finish test_dry_run
