# Shows that the tracking macros compile to nothing when CORE_MEMORY_TRACKING is off: the probe is
# compiled to assembly at -O2 without the macros, with them off, and with them on; the first two
# must be identical and the third must differ (so the probe can see the macros at all).
# cmake -DCXX=<compiler> -DINCLUDE=<include dir> -DSOURCE=<probe.cpp> -DWORK=<dir> -P macros_zero_cost.cmake
function(compile name)
  execute_process(COMMAND ${CXX} -std=c++20 -O2 -S -I${INCLUDE} ${ARGN} ${SOURCE} -o ${WORK}/${name}.s
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compiling the probe (${name}) failed: ${err}")
  endif()
  file(STRINGS ${WORK}/${name}.s lines)
  set(count 0)
  foreach(line IN LISTS lines)
    if(line MATCHES "^\t[a-z]" AND NOT line MATCHES "^\t\\.")
      math(EXPR count "${count} + 1")
    endif()
  endforeach()
  message(STATUS "${name}: ${count} instructions")
  file(READ ${WORK}/${name}.s text)
  set(${name} "${text}" PARENT_SCOPE)
endfunction()

compile(plain -DUSE_MACROS=0)
compile(macros_off -DUSE_MACROS=1)
compile(macros_on -DUSE_MACROS=1 -DCORE_MEMORY_TRACKING=1)
if(NOT plain STREQUAL macros_off)
  message(FATAL_ERROR "the disabled tracking macros changed the generated code (see ${WORK}/plain.s and macros_off.s)")
endif()
if(plain STREQUAL macros_on)
  message(FATAL_ERROR "the enabled tracking macros generated no code: the probe does not see them")
endif()
message(STATUS "disabled tracking macros: identical code")
