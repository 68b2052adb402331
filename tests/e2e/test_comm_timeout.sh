#!/bin/bash
# The communication watchdog (--comm-timeout / COSMOS_COMM_TIMEOUT, parallel/comm_watchdog.c; spec
# performance-and-peers.md 4.2, 5.5: turn hangs into exits) on a tiny Video2World model directory:
#  - a rank that hangs before its first clip (COSMOS_TEST_HANG_RANK, a test hook) leaves the others
#    waiting in a receive: without a timeout the job never ends (ended here by `timeout`); with
#    --comm-timeout 3 a waiting rank names what it waited for and the job ends with exit 1 within
#    seconds, no video written;
#  - the same under `batch --replicas 2` on 4 ranks (a hung rank in each replica), with the
#    timeout from the environment; a rerun
#    without the hang then finishes every item, with no temporary file left;
#  - a replica that finished early waits for the others at the end of a batch without being timed
#    (--comm-timeout 1 while the other replica makes 12 clips);
#  - runs that do not hang are unchanged: generate on 2 ranks with a timeout gives the one-process
#    video byte for byte, and sample --tp 2 the one-process tokens;
#  - bad values of the flag and of the environment variable: exit 2, the source named.
# Usage: test_comm_timeout.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "${BASH_SOURCE[0]}")/pipeline_mpi_lib.sh" "$@"

# --- a hung rank without a timeout: the job waits until `timeout` ends it (124, or 137 after -k) ---
COSMOS_TEST_HANG_RANK=1 timeout -k 5 12 "$MPIRUN" --oversubscribe --bind-to none -np 2 "$BIN" generate \
  --model-dir "$M" --input "$IMG" --prompt x --output "$WORK/hang.mp4" >"$WORK/err.txt" 2>&1
rc=$?
{ [ $rc = 124 ] || [ $rc = 137 ]; } && grep -q "rank 1 hangs here" "$WORK/err.txt" && ok \
  || bad "the hook did not hang the job: exit $rc, $(tail -2 "$WORK/err.txt")"

# --- the same with --comm-timeout 3: rank 0 waits in a receive from rank 1 and ends the job ---
t0=$(date +%s)
COSMOS_TEST_HANG_RANK=1 timeout -k 5 120 "$MPIRUN" --oversubscribe --bind-to none -np 2 "$BIN" generate \
  --model-dir "$M" --input "$IMG" --prompt x --output "$WORK/wd.mp4" --comm-timeout 3 >"$WORK/err.txt" 2>&1
rc=$? el=$(($(date +%s) - t0))
[ $rc = 1 ] && [ $el -lt 60 ] && ok || bad "generate with a hung rank and --comm-timeout 3: exit $rc after $el s"
grep -q "r00/02.*comm watchdog: recv of [0-9]* bytes with rank 1 (tag [0-9]*) on the mpi communicator (rank 0 of 2) has waited [0-9]* s, more than --comm-timeout 3 s" \
  "$WORK/err.txt" && ok || bad "the watchdog's message: $(grep ERROR "$WORK/err.txt" | tail -2)"
[ -z "$(ls -A "$WORK" | grep wd)" ] && ok || bad "files left by the ended generate: $(ls "$WORK")"

# --- batch, 2 replicas on 4 ranks, the timeout from the environment; the hook's rank is the
# pipeline's, so rank 1 of each replica (world ranks 1 and 3) hangs ---
cat >"$WORK/jobs.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "b1"}
{"input": "$IMG", "prompt": "a blue ball", "seed": 2, "name": "b2"}
{"input": "$IMG", "prompt": "a green cone", "seed": 3, "name": "b3"}
EOF
t0=$(date +%s)
COSMOS_COMM_TIMEOUT=3 COSMOS_TEST_HANG_RANK=1 timeout -k 5 120 "$MPIRUN" --oversubscribe --bind-to none -np 4 "$BIN" \
  batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/b" --replicas 2 >"$WORK/err.txt" 2>&1
rc=$? el=$(($(date +%s) - t0))
[ $rc = 1 ] && [ $el -lt 60 ] && grep -q "comm watchdog: .* more than --comm-timeout 3 s" "$WORK/err.txt" && ok \
  || bad "batch with a hung rank and COSMOS_COMM_TIMEOUT=3: exit $rc after $el s, $(grep ERROR "$WORK/err.txt" | tail -2)"
