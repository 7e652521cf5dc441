// StoreStatus: the outcome of one store call: ok, or a one-line reason (the database's own words
// where it gave some). Store calls never throw after the store is open; a failed call changes
// nothing.
#pragma once

#include <string>
#include <utility>

namespace parley::store {

struct StoreStatus {
  bool ok = true;
  std::string error;
  static StoreStatus failure(std::string why) { return {false, std::move(why)}; }
};

}  // namespace parley::store
