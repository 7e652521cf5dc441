#include "store/StoreConnection.h"

#include <stdexcept>

#include "store/InboxStore.h"
#include "store/PostgresStore.h"
#include "store/SqliteStore.h"

namespace parley::store {

std::unique_ptr<StoreConnection> openStore(const std::string& url) {
  const std::string_view u(url);
  if (u.starts_with("sqlite:")) {
    const std::string path = url.substr(7);
    if (path.empty())
      throw std::runtime_error("--db sqlite: needs a path, e.g. sqlite:./data/parley.db");
    if (path == ":memory:") return std::make_unique<SqliteStore>(path);
    return std::make_unique<InboxStore>(path);
  }
  // libpq parses the URI itself, including the parameters it documents after '?'.
  if (u.starts_with("postgres://") || u.starts_with("postgresql://"))
    return std::make_unique<PostgresStore>(url);
  throw std::runtime_error("unknown --db URL \"" + PostgresStore::redacted(url) +
                           "\": expected sqlite:PATH or postgres://user:pass@host:port/dbname");
}

}  // namespace parley::store
