# Turns a text file into a C++ source defining parley::web::indexHtml() (a raw string would
# break on the delimiter, so the bytes go in as a char array).
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" len)
math(EXPR n "${len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," body "${hex}")
file(WRITE ${OUT} "// Generated from the built browser client (web/) by cmake/EmbedFile.cmake. Do not edit.\n#include <string_view>\nnamespace parley::web {\nstatic const char kIndex[] = {${body} 0};\nstd::string_view indexHtml() { return {kIndex, ${n}}; }\n}  // namespace parley::web\n")
