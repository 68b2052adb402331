#!/bin/bash
# Memory planning before a run (`cosmos-ar info DIR --ranks N ... --json`, docs/pipeline.md
# "Memory") against the memory a run measures (`generate` / `batch --memory-json`) on a tiny
# Video2World model directory:
#  - on 1, 2 and 4 ranks (default layouts), tp 2 x pp 2, and 3 clips in flight: every rank's roles
#    and the transformer's weights, KV cache and other buffers are the run's, byte for byte;
#  - --pp-layers 3,1 on a 4-layer model: one process's video, stage 0 holds the larger share, the
#    plan is the run's; a split that does not sum to the layers, or one for another stage count,
#    is refused;
#  - where the other models go: every file on the host with the CPU backend; the diffusion
#    decoder's DiT and Aegis on the device with --backend cuda (planned without a GPU); the
#    guardrail's and the diffusion decoder's files left out with --disable-guardrail and
#    --disable-diffusion-decoder;
#  - a model config alone (--config, the transformer only): the model directory's transformer
#    columns; the official 5B-Video2World with tp 8 on CUDA: an eighth of the KV cache per rank;
#  - --memory GB: the 13B-Video2World transformer does not fit one 24 GB GPU (exit 1, the rank and
#    its need named) and fits two at tp 2;
#  - bad requests: a layout the ranks cannot hold, a file instead of a directory, --layout with
#    --tp, an unknown backend, planning options without --ranks: exit 2, the problem named.
# Usage: test_memory_plan.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "${BASH_SOURCE[0]}")/pipeline_mpi_lib.sh" "$@"

# same_ar PLAN MEASURED WHAT: the roles and the three ar fields of every rank agree exactly
same_ar() {
  python3 - "$1" "$2" <<'EOF' && ok || bad "$3: the plan is not the run's memory"
import json, sys
plan, got = json.load(open(sys.argv[1]))["rows"], json.load(open(sys.argv[2]))["rows"]
assert len(plan) == len(got), (len(plan), len(got))
for p, g in zip(plan, got):
    for k in ("rank", "roles", "ar_weights", "ar_kv", "ar_other"):
        assert p[k] == g[k], (k, p, g)
assert any(g["ar_weights"] > 0 and g["ar_kv"] > 0 and g["ar_other"] > 0 for g in got), got
EOF
}

for np in 1 2 4; do
  "$BIN" info "$M" --ranks $np --json "$WORK/plan$np.json" >"$WORK/plan$np.txt" 2>"$WORK/err.txt" \
    || bad "info --ranks $np: $(tail -1 "$WORK/err.txt")"
  if [ $np = 1 ]; then
    "$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a red cube" --output "$WORK/g$np.mp4" \
      --memory-json "$WORK/mem$np.json" 2>"$WORK/err.txt" || bad "generate on 1 rank: $(tail -1 "$WORK/err.txt")"
  else
    run -np $np "$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a red cube" --output "$WORK/g$np.mp4" \
      --memory-json "$WORK/mem$np.json" 2>"$WORK/err.txt" || bad "generate on $np ranks: $(tail -1 "$WORK/err.txt")"
  fi
  same_ar "$WORK/plan$np.json" "$WORK/mem$np.json" "$np rank(s)"
done
grep -q "^memory plan: 4 rank(s), backend cpu, 1 clip(s) in flight" "$WORK/plan4.txt" && ok \
  || bad "the plan's heading: $(grep 'memory plan' "$WORK/plan4.txt")"

# tp 2 x pp 2 with 3 clips in flight (batch: the KV cache holds 3 sequences)
cat >"$WORK/jobs.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "a"}
{"input": "$IMG", "prompt": "a blue ball", "seed": 2, "name": "b"}
{"input": "$IMG", "prompt": "a green cone", "seed": 3, "name": "c"}
EOF
"$BIN" info "$M" --ranks 4 --tp 2 --pp 2 --clips-in-flight 3 --json "$WORK/plan22.json" >/dev/null 2>"$WORK/err.txt" \
  || bad "info --tp 2 --pp 2: $(tail -1 "$WORK/err.txt")"
run -np 4 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/b22" --tp 2 --pp 2 \
  --clips-in-flight 3 --memory-json "$WORK/mem22.json" 2>"$WORK/err.txt" || bad "batch tp 2 pp 2: $(tail -1 "$WORK/err.txt")"
