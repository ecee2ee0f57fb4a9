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
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()
