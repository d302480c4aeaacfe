# attnscope_install.cmake: `cmake --install <build> [--prefix P]` installs the `attnscope` binary,
# the C++ libraries as exported targets attnscope::core, ::references, ::analysis, ::kernels,
# ::experiments, ::reports (a consumer does find_package(attnscope) and links one of them; see
# examples/cmake_consumer/), their headers under include/attnscope/<folder>/ (included as
# "core/half.h", ...), and the Python package under lib/python3/dist-packages/attnscope.
# Inside another project (add_subdirectory) the same names exist as ALIAS targets.
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(_attnscope_libraries core references analysis kernels experiments reports)
foreach(lib ${_attnscope_libraries})
  set_target_properties(attnscope_${lib} PROPERTIES EXPORT_NAME ${lib})
  add_library(attnscope::${lib} ALIAS attnscope_${lib})
endforeach()
# Interface helpers the libraries link (toml++ header-only, MPFI found by hand).
set_target_properties(attnscope_tomlpp PROPERTIES EXPORT_NAME tomlpp)
set_target_properties(attnscope_mpfi PROPERTIES EXPORT_NAME mpfi)

list(TRANSFORM _attnscope_libraries PREPEND attnscope_ OUTPUT_VARIABLE _attnscope_targets)
install(TARGETS ${_attnscope_targets} attnscope_tomlpp attnscope_mpfi EXPORT attnscopeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/attnscope)
foreach(dir core references analysis kernels experiments reports)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/attnscope/${dir}
          FILES_MATCHING PATTERN "*.h" PATTERN "*.cuh")
endforeach()
install(EXPORT attnscopeTargets NAMESPACE attnscope:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attnscope)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/attnscopeConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/attnscopeConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attnscope)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/attnscopeConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/attnscopeConfig.cmake ${PROJECT_BINARY_DIR}/attnscopeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attnscope)
