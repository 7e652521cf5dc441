#include "app/FileTable.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace parley::app {

namespace {

std::size_t tableSize() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("FDSize:", 0) == 0) return std::stoul(line.substr(7));
  return 0;
}

}  // namespace

std::size_t reserveFileTable(std::size_t fds) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    fds = std::min<std::size_t>(fds, rl.rlim_cur);
  if (fds > 1 && tableSize() < fds) {
    // Occupying the highest descriptor makes the kernel size the table for it; closing it
    // leaves the table as it is (tables never shrink).
    const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (probe >= 0) {
      const int high = ::fcntl(probe, F_DUPFD_CLOEXEC, static_cast<int>(fds - 1));
      if (high >= 0) ::close(high);
      ::close(probe);
    }
  }
  return tableSize();
}

}  // namespace parley::app
