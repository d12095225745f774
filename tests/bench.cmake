# bench: `ptbm bench` end to end on tiny sizes (every engine, both modes,
# both sections, one round), its JSON checked for every key the report
# promises; and bad arguments, which must exit with status 2 before any work.
add_test(NAME bench_smoke
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/bench_check.sh smoke $<TARGET_FILE:ptbm>
          ${CMAKE_CURRENT_BINARY_DIR}/bench_smoke)
add_test(NAME bench_bad_arguments
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/bench_check.sh bad-arguments $<TARGET_FILE:ptbm>
          ${CMAKE_CURRENT_BINARY_DIR}/bench_bad_arguments)
set_tests_properties(bench_smoke bench_bad_arguments PROPERTIES LABELS bench TIMEOUT 300)
