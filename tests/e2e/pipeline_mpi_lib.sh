# The common start of the pipeline's MPI test scripts (test_replicas.sh, test_clip_length.sh,
# test_video_guardrail_rank.sh, ...), sourced with the script's arguments
# COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR. After mpi_prologue.sh (BIN, MPIRUN, SRC, WORK, the
# counters with ok, bad and finish NAME) it sets:
#  - run: mpirun bounded by `timeout`, oversubscribed, without core binding (x264 writes its thread
#    count, which follows the binding, into the mp4, and the videos are compared byte for byte with
#    one process's);
#  - IMG, a tiny input image, and M, a tiny random-weight Video2World model directory made with
#    `cosmos-ar init` (the script exits 1 when that fails).
. "$(dirname "${BASH_SOURCE[0]}")/mpi_prologue.sh" "$@"
run() { timeout 300 "$MPIRUN" --oversubscribe --bind-to none "$@"; }

"$BIN" init --config "$SRC/configs/pipelines/tiny-5b-video2world.json" --seed 1 --out "$WORK/model" \
  2>"$WORK/err.txt" || { echo "FAIL: init: $(tail -2 "$WORK/err.txt")"; exit 1; }
M=$WORK/model
IMG=$SRC/tests/data/media-tiny.png
