# The shared library's interface: exported symbols against the header, and
# the layout of the public structs.
find_program(VS_NM NAMES nm)
if(VS_NM)
  add_test(NAME abi_exports_match_header
    COMMAND ${CMAKE_COMMAND} -DNM=${VS_NM} -DLIB=$<TARGET_FILE:varstore>
            -DHEADER=${PROJECT_SOURCE_DIR}/include/varstore.h
            -P ${CMAKE_CURRENT_SOURCE_DIR}/abi/check_exports.cmake)
  set_tests_properties(abi_exports_match_header PROPERTIES LABELS abi)
endif()
vs_add_test(NAME test_abi_layout SOURCES abi/test_abi_layout.c LABELS abi)
