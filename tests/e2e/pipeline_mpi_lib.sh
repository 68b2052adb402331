# The common start of the pipeline's MPI test scripts (test_replicas.sh, test_clip_length.sh,
# test_video_guardrail_rank.sh), sourced with the script's arguments
# COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR. It sets:
#  - BIN, MPIRUN, SRC, WORK (emptied);
#  - the pass / fail counters with ok, bad and finish NAME (prints the counts; fails when any failed);
#  - run: mpirun bounded by `timeout`, oversubscribed, without core binding (x264 writes its thread
#    count, which follows the binding, into the mp4, and the videos are compared byte for byte with
#    one process's);
#  - IMG, a tiny input image, and M, a tiny random-weight Video2World model directory made with
#    `cosmos-ar init` (the script exits 1 when that fails).
set -u
BIN=$1
MPIRUN=$2
SRC=$3
WORK=$4
rm -rf "$WORK" && mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() {
  echo "$1: $pass passed, $fail failed"
  [ $fail = 0 ]
}
run() { timeout 300 "$MPIRUN" --oversubscribe --bind-to none "$@"; }

"$BIN" init --config "$SRC/configs/pipelines/tiny-5b-video2world.json" --seed 1 --out "$WORK/model" \
  2>"$WORK/err.txt" || { echo "FAIL: init: $(tail -2 "$WORK/err.txt")"; exit 1; }
M=$WORK/model
IMG=$SRC/tests/data/media-tiny.png
