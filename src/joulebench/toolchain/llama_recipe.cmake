# joulebench's per-target recipe for llama.cpp (benchmarks/RESULTS.md, issue 16).
#
# Passed as -DCMAKE_PROJECT_INCLUDE=<a copy of this file in the build folder>: CMake includes it
# right after every project() call; at the top-level one it defers its work to the end of the
# top-level CMakeLists.txt, when every target exists. The variables come from
# joulebench/toolchain/llamacpp.py (recipe_args):
#   JOULEBENCH_TARGET_OPTS    target=flag items (e.g. llama=-O1): the flag is appended to the
#                             target's C/C++ compile options, after the release flags (the last -O
#                             wins); targets not named (ggml, ggml-base, ggml-cpu) keep the release flags
#   JOULEBENCH_UNITY_TARGETS  targets compiled as unity builds (heavy headers parsed once per batch)
#   JOULEBENCH_UNITY_BATCH    sources per unity batch
#   JOULEBENCH_UNITY_SKIP     target=source items (source as the target lists it) kept out of the
#                             target's unity batches (files that refuse to share a batch)
#   JOULEBENCH_SOURCE_OPTS    target=source=flag items: the flag is appended to that one source's
#                             compile options (sources of a target that otherwise keeps the release
#                             flags, e.g. libllama's model loader)
if(NOT CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)
  return()  # a sub-project's project() (ggml): the top-level one does the work
endif()
if(CMAKE_VERSION VERSION_LESS 3.19)
  message(FATAL_ERROR "joulebench: the llama.cpp build recipe (${CMAKE_CURRENT_LIST_FILE}) needs "
                      "CMake >= 3.19 (cmake_language DEFER); this is ${CMAKE_VERSION} "
                      "(`python3 -m pip install --user 'cmake>=3.19'` gives a newer one)")
endif()
set(JOULEBENCH_RECIPE_FILE "${CMAKE_CURRENT_LIST_FILE}")

function(joulebench_require_targets kind)
  foreach(target IN LISTS ARGN)
    if(NOT TARGET "${target}")
      message(FATAL_ERROR "joulebench: llama.cpp has no target '${target}' (${kind} in "
                          "${JOULEBENCH_RECIPE_FILE}; set in joulebench/toolchain/llamacpp.py): "
                          "this llama.cpp's targets differ from the recipe's, update the recipe")
    endif()
  endforeach()
endfunction()

# The full path of `source` as `target` lists it (relative paths are read from the target's folder).
function(joulebench_source_path out target source variable)
  get_target_property(sources "${target}" SOURCES)
  if(NOT source IN_LIST sources)
    message(FATAL_ERROR "joulebench: target '${target}' has no source '${source}' "
                        "(${variable} in ${JOULEBENCH_RECIPE_FILE}): update the recipe")
  endif()
  get_target_property(target_dir "${target}" SOURCE_DIR)
  set(${out} "${target_dir}/${source}" PARENT_SCOPE)
endfunction()

function(joulebench_apply_recipe)
  set(opt_targets "")
  foreach(item IN LISTS JOULEBENCH_TARGET_OPTS JOULEBENCH_UNITY_SKIP)
    if(NOT item MATCHES "^([^=]+)=(.+)$")
      message(FATAL_ERROR "joulebench: JOULEBENCH_TARGET_OPTS/JOULEBENCH_UNITY_SKIP item '${item}' "
                          "is not target=value")
    endif()
    list(APPEND opt_targets "${CMAKE_MATCH_1}")
  endforeach()
  foreach(item IN LISTS JOULEBENCH_SOURCE_OPTS)
    if(NOT item MATCHES "^([^=]+)=([^=]+)=(.+)$")
      message(FATAL_ERROR "joulebench: JOULEBENCH_SOURCE_OPTS item '${item}' is not target=source=flag")
    endif()
    list(APPEND opt_targets "${CMAKE_MATCH_1}")
  endforeach()
  joulebench_require_targets("JOULEBENCH_TARGET_OPTS, JOULEBENCH_UNITY_SKIP or JOULEBENCH_SOURCE_OPTS"
                             ${opt_targets})
  joulebench_require_targets(JOULEBENCH_UNITY_TARGETS ${JOULEBENCH_UNITY_TARGETS})
  foreach(item IN LISTS JOULEBENCH_TARGET_OPTS)
    string(REGEX MATCH "^([^=]+)=(.+)$" _ "${item}")
    set_property(TARGET "${CMAKE_MATCH_1}" APPEND PROPERTY COMPILE_OPTIONS
                 "$<$<COMPILE_LANGUAGE:C,CXX>:${CMAKE_MATCH_2}>")
  endforeach()
  foreach(target IN LISTS JOULEBENCH_UNITY_TARGETS)
    set_target_properties("${target}" PROPERTIES UNITY_BUILD ON
                          UNITY_BUILD_BATCH_SIZE "${JOULEBENCH_UNITY_BATCH}")
  endforeach()
  foreach(item IN LISTS JOULEBENCH_UNITY_SKIP)
    string(REGEX MATCH "^([^=]+)=(.+)$" _ "${item}")
    joulebench_source_path(path "${CMAKE_MATCH_1}" "${CMAKE_MATCH_2}" JOULEBENCH_UNITY_SKIP)
    set_source_files_properties("${path}" TARGET_DIRECTORY "${CMAKE_MATCH_1}"
                                PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  endforeach()
  foreach(item IN LISTS JOULEBENCH_SOURCE_OPTS)
    string(REGEX MATCH "^([^=]+)=([^=]+)=(.+)$" _ "${item}")
    set(flag "${CMAKE_MATCH_3}")
    set(target "${CMAKE_MATCH_1}")
    joulebench_source_path(path "${target}" "${CMAKE_MATCH_2}" JOULEBENCH_SOURCE_OPTS)
    # after the target's and the release flags on the command line: the last -O wins
    set_property(SOURCE "${path}" TARGET_DIRECTORY "${target}" APPEND PROPERTY COMPILE_OPTIONS "${flag}")
  endforeach()
  message(STATUS "joulebench recipe: compile options ${JOULEBENCH_TARGET_OPTS}; "
                 "per source ${JOULEBENCH_SOURCE_OPTS}; "
                 "unity builds (batch ${JOULEBENCH_UNITY_BATCH}) for ${JOULEBENCH_UNITY_TARGETS}, "
                 "without ${JOULEBENCH_UNITY_SKIP}")
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL joulebench_apply_recipe)
