#!/usr/bin/env bash
# The slurm/ scripts on a real one-node Slurm cluster on localhost, CPU backend: a private munged,
# slurmctld and slurmd from a config in a temporary folder (SLURM_CONF; free ports, 2 fake GPUs),
# then, with a tiny Video2World model directory (cosmos-ar init) and manifests of image inputs with
# prompts: a job array splitting a 3-item manifest; a rerun that resumes (only a deleted output is
# made again); generate.sbatch with 2 ranks (default layout: transformer | T5, tokenizer, decoder)
# under srun, generate-multinode.sbatch (on one node, --tp 2) under mpirun, generate.sbatch with
# --replicas 2 under srun (two data-parallel copies of the pipeline); a SIGUSR1 in the middle
# of an 8-item manifest on 2 ranks under srun (the clips in flight are finished and marked done, the
# job requeues itself and completes the rest without rewriting finished outputs); a job without
# --model-dir fails at once; a hung rank with COSMOS_COMM_TIMEOUT ends its job in seconds (FAILED).
# Every mp4 must be byte-identical to the one a single-process `cosmos-ar batch` of the same
# manifest writes (checked first: two such runs agree), 17 frames of 96x64, with a "done" status
# file. The daemons are stopped at exit, even on failure; leftovers of a killed run are stopped by
# the next one.
# Exit 77 (SKIPPED) without root, slurm-wlm, munge or jq, or where the daemons cannot start.
# Usage: test_slurm_local.sh COSMOS_AR SOURCE_DIR      (COSMOS_SLURM_TEST_KEEP=1 keeps the folder)
set -u
BIN=$(realpath "$1")
SRC=$(realpath "$2")
PREFIX=/tmp/cosmos-slurm-test  # short: munge and slurmd put unix sockets in it (108-byte limit)
NODE=cosmos-test
WAIT_S=120

