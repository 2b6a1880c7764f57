// One table per enum: every value named, names distinct, name and value round-trip.
#include "common/config.hpp"
#include "common/error.hpp"
#include "common/metrics.hpp"

#include <gtest/gtest.h>
#include <set>
#include <string>

namespace got {
namespace {

template <class E>
void round_trips()
{
    std::set<std::string_view> names;
    for (auto e : enum_values<E>()) {
        auto name = name_of(e);
        EXPECT_FALSE(name.empty());
        EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
        EXPECT_EQ(from_name<E>(name), e) << name;
    }
    EXPECT_EQ(names.size(), enum_count<E>);
    EXPECT_FALSE(from_name<E>("no-such-name"));
    EXPECT_EQ(name_of(static_cast<E>(enum_count<E>)), "unknown");
}

TEST(EnumTable, EveryTableRoundTrips)
{
    round_trips<error>();
    round_trips<handshake_outcome>();
    round_trips<limit_kind>();
    round_trips<balance_policy>();
    round_trips<proxy_version>();
    round_trips<tls_version>();
    round_trips<tls_profile>();
    round_trips<unknown_sni_policy>();
    round_trips<log_level>();
    round_trips<log_format>();
    round_trips<route_tls_mode>();
    round_trips<client_auth_mode>();
}

TEST(EnumTable, MetricsRenderEveryOutcome)
{
    auto text = metrics::get().render();
    for (auto e : enum_values<error>())
        EXPECT_NE(text.find("got_router_connections_closed_total{outcome=\"" +
                            std::string(name_of(e)) + "\"}"),
                  std::string::npos)
            << name_of(e);
    for (auto k : enum_values<limit_kind>())
        EXPECT_NE(text.find("limit=\"" + std::string(name_of(k)) + "\""), std::string::npos);
}

} // namespace
} // namespace got
