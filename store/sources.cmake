target_sources(varstore_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/codec/codec.c
  ${CMAKE_CURRENT_LIST_DIR}/codec/crc.c
  ${CMAKE_CURRENT_LIST_DIR}/codec/inflate.c
  ${CMAKE_CURRENT_LIST_DIR}/pool/pool.c
  ${CMAKE_CURRENT_LIST_DIR}/file/create.c
  ${CMAKE_CURRENT_LIST_DIR}/file/header.c
  ${CMAKE_CURRENT_LIST_DIR}/file/journal.c
  ${CMAKE_CURRENT_LIST_DIR}/file/open.c
  ${CMAKE_CURRENT_LIST_DIR}/file/readonly.c
  ${CMAKE_CURRENT_LIST_DIR}/file/sql.c
  ${CMAKE_CURRENT_LIST_DIR}/file/types.c
  ${CMAKE_CURRENT_LIST_DIR}/save/save.c
  ${CMAKE_CURRENT_LIST_DIR}/restore/decode.c
  ${CMAKE_CURRENT_LIST_DIR}/restore/init_ckpt.c
  ${CMAKE_CURRENT_LIST_DIR}/admin/admin.c)