same_ar "$WORK/plan22.json" "$WORK/mem22.json" "tp 2 x pp 2, 3 clips in flight"
python3 - "$WORK/plan22.json" "$WORK/plan4.json" <<'EOF' && ok || bad "3 clips in flight: not 3 KV caches of a quarter of the model"
import json, sys
p22, p4 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert p22["clips_in_flight"] == 3
# 4 default ranks: tp 2 (whole layers); tp 2 x pp 2: half the layers each, 3 sequences
kv1 = p4["rows"][0]["ar_kv"]
assert all(r["ar_kv"] * 2 == 3 * kv1 for r in p22["rows"]), ([r["ar_kv"] for r in p22["rows"]], kv1)
EOF

# --pp-layers: uneven pipeline stages on a 4-layer model: the video is one process's, the stage with
# 3 layers holds more weights, and the plan says so byte for byte
python3 - "$SRC" "$WORK/p4" <<'EOF'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
ar = json.load(open(os.path.join(src, "configs/models/tiny-ar-5b-video2world.json")))
ar["n_layers"], ar["name"] = 4, "tiny-ar-5b-video2world-4l"
json.dump(ar, open(os.path.join(out, "ar4.json"), "w"))
p = json.load(open(os.path.join(src, "configs/pipelines/tiny-5b-video2world.json")))
for k, v in p.items():
    if isinstance(v, str) and v.startswith("../models/"):
        p[k] = os.path.join(src, "configs/models", v[len("../models/"):])
p["ar"], p["name"] = os.path.join(out, "ar4.json"), "tiny-5b-4-layers"
json.dump(p, open(os.path.join(out, "pipe.json"), "w"))
EOF
"$BIN" init --config "$WORK/p4/pipe.json" --seed 1 --out "$WORK/p4/model" 2>"$WORK/err.txt" || bad "init 4 layers: $(tail -1 "$WORK/err.txt")"
M4=$WORK/p4/model
"$BIN" generate --model-dir "$M4" --input "$IMG" --prompt "a cube" --output "$WORK/p4/one.mp4" 2>/dev/null || bad "4 layers, 1 process"
"$BIN" info "$M4" --ranks 3 --tp 1 --pp 2 --pp-layers 3,1 --json "$WORK/p4/plan.json" >/dev/null 2>"$WORK/err.txt" \
  || bad "info --pp-layers 3,1: $(tail -1 "$WORK/err.txt")"
run -np 3 "$BIN" generate --model-dir "$M4" --input "$IMG" --prompt "a cube" --output "$WORK/p4/pp.mp4" --tp 1 --pp 2 \
  --pp-layers 3,1 --memory-json "$WORK/p4/mem.json" 2>"$WORK/err.txt" || bad "generate --pp-layers 3,1: $(tail -1 "$WORK/err.txt")"
cmp -s "$WORK/p4/one.mp4" "$WORK/p4/pp.mp4" && ok || bad "--pp-layers 3,1: not one process's video"
same_ar "$WORK/p4/plan.json" "$WORK/p4/mem.json" "--pp-layers 3,1"
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['rows']; assert r[0]['ar_weights'] > 2 * r[1]['ar_weights'] > 0, r" \
  "$WORK/p4/mem.json" && ok || bad "--pp-layers 3,1: stage 0 does not hold the larger share"
run -np 3 "$BIN" generate --model-dir "$M4" --input "$IMG" --prompt "a cube" --output "$WORK/p4/bad.mp4" --tp 1 --pp 2 \
  --pp-layers 2,1 2>"$WORK/err.txt"
rc=$?
[ $rc != 0 ] && grep -q "stage layers sum to 3, but model 'tiny-ar-5b-video2world-4l' has 4 layers" "$WORK/err.txt" \
  && [ ! -e "$WORK/p4/bad.mp4" ] && ok || bad "--pp-layers 2,1 on 4 layers: exit $rc, $(grep ERROR "$WORK/err.txt" | head -1)"
"$BIN" generate --model-dir "$M4" --input "$IMG" --prompt "a cube" --output "$WORK/p4/bad.mp4" --pp-layers 3,1 \
  2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q -- "--pp-layers gives 2 stages, --pp is 1" "$WORK/err.txt" && ok \
  || bad "--pp-layers on one stage: exit $rc, $(grep ERROR "$WORK/err.txt" | head -1)"

