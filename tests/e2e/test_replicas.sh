#!/bin/bash
# Data-parallel replicas of the pipeline (`cosmos-ar batch --replicas R`, docs/pipeline.md
# "Data-parallel replicas") on a tiny random-weight Video2World model directory:
#  - R = 2 on 2 ranks (one rank per replica) and on 4 ranks (two per replica, default layout, and a
#    layout file of 2 ranks): every video equals the one-process batch's byte for byte, rank 0
#    prints the progress of the whole job, sums it up and writes one timing JSON with world ranks;
#    a blocked prompt and a missing input fail only their items, in whichever replica;
#  - a rerun skips every finished item; --save-tokens makes every item's token file (the
#    one-process batch's tokens) on 2 replicas of 2 ranks; a stop signal stops every replica after
#    its clip in flight (exit 1, "interrupted"), and a rerun finishes the manifest; rank 0's
#    --progress-json says "finished" or "interrupted" with the counts;
#  - more replicas than items (R = 4 on 4 ranks, 3 items): idle replicas finish cleanly;
#  - each replica's rank picks the GPU of its local rank on the node (cuda:1 for world rank 1);
#  - bad requests: R not dividing the ranks, R without mpirun, R = 0: a clear error on every rank,
#    exit 2, nothing written; a manifest rank 0 cannot plan (empty) or read (missing, before any
#    model loads): every rank exits non-zero (2 and 1) with the reason;
#  - --variants K: K clips per item with seeds seed, seed+1, ..., split over the replicas; a rerun
#    with a larger K runs only the new variants;
#  - failures: an output directory that is a file; a bad top-p on 4 ranks (exit 2, no hang);
#    a run failing on one rank (COSMOS_TEST_FAIL_RANK) ends the job (exit 1, no hang).
# Every mpirun is bounded by `timeout`. Usage: test_replicas.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "${BASH_SOURCE[0]}")/pipeline_mpi_lib.sh" "$@"
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a robot arm" --seed 9 --output "$WORK/in.mp4" \
  2>"$WORK/err.txt" || { echo "FAIL: input video: $(tail -2 "$WORK/err.txt")"; exit 1; }

cat >"$WORK/jobs.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "m1"}
{"input": "$WORK/in.mp4", "prompt": "a blue ball", "seed": 2, "name": "m2", "num_input_frames": 9}
{"input": "$IMG", "prompt": "a green cone", "seed": 3, "name": "m3"}
{"input": "$WORK/in.mp4", "prompt": "a yellow box", "seed": 4, "name": "m4", "num_input_frames": 9}
{"input": "$IMG", "prompt": "a white wall", "seed": 5, "name": "m5"}
EOF
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/serial" 2>"$WORK/err.txt" \
  || bad "one-process batch: $(tail -2 "$WORK/err.txt")"

same_as_serial() { # DIR: every mN.mp4 equals the one-process run's
  local d=$1 i
  for i in 1 2 3 4 5; do
    cmp -s "$WORK/serial/m$i.mp4" "$d/m$i.mp4" && grep -q '"done"' "$d/m$i.status.json" && ok \
      || bad "$d/m$i: not the one-process video (or not done)"
  done
}

# --- R = 2 on 2 ranks: one rank per replica (all roles on it) ---
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/r2" --replicas 2 \
  --timing-json "$WORK/r2.timing.json" --progress-json "$WORK/r2.progress.json" 2>"$WORK/r2.txt" \
  || bad "replicas 2 on 2 ranks: $(tail -3 "$WORK/r2.txt")"
# the progress file rank 0 keeps (both replicas' clips): finished, 5 of 5
python3 -c "import json,sys; p=json.load(open(sys.argv[1])); assert (p['state'], p['clips_to_run'], p['clips_done'], p['clips_failed'], p['clips_left']) == ('finished', 5, 5, 0, 0) and p['tokens_generated'] > 0 and p['last_clip'], p" \
  "$WORK/r2.progress.json" && ok || bad "progress file of 2 replicas: $(cat "$WORK/r2.progress.json")"
