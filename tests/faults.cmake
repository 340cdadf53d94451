# Fault injection: I/O faults through a wrapping SQLite VFS, and allocation
# failures through a counting allocator (the library's objects are linked
# with --wrap so their allocations go through it).
vs_add_test(NAME test_io_faults
  SOURCES faults/test_io_faults.c faults/io_shim.c TIMEOUT 900 LABELS faults)
target_include_directories(test_io_faults PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/faults ${CMAKE_CURRENT_SOURCE_DIR}/support)
