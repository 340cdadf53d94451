# The installed header, library, CMake package and pkg-config file work,
# shared and static (not under sanitizers: a consumer built without them
# cannot load a sanitized library).
if(NOT VS_SANITIZE)
  add_test(NAME install_consumer
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/check.sh ${PROJECT_BINARY_DIR}
            ${CMAKE_CURRENT_SOURCE_DIR}/install ${CMAKE_CURRENT_BINARY_DIR}/install-check)
  set_tests_properties(install_consumer PROPERTIES TIMEOUT 300
    LABELS install PASS_REGULAR_EXPRESSION "install check: ok")
endif()
