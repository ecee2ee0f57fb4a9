# gdaqd_cc_test(NAME foo_test SRCS foo_test.cc DEPS lib... [LABELS unit] [TIMEOUT 60])
# Builds one GoogleTest binary and registers each TEST with ctest, labelled and time-limited
# (like MuJoCo's mujoco_test helper). SRCS defaults to NAME.cc.
function(gdaqd_cc_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT T_SRCS)
    set(T_SRCS ${T_NAME}.cc)
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} gdaqd_testing GTest::gtest_main GTest::gmock
                                          gdaqd_warnings)
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60)
  # Labels and timeout are set by a script ctest includes after the discovered tests, from the
  # list gtest_discover_tests leaves in ${T_NAME}_TESTS: passed through its PROPERTIES, a list
  # of labels ("fault;integration") is flattened on the way, so a test kept only its first
  # label and lost its TIMEOUT.
  set(properties_file "${CMAKE_CURRENT_BINARY_DIR}/${T_NAME}_properties.cmake")
  file(WRITE "${properties_file}"
       "foreach(t IN LISTS ${T_NAME}_TESTS)\n"
       "  set_tests_properties(\"\${t}\" PROPERTIES LABELS \"${T_LABELS}\" TIMEOUT ${T_TIMEOUT})\n"
       "endforeach()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${properties_file}")
endfunction()
