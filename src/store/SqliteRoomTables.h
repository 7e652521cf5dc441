// SqliteRoomTables: the RoomStore's three tables (room_access, room_members, room_bans) in a
// SQLite database, for the SqliteStore whose connection it borrows. Statements are prepared per
// call: rooms change a few times a minute at most, and every connection of the server would
// otherwise pay for statements only the rooms thread uses. Never opens or closes the database.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/RoomStore.h"

struct sqlite3;

namespace parley::store {

class SqliteRoomTables {
 public:
  explicit SqliteRoomTables(sqlite3* db) : db_(db) {}

  StoreStatus createRoom(const RegisteredRoom& room, bool& created);
  StoreStatus putMember(std::string_view room, const RoomGrant& grant);
  StoreStatus removeMember(std::string_view room, std::string_view userKey);
  StoreStatus putBan(std::string_view room, const RoomBan& ban);
  StoreStatus removeBan(std::string_view room, std::string_view userKey);
  StoreStatus loadRooms(std::vector<RegisteredRoom>& out);

 private:
  StoreStatus failure(const char* what) const;
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; a false from it rolls back.
  template <class Body>
  StoreStatus transaction(const char* what, Body&& body);

  sqlite3* db_;
};

}  // namespace parley::store
