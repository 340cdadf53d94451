# Fault injection: I/O faults through a wrapping SQLite VFS, and allocation
# failures through a counting allocator (the library's objects are linked
# with --wrap so their allocations go through it).
vs_add_test(NAME test_io_faults
  SOURCES faults/test_io_faults.c faults/io_shim.c TIMEOUT 900 LABELS faults)
target_include_directories(test_io_faults PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/faults ${CMAKE_CURRENT_SOURCE_DIR}/support)

vs_add_test(NAME test_alloc_faults
  SOURCES faults/test_alloc_faults.c TIMEOUT 1500 LABELS faults)
target_include_directories(test_alloc_faults PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/faults ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_link_libraries(test_alloc_faults PRIVATE varstore_tools)
target_link_options(test_alloc_faults PRIVATE
  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,--wrap=aligned_alloc,--wrap=mmap)
# Under the sanitizers every 7th allocation fails (each point costs more
# there); the plain build fails every one in turn.
if(VS_SANITIZE)
  set_property(TEST test_alloc_faults APPEND PROPERTY ENVIRONMENT
    "VS_FAULT_STRIDE=7")
endif()

# kill -9 during save, prune, rename and restore (the CLI): a short run in
# every test run; `make stress` runs 400 kills.
if(TARGET varstore_cli AND VS_BASH)
  add_test(NAME test_kill_stress
    COMMAND ${VS_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/stress/kill_stress.sh
            $<TARGET_FILE:varstore_cli> 40)
  set_tests_properties(test_kill_stress PROPERTIES TIMEOUT 600
    LABELS "faults;stress"
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;VS_TEST_TMPDIR=${CMAKE_CURRENT_BINARY_DIR}")
endif()

# What deleting costs in writes (counted through the same VFS).
vs_add_test(NAME test_io_cost
  SOURCES faults/test_io_cost.c faults/io_shim.c LABELS store)
target_include_directories(test_io_cost PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/faults ${CMAKE_CURRENT_SOURCE_DIR}/support)

# I/O faults while a save upgrades a version-2 file (the committed fixture)
# to version 3.
vs_add_test(NAME test_upgrade_faults
  SOURCES faults/test_upgrade_faults.c faults/io_shim.c TIMEOUT 900
  LABELS faults)
target_include_directories(test_upgrade_faults PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/faults ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_compile_definitions(test_upgrade_faults PRIVATE
  VS_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