# where the other models go
python3 - "$M" "$WORK/plan1.json" <<'EOF' && ok || bad "1 rank, CPU: the other models on the host"
import json, os, sys
d, plan = sys.argv[1], json.load(open(sys.argv[2]))
man = json.load(open(os.path.join(d, "cosmos-model.json")))
size = lambda k: os.path.getsize(os.path.join(d, man[k]))
files = ["t5", "tokenizer", "diffusion_decoder", "cv_tokenizer", "aegis", "video_content_filter", "face_blur"]
r = plan["rows"][0]
# T5 counts its weights as loaded (cosmos_t5_weight_bytes; tests/unit/test_t5.c checks the bytes):
# on the CPU the stored bf16 tensors, the file less its SentencePiece model and HDF5 overhead
t5 = r["models_host"] - sum(size(k) for k in files if k != "t5")
assert 0.3 * size("t5") < t5 < size("t5") and r["models_device"] == 0, (r, [size(k) for k in files])
EOF
"$BIN" info "$M" --ranks 2 --backend cuda --json "$WORK/plan-cuda.json" >"$WORK/plan-cuda.txt" 2>"$WORK/err.txt" \
  || bad "info --backend cuda: $(tail -1 "$WORK/err.txt")"
"$BIN" info "$M" --ranks 2 --backend cuda --t5-on-cpu --json "$WORK/plan-t5cpu.json" >/dev/null 2>"$WORK/err.txt" \
  || bad "info --backend cuda --t5-on-cpu: $(tail -1 "$WORK/err.txt")"
"$BIN" info "$M" --ranks 2 --disable-guardrail --disable-diffusion-decoder --json "$WORK/plan-off.json" >/dev/null \
  2>"$WORK/err.txt" || bad "info --disable-*: $(tail -1 "$WORK/err.txt")"
python3 - "$M" "$WORK/plan-cuda.json" "$WORK/plan2.json" "$WORK/plan-off.json" "$WORK/plan-t5cpu.json" <<'EOF' && ok || bad "models on the device / left out"
import json, os, sys
d = sys.argv[1]
cuda, cpu, off, t5cpu = (json.load(open(p)) for p in sys.argv[2:6])
man = json.load(open(os.path.join(d, "cosmos-model.json")))
size = lambda k: os.path.getsize(os.path.join(d, man[k]))
# rank 1: everything else, its DiT, Aegis, T5, the video guardrail's SigLIP and RetinaFace and
# (beside them) the tokenizers on the device; T5's bf16 matmul weights widened to f32 there
r0, r1 = cuda["rows"][0], cuda["rows"][1]
assert r0["models_device"] == 0 and r0["models_host"] == 0, r0
t5_dev = r1["models_device"] - (size("diffusion_decoder") + size("aegis") + size("cv_tokenizer") + size("tokenizer") +
                                size("video_content_filter") + size("face_blur"))
t5_host = cpu["rows"][1]["models_host"] - (size("diffusion_decoder") + size("aegis") + size("cv_tokenizer") +
                                            size("tokenizer") + size("video_content_filter") + size("face_blur"))
assert 0 < t5_host < t5_dev < 2 * t5_host, (t5_host, t5_dev, r1, cpu["rows"][1])
assert r1["models_host"] == 0, r1
# bf16 activations on CUDA: the KV cache is half the CPU's f32 one
assert r0["ar_kv"] * 2 == cpu["rows"][0]["ar_kv"] and r0["ar_weights"] == cpu["rows"][0]["ar_weights"], (r0, cpu["rows"][0])
assert off["rows"][1]["models_host"] == t5_host + size("tokenizer"), off["rows"][1]
# --t5-on-cpu: T5's stored weights on the host, the rest on the device as before
t = t5cpu["rows"][1]
assert t["models_host"] == t5_host, t
assert t["models_device"] == r1["models_device"] - t5_dev, (t, r1)
EOF
grep -q "device total" "$WORK/plan-cuda.txt" && ok || bad "no device column with --backend cuda"

# a model config alone (no weights): the transformer's columns of the model directory's plan; the
# official 5B-Video2World on 8 GPUs with tp 8 has an eighth of the KV cache of one GPU per rank
"$BIN" info --config "$SRC/configs/models/tiny-ar-5b-video2world.json" --ranks 4 --tp 2 --pp 2 --clips-in-flight 3 \
  --json "$WORK/plan-cfg.json" >"$WORK/plan-cfg.txt" 2>"$WORK/err.txt" || bad "info --config: $(tail -1 "$WORK/err.txt")"
