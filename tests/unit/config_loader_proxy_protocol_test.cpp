// A listener's `proxy_protocol`: which versions it accepts and from which peers. Good values
// are read as written; each rule has a refusal checked by line, key path and message.
#include "config_fixture.hpp"

#include <arpa/inet.h>

namespace got::test {
namespace {

using ConfigLoaderProxyProtocol = config_fixture;

TEST_F(ConfigLoaderProxyProtocol, AsWritten)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol:
      from: [10.0.0.0/8, 192.0.2.7, "::1/128", "2001:db8::/32"]
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol: { accept: [v2], from: ["0.0.0.0/0"] }
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol:
      accept: [v1, v2]
      from:
        - 172.16.0.0/12
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    ASSERT_EQ(cfg.listeners.size(), 4u);
    ASSERT_TRUE(cfg.listeners[0].proxy_protocol);
    auto const& pp = *cfg.listeners[0].proxy_protocol;
    EXPECT_TRUE(pp.accept_v1);
    EXPECT_TRUE(pp.accept_v2);
    ASSERT_EQ(pp.from.size(), 4u);
    EXPECT_EQ(pp.from[0].text, "10.0.0.0/8");
    EXPECT_FALSE(pp.from[0].v6);
    EXPECT_EQ(pp.from[0].prefix, 8u);
    EXPECT_EQ(pp.from[1].text, "192.0.2.7");
    EXPECT_EQ(pp.from[1].prefix, 32u);
    EXPECT_EQ(pp.from[2].text, "::1/128");
    EXPECT_TRUE(pp.from[2].v6);
    EXPECT_EQ(pp.from[2].prefix, 128u);
    EXPECT_EQ(pp.from[3].prefix, 32u);
    in_addr peer{};
    ASSERT_EQ(::inet_pton(AF_INET, "10.1.2.3", &peer), 1);
    EXPECT_TRUE(pp.from[0].contains(false, reinterpret_cast<std::uint8_t const*>(&peer)));
    EXPECT_FALSE(pp.from[1].contains(false, reinterpret_cast<std::uint8_t const*>(&peer)));

    ASSERT_TRUE(cfg.listeners[1].proxy_protocol);
    EXPECT_FALSE(cfg.listeners[1].proxy_protocol->accept_v1);
    EXPECT_TRUE(cfg.listeners[1].proxy_protocol->accept_v2);
    ASSERT_EQ(cfg.listeners[1].proxy_protocol->from.size(), 1u);
    EXPECT_EQ(cfg.listeners[1].proxy_protocol->from[0].prefix, 0u);

    ASSERT_TRUE(cfg.listeners[2].proxy_protocol);
    EXPECT_TRUE(cfg.listeners[2].proxy_protocol->accept_v1);
    EXPECT_TRUE(cfg.listeners[2].proxy_protocol->accept_v2);
    EXPECT_EQ(cfg.listeners[2].proxy_protocol->from.size(), 1u);

    EXPECT_FALSE(cfg.listeners[3].proxy_protocol);
}

TEST_F(ConfigLoaderProxyProtocol, BadAddressBlocks)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol:
      from:
        - 10.0.0.0/8
        - 10.0.0.1/8
        - 10.0.0.0/33
        - lb.internal
        - "2001:db8::1/32"
        - "::ffff:10.0.0.0/104"
        - [10.0.0.0/8]
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 7, "listeners[0].proxy_protocol.from[1]",
                            R"(host bits set in "10.0.0.1/8": write "10.0.0.0/8" for the block)"));
    EXPECT_TRUE(has_problem(p, 8, "listeners[0].proxy_protocol.from[2]",
                            "expected a prefix length from 0 to 32"));
    EXPECT_TRUE(has_problem(p, 9, "listeners[0].proxy_protocol.from[3]",
                            R"(expected an IPv4 or IPv6 address, got "lb.internal")"));
    EXPECT_TRUE(
        has_problem(p, 10, "listeners[0].proxy_protocol.from[4]", R"(write "2001:db8::/32")"));
    EXPECT_TRUE(has_problem(p, 11, "listeners[0].proxy_protocol.from[5]",
                            R"(is an IPv4-mapped block, which never matches)"));
    EXPECT_TRUE(has_problem(p, 12, "listeners[0].proxy_protocol.from[6]",
                            "expected an address block like 10.0.0.0/8, got a list"));
    EXPECT_EQ(p.size(), 6u) << to_text(p);
}

TEST_F(ConfigLoaderProxyProtocol, FromMissingOrEmpty)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol:
      accept: [v1]
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol: { from: [] }
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol: { from: }
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol: { form: [10.0.0.0/8], from: 10.0.0.0/8 }
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 5, "listeners[0].proxy_protocol.from",
                            "missing: at least one address block is required: the peers (load "
                            "balancers) that send a PROXY header"));
    EXPECT_TRUE(has_problem(p, 8, "listeners[1].proxy_protocol.from",
                            "at least one address block is required"));
    EXPECT_TRUE(has_problem(p, 11, "listeners[2].proxy_protocol.from",
                            "at least one address block is required"));
    EXPECT_TRUE(has_problem(p, 14, "listeners[3].proxy_protocol.form",
                            R"(unknown key "form" (did you mean "from"?))"));
    EXPECT_TRUE(has_problem(p, 14, "listeners[3].proxy_protocol.from",
                            R"(expected a list, got "10.0.0.0/8")"));
    EXPECT_EQ(p.size(), 5u) << to_text(p);
}

TEST_F(ConfigLoaderProxyProtocol, AcceptRules)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol:
      accept: []
      from: [10.0.0.0/8]
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol:
      accept: [v1, v3, V2]
      from: [10.0.0.0/8]
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol: { accept: v2, from: [10.0.0.0/8] }
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol: { accept: , from: [10.0.0.0/8] }
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 5, "listeners[0].proxy_protocol.accept",
                            "expected at least one PROXY protocol version (the default is [v1, "
                            "v2])"));
    EXPECT_TRUE(has_problem(p, 10, "listeners[1].proxy_protocol.accept[1]",
                            R"(unknown PROXY protocol version "v3")"));
    EXPECT_TRUE(has_problem(p, 10, "listeners[1].proxy_protocol.accept[2]",
                            R"(unknown PROXY protocol version "V2" (did you mean "v2"?))"));
    EXPECT_TRUE(
        has_problem(p, 14, "listeners[2].proxy_protocol.accept", R"(expected a list, got "v2")"));
    EXPECT_TRUE(
        has_problem(p, 17, "listeners[3].proxy_protocol.accept", "expected a list, got nothing"));
    EXPECT_EQ(p.size(), 5u) << to_text(p);
}

TEST_F(ConfigLoaderProxyProtocol, NullOrNotAMap)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol:
  - address: 127.0.0.1:0
    tls: false
    proxy_protocol: true
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].proxy_protocol", "expected a map, got nothing"));
    EXPECT_TRUE(has_problem(p, 7, "listeners[1].proxy_protocol", R"(expected a map, got "true")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

} // namespace
} // namespace got::test
