target_sources(varstore_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/store_stub.c)
