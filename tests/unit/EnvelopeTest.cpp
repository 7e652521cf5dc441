// cluster/Envelope: what one instance writes, another reads back exactly; anything else is
// refused whole.
#include <gtest/gtest.h>

#include <string>

#include "cluster/Envelope.h"

namespace parley::cluster {
namespace {

TEST(EnvelopeTest, FieldsComeBackExactlyWhateverTheirBytes) {
  const std::string json = R"({"type":"message","content":"a:b 12:c"})";
  const std::string binary("\0\xff:9:", 5);
  const std::string bytes =
      EnvelopeWriter('M').add("room").add(std::uint64_t{42}).add(json).add("").add(binary).take();
  Envelope e;
  ASSERT_TRUE(parseEnvelope(bytes, e));
  EXPECT_EQ(e.kind, 'M');
  ASSERT_EQ(e.count, 5u);
  EXPECT_EQ(e.field(0), "room");
  std::uint64_t id = 0;
  EXPECT_TRUE(e.number(1, id));
  EXPECT_EQ(id, 42u);
  EXPECT_EQ(e.field(2), json);
  EXPECT_EQ(e.field(3), "");
  EXPECT_EQ(e.field(4), binary);
  EXPECT_EQ(e.field(5), "");  // past the end
  EXPECT_FALSE(e.number(3, id));
  EXPECT_FALSE(e.number(2, id));
}

TEST(EnvelopeTest, MalformedPayloadsAreRefusedWhole) {
  Envelope e;
  EXPECT_FALSE(parseEnvelope("", e));
  EXPECT_TRUE(parseEnvelope("Q", e));  // a kind with no fields
  EXPECT_EQ(e.count, 0u);
  EXPECT_FALSE(parseEnvelope("M4:ab", e));           // shorter than its length
  EXPECT_FALSE(parseEnvelope("Mx:ab", e));           // not a length
  EXPECT_FALSE(parseEnvelope("M:ab", e));            // no length
  EXPECT_FALSE(parseEnvelope("M2ab", e));            // no colon
  EXPECT_FALSE(parseEnvelope("M-1:a", e));           // a sign
  EXPECT_FALSE(parseEnvelope("M99999999999:a", e));  // more digits than any payload needs
  std::string nine = "M";
  for (int i = 0; i < 9; ++i) nine += "1:a";
  EXPECT_FALSE(parseEnvelope(nine, e));  // past kMaxFields
  std::string eight = "M";
  for (int i = 0; i < 8; ++i) eight += "1:a";
  EXPECT_TRUE(parseEnvelope(eight, e));
  EXPECT_EQ(e.count, 8u);
}

TEST(EnvelopeTest, NumbersMustBeWholeDecimals) {
  Envelope e;
  // (The envelope's fields are views: the bytes must outlive it.)
  const std::string bytes =
      EnvelopeWriter('A').add("12x").add("18446744073709551615").add("18446744073709551616").take();
  ASSERT_TRUE(parseEnvelope(bytes, e));
  std::uint64_t n = 0;
  EXPECT_FALSE(e.number(0, n));
  EXPECT_TRUE(e.number(1, n));
  EXPECT_EQ(n, 18446744073709551615u);
  EXPECT_FALSE(e.number(2, n));  // overflows
}

}  // namespace
}  // namespace parley::cluster

namespace parley::cluster {
namespace {

TEST(EnvelopeTest, PackedEnvelopesComeBackInOrderOrNotAtAll) {
  std::string packed;
  const std::string a = EnvelopeWriter('M').add("room").add(std::uint64_t{1}).take();
  const std::string b = EnvelopeWriter('M').add("room").add(std::uint64_t{2}).add("x:y").take();
  packEnvelope(packed, a);
  packEnvelope(packed, b);
  std::vector<std::string> seen;
  ASSERT_TRUE(unpackEnvelopes(packed, [&](std::string_view e) { seen.emplace_back(e); }));
  EXPECT_EQ(seen, (std::vector<std::string>{a, b}));
  seen.clear();
  // A cut batch is refused whole: nothing of it is applied.
  EXPECT_FALSE(unpackEnvelopes(std::string_view(packed).substr(0, packed.size() - 1),
                               [&](std::string_view e) { seen.emplace_back(e); }));
  EXPECT_TRUE(seen.empty());
  EXPECT_FALSE(unpackEnvelopes("3x:abc", [&](std::string_view) {}));
  EXPECT_TRUE(unpackEnvelopes("", [&](std::string_view) {}));
}

}  // namespace
}  // namespace parley::cluster
