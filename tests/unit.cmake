# Unit tests: every state transition and every error path, one executable
# per feature (tests/unit_*.c), sharing tests/testutil.c. They link the
# tests' library (src/CMakeLists.txt), which has the I/O fault-injection
# seam (PTBM_FAULT_INJECTION defined); a test of the seam skips itself
# where it is not.
foreach(unit config latch evict file attach stats owner huge)
  ptbm_test(unit_${unit} SOURCES unit_${unit}.c testutil.c LABELS unit TIMEOUT 60)
  target_link_libraries(unit_${unit} PRIVATE PkgConfig::XXHASH)
endforeach()
