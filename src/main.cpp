// parley: flags and PARLEY_* variables -> Config -> the server.
#include <algorithm>
#include <cstdio>
#include <exception>

#include "app/Config.h"
#include "app/FileTable.h"
#include "app/Server.h"

int main(int argc, char** argv) {
  int exitCode = 0;
  auto config = parley::app::parseConfig(argc, argv, exitCode);
  if (!config) return exitCode;
  // Before any thread exists (FileTable.h says why); past 65,536 descriptors the rare growth
  // stall is cheaper than half a MiB of kernel memory per 65,536 reserved.
  parley::app::reserveFileTable(
      std::min<std::size_t>(config->maxConnections + parley::app::kSpareDescriptors, 65536));
  try {
    return parley::app::runServer(*config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley: %s\n", e.what());
    return 1;
  }
}
