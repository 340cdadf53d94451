vs_add_test(NAME test_scope SOURCES test_scope.c LABELS scope)
vs_add_test(NAME test_seed SOURCES test_seed.c LABELS scope)
# The installed header, library, CMake package and pkg-config file work.
if(NOT VS_SANITIZE)
  add_test(NAME install_consumer
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/check.sh ${PROJECT_BINARY_DIR}
            ${CMAKE_CURRENT_SOURCE_DIR}/install ${CMAKE_CURRENT_BINARY_DIR}/install-check)
  set_tests_properties(install_consumer PROPERTIES TIMEOUT 300
    PASS_REGULAR_EXPRESSION "install check: ok")
endif()
