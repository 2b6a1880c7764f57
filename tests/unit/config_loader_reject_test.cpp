// Configs that are refused: one TEST per rule, each checking the key path, the line and
// the message. Line 1 is the first line of each raw string.
#include "as_unprivileged_user.hpp"
#include "config_fixture.hpp"

#include <chrono>

namespace got::test {
namespace {

using ConfigLoaderReject = config_fixture;

// --- structure: unknown keys, wrong types

TEST_F(ConfigLoaderReject, UnknownTopLevelKeyWithSuggestion)
{
    auto p = load_problems(R"(listners:
  - address: 127.0.0.1:0
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(
        has_problem(p, 1, "listners", R"(unknown key "listners" (did you mean "listeners"?))"));
    EXPECT_TRUE(has_problem(p, 1, "listeners", "at least one listener is required"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, UnknownKeyInListener)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    listeners: []
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].listeners", R"(unknown key "listeners")"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, UnknownKeyWithoutSuggestionListsKnownKeys)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
    weight: 3
)");
    EXPECT_TRUE(
        has_problem(p, 7, "routes[0].weight",
                    R"(unknown key "weight"; expected one of: name, sni, backends, balance)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, UnknownKeyInTimeouts)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
timeouts:
  idel: 3s
)");
    EXPECT_TRUE(has_problem(p, 8, "timeouts.idel", R"(did you mean "idle"?)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, DuplicateKey)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    tls: true
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].tls", R"(duplicate key "tls" (first at line 3))"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, TopLevelNotAMap)
{
    auto p = load_problems("- listeners\n- routes\n");
    EXPECT_TRUE(has_problem(p, 1, "", "expected a map, got a list"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, ScalarWhereListExpected)
{
    auto p = load_problems(R"(listeners: 127.0.0.1:0
routes:
  - name: legacy
    backends: "127.0.0.1:7070"
)");
    EXPECT_TRUE(has_problem(p, 1, "listeners", R"(expected a list, got "127.0.0.1:0")"));
    EXPECT_TRUE(
        has_problem(p, 4, "routes[0].backends", R"(expected a list, got "127.0.0.1:7070")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, ListWhereMapExpected)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
tls: [gopher]
)");
    EXPECT_TRUE(has_problem(p, 7, "tls", "expected a map, got a list"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, MapWhereScalarExpected)
{
    auto p = load_problems(R"(listeners:
  - address: { host: 127.0.0.1, port: 0 }
    tls: false
routes:
  - name: [legacy]
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 2, "listeners[0].address", "expected host:port, got a map"));
    EXPECT_TRUE(has_problem(p, 5, "routes[0].name", "expected a string, got a list"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, NonBoolForBool)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    plaintext: yes
    tls: 0
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
tls: { require_alpn: [true] }
)");
    EXPECT_TRUE(
        has_problem(p, 3, "listeners[0].plaintext", R"(expected true or false, got "yes")"));
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].tls", R"(expected true or false, got "0")"));
    EXPECT_TRUE(has_problem(p, 8, "tls.require_alpn", "expected true or false, got a list"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

TEST_F(ConfigLoaderReject, ThreadsMustBePositiveInteger)
{
    auto p = load_problems(R"(threads: 0
listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 1, "threads", R"(expected an integer from 1 to 1024, got "0")"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);

    p = load_problems("threads: many\nlisteners: [{address: \"127.0.0.1:0\", tls: false}]\n"
                      "routes: [{name: a, backends: [\"127.0.0.1:70\"]}]\n");
    EXPECT_TRUE(has_problem(p, 1, "threads", R"(got "many")"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, BadUserAndGroup)
{
    auto p = load_problems(R"(user: ""
group: "go pher"
listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 1, "user", R"(expected a user name or number, got "")"));
    EXPECT_TRUE(has_problem(p, 2, "group", R"(expected a group name or number, got "go pher")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

// --- addresses

TEST_F(ConfigLoaderReject, MissingPort)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1
    tls: false
routes:
  - name: legacy
    backends: ["localhost"]
)");
    EXPECT_TRUE(has_problem(p, 2, "listeners[0].address",
                            R"(missing port: expected host:port, got "127.0.0.1")"));
    EXPECT_TRUE(has_problem(p, 6, "routes[0].backends[0]", "missing port"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, Ipv6WithoutBrackets)
{
    auto p = load_problems(R"(listeners:
  - address: "::1:70"
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070", "::1:7070"]
)");
    EXPECT_TRUE(
        has_problem(p, 2, "listeners[0].address", R"(must be in brackets: write "[::1]:70")"));
    EXPECT_TRUE(has_problem(p, 6, "routes[0].backends[1]", R"(write "[::1]:7070")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, PortOutOfRange)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:70000
    tls: false
routes:
  - name: legacy
    backends:
      - 127.0.0.1:0
admin: { address: "127.0.0.1:99999" }
)");
    EXPECT_TRUE(has_problem(p, 2, "listeners[0].address",
                            R"(expected a port from 0 to 65535, got "70000")"));
    EXPECT_TRUE(
        has_problem(p, 7, "routes[0].backends[0]", R"(expected a port from 1 to 65535, got "0")"));
    EXPECT_TRUE(has_problem(p, 8, "admin.address", "expected a port from 0 to 65535"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

TEST_F(ConfigLoaderReject, ListenerHostMustBeIpLiteral)
{
    auto p = load_problems(R"(listeners:
  - address: localhost:70
    tls: false
routes:
  - name: legacy
    backends: ["localhost:7070"]
)");
    EXPECT_TRUE(has_problem(p, 2, "listeners[0].address", R"(expected an IP address)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, DuplicateListenerAddress)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:7000
    tls: false
  - address: 127.0.0.1:7000
    tls: false
routes:
  - name: legacy
    backends: ["localhost:7070"]
)");
    EXPECT_TRUE(
        has_problem(p, 4, "listeners[1].address",
                    "address 127.0.0.1:7000 is already used by listeners[0].address (line 2)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

// --- durations

TEST_F(ConfigLoaderReject, DurationWithoutUnit)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
timeouts:
  handshake: 10s
  idle: 10
)");
    EXPECT_TRUE(has_problem(p, 9, "timeouts.idle",
                            R"(expected a duration with a unit (ms, s, m, h), got "10")"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, DurationNegative)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
timeouts: { connect: -5s, shutdown_grace: -1s }
)");
    EXPECT_TRUE(has_problem(p, 7, "timeouts.connect", R"(must not be negative, got "-5s")"));
    EXPECT_TRUE(has_problem(p, 7, "timeouts.shutdown_grace", "must not be negative"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, DurationZeroWhereItMustBePositive)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
timeouts:
  handshake: 0s
  connect: 0ms
  idle: 0m
  shutdown_grace: 0s
)");
    EXPECT_TRUE(has_problem(p, 8, "timeouts.handshake",
                            R"(expected a duration greater than zero, got "0s")"));
    EXPECT_TRUE(has_problem(p, 9, "timeouts.connect", "greater than zero"));
    EXPECT_TRUE(has_problem(p, 10, "timeouts.idle", "greater than zero"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

TEST_F(ConfigLoaderReject, DurationUnknownUnitOrNull)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
timeouts:
  idle: 3 parsecs
  connect:
)");
    EXPECT_TRUE(has_problem(p, 8, "timeouts.idle", R"(got "3 parsecs")"));
    EXPECT_TRUE(has_problem(p, 9, "timeouts.connect",
                            "expected a duration with a unit (ms, s, m, h), got nothing"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

// --- routes

TEST_F(ConfigLoaderReject, RouteNameRepeated)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
  - name: legacy
    backends: ["127.0.0.1:7071"]
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[1].name",
                            R"(route name "legacy" is already used by routes[0].name (line 5))"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, RouteNameEmptyOrMissing)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: ""
    backends: ["127.0.0.1:7070"]
  - backends: ["127.0.0.1:7071"]
)");
    EXPECT_TRUE(has_problem(p, 5, "routes[0].name", "must not be empty"));
    EXPECT_TRUE(has_problem(p, 7, "routes[1].name", R"(missing required key "name")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, SniClaimedTwiceCaseInsensitively)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    sni: [Example.org, "*.example.net"]
    backends: ["127.0.0.1:7070"]
  - name: b
    sni:
      - example.ORG
      - "*.EXAMPLE.net"
    backends: ["127.0.0.1:7071"]
)");
    EXPECT_TRUE(has_problem(
        p, 10, "routes[1].sni[0]",
        R"(server name "example.org" is already claimed by routes[0].sni[0] (line 6))"));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].sni[1]", "already claimed by routes[0].sni[1]"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, SniAndAlpnClaimedTwice)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    sni: [a.test]
    alpn: [h2, http/1.1]
    backends: ["127.0.0.1:7070"]
  - name: b
    sni: [a.test]
    alpn: [http/1.1]
    backends: ["127.0.0.1:7071"]
  - name: c
    sni: [a.test]
    backends: ["127.0.0.1:7072"]
  - name: d
    sni: [A.test]
    backends: ["127.0.0.1:7073"]
)");
    EXPECT_TRUE(has_problem(
        p, 10, "routes[1].sni[0]",
        R"(server name "a.test" with ALPN "http/1.1" is already claimed by routes[0].sni[0] (line 6))"));
    // c (no alpn) and a (alpn) share the name: fine; d claims c's (name, any protocol).
    EXPECT_TRUE(
        has_problem(p, 17, "routes[3].sni[0]",
                    R"(server name "a.test" is already claimed by routes[2].sni[0] (line 14))"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, AlpnListsThatCannotMatch)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    default_route: a
routes:
  - name: a
    alpn: [http/1.1]
    backends: ["127.0.0.1:7070"]
  - name: b
    sni: [b.test]
    alpn: []
    backends: ["127.0.0.1:7071"]
  - name: c
    sni: [c.test]
    alpn: [h2, "", h2]
    backends: ["127.0.0.1:7072"]
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[0].alpn", "alpn needs sni"));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].alpn", "expected at least one ALPN protocol name"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].alpn[1]", "must be 1 to 255 bytes long, got 0"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].alpn[2]", R"(ALPN protocol "h2" is listed twice)"));
    EXPECT_EQ(p.size(), 4u) << to_text(p);
}

TEST_F(ConfigLoaderReject, RouteTlsModeUnknown)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    sni: [a.test]
    tls: pass-through
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(
        p, 7, "routes[0].tls",
        R"(unknown route TLS mode "pass-through" (did you mean "passthrough"?); expected one of: terminate, passthrough)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, SniRepeatedInOneRoute)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    sni: [a.test, A.TEST]
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 6, "routes[0].sni[1]", "already claimed by routes[0].sni[0]"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, InvalidSniPatterns)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    sni:
      - "exa mple.org"
      - "*.*.example.org"
      - "foo.*.example.org"
      - "example.org."
      - "10.0.0.1"
      - ""
      - [a.test]
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(
        p, 7, "routes[0].sni[0]",
        R"(invalid server name pattern "exa mple.org": expected a DNS name, optionally starting with "*.")"));
    EXPECT_TRUE(has_problem(p, 8, "routes[0].sni[1]", "invalid server name pattern"));
    EXPECT_TRUE(has_problem(p, 9, "routes[0].sni[2]", "invalid server name pattern"));
    EXPECT_TRUE(has_problem(p, 10, "routes[0].sni[3]", "invalid server name pattern"));
    EXPECT_TRUE(has_problem(p, 11, "routes[0].sni[4]", "an IP address is not a server name"));
    EXPECT_TRUE(has_problem(p, 12, "routes[0].sni[5]", "invalid server name pattern"));
    EXPECT_TRUE(has_problem(p, 13, "routes[0].sni[6]", "expected a string, got a list"));
    EXPECT_EQ(p.size(), 7u) << to_text(p);
}

TEST_F(ConfigLoaderReject, DefaultRouteNamesNoRoute)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    default_route: legcy
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].default_route", R"(no route is named "legcy")"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, RouteWithoutBackends)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    sni: [a.test]
  - name: b
    backends: []
)");
    EXPECT_TRUE(has_problem(p, 5, "routes[0].backends", "a route needs at least one backend"));
    EXPECT_TRUE(has_problem(p, 8, "routes[1].backends", "a route needs at least one backend"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, UnknownBalance)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
    balance: round-robin
)");
    EXPECT_TRUE(has_problem(
        p, 7, "routes[0].balance",
        R"(unknown balance "round-robin" (did you mean "round_robin"?); expected one of: round_robin, least_connections, random, source_hash)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, NoRoutes)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes: []
)");
    EXPECT_TRUE(has_problem(p, 4, "routes", "at least one route is required"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

// --- listeners

TEST_F(ConfigLoaderReject, NoListenersAtAll)
{
    auto p = load_problems(R"(routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 1, "listeners", "missing: at least one listener is required"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);

    p = load_problems(R"(listeners: []
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 1, "listeners", "at least one listener is required"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, ListenerWithoutAddress)
{
    auto p = load_problems(R"(listeners:
  - tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 2, "listeners[0].address", R"(missing required key "address")"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, ListenerWithNeitherPlaintextNorTls)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    plaintext: false
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 2, "listeners[0]", "plaintext and tls are both false"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, TlsListenerWithoutAnyCertificate)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
    tls: true
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(
        has_problem(p, 2, "listeners[0]", "accepts TLS but no certificates are configured"));
    EXPECT_TRUE(
        has_problem(p, 4, "listeners[1].tls", "accepts TLS but no certificates are configured"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

// --- certificates

TEST_F(ConfigLoaderReject, CertificateFileMissing)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @dir@/missing.pem
    key: @example_key@
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(
        has_problem(p, 4, "certificates[0].cert", "missing.pem\": No such file or directory"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, KeyFileMissing)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @example_cert@
    key: missing.key
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(
        has_problem(p, 5, "certificates[0].key", "missing.key\": No such file or directory"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, CertificateFileUnreadable)
{
    namespace fs = std::filesystem;
    auto config = write_config(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @example_cert@
    key: @example_key@
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    // Loaded as a throwaway user (root reads files whatever their mode): the directory, the
    // config and the key are open to others, the certificate to no one.
    fs::permissions(dir_.path(), fs::perms::others_read | fs::perms::others_exec,
                    fs::perm_options::add);
    fs::permissions(config, fs::perms::others_read, fs::perm_options::add);
    fs::permissions(example_.key, fs::perms::others_read, fs::perm_options::add);
    fs::permissions(example_.cert, fs::perms::none);
    auto check = [&] {
        auto result = load_config(config.string());
        auto* p = std::get_if<std::vector<config_problem>>(&result);
        ASSERT_NE(p, nullptr) << "the config loaded, but problems were expected";
        EXPECT_TRUE(has_problem(*p, 4, "certificates[0].cert", "Permission denied"));
        EXPECT_EQ(p->size(), 1u) << to_text(*p);
    };
    EXPECT_TRUE(as_unprivileged_user(check));
}

TEST_F(ConfigLoaderReject, CertificatePathUnderAFile)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @example_cert@/x.pem
    key: @example_key@
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "certificates[0].cert", "Not a directory"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, CertificatePathIsADirectory)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @dir@
    key: @example_key@
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "certificates[0].cert", "is a directory, not a file"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, CertificateAndKeyNotPem)
{
    dir_.write("junk.pem", "this is not PEM\n");
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: junk.pem
    key: junk.pem
  - cert: @example_key@
    key: @example_cert@
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "certificates[0].cert", "no PEM certificate in"));
    EXPECT_TRUE(has_problem(p, 5, "certificates[0].key", "no PEM private key in"));
    EXPECT_TRUE(has_problem(p, 6, "certificates[1].cert", "no PEM certificate in"));
    EXPECT_TRUE(has_problem(p, 7, "certificates[1].key", "no PEM private key in"));
    EXPECT_EQ(p.size(), 4u) << to_text(p);
}

TEST_F(ConfigLoaderReject, KeyDoesNotMatchCertificate)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @example_cert@
    key: @example_key@
  - cert: @wild_cert@
    key: @other_key@
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 7, "certificates[1].key", "does not match the certificate in"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, EncryptedKey)
{
    write_encrypted_key(dir_.path(), "encrypted", "secret");
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @example_cert@
    key: encrypted.key
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 5, "certificates[0].key", "is encrypted"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, CertificateWithoutKey)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @example_cert@
  - key: ""
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 4, "certificates[0].key", R"(missing required key "key")"));
    EXPECT_TRUE(has_problem(p, 5, "certificates[1].cert", R"(missing required key "cert")"));
    EXPECT_TRUE(
        has_problem(p, 5, "certificates[1].key", "expected a file path, got an empty string"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

TEST_F(ConfigLoaderReject, TwoDefaultCertificates)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @example_cert@
    key: @example_key@
    default: true
  - cert: @wild_cert@
    key: @wild_key@
    default: true
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(has_problem(p, 9, "certificates[1].default",
                            "only one certificate may have default: true; certificates[0].default "
                            "(line 6) already does"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

// --- tls, logging

TEST_F(ConfigLoaderReject, AlpnEmpty)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls:
  alpn: []
)");
    EXPECT_TRUE(has_problem(p, 8, "tls.alpn", "expected at least one ALPN protocol name"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, AlpnListedTwice)
{
    // The same rule for the listener-wide list, a route's and a TLS backend's.
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: [{ address: "127.0.0.1:7070", tls: { verify: false, alpn: [gopher, gopher] } }]
tls:
  alpn: [gopher, x-gopher, gopher]
)");
    EXPECT_TRUE(has_problem(p, 6, "routes[0].backends[0].tls.alpn[1]",
                            R"(ALPN protocol "gopher" is listed twice)"))
        << to_text(p);
    EXPECT_TRUE(has_problem(p, 8, "tls.alpn[2]", R"(ALPN protocol "gopher" is listed twice)"))
        << to_text(p);
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, AlpnEntryTooLong)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls:
  alpn:
    - gopher
    - )" + std::string(256, 'x') +
                           R"(
    - ""
)");
    EXPECT_TRUE(has_problem(p, 10, "tls.alpn[1]", "must be 1 to 255 bytes long, got 256"));
    EXPECT_TRUE(has_problem(p, 11, "tls.alpn[2]", "must be 1 to 255 bytes long, got 0"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, MinVersionOther)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls: { min_version: "1.1" }
)");
    EXPECT_TRUE(has_problem(p, 7, "tls.min_version",
                            R"(unknown TLS version "1.1"; expected one of: 1.2, 1.3)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, UnknownLogLevelAndFormat)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
logging:
  level: verbose
  format: yaml
)");
    EXPECT_TRUE(has_problem(
        p, 8, "logging.level",
        R"(unknown log level "verbose"; expected one of: debug, info, warning, error)"));
    EXPECT_TRUE(has_problem(p, 9, "logging.format",
                            R"(unknown log format "yaml"; expected one of: text, json)"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderReject, AccessLogOnIsNotAPath)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
logging: { access: true }
)");
    EXPECT_TRUE(has_problem(p, 7, "logging.access",
                            "expected a file path, or off for no access log (an empty value "
                            "logs to stderr)"))
        << to_text(p);
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderReject, ShortenedChoiceSuggestsTheFullName)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
logging: { level: warn }
)");
    EXPECT_TRUE(has_problem(p, 7, "logging.level",
                            R"(unknown log level "warn" (did you mean "warning"?))"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

// --- the file as a whole

TEST_F(ConfigLoaderReject, YamlSyntaxError)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
routes: [
  { name: a, backends: ["127.0.0.1:7070"] }
)");
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_EQ(p[0].line, 5);
    EXPECT_EQ(p[0].column, 1);
    EXPECT_EQ(p[0].key, "");
    EXPECT_NE(p[0].message.find("YAML syntax error: end of sequence flow not found"),
              std::string::npos)
        << p[0].message;

    p = load_problems("listeners:\n  - address: 127.0.0.1:0\n bad indent: [\n");
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_EQ(p[0].line, 3);
    EXPECT_NE(p[0].message.find("YAML syntax error"), std::string::npos) << p[0].message;
}

TEST_F(ConfigLoaderReject, EmptyFile)
{
    for (auto text : {"", "\n\n", "# nothing but a comment\n", "---\n"}) {
        auto p = load_problems(text);
        ASSERT_EQ(p.size(), 1u) << to_text(p);
        EXPECT_EQ(p[0].message, "the file is empty");
        EXPECT_EQ(p[0].line, 0);
        EXPECT_EQ(p[0].to_string(), config_path_.string() + ": the file is empty");
    }
}

TEST_F(ConfigLoaderReject, MoreThanOneDocument)
{
    auto p = load_problems(R"(listeners: []
---
routes: []
)");
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_EQ(p[0].line, 2); // the `---` that starts the second document
    EXPECT_NE(p[0].message.find("expected one YAML document"), std::string::npos);
}

// Found by fuzz_config_loader: yaml-cpp 0.7's LoadAll never returns on a stray
// top-level `,` (it keeps making empty documents), so the router would allocate until
// the OOM killer came. Both forms must be refused, at once.
TEST_F(ConfigLoaderReject, StrayCommaIsRefusedNotLooped)
{
    for (char const* text : {",", "[a]\n,", "routes: []\n,\n"}) {
        auto started = std::chrono::steady_clock::now();
        auto p = load_problems(text);
        ASSERT_EQ(p.size(), 1u) << to_text(p);
        EXPECT_GE(p[0].line, 1);
        EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    }
}

TEST_F(ConfigLoaderReject, ConfigFileMissing)
{
    auto path = (dir_.path() / "nope.yaml").string();
    auto result = load_config(path);
    auto* p = std::get_if<std::vector<config_problem>>(&result);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(p->size(), 1u);
    EXPECT_EQ((*p)[0].file, path);
    EXPECT_EQ((*p)[0].line, 0);
    EXPECT_NE((*p)[0].message.find("No such file or directory"), std::string::npos);
}

TEST_F(ConfigLoaderReject, EveryProblemIsReportedInLineOrder)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1
    default_route: nowhere
routes:
  - name: a
    backends: ["127.0.0.1:0"]
    balance: fastest
timeouts: { idle: 10, handshak: 1s }
logging: { level: loud }
)");
    EXPECT_TRUE(has_problem(p, 2, "listeners[0]", "no certificates are configured"));
    EXPECT_TRUE(has_problem(p, 2, "listeners[0].address", "missing port"));
    EXPECT_TRUE(has_problem(p, 3, "listeners[0].default_route", "no route is named"));
    EXPECT_TRUE(has_problem(p, 6, "routes[0].backends[0]", "a port from 1 to 65535"));
    EXPECT_TRUE(has_problem(p, 7, "routes[0].balance", "unknown balance"));
    EXPECT_TRUE(has_problem(p, 8, "timeouts.idle", "expected a duration with a unit"));
    EXPECT_TRUE(has_problem(p, 8, "timeouts.handshak", R"(did you mean "handshake"?)"));
    EXPECT_TRUE(has_problem(p, 9, "logging.level", "unknown log level"));
    EXPECT_EQ(p.size(), 8u) << to_text(p);
    EXPECT_TRUE(std::is_sorted(p.begin(), p.end(), [](auto const& a, auto const& b) {
        return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    }));
    for (auto const& problem : p)
        EXPECT_EQ(problem.file, config_path_.string());
}

} // namespace
} // namespace got::test
