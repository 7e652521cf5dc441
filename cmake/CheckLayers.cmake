# ctest "layers": proves the part include views (CMakeLists.txt, parley_part) refuse what a part
# may not use. For every part and every part outside its closure, a one-line source that includes
# one of the other part's headers must fail to compile with only the first part's view on the
# include path ("No such file"). If someone puts src/ on a part's include path again, this fails.
# Arguments: -DCXX=compiler -DVIEWS=dir -DSRC=src-dir -DPARTS="a;b" -DCLOSURE_<part>="a;b"
set(failures 0)
string(REPLACE "," ";" PARTS "${PARTS}")
foreach(part IN LISTS PARTS)
  string(REPLACE "," ";" CLOSURE_${part} "${CLOSURE_${part}}")
  foreach(other IN LISTS PARTS)
    list(FIND CLOSURE_${part} ${other} allowed)
    if(NOT allowed EQUAL -1)
      continue()
    endif()
    file(GLOB headers ${SRC}/${other}/*.h)
    list(GET headers 0 header)
    get_filename_component(name ${header} NAME)
    set(probe "${CMAKE_CURRENT_BINARY_DIR}/layer-probe-${part}-${other}.cpp")
    file(WRITE ${probe} "#include \"${other}/${name}\"\n")
    execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${VIEWS}/${part} ${probe}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(rc EQUAL 0 OR NOT err MATCHES "No such file")
      message(SEND_ERROR "${part}/ can include ${other}/${name}: its layer forbids it")
      math(EXPR failures "${failures} + 1")
    else()
      message(STATUS "${part}/ cannot include ${other}/: refused")
    endif()
    file(REMOVE ${probe})
  endforeach()
endforeach()
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} layer violations")
endif()
