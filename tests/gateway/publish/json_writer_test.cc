#include "base/json_writer.h"

#include <gtest/gtest.h>

namespace dctwin {
namespace {

std::string Escaped(std::string_view s) {
  std::string out;
  JsonWriter::AppendEscaped(out, s);
  return out;
}

TEST(JsonWriterTest, ObjectsArraysAndNumbers) {
  JsonWriter w;
  w.BeginObject().Field("a", 1.5).IntField("b", -3).Field("c", true).Key("d").BeginArray().String("x").Number(2).EndArray();
  w.Key("e").BeginObject().EndObject().Field("nan", std::nan("")).EndObject();
  EXPECT_EQ(w.Take(), R"({"a":1.5,"b":-3,"c":true,"d":["x",2],"e":{},"nan":null})");
  JsonWriter f;
  f.BeginArray().Float(10.9f).EndArray();
  EXPECT_EQ(f.Take(), "[10.9]");
}

TEST(JsonWriterTest, ValidUtf8PassesThroughAsItIs) {
  EXPECT_EQ(Escaped("température"), "température");
  EXPECT_EQ(Escaped("温度 ≥ 85 °C 🔥"), "温度 ≥ 85 °C 🔥");
}

TEST(JsonWriterTest, ControlCharactersAndQuotesAreEscaped) {
  EXPECT_EQ(Escaped("a\"b\\c\nd\te\x01\x7f"), "a\\\"b\\\\c\\nd\\te\\u0001\\u007f");
}

TEST(JsonWriterTest, InvalidBytesBecomeTheReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(Escaped("a\xff" "b"), "a" + r + "b");                 // never a lead byte
  EXPECT_EQ(Escaped("\xc3"), r);                                   // truncated sequence
  EXPECT_EQ(Escaped("\xc0\xaf"), r + r);                           // overlong '/'
  EXPECT_EQ(Escaped("\xed\xa0\x80"), r + r + r);                   // a UTF-16 surrogate
  EXPECT_EQ(Escaped("\xf4\x90\x80\x80"), r + r + r + r);           // above U+10FFFF
  EXPECT_EQ(Escaped("\x80" "abc"), r + "abc");                     // a lone continuation byte
}

}  // namespace
}  // namespace dctwin
