# The common start of the test scripts that take COSMOS_AR MPIEXEC SOURCE_DIR WORK_DIR
# (pipeline_mpi_lib.sh, test_generate.sh, tests/parallel/test_cli_mpi.sh), sourced with the
# script's arguments. It sets:
#  - BIN, MPIRUN, SRC, WORK (emptied), and the Open MPI / OpenMP environment of the tests;
#  - the pass / fail counters with ok, bad and finish NAME (prints the counts; fails when any failed).
# Each script defines its own `run` (its mpirun bound and binding).
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
