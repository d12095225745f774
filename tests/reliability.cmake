# Reliability (issue 5): the model-based randomized test in both sharing
# modes, invalid arguments to every public function, ENOSPC on a real small
# filesystem (root only; 77 otherwise), and a brief libFuzzer run of the
# operation sequence (scripts/fuzz.sh builds it with clang, here in this
# build's fuzz/ directory).
# PTBM_MODEL_SECONDS (else PTBM_STRESS_SECONDS) overrides the model's time.
foreach(mode threads processes)
  ptbm_test(model_${mode} SOURCES model.c testutil.c pagefmt.c LABELS reliability TIMEOUT 120
    ARGS --mode ${mode} --seconds 5)
  target_link_libraries(model_${mode} PRIVATE PkgConfig::XXHASH)
endforeach()

# The fuzzer needs clang's libFuzzer: built only by a clang build
# (scripts/fuzz.sh configures one with ASan and UBSan). Other
# builds run it briefly through that script (77 without clang).
if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
  add_executable(fuzz_ops fuzz_ops.c testutil.c pagefmt.c)
  target_include_directories(fuzz_ops PRIVATE ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_options(fuzz_ops PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_ops PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_ops PRIVATE ptbm_test ${CMOCKA_LIB} Threads::Threads PkgConfig::XXHASH)
endif()
if(PTBM_SANITIZE STREQUAL "")
  add_test(NAME fuzz_ops_brief
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh 10 ${CMAKE_BINARY_DIR}/fuzz)
  set_tests_properties(fuzz_ops_brief PROPERTIES LABELS reliability SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

ptbm_test(badinput SOURCES badinput.c testutil.c LABELS reliability TIMEOUT 60)
target_link_libraries(badinput PRIVATE PkgConfig::XXHASH)

ptbm_test(enospc SOURCES enospc.c pagefmt.c LABELS reliability TIMEOUT 120)
target_link_libraries(enospc PRIVATE PkgConfig::XXHASH)
