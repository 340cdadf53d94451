target_sources(varstore_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/graph.c
  ${CMAKE_CURRENT_LIST_DIR}/scope.c
  ${CMAKE_CURRENT_LIST_DIR}/variable.c
  ${CMAKE_CURRENT_LIST_DIR}/scope_export.c
  ${CMAKE_CURRENT_LIST_DIR}/partitioned.c)
