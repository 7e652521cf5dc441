#include "store/StoreConnection.h"

#include <stdexcept>

#include "store/InboxStore.h"
#include "store/PostgresStore.h"
#include "store/SqliteStore.h"

namespace parley::store {

std::optional<FsyncPolicy> parseFsyncPolicy(std::string_view name) {
  if (name == "none") return FsyncPolicy::None;
  if (name == "batch") return FsyncPolicy::Batch;
  if (name == "always") return FsyncPolicy::Always;
  return std::nullopt;
}

std::string_view fsyncPolicyName(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::None:
      return "none";
    case FsyncPolicy::Batch:
      return "batch";
    case FsyncPolicy::Always:
      return "always";
  }
  return "?";
}

std::unique_ptr<StoreConnection> openStore(const std::string& url, const StoreOptions& options) {
  const std::string_view u(url);
  if (u.starts_with("sqlite:")) {
    const std::string path = url.substr(7);
    if (path.empty())
      throw std::runtime_error("--db sqlite: needs a path, e.g. sqlite:./data/parley.db");
    if (path == ":memory:") return std::make_unique<SqliteStore>(path);
    return std::make_unique<InboxStore>(path, options.fsync);
  }
  // libpq parses the URI itself, including the parameters it documents after '?'.
  if (u.starts_with("postgres://") || u.starts_with("postgresql://"))
    return std::make_unique<PostgresStore>(url);
  throw std::runtime_error("unknown --db URL \"" + PostgresStore::redacted(url) +
                           "\": expected sqlite:PATH or postgres://user:pass@host:port/dbname");
}

}  // namespace parley::store
