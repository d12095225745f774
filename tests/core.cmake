# Stress: the vm engine in both sharing modes (the baseline engines register
# theirs in engines.cmake). PTBM_STRESS_SECONDS overrides the duration.
ptbm_test(stress_vm_threads SOURCES stress.c pagefmt.c LABELS stress TIMEOUT 180
  ARGS --engine vm --mode threads --seconds 4 --workers 3)
ptbm_test(stress_vm_processes SOURCES stress.c pagefmt.c LABELS stress TIMEOUT 180
  ARGS --engine vm --mode processes --seconds 4 --workers 3)
target_link_libraries(stress_vm_threads PRIVATE PkgConfig::XXHASH)
target_link_libraries(stress_vm_processes PRIVATE PkgConfig::XXHASH)

# Kill -9 at chosen moments (latched, loading, writing back, everyone).
# PTBM_KILL_ROUNDS overrides the number of rounds.
ptbm_test(kill SOURCES kill.c pagefmt.c LABELS stress TIMEOUT 300 ARGS --rounds 12)
target_link_libraries(kill PRIVATE PkgConfig::XXHASH)
