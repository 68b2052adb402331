# Run at build time (CMakeLists.txt, target cosmos_git_sha): writes OUT, a C header defining
# COSMOS_GIT_SHA as the short commit of the source tree SRC, with "-dirty" when tracked files differ
# from that commit, or "unknown" outside a git checkout. The file is rewritten only when its text
# changes, so only core/git_sha.c recompiles after a commit. (Taken at configure time, as before,
# the commit went stale in a build directory that outlived it, and benchmark provenance named the
# wrong commit.)
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY "${SRC}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE sha OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT rc EQUAL 0 OR NOT sha)
  set(sha "unknown")
else()
  execute_process(COMMAND git diff --quiet HEAD -- WORKING_DIRECTORY "${SRC}" RESULT_VARIABLE dirty
                  OUTPUT_QUIET ERROR_QUIET)
  if(dirty EQUAL 1)
    set(sha "${sha}-dirty")
  endif()
endif()
set(text "/* Generated at build time by tools/git_sha.cmake. */\n#define COSMOS_GIT_SHA \"${sha}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
