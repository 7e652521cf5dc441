// LoginPairs: what each (account name, client address) pair has done at login lately: its wrong
// passwords in a row, until when it must wait, and when it last got in. The memory of
// auth/LoginPolicy. Never remembers more than its caps, and never lets pairs that only fail push
// out the pairs that got in (two lists, each bounded); not thread-safe (the auth thread's alone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace parley::auth {

class LoginPairs {
 public:
  struct State {
    int failures = 0;                // wrong passwords in a row
    std::int64_t lastFailureMs = 0;  // of the last of them
    std::int64_t blockedUntilMs = 0;
    std::int64_t lastSuccessMs = 0;  // 0: never got in
  };

  // Throws std::invalid_argument unless both caps are at least 1 (start-up only).
  LoginPairs(std::size_t maxFailing, std::size_t maxTrusted);
  LoginPairs(const LoginPairs&) = delete;
  LoginPairs& operator=(const LoginPairs&) = delete;

  // The pair's state, or null when it is not remembered (a pair that has done nothing).
  const State* find(std::string_view key, std::string_view address) const;
  // The pair's state to change, created empty when new; the pair becomes the most recently seen.
  // `trusted`: the pair got in (it moves to the list of pairs that did, and stays there).
  State& touch(std::string_view key, std::string_view address, bool trusted);

  std::size_t failing() const { return failing_.size(); }  // pairs that never got in
  std::size_t trusted() const { return trusted_.size(); }  // pairs that did

 private:
  struct Entry {
    std::string id;  // key and address, length-prefixed: no pair of strings gives another's id
    State state;
  };
  using Lru = std::list<Entry>;  // most recently seen first
  struct Where {
    Lru* list;
    Lru::iterator it;
  };

  static std::string idOf(std::string_view key, std::string_view address);
  void makeRoom(Lru& list);  // forgets the least recently seen pair of a full list

  const std::size_t maxFailing_;
  const std::size_t maxTrusted_;
  Lru failing_;
  Lru trusted_;
  std::unordered_map<std::string_view, Where> index_;  // views into the entries' ids
};

}  // namespace parley::auth
