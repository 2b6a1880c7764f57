// Route settings beyond names and SNI: backends written as maps (weight, backup,
// max_connections, send_proxy), active health checks and retries. Good values are read as
// written; each rule has a refusal checked by line, key path and message.
#include "config_fixture.hpp"

#include <chrono>

namespace got::test {
namespace {

using namespace std::chrono_literals;

using ConfigLoaderBackends = config_fixture;

TEST_F(ConfigLoaderBackends, MapsHealthAndRetriesAsWritten)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: pool
    backends:
      - 10.0.0.7:70
      - address: "[::1]:7072"
        weight: 5
        max_connections: 100
        send_proxy: v2
      - { address: backend.internal:70, backup: true, send_proxy: v1, weight: 1000 }
      - { address: 10.0.0.9:70, send_proxy: none, max_connections: 0, backup: false }
    health:
      interval: 10s
      timeout: 500ms
      rise: 1
      fall: 100
      selector: /status
      expect: "ok"
    retries: 0
  - name: tcp
    sni: [tcp.test]
    backends: ["127.0.0.1:7070"]
    health: {}
    retries: 10
  - name: root
    sni: [root.test]
    backends: ["127.0.0.1:7071"]
    health: { selector: "" }
  - name: off
    sni: [off.test]
    backends: ["127.0.0.1:7072"]
)");
    ASSERT_EQ(cfg.routes.size(), 4u);
    auto const& pool = cfg.routes[0];
    ASSERT_EQ(pool.backends.size(), 4u);
    auto const& b0 = pool.backends[0];
    EXPECT_EQ(b0.address, (endpoint{"10.0.0.7", 70}));
    EXPECT_EQ(b0.weight, 1u);
    EXPECT_FALSE(b0.backup);
    EXPECT_EQ(b0.max_connections, 0u);
    EXPECT_EQ(b0.send_proxy, proxy_version::none);
    auto const& b1 = pool.backends[1];
    EXPECT_EQ(b1.address, (endpoint{"::1", 7072}));
    EXPECT_EQ(b1.weight, 5u);
    EXPECT_FALSE(b1.backup);
    EXPECT_EQ(b1.max_connections, 100u);
    EXPECT_EQ(b1.send_proxy, proxy_version::v2);
    auto const& b2 = pool.backends[2];
    EXPECT_EQ(b2.address, (endpoint{"backend.internal", 70}));
    EXPECT_EQ(b2.weight, 1000u);
    EXPECT_TRUE(b2.backup);
    EXPECT_EQ(b2.send_proxy, proxy_version::v1);
    auto const& b3 = pool.backends[3];
    EXPECT_EQ(b3.address, (endpoint{"10.0.0.9", 70}));
    EXPECT_FALSE(b3.backup);
    EXPECT_EQ(b3.max_connections, 0u);
    EXPECT_EQ(b3.send_proxy, proxy_version::none);

    EXPECT_TRUE(pool.health.enabled);
    EXPECT_EQ(pool.health.interval, 10s);
    EXPECT_EQ(pool.health.timeout, 500ms);
    EXPECT_EQ(pool.health.rise, 1u);
    EXPECT_EQ(pool.health.fall, 100u);
    EXPECT_TRUE(pool.health.gopher_check);
    EXPECT_EQ(pool.health.selector, "/status");
    EXPECT_EQ(pool.health.expect, "ok");
    EXPECT_EQ(pool.retries, 0u);

    auto const& tcp = cfg.routes[1].health;
    EXPECT_TRUE(tcp.enabled);
    EXPECT_EQ(tcp.interval, 5s);
    EXPECT_EQ(tcp.timeout, 2s);
    EXPECT_EQ(tcp.rise, 2u);
    EXPECT_EQ(tcp.fall, 3u);
    EXPECT_FALSE(tcp.gopher_check);
    EXPECT_EQ(tcp.selector, "");
    EXPECT_EQ(tcp.expect, "");
    EXPECT_EQ(cfg.routes[1].retries, 10u);

    auto const& root = cfg.routes[2].health;
    EXPECT_TRUE(root.enabled);
    EXPECT_TRUE(root.gopher_check);
    EXPECT_EQ(root.selector, "");
    EXPECT_EQ(root.expect, "");

    EXPECT_FALSE(cfg.routes[3].health.enabled);
    EXPECT_FALSE(cfg.routes[3].health.gopher_check);
    EXPECT_EQ(cfg.routes[3].retries, 2u);
}