skip() {
  echo "SKIPPED: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd starts jobs as their owner)"
missing=()
for c in munged mungekey munge unmunge slurmctld slurmd sbatch squeue scontrol scancel sinfo srun mpirun jq ss; do
  command -v "$c" >/dev/null || missing+=("$c")
done
[ ${#missing[@]} -eq 0 ] || skip "missing ${missing[*]} (bash tools/install_deps.sh test installs slurm-wlm, munge, jq)"

# stop_cluster DIR: cancel the jobs of the cluster in DIR, then stop its daemons by the pids in their
# pid files (each checked to be that daemon of that folder).
stop_cluster() {
  local dir=$1 d pid i
  if [ -f "$dir/etc/slurm.conf" ] && [ -f "$dir/slurmctld.pid" ]; then
    SLURM_CONF=$dir/etc/slurm.conf timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1
    for i in $(seq 20); do
      [ -z "$(SLURM_CONF=$dir/etc/slurm.conf timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for d in slurmd slurmctld munged; do
    pid=$(cat "$dir/$d.pid" 2>/dev/null) || continue
    [[ $pid =~ ^[0-9]+$ ]] || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$d.*$dir/" || continue
    kill "$pid" 2>/dev/null
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
  done
}

# leftovers of runs whose owner died (killed by a timeout, say); a live owner is a concurrent run
for old in "$PREFIX".*; do
  [ -d "$old" ] && [ ! -e "$old/kept" ] || continue
  owner=$(cat "$old/owner.pid" 2>/dev/null)
  if [ -z "$owner" ]; then
    [ -n "$(find "$old" -maxdepth 0 -mmin +1)" ] || continue  # just created, owner not written yet
  elif kill -0 "$owner" 2>/dev/null; then
    continue
  fi
  echo "removing the leftovers of a previous run: $old"
  stop_cluster "$old"
  rm -rf "$old"
done

D=$(mktemp -d "$PREFIX.XXXXXX") || exit 1
echo $$ >"$D/owner.pid"
chmod 755 "$D"  # munged wants its socket folder searchable by all
cleanup() {
  stop_cluster "$D"
  if [ "${COSMOS_SLURM_TEST_KEEP:-0}" = 1 ]; then
    touch "$D/kept"
    echo "kept $D"
  else
    rm -rf "$D"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*"
}
show_logs() {
  local f
  for f in "$D"/logs/*.out "$D/slurmctld.log" "$D/slurmd.log"; do
    [ -f "$f" ] && { echo "---- ${f#"$D"/} (tail)"; tail -25 "$f"; }
  done
}

# ---- the cluster: private munged, slurmctld, slurmd; nothing under /etc is read or written ----
for v in $(compgen -v SLURM_); do unset "$v"; done  # in case this runs inside another Slurm job
unset COSMOS_SLURM_DIR COSMOS_LAUNCHER
mkdir -p "$D/etc" "$D/state" "$D/spool" "$D/tmp" "$D/logs"
mungekey -c -k "$D/munge.key" >/dev/null 2>&1 || skip "mungekey cannot create a key"
munged -F --socket="$D/munge.sock" --key-file="$D/munge.key" --log-file="$D/munged.log" \
  --pid-file="$D/munged.pid" --seed-file="$D/munged.seed" </dev/null >"$D/munged.out" 2>&1 &
for i in $(seq 50); do
  [ -S "$D/munge.sock" ] && break
  sleep 0.1
done
munge -n -S "$D/munge.sock" 2>/dev/null | unmunge -S "$D/munge.sock" >/dev/null 2>&1 ||
  skip "munged does not start here: $(tail -2 "$D/munged.out" 2>/dev/null | tr '\n' ' ')"

for i in 0 1; do  # two fake GPUs: gres/gpu wants device files; /dev/null's numbers will do
  mknod -m 666 "$D/gpu$i" c 1 3 2>/dev/null || touch "$D/gpu$i"
done
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    [ "$p" != "${1:-}" ] && [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && { echo "$p"; return 0; }
  done
  return 1
}
host=$(hostname -s)
cpus=$(nproc)
[ "$cpus" -ge 2 ] || cpus=2  # config_overrides: the node offers 2 CPUs even on 1 core
export SLURM_CONF=$D/etc/slurm.conf
export TMPDIR=$D/tmp  # Open MPI session folders: job ids repeat across concurrent test clusters
started=0
for _ in 1 2 3; do
  ctld_port=$(free_port) && slurmd_port=$(free_port "$ctld_port") || skip "no free TCP port found"
  cat >"$SLURM_CONF" <<EOF
ClusterName=cosmostest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
TmpFS=$D/tmp
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
FirstJobId=$((1000 + RANDOM))
KillWait=5
MinJobAge=600
MailProg=/bin/true
GresTypes=gpu
NodeName=$NODE NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  echo "NodeName=$NODE Name=gpu File=$D/gpu[0-1]" >"$D/etc/gres.conf"
  rm -f "$D/slurmctld.log" "$D/slurmd.log"
  slurmctld -D -f "$SLURM_CONF" </dev/null >"$D/slurmctld.out" 2>&1 &
  for i in $(seq 40); do
    scontrol ping 2>/dev/null | grep -q "is UP" && break
    sleep 0.25
  done
  slurmd -D -f "$SLURM_CONF" -N "$NODE" </dev/null >"$D/slurmd.out" 2>&1 &
  for i in $(seq 120); do
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null)
    [ "$state" = idle ] && break
    sleep 0.25
  done
  if [ "$state" = idle ]; then
    started=1
    break
  fi
  why="node state '${state:-none}' after 30 s: $(sinfo -h -R 2>/dev/null | head -1) $(tail -3 "$D/slurmctld.out" "$D/slurmd.out" 2>/dev/null | tr '\n' ' ')"
  stop_cluster "$D"
  grep -qi "address already in use" "$D/slurmctld.out" "$D/slurmd.out" 2>/dev/null || break
done
[ $started = 1 ] || skip "the Slurm daemons do not start here: $why"
echo "one-node Slurm up in $SECONDS s: $host ($NODE), ports $ctld_port/$slurmd_port, $D"

# ---- inputs: a tiny Video2World model directory; manifests of image inputs with prompts ----
IMG=$SRC/tests/data/media-tiny.png
[ -r "$IMG" ] || { echo "FAIL: no $IMG"; exit 1; }
"$BIN" init --config "$SRC/configs/pipelines/tiny-5b-video2world.json" --out "$D/model" >"$D/init.log" 2>&1 ||
  { echo "FAIL: init: $(tail -3 "$D/init.log")"; exit 1; }
# 3 items: a comment, a blank line, "visual_input", a nameless item (whose prompt quotes "name": the
# array split must not take it for a name key), a seedless one.
cat >"$D/manifest.jsonl" <<EOF
# three clips
{"input": "$IMG", "prompt": "A robot arm picks up a red cube.", "seed": 1, "name": "clip-a"}

{"visual_input": "$IMG", "prompt": "A sign that reads \"name\": a car drives fast at night.", "seed": 2}
{"name": "clip-c", "input": "$IMG", "prompt": "Waves."}
EOF
# 8 items for the signal test, 1 input frame (more tokens to generate: slower clips), half nameless
for i in 0 1 2 3 4 5 6 7; do
  name=
  [ $((i % 2)) = 0 ] && name="\"name\": \"sig-$i\", "
  echo "{$name\"input\": \"$IMG\", \"prompt\": \"Scene $i: a robot walks.\", \"seed\": $i, \"num_input_frames\": 1}"
done >"$D/manifest-signal.jsonl"
ARGS=(--model-dir "$D/model")

# ref_batch MANIFEST OUTDIR: the reference, a plain single-process run (no MPI, no Slurm)
ref_batch() {
  OMP_NUM_THREADS=1 "$BIN" batch "${ARGS[@]}" --manifest "$1" --output-dir "$2" >"$2.log" 2>&1
}
t0=$SECONDS
if ! { ref_batch "$D/manifest.jsonl" "$D/ref" && ref_batch "$D/manifest.jsonl" "$D/ref2" &&
  ref_batch "$D/manifest-signal.jsonl" "$D/ref-signal"; }; then
  echo "FAIL: reference batch: $(tail -3 "$D"/ref*.log)"
  exit 1
fi
for f in "$D"/ref/*.mp4; do  # the comparisons below rest on this
  cmp -s "$f" "$D/ref2/${f##*/}" || { echo "FAIL: two identical batch runs differ (${f##*/}): not deterministic here"; exit 1; }
done
# reference name of each item: a nameless line gets clip-<hash>, found through its status file's "line"
HASHNAME=$(jq -r 'select(.line == 4) | .name' "$D"/ref/*.status.json)
[[ $HASHNAME =~ ^clip-[0-9a-f]{16}$ ]] || { echo "FAIL: no hashed name for manifest line 4 (got '$HASHNAME')"; exit 1; }
REFS=(clip-a "$HASHNAME" clip-c)
SIG_REFS=()
for f in "$D"/ref-signal/*.status.json; do SIG_REFS+=("$(jq -r .name "$f")"); done
[ ${#SIG_REFS[@]} -eq 8 ] || { echo "FAIL: the signal reference has ${#SIG_REFS[@]} items, not 8"; exit 1; }
info=$("$BIN" info "$D/ref/clip-a.mp4" 2>&1)
grep -q "video, 17 frame(s) of 96x64" <<<"$info" || { echo "FAIL: reference clip: $info"; exit 1; }
echo "references (3 + 3 + 8 clips, single process): $((SECONDS - t0)) s"
export COSMOS_AR=$BIN
cd "$D" || exit 1  # submit from here: the scripts must find env.sh beside themselves, not in the submit folder

# submit NAME SBATCH-ARGS... -- prints the job id (array: the array's id)
submit() {
  local name=$1
  shift
  sbatch --parsable -J "$name" -o "$D/logs/$name-%j.out" "$@" 2>"$D/logs/sbatch-$name.err" | cut -d';' -f1
}
# wait_gone ID: until no record of job ID is left in the queue
wait_gone() {
  local id=$1 t0=$SECONDS
  while [ -n "$(squeue -h -j "$id" -o %i 2>/dev/null)" ]; do
    [ $((SECONDS - t0)) -lt $WAIT_S ] || { bad "job $id still queued after $WAIT_S s"; scancel "$id"; return 1; }
    sleep 0.25
  done
}
# wait_done ID: wait_gone, then every record must say COMPLETED 0:0
wait_done() {
  local id=$1
  wait_gone "$id" || return 1
  local recs
  recs=$(scontrol -o show job "$id" 2>/dev/null)
  if [ -z "$recs" ] || grep -v -q "JobState=COMPLETED .*ExitCode=0:0" <<<"$recs"; then
    bad "job $id did not complete cleanly: $(grep -o 'JobId=[^ ]*\|JobState=[^ ]*\|ExitCode=[^ ]*' <<<"$recs" | tr '\n' ' ')"
    return 1
  fi
}
# same_clip OUT REF WHAT: OUT.mp4 equals REF's bytes, is 17 frames of 96x64, OUT.status.json says done
same_clip() {
  local out=$1 ref=$2 what=$3 st
  if ! cmp -s "$ref" "$out.mp4"; then
    bad "$what: ${out##*/}.mp4 $([ -e "$out.mp4" ] && echo "differs from the reference ${ref##*/} ($(stat -c %s "$out.mp4") vs $(stat -c %s "$ref") bytes)" || echo missing)"
    return 1
  fi
  if ! "$BIN" info "$out.mp4" 2>&1 | grep -q "video, 17 frame(s) of 96x64"; then
    bad "$what: ${out##*/}.mp4 is not 17 frames of 96x64: $("$BIN" info "$out.mp4" 2>&1 | tail -1)"
    return 1
  fi
  st=$(jq -r .status "$out.status.json" 2>/dev/null)
  [ "$st" = "done" ] || { bad "$what: ${out##*/}.status.json says '$st', not done"; return 1; }
  ok
}
no_temps() {  # no temporary file (NAME.mp4.tmp.*, NAME.status.json.tmp.*) left in DIR
  if compgen -G "$1/*.tmp*" >/dev/null; then bad "$2: temporary files left: $(ls "$1"/*.tmp*)"; else ok; fi
}
# check_outputs DIR WHAT NAME...: the three outputs, named NAME... in DIR, equal the references
check_outputs() {
  local dir=$1 what=$2 i
  shift 2
  local names=("$@")
  for i in 0 1 2; do same_clip "$dir/${names[$i]}" "$D/ref/${REFS[$i]}.mp4" "$what"; done
  no_temps "$dir" "$what"
}
mtimes() { stat -c '%n %y' "$@" 2>/dev/null; }

# ---- 1. job array of 2 tasks splitting the manifest; the nameless line is named item-00001 ----
t0=$SECONDS
ANAMES=(clip-a item-00001 clip-c)
id=$(submit array --array=0-1 --cpus-per-task=1 --gpus-per-node=1 "$SRC/slurm/batch-array.sbatch" \
  "$D/manifest.jsonl" "$D/out-array" "${ARGS[@]}")
if [ -z "$id" ]; then
  bad "sbatch batch-array: $(cat "$D/logs/sbatch-array.err")"
else
  wait_done "$id" && ok
  check_outputs "$D/out-array" "array" "${ANAMES[@]}"
  if [ "$(jq -r .name "$D/out-array/manifests/task-0-of-2.jsonl" 2>/dev/null | tr '\n' ' ')" = "clip-a clip-c " ] &&
    [ "$(jq -r .name "$D/out-array/manifests/task-1-of-2.jsonl" 2>/dev/null)" = item-00001 ]; then
    ok
  else
    bad "array split: task 0 should hold clip-a, clip-c and task 1 item-00001"
  fi
  echo "array job: $((SECONDS - t0)) s"

  # ---- 2. rerun: resumes (only the deleted output is made again, nothing else is rewritten) ----
  t0=$SECONDS
  rm -f "$D/out-array/item-00001.mp4"
  kept=("$D"/out-array/clip-{a,c}.{mp4,status.json})
  before=$(mtimes "${kept[@]}")
  id=$(submit rerun --array=0-1 --cpus-per-task=1 --gpus-per-node=1 "$SRC/slurm/batch-array.sbatch" \
    "$D/manifest.jsonl" "$D/out-array" "${ARGS[@]}")
  wait_done "$id" && ok
  check_outputs "$D/out-array" "rerun" "${ANAMES[@]}"
  if [ "$before" = "$(mtimes "${kept[@]}")" ]; then ok; else bad "rerun rewrote finished outputs"; fi
  if grep -q "1 to run, 0 already done" "$D"/logs/rerun-*.out && grep -q "0 to run, 2 already done" "$D"/logs/rerun-*.out; then
    ok
  else
    bad "rerun: the task logs do not show 1 item to run and 2 already done"
  fi
  echo "resumed array job: $((SECONDS - t0)) s"
fi

# ---- 3. 2 ranks (2 fake GPUs): generate.sbatch under srun with the default layout (transformer |
# T5, tokenizer, decoder), generate-multinode.sbatch (on one node here) under mpirun with --tp 2 ----
for launcher in srun mpirun; do
  t0=$SECONDS
  if [ $launcher = srun ]; then
    script=generate.sbatch extra=() role="rank 1: t5 tokenizer decoder"
  else
    script=generate-multinode.sbatch extra=(--tp 2) role="rank 1: ar(stage 0, tp 1)"
  fi
  id=$(COSMOS_LAUNCHER=$launcher submit "two-$launcher" --nodes=1 --ntasks-per-node=2 --gpus-per-node=2 --cpus-per-task=1 \
    "$SRC/slurm/$script" "$D/manifest.jsonl" "$D/out-$launcher" "${ARGS[@]}" "${extra[@]}")
  if [ -z "$id" ]; then
    bad "sbatch $script ($launcher): $(cat "$D/logs/sbatch-two-$launcher.err")"
    continue
  fi
  wait_done "$id" && ok
  check_outputs "$D/out-$launcher" "$script, 2 ranks ($launcher)" "${REFS[@]}"
  log=$D/logs/two-$launcher-$id.out
  if grep -q "2 rank(s)" "$log" && grep -qF "$role" "$log"; then ok; else bad "$launcher: no 2-rank layout with '$role' in the job log"; fi
  echo "$script, 2 ranks, $launcher: $((SECONDS - t0)) s"
done

# ---- 3b. 2 ranks under srun as 2 data-parallel replicas (--replicas 2: one whole pipeline per rank
# and fake GPU), the same videos ----
t0=$SECONDS
id=$(submit replicas --nodes=1 --ntasks-per-node=2 --gpus-per-node=2 --cpus-per-task=1 \
  "$SRC/slurm/generate.sbatch" "$D/manifest.jsonl" "$D/out-replicas" "${ARGS[@]}" --replicas 2)
if [ -z "$id" ]; then
  bad "sbatch generate.sbatch --replicas 2: $(cat "$D/logs/sbatch-replicas.err")"
else
  wait_done "$id" && ok
  check_outputs "$D/out-replicas" "generate.sbatch --replicas 2" "${REFS[@]}"
  log=$D/logs/replicas-$id.out
  if grep -q "2 data-parallel replicas of the pipeline, each on 1 rank" "$log" && grep -q "batch: 3/3 clips (0 failed)" "$log" \
    && grep -q "batch: 3 of 3 clips run, 0 failed" "$log"; then
    ok
  else
    bad "replicas under srun: $(grep -m3 'replica\|clips run' "$log")"
  fi
fi
echo "generate.sbatch --replicas 2, srun: $((SECONDS - t0)) s"

# ---- 4. SIGUSR1 mid-manifest, 2 ranks under srun: every rank stops after the clip in flight, that
# clip is done, the job requeues itself and the next run does the rest ----
t0=$SECONDS
id=$(submit signal --ntasks-per-node=2 --gpus-per-node=2 --cpus-per-task=1 \
  "$SRC/slurm/generate.sbatch" "$D/manifest-signal.jsonl" "$D/out-signal" "${ARGS[@]}")
log=$D/logs/signal-$id.out
while [ -n "$id" ] && ! compgen -G "$D/out-signal/*.status.json" >/dev/null && [ $((SECONDS - t0)) -lt $WAIT_S ]; do
  sleep 0.05
done
if [ -z "$id" ] || ! compgen -G "$D/out-signal/*.status.json" >/dev/null; then
  bad "signal job: no status file after $WAIT_S s"
else
  scancel --batch --signal=USR1 "$id"  # what --signal=B:USR1@300 sends before the time limit
  state=
  while [ $((SECONDS - t0)) -lt $WAIT_S ]; do
    state=$(scontrol -o show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z]* .*Restarts=[0-9]*' | sed 's/JobState=\([A-Z]*\) .*Restarts=/\1 /')
    [ "$state" = "PENDING 1" ] && break
    sleep 0.1
  done
  n=$(compgen -G "$D/out-signal/*.mp4" | wc -l)
  n_st=$(compgen -G "$D/out-signal/*.status.json" | wc -l)
  n_done=$(cat "$D"/out-signal/*.status.json 2>/dev/null | jq -r .status | grep -c '^done$')
  if [ "$state" = "PENDING 1" ] && [ "$n" -ge 1 ] && [ "$n" -lt 8 ] && [ "$n_st" = "$n" ] && [ "$n_done" = "$n" ] &&
    grep -q "interrupted after $n of 8 clips" "$log" && grep -q "requeueing job $id" "$log"; then
    ok
  else
    bad "SIGUSR1: expected a stop after 1-7 of 8 clips, each mp4 with a done status, and a requeue; state '$state', $n mp4, $n_st status files ($n_done done)"
  fi
  no_temps "$D/out-signal" "after SIGUSR1"
  echo "SIGUSR1 stopped the job after $n of 8 clips"
  first=("$D"/out-signal/*.mp4 "$D"/out-signal/*.status.json)
  before=$(mtimes "${first[@]}")
  # Slurm holds a requeued job back ~2 minutes; release it at once, but only after the first run's
  # step is wholly gone: its slurmstepd outlives the batch script by a few seconds (PMIx finalize),
  # and a new step 0 started meanwhile fails to bind the same PMIx socket (Slurm 22.05: "Cannot
  # bind() UNIX socket .../stepd.slurm.pmix.$id.0: Address already in use"; srun may even exit 0)
  t1=$SECONDS
  until grep -q "\[$id\.0\] done with job" "$D/slurmd.log" && ! compgen -G "$D/spool/stepd.slurm.pmix.$id.*" >/dev/null; do
    [ $((SECONDS - t1)) -lt 30 ] || { bad "the first run's step $id.0 did not end within 30 s"; break; }
    sleep 0.1
  done
  # slurmd refuses a batch launch whose credential is not newer than the job's revocation time, in
  # whole seconds ("Job credential revoked": cred ctime <= revoked): released within the second of
  # the requeue, the new run is killed at once. Let the clock pass the next full second first.
  sleep 1.2
  scontrol update jobid="$id" StartTime=now
  wait_done "$id" && ok
  for i in 0 1 2 3 4 5 6 7; do
    same_clip "$D/out-signal/${SIG_REFS[$i]}" "$D/ref-signal/${SIG_REFS[$i]}.mp4" "after requeue"
  done
  no_temps "$D/out-signal" "after requeue"
  if [ "$before" = "$(mtimes "${first[@]}")" ] && grep -q "restart 1" "$log" &&
    grep -q "$((8 - n)) to run, $n already done" "$log"; then
    ok
  else
    bad "the requeued run did not resume (outputs of the first run rewritten, or no 'restart 1' / '$((8 - n)) to run, $n already done' in the log)"
  fi
fi
echo "signal + requeue: $((SECONDS - t0)) s"

# ---- 5. no --model-dir: the job fails at once (exit 2) with a message, no rank started ----
t0=$SECONDS
id=$(submit nomodel --ntasks-per-node=1 --gpus-per-node=1 --cpus-per-task=1 "$SRC/slurm/generate.sbatch" \
  "$D/manifest.jsonl" "$D/out-nomodel")
if [ -n "$id" ] && wait_gone "$id"; then
  if scontrol -o show job "$id" | grep -q "JobState=FAILED .*ExitCode=2:0" &&
    grep -q "need --model-dir" "$D/logs/nomodel-$id.out" && ! compgen -G "$D/out-nomodel/*" >/dev/null; then
    ok
  else
    bad "a job without --model-dir: expected FAILED 2:0 and a message: $(scontrol -o show job "$id" | grep -o 'JobState=[^ ]*\|ExitCode=[^ ]*' | tr '\n' ' ')"
  fi
fi
echo "missing --model-dir: $((SECONDS - t0)) s"

# ---- 6. a hung rank (the test hook COSMOS_TEST_HANG_RANK) under srun with COSMOS_COMM_TIMEOUT: the
# waiting rank ends the job (srun --kill-on-bad-exit) in seconds instead of at the time limit; srun's
# status is the killed hung rank's (137 here), not the watchdog's 1 ----
t0=$SECONDS
id=$(COSMOS_COMM_TIMEOUT=5 COSMOS_TEST_HANG_RANK=1 submit hang --nodes=1 --ntasks-per-node=2 --gpus-per-node=2 \
  --cpus-per-task=1 --time=10 "$SRC/slurm/generate.sbatch" "$D/manifest.jsonl" "$D/out-hang" "${ARGS[@]}")
if [ -z "$id" ]; then
  bad "sbatch generate.sbatch with a hung rank: $(cat "$D/logs/sbatch-hang.err")"
elif wait_gone "$id"; then
  log=$D/logs/hang-$id.out
  if scontrol -o show job "$id" | grep -q "JobState=FAILED .*ExitCode=[1-9]" && [ $((SECONDS - t0)) -lt 90 ] &&
    grep -q "r00/02.*comm watchdog: .* more than --comm-timeout 5 s" "$log" && grep -q "rank 1 hangs here" "$log" &&
    ! compgen -G "$D/out-hang/*.mp4" >/dev/null; then
    ok
  else
    bad "a hung rank with COSMOS_COMM_TIMEOUT=5: $(scontrol -o show job "$id" | grep -o 'JobState=[^ ]*\|ExitCode=[^ ]*' | tr '\n' ' ') after $((SECONDS - t0)) s, $(grep -m2 'ERROR' "$log")"
  fi
fi
echo "hung rank + COSMOS_COMM_TIMEOUT: $((SECONDS - t0)) s"

[ "$fail" -eq 0 ] || show_logs
echo "$pass passed, $fail failed ($SECONDS s)"
[ "$fail" -eq 0 ]
