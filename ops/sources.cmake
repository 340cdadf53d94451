# ops/: tensors, dtypes, RNG, initializers (owner: ops work) and conv/nn ops.
target_sources(varstore_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/tensor.c
  ${CMAKE_CURRENT_LIST_DIR}/buffers.c
  ${CMAKE_CURRENT_LIST_DIR}/random.c
  ${CMAKE_CURRENT_LIST_DIR}/init.c
  ${CMAKE_CURRENT_LIST_DIR}/conv.c
  ${CMAKE_CURRENT_LIST_DIR}/gemm.c
  ${CMAKE_CURRENT_LIST_DIR}/nn.c)
