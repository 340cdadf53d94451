# tf/: TensorFlow checkpoints (TensorBundle V2) read and written.
target_include_directories(varstore_objects PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_sources(varstore_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/crc32c.c
  ${CMAKE_CURRENT_LIST_DIR}/proto.c
  ${CMAKE_CURRENT_LIST_DIR}/table_read.c
  ${CMAKE_CURRENT_LIST_DIR}/table_write.c
  ${CMAKE_CURRENT_LIST_DIR}/entry.c
  ${CMAKE_CURRENT_LIST_DIR}/slice_key.c
  ${CMAKE_CURRENT_LIST_DIR}/state.c
  ${CMAKE_CURRENT_LIST_DIR}/path.c
  ${CMAKE_CURRENT_LIST_DIR}/bundle_read.c
  ${CMAKE_CURRENT_LIST_DIR}/bundle_write.c
  ${CMAKE_CURRENT_LIST_DIR}/api.c)
