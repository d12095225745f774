# Unit tests: every state transition and every error path, one executable
# per feature (tests/unit_*.c), sharing tests/testutil.c. Tests of the I/O
# fault-injection seam skip themselves unless PTBM_FAULT_INJECTION is on.
foreach(unit config latch evict file attach stats owner)
  ptbm_test(unit_${unit} SOURCES unit_${unit}.c testutil.c LABELS unit TIMEOUT 60)
  target_link_libraries(unit_${unit} PRIVATE PkgConfig::XXHASH)
  if(PTBM_FAULT_INJECTION)
    target_compile_definitions(unit_${unit} PRIVATE PTBM_FAULT_INJECTION=1)
  endif()
endforeach()
