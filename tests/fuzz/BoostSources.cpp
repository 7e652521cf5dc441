// Boost.JSON and Boost.URL built from source inside the fuzz build, so that their code is
// instrumented like Parley's (the fuzzer then sees coverage inside the JSON and URL parsers).
// Only the fuzz build compiles this file; the main build links Debian's libraries.
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
