// Rates as limits.new_connections_per_ip takes them: count, slash, unit.
#include "common/rate.hpp"

#include <gtest/gtest.h>

namespace got {
namespace {

using namespace std::chrono_literals;

TEST(ParseRate, Good)
{
    struct row
    {
        std::string_view text;
        unsigned count;
        duration per;
        double per_second;
    };
    for (auto const& r : {row{"20/s", 20, 1s, 20}, row{"600/m", 600, 1min, 10},
                          row{"3600/h", 3600, 1h, 1}, row{"0/s", 0, 1s, 0},
                          row{"1000000/s", 1'000'000, 1s, 1e6}, row{"007/m", 7, 1min, 7.0 / 60}}) {
        auto p = parse_rate(r.text);
        ASSERT_TRUE(p) << r.text << ": " << p.error();
        EXPECT_EQ(p.value().count, r.count) << r.text;
        EXPECT_EQ(p.value().per, r.per) << r.text;
        EXPECT_DOUBLE_EQ(p.value().per_second(), r.per_second) << r.text;
    }
}

TEST(ParseRate, TextFormRoundTrips)
{
    for (auto text : {"20/s", "600/m", "1/h", "0/s"})
        EXPECT_EQ(parse_rate(text).value().to_string(), text);
}

TEST(ParseRate, Refused)
{
    for (auto text : {"", "20", "/s", "20/", "20/d", "20/ s", " 20/s", "20/s ", "-1/s", "1.5/s",
                      "20/sec", "20/S", "x/s", "20//s", "s/20"}) {
        auto p = parse_rate(text);
        ASSERT_FALSE(p) << text;
        EXPECT_NE(p.error().find("expected a rate like 20/s"), std::string::npos) << p.error();
    }
}

TEST(ParseRate, TooHigh)
{
    for (auto text : {"1000001/s", "99999999999999999999999/m"}) {
        auto p = parse_rate(text);
        ASSERT_FALSE(p) << text;
        EXPECT_NE(p.error().find("too high"), std::string::npos) << p.error();
    }
}

} // namespace
} // namespace got
