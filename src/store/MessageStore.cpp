#include "store/MessageStore.h"

#include <limits>
#include <stdexcept>

#include "store/PostgresStore.h"
#include "store/SqliteStore.h"

namespace parley::store {

std::unique_ptr<MessageStore> openStore(const std::string& url) {
  const std::string_view u(url);
  if (u.starts_with("sqlite:")) {
    if (u.size() == 7)
      throw std::runtime_error("--db sqlite: needs a path, e.g. sqlite:./data/parley.db");
    return std::make_unique<SqliteStore>(url.substr(7));
  }
  // libpq parses the URI itself, including the parameters it documents after '?'.
  if (u.starts_with("postgres://") || u.starts_with("postgresql://"))
    return std::make_unique<PostgresStore>(url);
  throw std::runtime_error("unknown --db URL \"" + PostgresStore::redacted(url) +
                           "\": expected sqlite:PATH or postgres://user:pass@host:port/dbname");
}

std::string validateBatch(std::span<const StoredMessage> batch) {
  constexpr auto kMaxId = static_cast<std::uint64_t>(kMaxStoredInteger);
  for (const auto& m : batch) {
    if (m.id == 0 || m.id > kMaxId)
      return "message id " + std::to_string(m.id) + " is out of range";
    for (std::string_view s : {std::string_view(m.room), std::string_view(m.username),
                               std::string_view(m.content), std::string_view(m.clientId)})
      if (s.find('\0') != std::string_view::npos) return "message text contains a NUL byte";
  }
  return {};
}

std::string accountKey(std::string_view username) {
  std::string key(username);
  for (char& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return key;
}

}  // namespace parley::store