for tp in 1 8; do
  "$BIN" info --config "$SRC/configs/models/cosmos-1.0-ar-5b-video2world.json" --ranks $tp --tp $tp --backend cuda \
    --json "$WORK/plan5b-$tp.json" >/dev/null 2>"$WORK/err.txt" || bad "info --config 5B, tp $tp: $(tail -1 "$WORK/err.txt")"
done
python3 - "$WORK/plan-cfg.json" "$WORK/plan22.json" "$WORK/plan5b-1.json" "$WORK/plan5b-8.json" <<'EOF' && ok || bad "plans of a config"
import json, sys
cfg, d, one, eight = (json.load(open(p)) for p in sys.argv[1:5])
assert cfg["config"].endswith("tiny-ar-5b-video2world.json"), cfg["config"]
for a, b in zip(cfg["rows"], d["rows"]):
    assert [a[k] for k in ("roles", "ar_weights", "ar_kv", "ar_other")] == [b[k] for k in ("roles", "ar_weights", "ar_kv", "ar_other")], (a, b)
    assert a["models_device"] == 0 and a["models_host"] == 0, a
assert len(eight["rows"]) == 8 and all(r["ar_kv"] * 8 == one["rows"][0]["ar_kv"] for r in eight["rows"]), eight["rows"]
w1 = one["rows"][0]["ar_weights"]
assert 4.0e9 < w1 / 2 < 5.5e9, w1  # bf16 weights of a 4-5 B parameter model
assert all(w1 / 8 < r["ar_weights"] < w1 / 8 * 1.1 for r in eight["rows"]), (w1, eight["rows"])
EOF
grep -q "the transformer only (tiny-ar-5b-video2world)" "$WORK/plan-cfg.txt" && ok || bad "the config plan's note"

# --memory GB: the 13B-Video2World transformer needs about 29 GB on one GPU, about 15 GB per GPU at tp 2
C13=$SRC/configs/models/cosmos-1.0-ar-13b-video2world.json
"$BIN" info --config "$C13" --ranks 1 --backend cuda --memory 24 >/dev/null 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && grep -q "rank 0 (.*) needs 29.1. GB of device memory, more than --memory 24.00 GB" "$WORK/err.txt" && ok \
  || bad "13B on one 24 GB GPU: exit $rc, $(grep ERROR "$WORK/err.txt" | head -1)"
"$BIN" info --config "$C13" --ranks 2 --tp 2 --backend cuda --memory 24 >"$WORK/fit.txt" 2>"$WORK/err.txt"
rc=$?
[ $rc = 0 ] && grep -q "every rank fits in 24.00 GB" "$WORK/fit.txt" && ok || bad "13B on two 24 GB GPUs: exit $rc"

# bad requests
expect2() { # WHAT MESSAGE ARGS...: exit 2 with MESSAGE in the error
  local what=$1 msg=$2
  shift 2
  "$BIN" info "$@" >/dev/null 2>"$WORK/err.txt"
  local rc=$?
  [ $rc = 2 ] && grep -q -- "$msg" "$WORK/err.txt" && ok || bad "$what: exit $rc, $(tail -1 "$WORK/err.txt")"
}
expect2 "tp 2 x pp 2 on 3 ranks" "needs\|ranks" "$M" --ranks 3 --tp 2 --pp 2
expect2 "a file with --ranks" "is not a directory" "$M/ar.h5" --ranks 2
expect2 "--layout with --tp" "either --layout or --tp/--pp" "$M" --ranks 2 --tp 2 --layout "$SRC/configs/layouts/2-ranks.json"
expect2 "an unknown backend" "unknown backend 'tpu'" "$M" --ranks 1 --backend tpu
expect2 "--json without --ranks" "needs --ranks N" "$M" --json "$WORK/x.json"
expect2 "a negative --memory" "--memory must be a positive number of GB" "$M" --ranks 1 --memory -1
[ ! -e "$WORK/x.json" ] && ok || bad "a refused plan wrote its JSON"
expect2 "--config with a model" "either a model (file or directory) or --config" "$M" --config "$SRC/configs/models/tiny-ar-4b.json" --ranks 1
expect2 "--config without --ranks" "needs --ranks N" --config "$SRC/configs/models/tiny-ar-4b.json"

finish test_memory_plan