TEST_F(ConfigLoaderBackends, SameBackendInTwoRoutesAndBackupWithAPrimary)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends:
      - { address: 127.0.0.1:7070, backup: true }
      - 127.0.0.1:7071
  - name: b
    sni: [b.test]
    backends: ["127.0.0.1:7070", "127.0.0.1:7071", "127.0.0.2:7071", "127.0.0.1:7072"]
)");
    ASSERT_EQ(cfg.routes.size(), 2u);
    EXPECT_TRUE(cfg.routes[0].backends[0].backup);
    EXPECT_FALSE(cfg.routes[0].backends[1].backup);
    EXPECT_EQ(cfg.routes[1].backends.size(), 4u);
}

TEST_F(ConfigLoaderBackends, BackendFieldsOutOfRange)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends:
      - address: 127.0.0.1:7070
        weight: 0
      - address: 127.0.0.1:7071
        weight: 1001
        max_connections: -1
        backup: maybe
        send_proxy: v3
      - { address: 127.0.0.1:7072, wieght: 2 }
)");
    EXPECT_TRUE(has_problem(p, 8, "routes[0].backends[0].weight",
                            R"(expected an integer from 1 to 1000, got "0")"));
    EXPECT_TRUE(has_problem(p, 10, "routes[0].backends[1].weight",
                            R"(expected an integer from 1 to 1000, got "1001")"));
    EXPECT_TRUE(has_problem(p, 11, "routes[0].backends[1].max_connections",
                            R"(expected an integer from 0 to 100000000, got "-1")"));
    EXPECT_TRUE(has_problem(p, 12, "routes[0].backends[1].backup",
                            R"(expected true or false, got "maybe")"));
    EXPECT_TRUE(has_problem(p, 13, "routes[0].backends[1].send_proxy",
                            R"(unknown PROXY protocol version "v3")"));
    EXPECT_TRUE(
        has_problem(p, 13, "routes[0].backends[1].send_proxy", "expected one of: v1, v2, none"));
    EXPECT_TRUE(has_problem(p, 14, "routes[0].backends[2].wieght",
                            R"(unknown key "wieght" (did you mean "weight"?))"));
    EXPECT_EQ(p.size(), 6u) << to_text(p);
}

TEST_F(ConfigLoaderBackends, BackendMapWithoutAddressOrBadEntry)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends:
      - weight: 2
      - address: localhost
      - [127.0.0.1:7070]
)");
    EXPECT_TRUE(
        has_problem(p, 7, "routes[0].backends[0].address", R"(missing required key "address")"));
    EXPECT_TRUE(has_problem(p, 8, "routes[0].backends[1].address", "missing port"));
    EXPECT_TRUE(has_problem(p, 9, "routes[0].backends[2]",
                            "expected host:port or a map with an address, got a list"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

TEST_F(ConfigLoaderBackends, EveryBackendABackup)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends:
      - { address: 127.0.0.1:7070, backup: true }
      - { address: 127.0.0.1:7071, backup: true }
  - name: b
    sni: [b.test]
    backends: [{ address: 127.0.0.1:7070, backup: true }]
  - name: c
    sni: [c.test]
    backends:
      - { address: 127.0.0.1:7070, backup: true }
      - { address: 127.0.0.1:7071, backup: nope }
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[0].backends",
                            "at least one primary backend is required: every backend here has "
                            "backup: true"));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].backends", "at least one primary backend"));
    // An invalid `backup` is its own problem, not also "no primary".
    EXPECT_TRUE(has_problem(p, 16, "routes[2].backends[1].backup", "expected true or false"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

TEST_F(ConfigLoaderBackends, DuplicateBackendInARoute)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends:
      - 127.0.0.1:7070
      - address: 127.0.0.1:7070
        weight: 2
      - "[::1]:70"
      - "[0:0::1]:70"
      - Backend.Internal:70
      - backend.internal:70
      - backend.internal:71
)");
    EXPECT_TRUE(
        has_problem(p, 8, "routes[0].backends[1].address",
                    "backend 127.0.0.1:7070 is already listed as routes[0].backends[0] (line 7)"));
    EXPECT_TRUE(
        has_problem(p, 11, "routes[0].backends[3]",
                    "backend [0:0::1]:70 is already listed as routes[0].backends[2] (line 10)"));
    EXPECT_TRUE(has_problem(
        p, 13, "routes[0].backends[5]",
        "backend backend.internal:70 is already listed as routes[0].backends[4] (line 12)"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

TEST_F(ConfigLoaderBackends, HealthValuesOutOfRange)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
    health:
      interval: 0s
      timeout: -1s
      rise: 0
      fall: 101
      intervl: 1s
  - name: b
    sni: [b.test]
    backends: ["127.0.0.1:7071"]
    health:
      interval: 5
      timeout:
      rise: many
      fall:
)");
    EXPECT_TRUE(has_problem(p, 8, "routes[0].health.interval",
                            R"(expected a duration greater than zero, got "0s")"));
    EXPECT_TRUE(has_problem(p, 9, "routes[0].health.timeout", "must not be negative"));
    EXPECT_TRUE(has_problem(p, 10, "routes[0].health.rise",
                            R"(expected an integer from 1 to 100, got "0")"));
    EXPECT_TRUE(has_problem(p, 11, "routes[0].health.fall",
                            R"(expected an integer from 1 to 100, got "101")"));
    EXPECT_TRUE(has_problem(p, 12, "routes[0].health.intervl", R"(did you mean "interval"?)"));
    EXPECT_TRUE(has_problem(p, 17, "routes[1].health.interval",
                            R"(expected a duration with a unit (ms, s, m, h), got "5")"));
    EXPECT_TRUE(has_problem(p, 18, "routes[1].health.timeout", "got nothing"));
    EXPECT_TRUE(has_problem(p, 19, "routes[1].health.rise", R"(got "many")"));
    EXPECT_TRUE(has_problem(p, 20, "routes[1].health.fall", "got nothing"));
    EXPECT_EQ(p.size(), 9u) << to_text(p);
}

TEST_F(ConfigLoaderBackends, HealthTimeoutNotShorterThanInterval)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
    health: { interval: 2s, timeout: 2000ms }
  - name: b
    sni: [b.test]
    backends: ["127.0.0.1:7071"]
    health: { interval: 1s }
  - name: c
    sni: [c.test]
    backends: ["127.0.0.1:7072"]
    health: { timeout: 1m }
  - name: d
    sni: [d.test]
    backends: ["127.0.0.1:7073"]
    health: { interval: 1s, timeout: soon }
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[0].health.timeout",
                            R"(expected a timeout shorter than the interval (2s), got "2000ms")"));
    EXPECT_TRUE(
        has_problem(p, 11, "routes[1].health.interval",
                    R"(expected an interval longer than the timeout (2s, the default), got "1s")"));
    EXPECT_TRUE(
        has_problem(p, 15, "routes[2].health.timeout",
                    R"(expected a timeout shorter than the interval (5s, the default), got "1m")"));
    // A bad timeout is not also compared with the interval.
    EXPECT_TRUE(has_problem(p, 19, "routes[3].health.timeout", R"(got "soon")"));
    EXPECT_EQ(p.size(), 4u) << to_text(p);
}