same_as_serial "$WORK/r2"
grep -q "2 data-parallel replicas of the pipeline, each on 1 rank" "$WORK/r2.txt" && ok || bad "no replica layout line"
# replica 0 (rank 0) runs m1 m3 m5, replica 1 (rank 1) m2 m4; rank 0 prints the job's progress,
# the other replica's clips included (it sends rank 0 a record per clip)
grep -q "r00/02.*batch: 5/5 clips (0 failed)" "$WORK/r2.txt" && ok || bad "rank 0's progress of the job"
[ "$(grep -c "r00/02.*batch: ./5 clips (0 failed) .* m[24] done" "$WORK/r2.txt")" = 2 ] && ok \
  || bad "replica 1's clips in rank 0's progress"
grep -q "r01/02.*clips (" "$WORK/r2.txt" && bad "rank 1 printed progress" || ok
grep -q "batch: 5 of 5 clips run, 0 failed" "$WORK/r2.txt" && ok || bad "rank 0's summary"
python3 - "$WORK/r2.timing.json" <<'EOF' && ok || bad "timing JSON of the replicas"
import json, sys
t = json.load(open(sys.argv[1]))
assert [e["output"].rsplit("/", 1)[1] for e in t] == ["m%d.mp4" % i for i in range(1, 6)], t
# the decode stage ran on replica 0's rank 0 for m1 m3 m5, replica 1's (world rank 1) for m2 m4
assert [e["stages"]["decode"]["rank"] for e in t] == [0, 1, 0, 1, 0], [e["stages"]["decode"] for e in t]
assert all(e["status"] == "ok" and e["tokens_generated"] > 0 for e in t)
EOF
# a rerun: nothing to do
stamp=$(stat -c %Y.%s "$WORK"/r2/m*.mp4)
sleep 1
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/r2" \
  --replicas 2 2>"$WORK/err.txt" && grep -q "5 already done" "$WORK/err.txt" && grep -q "nothing to do" "$WORK/err.txt" && ok \
  || bad "rerun with replicas: $(tail -2 "$WORK/err.txt")"
[ "$stamp" = "$(stat -c %Y.%s "$WORK"/r2/m*.mp4)" ] && ok || bad "the rerun rewrote finished videos"
# --save-tokens over the same outputs, 4 ranks as 2 replicas of 2 (the token files are written by
# each replica's transformer rank, the videos by the other): every item is made again for its
# token file; the tokens are the one-process batch's, the videos unchanged
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/serial-tok" --save-tokens \
  2>"$WORK/err.txt" || bad "one-process batch --save-tokens: $(tail -2 "$WORK/err.txt")"
run -np 4 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/r2" --replicas 2 \
  --save-tokens 2>"$WORK/err.txt" && grep -q "5 to run, 0 already done" "$WORK/err.txt" && ok \
  || bad "--save-tokens rerun with replicas: $(grep 'to run\|ERROR' "$WORK/err.txt" | head -2)"
for i in 1 2 3 4 5; do
  cmp -s "$WORK/serial-tok/m$i.tokens.txt" "$WORK/r2/m$i.tokens.txt" && cmp -s "$WORK/serial/m$i.mp4" "$WORK/r2/m$i.mp4" \
    && ok || bad "m$i: tokens or video of the replicas differ from one process's"
done

# --- R = 2 on 4 ranks: two ranks per replica (AR on one, the other roles on the other), with a
# blocked prompt and a missing input among the items ---
cp "$WORK/jobs.jsonl" "$WORK/jobs-bad.jsonl"
cat >>"$WORK/jobs-bad.jsonl" <<EOF
{"input": "$IMG", "prompt": "build a bomb", "name": "blocked"}
{"input": "$WORK/missing.png", "prompt": "a missing input", "name": "missing"}
EOF
run -np 4 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs-bad.jsonl" --output-dir "$WORK/r2x2" --replicas 2 \
  2>"$WORK/r2x2.txt"
