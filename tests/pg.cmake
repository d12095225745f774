# pg.cmake: the PostgreSQL extension (ext/postgresql) against this build's
# libptbm.a: pg_regress and the crash-restart and bad-setting checks on
# temporary clusters (scripts/pg.sh). Exit 77 (skipped) where PostgreSQL 15,
# its PGXS or the right to install the extension is missing. Not registered
# in sanitizer builds: an instrumented library cannot load into postgres.
if(PTBM_SANITIZE STREQUAL "")
  add_test(NAME pg_regress
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/pg.sh --test-only --build ${CMAKE_BINARY_DIR})
  set_tests_properties(pg_regress PROPERTIES LABELS pg SKIP_RETURN_CODE 77 TIMEOUT 300
    RUN_SERIAL TRUE)
endif()
