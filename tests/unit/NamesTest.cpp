#include <gtest/gtest.h>

#include <string>

#include "chat/Names.h"

namespace parley::chat {
namespace {

TEST(RoomName, AcceptsTheDocumentedSet) {
  EXPECT_EQ(roomNameError("general"), nullptr);
  EXPECT_EQ(roomNameError("Room-1_a.b~c"), nullptr);
  EXPECT_EQ(roomNameError(std::string(64, 'r')), nullptr);
}

TEST(RoomName, RefusesEverythingElse) {
  EXPECT_NE(roomNameError(""), nullptr);
  EXPECT_NE(roomNameError(std::string(65, 'r')), nullptr);
  EXPECT_NE(roomNameError("a b"), nullptr);
  EXPECT_NE(roomNameError("a/b"), nullptr);
  EXPECT_NE(roomNameError(std::string_view("a\0b", 3)), nullptr);
  EXPECT_NE(roomNameError("caf\xC3\xA9"), nullptr);
  EXPECT_NE(roomNameError("a?b"), nullptr);
}

TEST(Username, AcceptsUnicodeUpTo32Characters) {
  EXPECT_EQ(usernameError("Alice"), nullptr);
  EXPECT_EQ(usernameError("Zo\xC3\xAB Smith"), nullptr);  // inner space is fine
  std::string emoji32;
  for (int i = 0; i < 32; ++i) emoji32 += "\xF0\x9F\x98\x80";
  EXPECT_EQ(usernameError(emoji32), nullptr);
  EXPECT_NE(usernameError(emoji32 + "a"), nullptr);
}

TEST(Username, RefusesEmptyControlsBadUtf8AndOuterSpace) {
  EXPECT_NE(usernameError(""), nullptr);
  EXPECT_NE(usernameError(std::string(33, 'a')), nullptr);
  EXPECT_NE(usernameError("a\x01"), nullptr);
  EXPECT_NE(usernameError("a\x7f"), nullptr);
  EXPECT_NE(usernameError("a\xC2\x85"), nullptr);  // U+0085, a C1 control
  EXPECT_NE(usernameError(std::string_view("a\0", 2)), nullptr);
  EXPECT_NE(usernameError(" bob"), nullptr);
  EXPECT_NE(usernameError("bob "), nullptr);
  EXPECT_NE(usernameError("bob\xE3\x80\x80"), nullptr);  // ideographic space
  EXPECT_NE(usernameError("\xC3"), nullptr);             // truncated
  EXPECT_NE(usernameError("\xC0\xAF"), nullptr);         // overlong
  EXPECT_NE(usernameError("\xED\xA0\x80"), nullptr);     // surrogate
}

TEST(Username, IsGivenInNfc) {
  std::string nfc;
  EXPECT_EQ(checkUsername("Zoe\xcc\x88", nfc), nullptr);  // e + combining diaeresis
  EXPECT_EQ(nfc, "Zo\xc3\xab");                           // ë
  EXPECT_EQ(checkUsername("Zo\xc3\xab", nfc), nullptr);
  EXPECT_EQ(nfc, "Zo\xc3\xab");
  EXPECT_EQ(checkUsername("Alice", nfc), nullptr);
  EXPECT_EQ(nfc, "Alice");
  // Counted once composed: 32 e-acutes spelled with combining marks are 32 characters.
  std::string decomposed;
  for (int i = 0; i < 32; ++i) decomposed += "e\xcc\x81";
  EXPECT_EQ(checkUsername(decomposed, nfc), nullptr);
  EXPECT_NE(checkUsername(decomposed + "e\xcc\x81", nfc), nullptr);
}

// One of each kind of character that hides, or that changes how the rest is shown.
TEST(Username, RefusesInvisibleAndBidiCharacters) {
  const char* kinds[][2] = {
      {"\xe2\x80\x8b", "U+200B zero-width space"},
      {"\xe2\x80\x8c", "U+200C zero-width non-joiner"},
      {"\xe2\x80\x8d", "U+200D zero-width joiner, outside an emoji"},
      {"\xe2\x81\xa0", "U+2060 word joiner"},
      {"\xc2\xad", "U+00AD soft hyphen"},
      {"\xef\xbb\xbf", "U+FEFF byte order mark"},
      {"\xcd\x8f", "U+034F combining grapheme joiner"},
      {"\xe3\x85\xa4", "U+3164 Hangul filler"},
      {"\xe2\x81\xa2", "U+2062 invisible times"},
      {"\xe1\xa0\x8e", "U+180E Mongolian vowel separator"},
      {"\xef\xbf\xb9", "U+FFF9 interlinear annotation anchor"},
      {"\xd8\x80", "U+0600 Arabic number sign (a format character)"},
      {"\xf3\xa0\x81\x81", "U+E0041 tag letter A"},
      {"\xe2\x80\x8e", "U+200E left-to-right mark"},
      {"\xe2\x80\x8f", "U+200F right-to-left mark"},
      {"\xd8\x9c", "U+061C Arabic letter mark"},
      {"\xe2\x80\xaa", "U+202A left-to-right embedding"},
      {"\xe2\x80\xac", "U+202C pop directional formatting"},
      {"\xe2\x80\xae", "U+202E right-to-left override"},
      {"\xe2\x81\xa7", "U+2067 right-to-left isolate"},
      {"\xe2\x81\xa9", "U+2069 pop directional isolate"},
      {"\xef\xb8\x80", "U+FE00 variation selector 1"},
      {"\xef\xb8\x8f", "U+FE0F variation selector 16, after a letter"},
      {"\xf3\xa0\x84\x80", "U+E0100 variation selector 17"},
      {"\xe1\xa0\x8b", "U+180B Mongolian free variation selector"},
  };
  for (const auto& [chars, what] : kinds) {
    for (const std::string& name : {std::string("Car") + chars + "ol", std::string("Carol") + chars,
                                    std::string(chars) + "Carol"}) {
      std::string nfc;
      const char* why = checkUsername(name, nfc);
      EXPECT_NE(why, nullptr) << what;
    }
  }
  std::string nfc;
  EXPECT_NE(std::string(checkUsername("\xe2\x80\xae"
                                      "loraC",
                                      nfc))
                .find("bidirectional"),
            std::string::npos);
  EXPECT_NE(std::string(checkUsername("Carol\xe2\x80\x8b", nfc)).find("invisible"),
            std::string::npos);
}

TEST(Username, RefusesUnassignedAndPrivateUseCodePoints) {
  EXPECT_NE(usernameError("a\xcd\xb8"), nullptr);          // U+0378, unassigned
  EXPECT_NE(usernameError("a\xee\x80\x80"), nullptr);      // U+E000, private use
  EXPECT_NE(usernameError("a\xef\xb7\x90"), nullptr);      // U+FDD0, a noncharacter
  EXPECT_NE(usernameError("a\xef\xbf\xbe"), nullptr);      // U+FFFE, a noncharacter
  EXPECT_NE(usernameError("a\xf3\xb0\x80\x80"), nullptr);  // U+F0000, private use plane
}

TEST(Username, RefusesCombiningMarksThatDoNotShow) {
  EXPECT_NE(usernameError("Zoe\xcc\x88\xcc\x88"), nullptr);  // the same mark twice
  EXPECT_NE(usernameError("Bi\xcc\x87ll"), nullptr);         // a dot above an i
  EXPECT_EQ(usernameError("Zoe\xcc\x88"), nullptr);
}

TEST(Username, RefusesBlanksAtEitherEnd) {
  EXPECT_NE(usernameError("bob\xe2\xa0\x80"), nullptr);  // braille blank
  EXPECT_NE(usernameError("\xc2\xa0"
                          "bob"),
            nullptr);  // no-break space
  EXPECT_EQ(usernameError("Mary\xc2\xa0"
                          "Ann"),
            nullptr);
}

TEST(Username, AcceptsEmojiSequencesWithTheirJoinersAndSelectors) {
  for (const char* name : {
           "\xe2\x9d\xa4\xef\xb8\x8f Carol",  // ❤️ (VS16)
           "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",  // family
           "\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88",          // rainbow flag
           "\xf0\x9f\x91\xa9\xf0\x9f\x8f\xbd\xe2\x80\x8d\xf0\x9f\x92\xbb dev",  // skin tone + ZWJ
           "1\xef\xb8\x8f\xe2\x83\xa3 fan",                                     // keycap 1
           "\xf0\x9f\x8f\x83\xe2\x80\x8d\xe2\x99\x80\xef\xb8\x8f",              // runner, female
       })
    EXPECT_EQ(usernameError(name), nullptr) << name;
  // Joiners and selectors only where an emoji sequence has them.
  EXPECT_NE(usernameError("\xf0\x9f\x91\xa8\xe2\x80\x8d"
                          "x"),
            nullptr);
  EXPECT_NE(usernameError("x\xe2\x80\x8d\xf0\x9f\x91\xa9"), nullptr);
  EXPECT_NE(usernameError("\xe2\x9d\xa4\xef\xb8\x80"), nullptr);  // VS1 after an emoji
}

TEST(Username, LongNamesAreRefusedBeforeAnyUnicodeWork) {
  EXPECT_NE(usernameError(std::string(4096, 'a')), nullptr);
  std::string many;
  for (int i = 0; i < 400; ++i) many += "\xc3\xa9";
  EXPECT_NE(usernameError(many), nullptr);
}

}  // namespace
}  // namespace parley::chat
