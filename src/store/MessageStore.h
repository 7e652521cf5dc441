// MessageStore: durable chat history, one room's messages in id order, behind one interface
// (SQLite embedded, PostgreSQL server). What the store writer, the store reader and the hub use.
// Blocking calls made only from the store's own threads: never from an event loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/StoreStatus.h"
#include "store/StringHash.h"

namespace parley::store {

struct StoredMessage {
  std::uint64_t id = 0;  // per room, from 1, no gaps in what is stored
  std::string room;
  std::string username;
  std::string content;
  std::string clientId;  // empty when the client gave none
  std::int64_t unixMillis = 0;
  // The sender's name was proven (a token): only then may its author edit or delete it later
  // (with --auth open an anonymous name proves nothing; messages of the server API have none).
  bool signedIn = false;
  // Changed after it was stored (applyChanges): a deleted message is a tombstone (its id stays,
  // its content is emptied); an edited one carries the time of its last edit (0: never edited).
  bool deleted = false;
  std::int64_t editedMillis = 0;
  // For the writer, not stored: when > 0, the message is a send whose client_id the room's owner
  // cannot vouch for (its memory is younger than the window: a restart): if the store holds a
  // message of the same room, user and client_id at or after this time, that one is the answer
  // and nothing is stored (`duplicate` is set on the way back, with the original's fields).
  std::int64_t checkClientIdSince = 0;
  bool duplicate = false;
  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

// An edit or a delete of one stored message, asked by `actor`. The store decides with the
// stored row (decideChange: the same rule in every store) and, when allowed, applies it.
struct MessageChange {
  enum class Kind : std::uint8_t { Edit, Delete };
  enum class Outcome : std::uint8_t {
    Applied,     // done: announce it
    NotFound,    // no such message in the room, or it was deleted already
    NotAllowed,  // the actor is not its signed-in author (nor, for a delete, a moderator)
  };
  Kind kind = Kind::Delete;
  std::string room;
  std::uint64_t id = 0;
  std::string actor;            // who asks
  bool actorSignedIn = false;   // the actor's name is proven (a token)
  bool moderator = false;       // may delete any message of the room (chat::ModerationPolicy)
  std::string content;          // Edit: the new text
  std::int64_t unixMillis = 0;  // when it was asked: an edit's edited_at
  Outcome outcome = Outcome::NotFound;  // set by applyChanges
};

// The rule every store applies to `row` (null: no such message): the author edits and deletes
// its own messages when both its send and this request were signed in; a moderator deletes any.
// A deleted message is gone for both (NotFound): a tombstone is never edited back to life.
MessageChange::Outcome decideChange(const MessageChange& change, const StoredMessage* row);

struct RoomSummary {
  std::string room;
  std::uint64_t lastId = 0;
  std::int64_t lastMillis = 0;
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // Appends `batch` in ONE transaction: all of it or none. Ids are given by the caller and must
  // continue each room's sequence (the store enforces uniqueness of (room, id)). Appending what
  // is already stored, exactly, succeeds (a retry of a batch whose outcome the caller missed).
  virtual StoreStatus append(std::span<const StoredMessage> batch) = 0;

  // Highest stored id of `room`, 0 if none.
  virtual StoreStatus lastId(std::string_view room, std::uint64_t& out) = 0;

  // Messages of `room` with id > afterId, ascending, at most `limit`.
  virtual StoreStatus after(std::string_view room, std::uint64_t afterId, std::size_t limit,
                            std::vector<StoredMessage>& out) = 0;

  // The newest `limit` messages of `room` with id < beforeId (beforeId 0: no bound), returned
  // oldest first.
  virtual StoreStatus before(std::string_view room, std::uint64_t beforeId, std::size_t limit,
                             std::vector<StoredMessage>& out) = 0;

  // The message `username` sent to `room` with `clientId` at or after `notBeforeMillis`, if any
  // (idempotent retries).
  virtual StoreStatus findByClientId(std::string_view room, std::string_view username,
                                     std::string_view clientId, std::int64_t notBeforeMillis,
                                     std::optional<StoredMessage>& out) = 0;

  // Rooms that have messages, by most recent activity first, at most `limit`.
  virtual StoreStatus rooms(std::size_t limit, std::vector<RoomSummary>& out) = 0;

  // Decides and applies `changes` in order, in ONE transaction (all of it or none), setting each
  // one's outcome. An edit sets the content and editedMillis; a delete empties the content and
  // sets deleted (the row, its id and its client_id stay: ids have no gaps). Every message a
  // change refers to must have been appended before the call (the writer keeps that order).
  virtual StoreStatus applyChanges(std::span<MessageChange> changes) = 0;
};

// The largest id or count either store can hold (a signed 64-bit column).
inline constexpr std::int64_t kMaxStoredInteger = std::numeric_limits<std::int64_t>::max();

// Both stores accept exactly the same batches: ids in 1..2^63-1 (a signed 64-bit column) and
// text without NUL bytes (PostgreSQL cannot store NUL). Returns why not, or "" when fine.
std::string validateBatch(std::span<const StoredMessage> batch);

}  // namespace parley::store
