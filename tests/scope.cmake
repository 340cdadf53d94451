vs_add_test(NAME test_scope SOURCES test_scope.c LABELS scope)
vs_add_test(NAME test_seed SOURCES test_seed.c LABELS scope)
# The public header alone, -pedantic, C11 and (if there is one) C++.
add_executable(header_check_c header_check.c)
target_include_directories(header_check_c PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_compile_options(header_check_c PRIVATE -Wall -Wextra -pedantic -Werror)
target_link_libraries(header_check_c PRIVATE varstore vs_options)
add_test(NAME header_check_c COMMAND header_check_c)
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  add_executable(header_check_cxx header_check.cpp)
  target_include_directories(header_check_cxx PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(header_check_cxx PRIVATE -Wall -Wextra -pedantic -Werror)
  target_link_libraries(header_check_cxx PRIVATE varstore)
  if(VS_SANITIZE)
    target_link_options(header_check_cxx PRIVATE -fsanitize=${VS_SANITIZE})
  endif()
  add_test(NAME header_check_cxx COMMAND header_check_cxx)
endif()
# The README's sqlite3 queries run verbatim on the demo's checkpoint file.
find_program(VS_SQLITE3_PROGRAM sqlite3)
# A sanitized extension cannot be loaded into the plain sqlite3 shell.
if(VS_SANITIZE)
  set(VS_SKIP_EXTENSION 1)
else()
  set(VS_SKIP_EXTENSION 0)
endif()
if(VS_SQLITE3_PROGRAM AND TARGET conv_demo)
  add_test(NAME readme_queries
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/readme_queries.sh
            ${PROJECT_SOURCE_DIR}/README.md $<TARGET_FILE:conv_demo>
            ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/readme-queries)
  set_tests_properties(readme_queries PROPERTIES
    PASS_REGULAR_EXPRESSION "readme queries: ok"
    ENVIRONMENT "VS_SKIP_EXTENSION=${VS_SKIP_EXTENSION}")
endif()
# Every relative link of README.md and docs/*.md points to a file (and a
# heading) that exists.
add_test(NAME docs_links
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/docs_links.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(docs_links PROPERTIES
  PASS_REGULAR_EXPRESSION "docs links: [0-9]+ relative links ok")
vs_add_test(NAME test_partitioned SOURCES test_partitioned.c LABELS scope)
