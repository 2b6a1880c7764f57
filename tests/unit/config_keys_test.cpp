// /config shows every key the loader reads, under the same name, and no other key
// (beyond the derived facts listed here): config_keys.hpp is the one table of both.
#include "common/config_json.hpp"
#include "common/config_keys.hpp"
#include "config_fixture.hpp"

#include <boost/json/src.hpp>
#include <set>
#include <string>

namespace got::test {
namespace {

namespace json = boost::json;

// Every section present, every list non-empty, so every map shows up in /config.
constexpr std::string_view every_section = R"(threads: 2
listeners:
  - address: 127.0.0.1:0
    default_route: legacy
    proxy_protocol: { from: [127.0.0.1/32] }
    goh: true
certificates:
  - cert: @example_cert@
    key: @example_key@
    default: true
routes:
  - name: legacy
    backends:
      - address: "127.0.0.1:7070"
        send_proxy: v1
        tls: { sni: gopher.example.org, cert: @example_cert@, key: @example_key@ }
    health: { interval: 5s, selector: "", expect: "gopher" } # selector: a Gopher check
  - name: phorum
    selector_prefix: /phorum
    strip_prefix: true
    rewrite_menus: { host: gopher.example.org, port: 70 }
    backends: ["127.0.0.1:7071"]
tls: { alpn: [gopher] }
limits: { max_connections: 10 }
timeouts: { idle: 5m }
admin: { address: "127.0.0.1:9070" }
logging: { level: info }
)";

template <std::size_t N>
std::set<std::string> table(std::array<std::string_view, N> const& keys)
{
    return {keys.begin(), keys.end()};
}

std::set<std::string> keys_of(json::value const& v, std::set<std::string> const& derived = {})
{
    std::set<std::string> out;
    for (auto const& [k, ignored] : v.as_object())
        if (!derived.count(std::string(k)))
            out.emplace(k);
    return out;
}

using ConfigKeys = config_fixture;

TEST_F(ConfigKeys, ConfigJsonShowsExactlyTheLoadedKeys)
{
    auto cfg = load_ok(every_section);
    auto root = json::parse(config_to_json(cfg));
    EXPECT_EQ(keys_of(root, {"source"}), table(config_keys::top));
    auto const& listener = root.at("listeners").at(0);
    EXPECT_EQ(keys_of(listener), table(config_keys::listener));
    EXPECT_EQ(keys_of(listener.at("proxy_protocol")), table(config_keys::proxy_protocol));
    EXPECT_EQ(keys_of(listener.at("goh")), table(config_keys::goh));
    EXPECT_EQ(keys_of(root.at("certificates").at(0), {"names", "not_after"}),
              table(config_keys::certificate));
    auto const& route = root.at("routes").at(0);
    EXPECT_EQ(keys_of(route), table(config_keys::route));
    EXPECT_EQ(keys_of(route.at("tls")), table(config_keys::route_tls));
    EXPECT_EQ(keys_of(route.at("backends").at(0)), table(config_keys::backend));
    EXPECT_EQ(keys_of(route.at("backends").at(0).at("tls")), table(config_keys::backend_tls));
    EXPECT_EQ(keys_of(route.at("health")), table(config_keys::health));
    EXPECT_EQ(keys_of(root.at("routes").at(1).at("rewrite_menus")),
              table(config_keys::rewrite_menus));
    for (auto [section, keys] : {std::pair{"tls", table(config_keys::tls)},
                                 {"limits", table(config_keys::limits)},
                                 {"timeouts", table(config_keys::timeouts)},
                                 {"admin", table(config_keys::admin)},
                                 {"logging", table(config_keys::logging)}})
        EXPECT_EQ(keys_of(root.at(section)), keys) << section;
}

} // namespace
} // namespace got::test
