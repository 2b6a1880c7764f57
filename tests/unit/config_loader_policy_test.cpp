// Who may connect: `allow:` / `deny:` on listeners and routes, and
// `limits.new_connections_per_ip` with `new_connections_burst`. Good values are read as
// written (and shown in /config), left out they take the defaults, and each rule has a
// refusal checked by line, key path and message.
#include "common/config_json.hpp"
#include "config_fixture.hpp"

#include <chrono>

namespace got::test {
namespace {

using namespace std::chrono_literals;
using ConfigLoaderPolicy = config_fixture;

std::vector<std::string> texts(std::vector<cidr_block> const& blocks)
{
    std::vector<std::string> out;
    for (auto const& b : blocks)
        out.push_back(b.text);
    return out;
}

TEST_F(ConfigLoaderPolicy, ListsRatesAndBurst)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    allow: [127.0.0.0/8, "::1"]
    deny: [127.0.0.9]
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
    deny: ["2001:db8::/32"]
limits:
  new_connections_per_ip: 600/m
  new_connections_burst: 30
)");
    auto const& l = cfg.listeners.at(0).access;
    EXPECT_EQ(texts(l.allow), (std::vector<std::string>{"127.0.0.0/8", "::1"}));
    EXPECT_EQ(texts(l.deny), (std::vector<std::string>{"127.0.0.9"}));
    auto const& r = cfg.routes.at(0).access;
    EXPECT_TRUE(r.allow.empty());
    EXPECT_EQ(texts(r.deny), (std::vector<std::string>{"2001:db8::/32"}));
    EXPECT_EQ(cfg.limits.new_connections_per_ip.count, 600u);
    EXPECT_EQ(cfg.limits.new_connections_per_ip.per, 1min);
    EXPECT_EQ(cfg.limits.new_connections_burst, 30u);

    auto json = config_to_json(cfg);
    EXPECT_NE(json.find(R"("allow":["127.0.0.0/8","::1"],"deny":["127.0.0.9"])"), json.npos)
        << json;
    EXPECT_NE(json.find(R"("allow":[],"deny":["2001:db8::/32"])"), json.npos) << json;
    EXPECT_NE(json.find(R"("new_connections_per_ip":"600/m","new_connections_burst":30)"),
              json.npos)
        << json;
}

TEST_F(ConfigLoaderPolicy, DefaultsAreNoListsAndNoRate)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(cfg.listeners.at(0).access.empty());
    EXPECT_TRUE(cfg.routes.at(0).access.empty());
    EXPECT_EQ(cfg.limits.new_connections_per_ip.count, 0u);
    EXPECT_EQ(cfg.limits.new_connections_burst, 0u);
    auto json = config_to_json(cfg);
    EXPECT_NE(json.find(R"("new_connections_per_ip":"0/s","new_connections_burst":0)"), json.npos)
        << json;
}

TEST_F(ConfigLoaderPolicy, BurstDefaultsToTheRateCount)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
limits: { new_connections_per_ip: 20/s }
)");
    EXPECT_EQ(cfg.limits.new_connections_per_ip.count, 20u);
    EXPECT_EQ(cfg.limits.new_connections_burst, 20u);
}

TEST_F(ConfigLoaderPolicy, BadBlocksAndEmptyLists)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    allow: [10.0.0.1/8, nowhere]
    deny: []
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
    allow: 10.0.0.0/8
    deny: ["::ffff:10.0.0.0/104"]
)");
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].allow[0]", R"(host bits set in "10.0.0.1/8")"));
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].allow[1]", "expected an IPv4 or IPv6 address"));
    EXPECT_TRUE(has_problem(p, 5, "listeners[0].deny",
                            "expected at least one address block like 10.0.0.0/8 (leave the key "
                            "out for no restriction)"));
    EXPECT_TRUE(has_problem(p, 9, "routes[0].allow", "expected a list"));
    EXPECT_TRUE(has_problem(p, 10, "routes[0].deny[0]", R"(write "10.0.0.0/8")"));
    EXPECT_EQ(p.size(), 5u) << to_text(p);
}

TEST_F(ConfigLoaderPolicy, NullListIsRefused)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    allow:
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].allow", "expected a list"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderPolicy, BadRates)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
limits:
  new_connections_per_ip: 20
  new_connections_burst: 0
)");
    EXPECT_TRUE(has_problem(p, 8, "limits.new_connections_per_ip",
                            R"(expected a rate like 20/s, 600/m or 1000/h, got "20")"));
    EXPECT_TRUE(has_problem(p, 9, "limits.new_connections_burst",
                            R"(expected an integer from 1 to 1000000, got "0")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderPolicy, BurstNeedsARate)
{
    auto without = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
limits: { new_connections_burst: 5 }
)");
    EXPECT_TRUE(has_problem(without, 7, "limits.new_connections_burst",
                            "new_connections_burst needs new_connections_per_ip"));
    EXPECT_EQ(without.size(), 1u) << to_text(without);
    auto zero = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
limits: { new_connections_per_ip: 0/s, new_connections_burst: 5 }
)");
    EXPECT_TRUE(has_problem(zero, 7, "limits.new_connections_burst", "has no effect"));
    EXPECT_EQ(zero.size(), 1u) << to_text(zero);
}

} // namespace
} // namespace got::test
