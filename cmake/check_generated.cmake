# check_generated.cmake: the configure step that keeps kernels/generated/ and analysis/generated/
# in step with kernels/variants.toml (the one table of kernel variants and mutants): it runs
# `kernels/generate_instantiations.py --check` and stops the configuration, naming the stale
# files, when they differ. Fails closed: no Python interpreter is an error too. Re-runs whenever
# the table, the generator or a generated file changes (CMAKE_CONFIGURE_DEPENDS).
find_package(Python3 3.11 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(FATAL_ERROR "attnscope: error: Python >= 3.11 (tomllib) is needed to check kernels/generated/ "
                      "against kernels/variants.toml (apt-get install python3)")
endif()
file(GLOB _generated ${PROJECT_SOURCE_DIR}/kernels/generated/* ${PROJECT_SOURCE_DIR}/analysis/generated/*)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/kernels/variants.toml ${PROJECT_SOURCE_DIR}/kernels/generate_instantiations.py ${_generated})
execute_process(COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/kernels/generate_instantiations.py --check
                RESULT_VARIABLE _stale ERROR_VARIABLE _stale_message)
if(NOT _stale EQUAL 0)
  message(FATAL_ERROR "${_stale_message}")
endif()
