#!/bin/bash
# A full disk (a 180 KiB tmpfs: room for two tiny clips, not three) under `batch` and `generate` on
# a tiny Video2World model directory:
#  - batch: the clip that does not fit fails alone with the system's reason ("No space left on
#    device") in its status file, the clips before it are done, no partial mp4 or temporary file is
#    left, exit 1; once there is room again, the rerun makes only the failed clip;
#  - generate into a full disk: exit 1 with the reason, no output, no temporary file.
# SKIPPED (exit 77) where a tmpfs cannot be mounted (not root, or a container without the right).
# Usage: test_disk_full.sh COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
. "$(dirname "${BASH_SOURCE[0]}")/pipeline_mpi_lib.sh" "$@"
FULL=$WORK/full
mkdir -p "$FULL"
[ "$(id -u)" = 0 ] && mount -t tmpfs -o size=180k tmpfs "$FULL" 2>/dev/null \
  || { echo "SKIPPED: cannot mount a tmpfs (needs root and the mount right)"; exit 77; }
trap 'umount "$FULL" 2>/dev/null' EXIT

cat >"$WORK/jobs.jsonl" <<EOF
{"input": "$IMG", "prompt": "a red cube", "seed": 1, "name": "a"}
{"input": "$IMG", "prompt": "a blue cube", "seed": 2, "name": "b"}
{"input": "$IMG", "prompt": "a green cube", "seed": 3, "name": "c"}
EOF
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$FULL" 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && ok || bad "batch into a full disk: exit $rc"
done_items=$(grep -l '"done"' "$FULL"/*.status.json 2>/dev/null | wc -l)
failed=$(grep -l '"failed"' "$FULL"/*.status.json 2>/dev/null)
[ "$done_items" -ge 1 ] && [ -n "$failed" ] && grep -q "No space left on device\|cannot finish" $failed \
  && grep -q "No space left on device" "$WORK/err.txt" && ok \
  || bad "statuses after the disk filled: $done_items done, failed: $failed; $(grep ERROR "$WORK/err.txt" | head -2)"
for f in $failed; do
  n=$(basename "$f" .status.json)
  [ ! -e "$FULL/$n.mp4" ] && ok || bad "$n.mp4 written although it failed"
done
[ -z "$(ls -A "$FULL" | grep -v '\.mp4$\|\.status\.json$')" ] && ok || bad "temporary files left: $(ls -A "$FULL")"
for f in $(grep -l '"done"' "$FULL"/*.status.json); do
  n=$(basename "$f" .status.json)
  "$BIN" info "$FULL/$n.mp4" 2>&1 | grep -q "video, 17 frame(s)" && ok || bad "$n.mp4 is not a whole clip"
done

# room again (a larger tmpfs, the same files): the rerun makes only the failed clips
mtimes=$(stat -c '%n %Y' "$FULL"/*.mp4)
mount -o remount,size=4m "$FULL" || bad "remount"
"$BIN" batch --model-dir "$M" --manifest "$WORK/jobs.jsonl" --output-dir "$FULL" 2>"$WORK/err.txt" \
  || bad "rerun with room: $(grep ERROR "$WORK/err.txt" | head -2)"
[ "$(grep -l '"done"' "$FULL"/*.status.json | wc -l)" = 3 ] && ok || bad "not every item done after the rerun"
[ "$(stat -c '%n %Y' $(echo "$mtimes" | cut -d' ' -f1))" = "$mtimes" ] && ok || bad "the rerun rewrote finished clips"

# generate into a disk too small for one clip (32 KiB)
SMALL=$WORK/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=32k tmpfs "$SMALL" || bad "mount the small tmpfs"
trap 'umount "$FULL" "$SMALL" 2>/dev/null' EXIT
"$BIN" generate --model-dir "$M" --input "$IMG" --prompt "a robot arm" --output "$SMALL/g.mp4" 2>"$WORK/err.txt"
rc=$?
[ $rc = 1 ] && grep -q "No space left on device" "$WORK/err.txt" && [ -z "$(ls -A "$SMALL")" ] && ok \
  || bad "generate into a full disk: exit $rc, $(ls -A "$SMALL"), $(grep ERROR "$WORK/err.txt" | head -2)"

finish test_disk_full
