target_sources(varstore_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/error.c
  ${CMAKE_CURRENT_LIST_DIR}/threads.c
  ${CMAKE_CURRENT_LIST_DIR}/utf8.c)
