# tests of tf/: TensorFlow checkpoints (TensorBundle V2) read and written.
vs_add_test(NAME test_tf_bundle SOURCES test_tf_bundle.c LABELS tf)
target_include_directories(test_tf_bundle PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/support ${PROJECT_SOURCE_DIR}/tf)
target_compile_definitions(test_tf_bundle PRIVATE
  VS_TF_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures/tf")