rc=$?
[ $rc = 1 ] && ok || bad "replicas with failed items: exit $rc, expected 1"
same_as_serial "$WORK/r2x2"
grep -q '"blocked"' "$WORK/r2x2/blocked.status.json" 2>/dev/null && [ ! -e "$WORK/r2x2/blocked.mp4" ] && ok \
  || bad "the blocked item (replica 1)"
grep -q '"failed"' "$WORK/r2x2/missing.status.json" 2>/dev/null && [ ! -e "$WORK/r2x2/missing.mp4" ] && ok \
  || bad "the missing input (replica 0)"
grep -q "each on 2 rank" "$WORK/r2x2.txt" && grep -q "batch: 7 of 7 clips run, 2 failed" "$WORK/r2x2.txt" && ok \
  || bad "4 ranks, 2 replicas: $(tail -3 "$WORK/r2x2.txt")"
[ -z "$(ls "$WORK/r2x2" | grep '\.tmp\.')" ] && ok || bad "temporary files left: $(ls "$WORK/r2x2")"
# a layout file describes one replica (2 ranks)
cat >"$WORK/layout2.json" <<'EOF'
{"name": "two", "ranks": 2, "ar": {"ranks": [1], "tp": 1, "pp": 1},
 "t5": 0, "guardrail": 0, "tokenizer": 0, "decoder": 0}
EOF
run -np 4 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/r2l" --replicas 2 \
  --layout "$WORK/layout2.json" 2>"$WORK/err.txt" || bad "replicas with a layout file: $(tail -3 "$WORK/err.txt")"
same_as_serial "$WORK/r2l"

# --- more replicas than items: R = 4 on 4 ranks, 3 items; replica 3 has none ---
head -3 "$WORK/jobs.jsonl" >"$WORK/jobs3.jsonl"
run -np 4 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs3.jsonl" --output-dir "$WORK/r4" --replicas 4 \
  2>"$WORK/err.txt" && grep -q "batch: 3 of 3 clips run, 0 failed" "$WORK/err.txt" && ok \
  || bad "4 replicas, 3 items: $(tail -3 "$WORK/err.txt")"
for i in 1 2 3; do cmp -s "$WORK/serial/m$i.mp4" "$WORK/r4/m$i.mp4" && ok || bad "r4/m$i differs"; done

# --- a stop signal (SIGUSR1, Slurm's pre-timeout one; mpirun forwards it to every rank): each replica
# finishes its clip in flight, the run exits 1 ("interrupted"), a rerun does the rest ---
for i in $(seq 1 40); do
  echo "{\"input\": \"$IMG\", \"prompt\": \"clip $i\", \"seed\": $i, \"name\": \"s$i\"}"
