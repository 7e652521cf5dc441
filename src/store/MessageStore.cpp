#include "store/MessageStore.h"

namespace parley::store {

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

MessageChange::Outcome decideChange(const MessageChange& change, const StoredMessage* row) {
  using Outcome = MessageChange::Outcome;
  if (!row || row->deleted) return Outcome::NotFound;
  const bool author = change.actorSignedIn && row->signedIn && row->username == change.actor;
  if (change.kind == MessageChange::Kind::Delete && change.moderator) return Outcome::Applied;
  return author ? Outcome::Applied : Outcome::NotAllowed;
}

}  // namespace parley::store
