// parley: flags and PARLEY_* variables -> Config -> the server.
#include <cstdio>
#include <exception>

#include "app/Config.h"
#include "app/Server.h"

int main(int argc, char** argv) {
  int exitCode = 0;
  auto config = parley::app::parseConfig(argc, argv, exitCode);
  if (!config) return exitCode;
  try {
    return parley::app::runServer(*config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley: %s\n", e.what());
    return 1;
  }
}