done >"$WORK/jobs40.jsonl"
( run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs40.jsonl" --output-dir "$WORK/stop" --replicas 2 \
  --progress-json "$WORK/stop.progress.json" 2>"$WORK/stop1.txt"; echo $? >"$WORK/stop1.rc" ) &
for _ in $(seq 1 600); do grep -q "batch: 2/40" "$WORK/stop1.txt" 2>/dev/null && break; sleep 0.1; done
# mpirun itself (not `timeout`, whose command line contains the same words)
pkill -USR1 -f "^$MPIRUN --oversubscribe --bind-to none -np 2 $BIN batch --model-dir $M --manifest $WORK/jobs40.jsonl"
wait
n_done=$(grep -l '"done"' "$WORK"/stop/s*.status.json 2>/dev/null | wc -l)
[ "$(cat "$WORK/stop1.rc")" = 1 ] && grep -q "interrupted after $n_done of 40 clips" "$WORK/stop1.txt" \
  && [ "$n_done" -lt 40 ] && [ "$(ls "$WORK"/stop/*.mp4 | wc -l)" = "$n_done" ] && ok \
  || bad "stop signal: exit $(cat "$WORK/stop1.rc"), $n_done done, $(grep -c interrupted "$WORK/stop1.txt") 'interrupted'"
python3 -c "import json,sys; p=json.load(open(sys.argv[1])); assert p['state'] == 'interrupted' and p['clips_done'] == int(sys.argv[2]) and p['clips_left'] == 40 - int(sys.argv[2]), p" \
  "$WORK/stop.progress.json" "$n_done" && ok || bad "progress file after the stop: $(cat "$WORK/stop.progress.json")"
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs40.jsonl" --output-dir "$WORK/stop" --replicas 2 \
  2>"$WORK/stop2.txt" && grep -q "$n_done already done" "$WORK/stop2.txt" \
  && [ "$(grep -l '"done"' "$WORK"/stop/s*.status.json | wc -l)" = 40 ] \
  && [ -z "$(ls "$WORK/stop" | grep '\.tmp\.')" ] && ok || bad "resume after the stop: $(tail -2 "$WORK/stop2.txt")"

# --- GPUs follow the node's local rank, not the rank in the replica: with one rank per replica,
# rank 1 opens cuda:1 (no GPU here, so both fail, naming the device; with GPUs this check is moot) ---
if ! nvidia-smi -L >/dev/null 2>&1; then
  run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/gpu" --replicas 2 \
    --backend cuda 2>"$WORK/err.txt"
  rc=$?
  [ $rc != 0 ] && grep -q "r00/02.*backend cuda:0 is not available" "$WORK/err.txt" \
    && grep -q "r01/02.*backend cuda:1 is not available" "$WORK/err.txt" && [ -z "$(ls "$WORK/gpu" 2>/dev/null)" ] && ok \
    || bad "replicas' GPUs: exit $rc, $(grep -m2 'cuda:' "$WORK/err.txt")"
fi

# --- bad requests: clear errors, exit 2, nothing written ---
run -np 4 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/bad3" --replicas 3 \
  2>"$WORK/err.txt"
rc=$?
# (every rank refuses, but mpirun may end the others before they print: at least one line)
[ $rc = 2 ] && grep -q "replicas 3 must divide the job's 4 rank" "$WORK/err.txt" && [ ! -e "$WORK/bad3" ] \
  && ok || bad "--replicas 3 on 4 ranks: exit $rc, $(tail -2 "$WORK/err.txt")"
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/bad1" --replicas 2 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "replicas 2 must divide the job's 1 rank" "$WORK/err.txt" && [ ! -e "$WORK/bad1" ] && ok \
  || bad "--replicas 2 in one process: exit $rc, $(tail -2 "$WORK/err.txt")"
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/bad0" --replicas -1 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "replicas must be positive" "$WORK/err.txt" && ok || bad "--replicas -1: exit $rc"
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt x --output "$WORK/g.mp4" --replicas 2 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "replicas" "$WORK/err.txt" && [ ! -e "$WORK/g.mp4" ] && ok \
  || bad "generate --replicas: exit $rc, $(tail -1 "$WORK/err.txt")"
# --- batch --variants K: K clips per item (seeds seed, seed+1, ...; names NAME-vK), split over the
# replicas like any items; a rerun with a larger K makes only the new variants ---
head -2 "$WORK/jobs.jsonl" >"$WORK/var.jsonl"
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/var.jsonl" --output-dir "$WORK/var" --replicas 2 \
  --variants 3 2>"$WORK/err.txt" && grep -q "2 items in .*, 3 variants each: 6 clips to run" "$WORK/err.txt" && ok \
  || bad "--variants 3: $(tail -2 "$WORK/err.txt")"
[ "$(ls "$WORK/var"/*.mp4 | wc -l)" = 6 ] && cmp -s "$WORK/var/m1-v0.mp4" "$WORK/serial/m1.mp4" \
  && cmp -s "$WORK/var/m2-v0.mp4" "$WORK/serial/m2.mp4" && ok \
  || bad "variant 0 is not the item itself: $(ls "$WORK/var")"
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a red cube" --seed 3 --output "$WORK/m1s3.mp4" \
  2>"$WORK/err.txt" && cmp -s "$WORK/var/m1-v2.mp4" "$WORK/m1s3.mp4" \
  && ! cmp -s "$WORK/var/m1-v1.mp4" "$WORK/m1s3.mp4" && ok || bad "variant 2 of m1 (seed 1) is not the seed-3 clip"
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/var.jsonl" --output-dir "$WORK/var" --replicas 2 \
  --variants 4 2>"$WORK/err.txt" && grep -q "2 clips to run, 6 already done" "$WORK/err.txt" \
  && [ -e "$WORK/var/m1-v3.mp4" ] && [ -e "$WORK/var/m2-v3.mp4" ] && ok \
  || bad "--variants 4 rerun: $(tail -2 "$WORK/err.txt")"
"$BIN" batch --model-dir "$M" --manifest "$WORK/var.jsonl" --output-dir "$WORK/var-bad" --variants -2 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "variants must be in 1..1000" "$WORK/err.txt" && [ ! -e "$WORK/var-bad" ] && ok \
  || bad "--variants -2: exit $rc"

# a manifest rank 0 cannot plan (no items): every rank stops with the reason (it crashed rank 0 in
# MPI_Bcast when the status was negated into a positive plan length), with and without replicas
: >"$WORK/empty.jsonl"
for rep in "" "--replicas 2"; do
  run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/empty.jsonl" --output-dir "$WORK/nomani" $rep \
    2>"$WORK/err.txt"
  rc=$?
  [ $rc = 2 ] && grep -q "has no items" "$WORK/err.txt" \
    && grep -q "planning failed (see rank 0)" "$WORK/err.txt" && ! grep -qi "signal" "$WORK/err.txt" \
    && ok || bad "empty manifest on 2 ranks $rep: exit $rc, $(tail -2 "$WORK/err.txt")"
done
# a manifest that cannot be read at all: every rank stops before loading anything
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/no-such.jsonl" --output-dir "$WORK/nomani" 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && grep -q "cannot open the manifest '.*no-such.jsonl' (No such file or directory; nothing was loaded)" \
  "$WORK/err.txt" && ! grep -q "diffusion decoder '" "$WORK/err.txt" && ok \
  || bad "missing manifest on 2 ranks: exit $rc, $(tail -2 "$WORK/err.txt")"
# an output directory that is a file: refused before anything runs
echo "not a directory" >"$WORK/afile"
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/afile" 2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "output directory '.*afile' is not a directory" "$WORK/err.txt" && ok \
  || bad "an output directory that is a file: exit $rc, $(tail -1 "$WORK/err.txt")"
# sampling settings only the transformer's ranks would use are checked on every rank up front (a
# bad top-p made the other ranks of a 4-rank job wait forever)
run -np 4 "$BIN" generate --model-dir "$M" --input "$IMG" --prompt x --output "$WORK/tp.mp4" --top-p 2 \
  2>"$WORK/err.txt"
rc=$?
# (mpirun ends the job at the first rank's exit, so not every rank may get to print the message)
[ $rc = 2 ] && grep -q "top-p must be in (0, 1\] (got 2)" "$WORK/err.txt" && [ ! -e "$WORK/tp.mp4" ] && ok \
  || bad "--top-p 2 on 4 ranks: exit $rc, $(tail -1 "$WORK/err.txt")"
# a run that fails on one rank (injected) ends the whole job instead of leaving the others waiting
# for that rank's messages: exit 1 (not the timeout's 124), the reason logged, no output
for cmd in generate batch; do
  if [ $cmd = generate ]; then
    args=(generate --input "$IMG" --prompt x --output "$WORK/inj.mp4")
  else
    args=(batch --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/inj" --replicas 2)
  fi
  COSMOS_TEST_FAIL_RANK=1 timeout 120 "$MPIRUN" --oversubscribe --bind-to none -np 4 "$BIN" "${args[@]}" \
    --model-dir "$M" >"$WORK/err.txt" 2>&1
  rc=$?
  [ $rc = 1 ] && grep -q "failure injected on rank 1" "$WORK/err.txt" && grep -q "ending the whole job" "$WORK/err.txt" \
    && [ ! -e "$WORK/inj.mp4" ] && [ -z "$(ls "$WORK/inj"/*.mp4 2>/dev/null)" ] && ok \
    || bad "$cmd with a failing rank: exit $rc, $(grep ERROR "$WORK/err.txt" | tail -2)"
done

finish test_replicas
