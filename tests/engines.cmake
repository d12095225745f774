# The engines behind the one API (tests/engine_tests.c): each engine in
# threads mode and in processes mode (fork; skipped under TSan), the vm
# engine too as the reference the baselines must match. Then the generic
# stress test (tests/stress.c) against the baseline engines.
foreach(engine vm hash mmap)
  foreach(mode threads processes)
    if(mode STREQUAL "threads")
      set(name engine_${engine})
    else()
      set(name engine_${engine}_processes)
    endif()
    ptbm_test(${name} SOURCES engine_tests.c testutil.c LABELS unit TIMEOUT 120
      ARGS ${engine} ${mode})
    target_link_libraries(${name} PRIVATE PkgConfig::XXHASH)
  endforeach()
endforeach()

# the same sources as the vm stress test (core.cmake, included before this)
get_target_property(stress_sources stress_vm_threads SOURCES)
foreach(engine hash mmap)
  foreach(mode threads processes)
    ptbm_test(stress_${engine}_${mode} SOURCES ${stress_sources} LABELS stress TIMEOUT 180
      ARGS --engine ${engine} --mode ${mode} --seconds 4 --workers 3)
    target_link_libraries(stress_${engine}_${mode} PRIVATE PkgConfig::XXHASH)
  endforeach()
endforeach()
