#!/usr/bin/env bash
# Runs a Criterion suite (argument: the executable) and maps "every test skipped" to exit 77, the
# SKIP_RETURN_CODE of its CTest entry: Criterion itself exits 0 then, and ctest would say "Passed".
# Without a CUDA device ctest thus reports the CUDA suite as Skipped, with the reasons printed.
set -uo pipefail
out="$("$@" --verbose=1 -j1 2>&1)"
rc=$?
printf '%s\n' "$out"
if [ "$rc" -eq 0 ] && grep -q 'Tested: 0 |' <<<"$out" && grep -q '\[SKIP\]' <<<"$out"; then
  echo "all tests SKIPPED (see the reasons above)"
  exit 77
fi
exit "$rc"
