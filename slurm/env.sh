# slurm/env.sh: the environment of every script in slurm/ (sourced, never run). It sets the binary,
# threads, MPI/PMIx and GPU conventions, and holds the ONE engine command of the batch scripts:
# cosmos_run_batch MANIFEST OUTDIR [ENGINE ARGS...] (`cosmos-ar batch`; the engine args start with
# --model-dir DIR). Around it: cosmos_job (signal forwarding and requeue) and cosmos_split_manifest
# (a job array task's share of the manifest). slurm/README.md.
# Works under `set -euo pipefail`. Slurm variables are read here, never in C (STYLE.md).

# --- site hooks: load what the binary was built against (edit for your cluster) ---
# module load gcc/12 openmpi/4.1 cuda/12.4 hdf5 ffmpeg
# export LD_LIBRARY_PATH=/opt/nccl/lib:${LD_LIBRARY_PATH:-}

# --- where things are ---
COSMOS_SLURM_DIR=${COSMOS_SLURM_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
COSMOS_ROOT=${COSMOS_ROOT:-$(dirname "$COSMOS_SLURM_DIR")}
COSMOS_AR=${COSMOS_AR:-$COSMOS_ROOT/build/cosmos-ar}
export COSMOS_SLURM_DIR COSMOS_ROOT COSMOS_AR

# --- threads: one OpenMP thread per CPU Slurm gave the task (--cpus-per-task); the GEMMs run on
# these too (OpenBLAS is held to one thread, kernels/cpu/sgemm.c) ---
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}}

# --- GPUs: one process per GPU (--ntasks-per-node = --gpus-per-node). Every task sees all the GPUs
# of its node (no --gpu-bind, no --gpus-per-task) and the engine picks device = its local rank,
# computed in C with MPI_Comm_split_type. Binding one GPU per task would leave every local rank but
# 0 without its device.

# --- launcher: srun starts the ranks of each step (the same binary everywhere) over PMIx ---
# COSMOS_LAUNCHER=mpirun is the alternative: Open MPI's mpirun reads the Slurm allocation itself.
COSMOS_LAUNCHER=${COSMOS_LAUNCHER:-srun}
COSMOS_SRUN_MPI=${COSMOS_SRUN_MPI:-pmix}  # `srun --mpi=list` shows what the site's Slurm offers
case $COSMOS_LAUNCHER in
srun) COSMOS_LAUNCH=(srun --mpi="$COSMOS_SRUN_MPI" --kill-on-bad-exit=1) ;;
mpirun) COSMOS_LAUNCH=(mpirun --bind-to none) ;;
none) COSMOS_LAUNCH=() ;;  # run the binary directly: one process, outside Slurm
*)
  echo "env.sh: COSMOS_LAUNCHER must be srun, mpirun or none (got '$COSMOS_LAUNCHER')" >&2
  return 2
  ;;
esac
if [ "$(id -u)" -eq 0 ]; then  # containers and test clusters run as root; Open MPI refuses without these
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# A hung rank (stuck device, stalled file system) would hold the job until its time limit: with a
# timeout, a rank that has waited longer than that in one communication ends the job (exit 1;
# docs/pipeline.md "Flow of a clip"). Keep it well above one clip's time on the slowest role.
# export COSMOS_COMM_TIMEOUT=1800
# Site-dependent Open MPI / PMIx settings, uncomment where needed:
# export PMIX_MCA_gds=hash            # PMIx shared-memory store errors under srun --mpi=pmix
# export OMPI_MCA_btl='^openib'       # InfiniBand through UCX only (Open MPI 4.1 warns otherwise)
# export UCX_TLS=rc,sm,cuda_copy,cuda_ipc

cosmos_log() { echo "[cosmos-slurm ${SLURM_JOB_ID:-nojob} $(date +%T)] $*" >&2; }

# ---------------------------------------------------------------------------------------------
# cosmos_run_batch MANIFEST OUTDIR [ENGINE ARGS...]: THE engine command; every sbatch script runs
# exactly this (through cosmos_job): `cosmos-ar batch` on all the ranks of the step. ENGINE ARGS are
# batch's own options and go through unchanged: --model-dir DIR (required), then for example
# --backend cuda, --tp/--pp or --layout, --num-input-frames, --seed. Contract (launcher/cmd_generate.c):
# OUTDIR/NAME.mp4 and OUTDIR/NAME.status.json per manifest line; a rerun skips the items that are
# done and retries the failed ones; on SIGUSR1, SIGTERM or SIGINT every rank stops after the clip in
# flight and the command exits NON-ZERO ("interrupted after N of M clips; rerun to resume"); a bad
# line fails its item (exit 1 at the end, the other items run). exec: the process cosmos_job
# signals IS srun (or mpirun), which forwards the signal to every rank. So call it in a subshell or
# in the background (cosmos_job does), never in the foreground of a script.
cosmos_run_batch() {
  exec "${COSMOS_LAUNCH[@]}" "$COSMOS_AR" batch --manifest "$1" --output-dir "$2" "${@:3}"
}

# cosmos_check_args MANIFEST OUTDIR [ENGINE ARGS...]: fails (2) with a message, before any rank is
# started, when the manifest cannot be read or --model-dir is missing or not a model directory.
cosmos_check_args() {
  local manifest=$1 model_dir="" prev="" a
  shift 2
  for a in "$@"; do
    [ "$prev" = --model-dir ] && model_dir=$a
    case $a in --model-dir=*) model_dir=${a#--model-dir=} ;; esac
    prev=$a
  done
  [ -r "$manifest" ] || { cosmos_log "cannot read the manifest '$manifest'"; return 2; }
  [ -n "$model_dir" ] || { cosmos_log "the engine arguments need --model-dir DIR (cosmos-ar batch --help)"; return 2; }
  [ -f "$model_dir/cosmos-model.json" ] || {
    cosmos_log "'$model_dir' is not a model directory (no cosmos-model.json; cosmos-ar init --config configs/pipelines/... makes a tiny one)"
    return 2
  }
  [ -x "$COSMOS_AR" ] || { cosmos_log "no cosmos-ar binary at '$COSMOS_AR' (set COSMOS_AR)"; return 2; }
}

