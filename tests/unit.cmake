# Unit tests: every state transition and every error path, one executable
# per feature (tests/unit_*.c), sharing tests/testutil.c.
foreach(unit config latch evict file attach stats)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit_${unit}.c)
    ptbm_test(unit_${unit} SOURCES unit_${unit}.c testutil.c LABELS unit TIMEOUT 60)
    target_link_libraries(unit_${unit} PRIVATE PkgConfig::XXHASH)
  endif()
endforeach()
