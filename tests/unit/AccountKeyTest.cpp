// store::accountKey (when two names are one), accountsNamed and the rekey plan.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "store/AccountRekey.h"
#include "store/AccountStore.h"

namespace parley::store {
namespace {

// Spelled out, since the point is that these look alike.
const std::string kLatinCarol = "Carol";
const std::string kCyrillicEsCarol =
    "\xd0\xa1"
    "arol";                                             // U+0421 CYRILLIC CAPITAL LETTER ES
const std::string kCyrillicACarol = "C\xd0\xb0rol";     // U+0430 CYRILLIC SMALL LETTER A
const std::string kGreekOmicronCarol = "Car\xce\xbfl";  // U+03BF GREEK SMALL LETTER OMICRON
const std::string kFullwidthCarol =
    "\xef\xbc\xa3"
    "arol";  // U+FF23 FULLWIDTH LATIN CAPITAL C
const std::string kMathBoldCarol =
    "\xf0\x9d\x90\x82"
    "arol";  // U+1D402 MATHEMATICAL BOLD C

TEST(AccountKey, CaseIsOneName) {
  EXPECT_EQ(accountKey("Carol"), accountKey("carol"));
  EXPECT_EQ(accountKey("Carol"), accountKey("CAROL"));
  EXPECT_EQ(accountKey("\xc3\x86rin"), accountKey("\xc3\xa6rin"));  // Æ, æ
  EXPECT_EQ(accountKey("Stra\xc3\x9f"
                       "e"),
            accountKey("STRASSE"));                                   // ß folds to ss
  EXPECT_EQ(accountKey("\xce\xa3\xce\xbf\xcf\x86\xce\xaf\xce\xb1"),   // Σοφία
            accountKey("\xcf\x83\xce\xbf\xcf\x86\xce\xaf\xce\xb1"));  // σοφία
}

TEST(AccountKey, ConfusableLettersAreOneName) {
  for (const std::string& lookalike :
       {kCyrillicEsCarol, kCyrillicACarol, kGreekOmicronCarol, kFullwidthCarol, kMathBoldCarol})
    EXPECT_EQ(accountKey(lookalike), accountKey(kLatinCarol)) << lookalike;
  EXPECT_EQ(accountKey("\xce\xbf"), accountKey("o"));  // Greek omicron, Latin o
  EXPECT_EQ(accountKey("rn"), accountKey("m"));        // ICU's confusables map m to rn
  EXPECT_EQ(accountKey("Carmen"), accountKey("Carrnen"));
  EXPECT_EQ(accountKey("0scar"), accountKey("Oscar"));
  EXPECT_EQ(accountKey("\xef\xac\x81sh"), accountKey("fish"));  // the ligature ﬁ
  // A letter whose skeleton folds into one with a skeleton of its own still meets its lookalikes:
  // Cherokee Ꮇ looks like M (it took a second round).
  EXPECT_EQ(accountKey("\xe1\x8e\xb7"), accountKey("M"));
}

TEST(AccountKey, InvisibleCharactersAndSpacingMakeNoNameOfTheirOwn) {
  const std::string key = accountKey("Carol");
  EXPECT_EQ(accountKey("Carol\xe2\x80\x8b"), key);  // zero-width space
  EXPECT_EQ(accountKey("C\xc2\xad"
                       "arol"),
            key);                                   // soft hyphen
  EXPECT_EQ(accountKey("Ca\xe2\x81\xa0rol"), key);  // word joiner
  EXPECT_EQ(accountKey("Carol\xef\xb8\x80"), key);  // variation selector 1
  EXPECT_EQ(accountKey("\xe2\x9d\xa4\xef\xb8\x8f x"),
            accountKey("\xe2\x9d\xa4 x"));  // ❤️ / ❤
  EXPECT_EQ(accountKey("Mary  Ann"), accountKey("Mary Ann"));
  EXPECT_EQ(accountKey("Mary\xe2\x80\x83"
                       "Ann"),
            accountKey("Mary Ann"));  // em space
  EXPECT_EQ(accountKey("Mary\xc2\xa0"
                       "Ann"),
            accountKey("Mary Ann"));  // no-break space
  EXPECT_EQ(accountKey("Mary\xe2\xa0\x80"
                       "Ann"),
            accountKey("Mary Ann"));  // braille blank
  // NFC or not, one name.
  EXPECT_EQ(accountKey("Zo\xc3\xab"), accountKey("Zoe\xcc\x88"));
}

TEST(AccountKey, NamesThatLookDifferentStayApart) {
  EXPECT_NE(accountKey("Carol"), accountKey("Karol"));
  EXPECT_NE(accountKey("Zo\xc3\xab"), accountKey("Zoe"));  // an accent shows
  EXPECT_NE(accountKey("Carol"), accountKey("Carol2"));
  EXPECT_NE(accountKey("Mary Ann"), accountKey("MaryAnn"));
  EXPECT_NE(accountKey("\xd0\x96"), accountKey("X"));  // Ж
  // The rule's known limit: case is folded first, so "I" is "i", not the "l" it may look like.
  EXPECT_NE(accountKey("Ilona"), accountKey("llona"));
}

TEST(AccountKey, TheAsciiTableGivesWhatTheFullComputationGives) {
  // Every pair of printable ASCII characters, then random names.
  for (int a = 0x20; a < 0x7f; ++a)
    for (int b = 0x20; b < 0x7f; ++b) {
      const std::string name{static_cast<char>(a), static_cast<char>(b)};
      ASSERT_EQ(accountKey(name), accountKeyWithoutTable(name)) << name;
    }
  std::mt19937 random(17);
  std::uniform_int_distribution<int> ch(0x20, 0x7e), len(1, 32);
  for (int i = 0; i < 2000; ++i) {
    std::string name;
    for (int n = len(random); n > 0; --n) name += static_cast<char>(ch(random));
    ASSERT_EQ(accountKey(name), accountKeyWithoutTable(name)) << name;
  }
}

TEST(AccountKey, TheRuleNamesIcusVersion) {
  const std::string rule = accountKeyRule();
  EXPECT_EQ(rule.rfind("uts39-skeleton-1 icu-", 0), 0u) << rule;
  EXPECT_NE(rule.find(" unicode-"), std::string::npos) << rule;
}

TEST(AccountKey, NfcNames) {
  EXPECT_EQ(nfcName("Zoe\xcc\x88"), "Zo\xc3\xab");
  EXPECT_EQ(nfcName("Zo\xc3\xab"), "Zo\xc3\xab");
  EXPECT_EQ(nfcName("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab"), "\xed\x95\x9c");  // jamo -> 한
  EXPECT_EQ(nfcName("plain"), "plain");
}

Account named(std::string username) { return {accountKey(username), std::move(username), "h", 1}; }

std::vector<std::string> names(const std::vector<const Account*>& accounts) {
  std::vector<std::string> out;
  for (const Account* a : accounts) out.push_back(a->username);
  return out;
}

TEST(AccountsNamed, OneAccountIsMeantByAnySpellingThatLooksLikeIt) {
  const std::vector<Account> one{named("Carol")};
  EXPECT_EQ(names(accountsNamed(one, kCyrillicACarol)), (std::vector<std::string>{"Carol"}));
  EXPECT_TRUE(accountsNamed({}, "Carol").empty());
}

TEST(AccountsNamed, AccountsSharingAKeyAreToldApartByTheirSpelling) {
  const std::vector<Account> twins{named("Carol"), named(kCyrillicEsCarol), named("Zoe\xcc\x88"),
                                   named("Zo\xc3\xab")};
  EXPECT_EQ(names(accountsNamed(twins, "Carol")), (std::vector<std::string>{"Carol"}));
  EXPECT_EQ(names(accountsNamed(twins, "CAROL")), (std::vector<std::string>{"Carol"}));
  EXPECT_EQ(names(accountsNamed(twins, kCyrillicEsCarol)),
            (std::vector<std::string>{kCyrillicEsCarol}));
  EXPECT_TRUE(accountsNamed(twins, kCyrillicACarol).empty());
  // Two spellings of one text (NFD and NFC): both are meant; the password decides.
  EXPECT_EQ(accountsNamed(twins, "Zo\xc3\xab").size(), 2u);
}

TEST(AccountRekey, KeysByTheRuleRanksByAgeAndOnlyWhatChanges) {
  // As the old rule stored them (the name, ASCII letters lowered), oldest first.
  const std::vector<StoredAccountKey> rows{
      {"bob", 0, "bob"},
      {"carol", 0, "Carol"},
      {"emma", 0, "Emma"},
      {"\xd0\xa1"
       "arol",
       0, kCyrillicEsCarol},
      {"zoe\xcc\x88", 0, "Zoe\xcc\x88"},
      {"c\xd0\xb0rol", 0, "c\xd0\xb0rol"},
  };
  const AccountRekeyPlan plan = planAccountRekey(rows);
  EXPECT_EQ(plan.accounts, 6u);
  EXPECT_EQ(plan.sharing, 2u);         // the two younger Carols
  ASSERT_EQ(plan.changes.size(), 4u);  // bob and Carol keep their keys
  EXPECT_EQ(plan.changes[0].oldKey, "emma");
  EXPECT_EQ(plan.changes[0].newKey, accountKey("Emma"));
  EXPECT_EQ(plan.changes[0].newRank, 0);
  EXPECT_EQ(plan.changes[1].oldKey,
            "\xd0\xa1"
            "arol");
  EXPECT_EQ(plan.changes[1].newKey, accountKey("Carol"));
  EXPECT_EQ(plan.changes[1].newRank, 1);
  EXPECT_EQ(plan.changes[1].newUsername, kCyrillicEsCarol);
  EXPECT_EQ(plan.changes[2].newUsername, "Zo\xc3\xab");  // stored in NFC from now on
  EXPECT_EQ(plan.changes[3].newRank, 2);
  // Planned again over the result: nothing to do.
  std::vector<StoredAccountKey> after;
  for (const StoredAccountKey& row : rows) {
    StoredAccountKey moved = row;
    for (const AccountKeyChange& c : plan.changes)
      if (c.oldKey == row.key && c.oldRank == row.rank)
        moved = {c.newKey, c.newRank, c.newUsername};
    after.push_back(moved);
  }
  EXPECT_TRUE(planAccountRekey(after).changes.empty());
}

}  // namespace
}  // namespace parley::store