# ---------------------------------------------------------------------------------------------
# cosmos_job MANIFEST OUTDIR [ENGINE ARGS...]: what every sbatch script runs. Starts
# cosmos_run_batch in the background and forwards SIGUSR1 (Slurm's pre-timeout signal,
# --signal=B:USR1@SECONDS) and SIGTERM to it, so the clip in flight is finished. The engine exits
# non-zero after such a signal (the manifest is not complete), so the requeue decision rests on
# what THIS shell received: after a SIGUSR1 the job requeues itself (unless COSMOS_REQUEUE=0) and
# the next run resumes the manifest, whatever the engine's non-zero status (interrupted, a failed
# item to retry, or killed before it could handle the signal); an exit status 0 means the whole
# manifest is done and nothing is requeued. After a SIGTERM (scancel, preemption) it just ends.
# Returns the engine's exit status, or 0 once the job is requeued.
cosmos_job() {
  local manifest=$1 outdir=$2
  shift 2
  cosmos_check_args "$manifest" "$outdir" "$@" || return 2
  mkdir -p "$outdir"
  cosmos_log "host $(hostname), restart ${SLURM_RESTART_COUNT:-0}, ${SLURM_NTASKS:-1} task(s), $OMP_NUM_THREADS thread(s) each: $manifest -> $outdir"
  _cosmos_signal=
  _cosmos_pid=
  trap '_cosmos_signal=USR1; [ -n "$_cosmos_pid" ] && kill -USR1 "$_cosmos_pid" 2>/dev/null' USR1
  trap '_cosmos_signal=TERM; [ -n "$_cosmos_pid" ] && kill -TERM "$_cosmos_pid" 2>/dev/null' TERM
  cosmos_run_batch "$manifest" "$outdir" "$@" &
  _cosmos_pid=$!
  local rc=0
  # wait returns early (> 128) when a trapped signal arrives: wait again until the engine has exited
  while :; do
    wait "$_cosmos_pid" && rc=0 || rc=$?
    kill -0 "$_cosmos_pid" 2>/dev/null || break
  done
  if [ "$rc" -gt 128 ]; then  # that wait may have been cut short by a signal as the engine exited
    local rc2=0
    wait "$_cosmos_pid" 2>/dev/null || rc2=$?
    [ "$rc2" -eq 127 ] || rc=$rc2  # 127: no status left to collect (older bash): keep the one seen
  fi
  trap - USR1 TERM
  cosmos_log "engine exit status $rc${_cosmos_signal:+ (after SIG$_cosmos_signal)}"
  if [ "$_cosmos_signal" = USR1 ]; then
    if [ "$rc" -eq 0 ]; then
      cosmos_log "SIGUSR1 came after the last clip: the manifest is done, no requeue"
    elif [ "${COSMOS_REQUEUE:-1}" != 1 ] || [ -z "${SLURM_JOB_ID:-}" ]; then
      cosmos_log "stopped on SIGUSR1, not requeued (COSMOS_REQUEUE=0 or not a Slurm job): run it again to resume"
    else
      local id=$SLURM_JOB_ID
      [ -n "${SLURM_ARRAY_TASK_ID:-}" ] && id=${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID
      cosmos_log "stopped on SIGUSR1: requeueing job $id to resume the manifest"
      # Slurm ends this run here; the next one starts with SLURM_RESTART_COUNT + 1
      scontrol requeue "$id" && return 0
      cosmos_log "scontrol requeue $id failed: resubmit to resume"
    fi
  fi
  return "$rc"
}

# cosmos_split_manifest MANIFEST OUTDIR: prints the path of this array task's share of MANIFEST,
# written to OUTDIR/manifests/: item i (from 0; the engine's items: non-blank lines not starting
# with '#') goes to task i % COUNT, the task index counted from the first array index (use a
# contiguous --array=A-B[%MAX]). A line without "name" gets name item-NNNNN (i, the index in the
# whole manifest): the engine would otherwise name it clip-<hash of input, prompt, seed, settings>,
# which two identical lines share; item-NNNNN keeps the names, and so the outputs, the same
# whatever the array size, and a rerun with another array size still resumes.
cosmos_split_manifest() {
  local manifest=$1 outdir=$2
  local first=${SLURM_ARRAY_TASK_MIN:-0} step=${SLURM_ARRAY_TASK_STEP:-1}
  local task=$(((${SLURM_ARRAY_TASK_ID:-0} - first) / step)) count=${SLURM_ARRAY_TASK_COUNT:-1}
  if [ "$task" -lt 0 ] || [ "$task" -ge "$count" ]; then
    cosmos_log "array task ${SLURM_ARRAY_TASK_ID:-?} is not in a contiguous range of $count tasks from $first"
    return 2
  fi
  local dir=$outdir/manifests part
  part=$dir/task-$task-of-$count.jsonl
  mkdir -p "$dir"
  awk -v task="$task" -v count="$count" '
    !/[^[:space:]]/ || /^[[:space:]]*#/ { next }
    {
      i = n++
      if (i % count != task) next
      if ($0 !~ /"name"[[:space:]]*:/) sub(/^[[:space:]]*\{/, sprintf("{\"name\": \"item-%05d\", ", i))
      print
    }' "$manifest" >"$part.tmp.$$" && mv -f "$part.tmp.$$" "$part" || return 2
  echo "$part"
}