[ -z "$(ls "$WORK/b" | grep 'mp4$')" ] && ok || bad "videos written although every replica hung: $(ls "$WORK/b")"
# the rerun, without the hang, finishes the manifest and leaves no temporary file behind
run -np 4 "$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$WORK/b" --replicas 2 \
  --comm-timeout 60 2>"$WORK/err.txt" || bad "rerun after the watchdog: $(tail -2 "$WORK/err.txt")"
for i in 1 2 3; do
  [ -s "$WORK/b/b$i.mp4" ] && grep -q '"done"' "$WORK/b/b$i.status.json" && ok || bad "b$i not done after the rerun"
done
[ "$(ls "$WORK/b" | grep -cv '^b[123]\.\(mp4\|status\.json\)$')" = 0 ] && ok || bad "files left in the output: $(ls "$WORK/b")"

# --- a replica that finished its share early waits for the others without the watchdog ending the
# job: replica 0's 12 items fail at once (missing inputs), replica 1 makes 12 clips (seconds) ---
python3 - "$WORK/uneven.jsonl" "$IMG" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(24):  # item i goes to replica i % 2
        e = {"input": "/no/such/input.png", "prompt": "x", "name": "f%d" % i} if i % 2 == 0 else \
            {"input": sys.argv[2], "prompt": "a cube %d" % i, "seed": i, "name": "ok%d" % i}
        f.write(json.dumps(e) + "\n")
EOF
run -np 2 "$BIN" batch --model-dir "$M" --manifest "$WORK/uneven.jsonl" --output-dir "$WORK/uneven" --replicas 2 \
  --comm-timeout 1 >/dev/null 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && ! grep -q "comm watchdog" "$WORK/err.txt" && grep -q "batch: 24 of 24 clips run, 12 failed" "$WORK/err.txt" \
  && [ "$(ls "$WORK/uneven"/ok*.mp4 | wc -l)" = 12 ] && ok \
  || bad "uneven replicas with --comm-timeout 1: exit $rc, $(grep 'watchdog\|clips run' "$WORK/err.txt" | head -2)"

# --- runs that do not hang are unchanged by the watchdog ---
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a robot arm" --seed 4 --output "$WORK/one.mp4" \
  2>"$WORK/err.txt" || bad "one-process generate: $(tail -2 "$WORK/err.txt")"
run -np 2 "$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a robot arm" --seed 4 --output "$WORK/two.mp4" \
  --comm-timeout 60 2>"$WORK/err.txt" || bad "2-rank generate with --comm-timeout 60: $(tail -2 "$WORK/err.txt")"
cmp -s "$WORK/one.mp4" "$WORK/two.mp4" && ok || bad "2-rank generate with a timeout: not the one-process video"
D=$SRC/tests/data
echo "1 2 3 4 5 6 7 8" >"$WORK/prompt.txt"
"$BIN" sample --model "$D/tiny-ar-4b.h5" --tokens "$WORK/prompt.txt" --num-gen 16 --seed 9 --out "$WORK/s1.txt" \
  2>"$WORK/err.txt" || bad "one-process sample: $(tail -2 "$WORK/err.txt")"
COSMOS_COMM_TIMEOUT=60 run -np 2 "$BIN" sample --tp 2 --model "$D/tiny-ar-4b.h5" --tokens "$WORK/prompt.txt" \
  --num-gen 16 --seed 9 --out "$WORK/s2.txt" 2>"$WORK/err.txt" && cmp -s "$WORK/s1.txt" "$WORK/s2.txt" && ok \
  || bad "sample --tp 2 with COSMOS_COMM_TIMEOUT=60: $(tail -2 "$WORK/err.txt")"

# --- bad values: exit 2, the flag or the variable named, nothing written ---
for v in -1 abc nan 1e9 ""; do
  "$BIN" generate --model-dir "$M" --input "$IMG" --prompt x --output "$WORK/bad.mp4" --comm-timeout "$v" \
    2>"$WORK/err.txt"
  rc=$?
  [ $rc = 2 ] && grep -q -- "--comm-timeout '$v': expected a number of seconds" "$WORK/err.txt" && [ ! -e "$WORK/bad.mp4" ] \
    && ok || bad "--comm-timeout '$v': exit $rc, $(tail -1 "$WORK/err.txt")"
done
COSMOS_COMM_TIMEOUT=soon "$BIN" generate --model-dir "$M" --input "$IMG" --prompt x --output "$WORK/bad.mp4" \
  2>"$WORK/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "COSMOS_COMM_TIMEOUT 'soon': expected a number of seconds" "$WORK/err.txt" && ok \
  || bad "COSMOS_COMM_TIMEOUT=soon: exit $rc, $(tail -1 "$WORK/err.txt")"

finish test_comm_timeout