TEST_F(ConfigLoaderBackends, HealthSelectorAndExpect)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
    health:
      expect: ok
  - name: b
    sni: [b.test]
    backends: ["127.0.0.1:7071"]
    health:
      selector: "a\r\nb"
      expect: ""
  - name: c
    sni: [c.test]
    backends: ["127.0.0.1:7072"]
    health:
      selector:
      expect: [ok]
  - name: d
    sni: [d.test]
    backends: ["127.0.0.1:7073"]
    health: { selector: [a] }
)");
    EXPECT_TRUE(has_problem(p, 8, "routes[0].health.expect",
                            "expect needs a selector: without one the check is a TCP connect"));
    EXPECT_TRUE(has_problem(p, 13, "routes[1].health.selector",
                            "a selector must not contain CR, LF or NUL"));
    EXPECT_TRUE(has_problem(p, 14, "routes[1].health.expect",
                            "an empty expect matches every reply; leave it out"));
    EXPECT_TRUE(has_problem(p, 19, "routes[2].health.selector",
                            R"(expected a selector, got nothing; write selector: "")"));
    EXPECT_TRUE(has_problem(p, 20, "routes[2].health.expect", "expected a string, got a list"));
    EXPECT_TRUE(has_problem(p, 24, "routes[3].health.selector", "expected a string, got a list"));
    EXPECT_EQ(p.size(), 6u) << to_text(p);
}

TEST_F(ConfigLoaderBackends, HealthNullOrNotAMap)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
    health:
  - name: b
    sni: [b.test]
    backends: ["127.0.0.1:7071"]
    health: true
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[0].health",
                            "expected a map, got nothing; write health: {} to check with the "
                            "defaults"));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].health", R"(expected a map, got "true")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderBackends, RetriesOutOfRange)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
    retries: 11
  - name: b
    sni: [b.test]
    backends: ["127.0.0.1:7071"]
    retries: -1
  - name: c
    sni: [c.test]
    backends: ["127.0.0.1:7072"]
    retires: 1
)");
    EXPECT_TRUE(
        has_problem(p, 7, "routes[0].retries", R"(expected an integer from 0 to 10, got "11")"));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].retries", R"(got "-1")"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].retires", R"(did you mean "retries"?)"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

} // namespace
} // namespace got::test
