// Duration parsing: a number and a unit, nothing else.
#include "common/duration.hpp"

#include <gtest/gtest.h>
#include <string>

namespace got {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, Accepts)
{
    struct row
    {
        std::string text;
        duration expected;
    };
    row const rows[] = {
        {"250ms", 250ms}, {"10s", 10s},    {"1.5s", 1500ms}, {"5m", 5min},       {"1h", 1h},
        {"0s", 0ms},      {"0ms", 0ms},    {"0.25s", 250ms}, {"1.5m", 90s},      {"300s", 300s},
        {"8760h", 8760h}, {"0.001s", 1ms}, {"007s", 7s},     {"2.000s", 2000ms},
    };
    for (auto const& r : rows) {
        auto d = parse_duration(r.text);
        ASSERT_TRUE(d) << r.text << ": " << d.error();
        EXPECT_EQ(d.value(), r.expected) << r.text;
    }
}

TEST(ParseDuration, Refuses)
{
    struct row
    {
        std::string text;
        std::string message_part;
    };
    row const rows[] = {
        {"10", "expected a duration with a unit (ms, s, m, h), got \"10\""},
        {"", "expected a duration with a unit"},
        {"s", "expected a duration with a unit"},
        {"ms", "expected a duration with a unit"},
        {"-5s", "must not be negative"},
        {"-0.5s", "must not be negative"},
        {"+5s", "expected a duration with a unit"},
        {"5 s", "expected a duration with a unit"},
        {"5sec", "expected a duration with a unit"},
        {"5d", "expected a duration with a unit"},
        {"1.s", "expected a duration with a unit"},
        {".5s", "expected a duration with a unit"},
        {"1.2.3s", "expected a duration with a unit"},
        {"1e3ms", "expected a duration with a unit"},
        {"0.5ms", "not a whole number of milliseconds"},
        {"8761h", "too long"},
        {"9999999999999999h", "expected a duration with a unit"},
    };
    for (auto const& r : rows) {
        auto d = parse_duration(r.text);
        ASSERT_FALSE(d) << r.text;
        EXPECT_NE(d.error().find(r.message_part), std::string::npos) << r.text << ": " << d.error();
    }
}

} // namespace
} // namespace got
