target_sources(varstore_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/codec.c
  ${CMAKE_CURRENT_LIST_DIR}/crc.c
  ${CMAKE_CURRENT_LIST_DIR}/inflate.c
  ${CMAKE_CURRENT_LIST_DIR}/pool.c
  ${CMAKE_CURRENT_LIST_DIR}/file.c
  ${CMAKE_CURRENT_LIST_DIR}/save.c
  ${CMAKE_CURRENT_LIST_DIR}/restore.c
  ${CMAKE_CURRENT_LIST_DIR}/admin.c
  ${CMAKE_CURRENT_LIST_DIR}/init_ckpt.c)
