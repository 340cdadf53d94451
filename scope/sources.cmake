# scope/, in dependency order (see scope_int.h): each file calls only the
# files listed before it.
target_sources(varstore_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/graph.c
  ${CMAKE_CURRENT_LIST_DIR}/names.c
  ${CMAKE_CURRENT_LIST_DIR}/seed.c
  ${CMAKE_CURRENT_LIST_DIR}/collections.c
  ${CMAKE_CURRENT_LIST_DIR}/scope.c
  ${CMAKE_CURRENT_LIST_DIR}/partitioner.c
  ${CMAKE_CURRENT_LIST_DIR}/variable.c
  ${CMAKE_CURRENT_LIST_DIR}/partitioned.c
  ${CMAKE_CURRENT_LIST_DIR}/getter.c
  ${CMAKE_CURRENT_LIST_DIR}/initializer.c
  ${CMAKE_CURRENT_LIST_DIR}/graph_close.c
  ${CMAKE_CURRENT_LIST_DIR}/scope_export.c)
