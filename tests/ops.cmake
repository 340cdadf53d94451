# ops/: tensors and dtypes, the Philox RNG, initializers (owner: ops).
vs_add_test(NAME test_tensor SOURCES test_tensor.c LABELS ops)
vs_add_test(NAME test_random SOURCES test_random.c LABELS ops)
vs_add_test(NAME test_init SOURCES test_init.c LABELS ops)
# conv/nn tests live in their owner's file, if any.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/ops_nn.cmake)
  include(${CMAKE_CURRENT_SOURCE_DIR}/ops_nn.cmake)
endif()
