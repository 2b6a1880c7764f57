// Configs that load: every field read as written, and every default when left out.
#include "config_fixture.hpp"

#include <chrono>

namespace got::test {
namespace {

using namespace std::chrono_literals;

using ConfigLoaderGood = config_fixture;

constexpr std::string_view full_config = R"(# every key set
threads: 4
user: gopher
group: "1001"
listeners:
  - address: "[::]:0"          # IPv6 in brackets
    default_route: legacy
  - address: 127.0.0.1:0
    plaintext: false
    tls: true
certificates:
  - cert: example.pem          # relative: next to the config file
    key: example.key
  - cert: @wild_cert@
    key: @wild_key@
    default: true
routes:
  - name: example
    sni: [Example.ORG, www.example.org]
    backends: ["127.0.0.1:7071"]
  - name: net
    sni: ["*.Example.NET"]
    backends: ["10.0.0.7:70", "[::1]:7072", "backend.internal:70"]
    balance: least_connections
  - name: legacy
    backends: ["localhost:7070"]
    balance: source_hash
tls: { alpn: [gopher, x-gopher], require_alpn: true, min_version: "1.3" }
timeouts: { handshake: 250ms, connect: 1.5s, idle: 5m, shutdown_grace: 0s }
admin: { address: "localhost:9070" }
logging: { level: debug, format: json, access: logs/access.log }
)";

TEST_F(ConfigLoaderGood, EveryFieldAsWritten)
{
    auto cfg = load_ok(full_config);
    auto dir = dir_.path();
    EXPECT_EQ(cfg.source, config_path_.string());
    EXPECT_EQ(cfg.threads, 4u);
    EXPECT_EQ(cfg.user, "gopher");
    EXPECT_EQ(cfg.group, "1001");

    ASSERT_EQ(cfg.listeners.size(), 2u);
    EXPECT_EQ(cfg.listeners[0].address, (endpoint{"::", 0}));
    EXPECT_TRUE(cfg.listeners[0].plaintext);
    EXPECT_TRUE(cfg.listeners[0].tls);
    EXPECT_EQ(cfg.listeners[0].default_route, "legacy");
    EXPECT_EQ(cfg.listeners[1].address, (endpoint{"127.0.0.1", 0}));
    EXPECT_FALSE(cfg.listeners[1].plaintext);
    EXPECT_TRUE(cfg.listeners[1].tls);
    EXPECT_EQ(cfg.listeners[1].default_route, "");

    ASSERT_EQ(cfg.certificates.size(), 2u);
    auto const& example = cfg.certificates[0];
    EXPECT_EQ(example.cert_file, (dir / "example.pem").string());
    EXPECT_EQ(example.key_file, (dir / "example.key").string());
    EXPECT_FALSE(example.is_default);
    EXPECT_EQ(example.names, (std::vector<std::string>{"example.org", "www.example.org"}));
    auto in_90_days = std::chrono::duration_cast<std::chrono::seconds>(
                          (std::chrono::system_clock::now() + 90 * 24h).time_since_epoch())
                          .count();
    EXPECT_NEAR(static_cast<double>(example.not_after), static_cast<double>(in_90_days), 120.0);
    auto const& wild = cfg.certificates[1];
    EXPECT_EQ(wild.cert_file, wild_.cert.string());
    EXPECT_EQ(wild.key_file, wild_.key.string());
    EXPECT_TRUE(wild.is_default);
    EXPECT_EQ(wild.names, (std::vector<std::string>{"*.example.net"}));
    EXPECT_EQ(cfg.default_certificate(), &wild);

    ASSERT_EQ(cfg.routes.size(), 3u);
    auto const& r0 = cfg.routes[0];
    EXPECT_EQ(r0.name, "example");
    EXPECT_EQ(r0.sni, (std::vector<std::string>{"example.org", "www.example.org"}));
    ASSERT_EQ(r0.backends.size(), 1u);
    EXPECT_EQ(r0.backends[0].address, (endpoint{"127.0.0.1", 7071}));
    EXPECT_EQ(r0.balance, balance_policy::round_robin);
    auto const& r1 = cfg.routes[1];
    EXPECT_EQ(r1.name, "net");
    EXPECT_EQ(r1.sni, (std::vector<std::string>{"*.example.net"}));
    ASSERT_EQ(r1.backends.size(), 3u);
    EXPECT_EQ(r1.backends[0].address, (endpoint{"10.0.0.7", 70}));
    EXPECT_EQ(r1.backends[1].address, (endpoint{"::1", 7072}));
    EXPECT_EQ(r1.backends[2].address, (endpoint{"backend.internal", 70}));
    EXPECT_EQ(r1.balance, balance_policy::least_connections);
    auto const& r2 = cfg.routes[2];
    EXPECT_EQ(r2.name, "legacy");
    EXPECT_TRUE(r2.sni.empty());
    ASSERT_EQ(r2.backends.size(), 1u);
    EXPECT_EQ(r2.backends[0].address, (endpoint{"localhost", 7070}));
    EXPECT_EQ(r2.balance, balance_policy::source_hash);
    EXPECT_EQ(cfg.find_route("net"), &r1);

    EXPECT_EQ(cfg.tls.alpn, (std::vector<std::string>{"gopher", "x-gopher"}));
    EXPECT_TRUE(cfg.tls.require_alpn);
    EXPECT_EQ(cfg.tls.min_version, tls_version::tls1_3);

    EXPECT_EQ(cfg.timeouts.handshake, 250ms);
    EXPECT_EQ(cfg.timeouts.connect, 1500ms);
    EXPECT_EQ(cfg.timeouts.idle, 5min);
    EXPECT_EQ(cfg.timeouts.shutdown_grace, 0ms);

    ASSERT_TRUE(cfg.admin.address);
    EXPECT_EQ(*cfg.admin.address, (endpoint{"localhost", 9070}));

    EXPECT_EQ(cfg.logging.level, log_level::debug);
    EXPECT_EQ(cfg.logging.format, log_format::json);
    EXPECT_EQ(cfg.logging.access, (dir / "logs/access.log").string());
}

TEST_F(ConfigLoaderGood, DefaultsWhenLeftOut)
{
    auto cfg = load_ok(R"(listeners:
  - address: 0.0.0.0:0
certificates:
  - cert: @example_cert@
    key: @example_key@
  - cert: @wild_cert@
    key: @wild_key@
routes:
  - name: only
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_EQ(cfg.threads, 0u);
    EXPECT_EQ(cfg.user, "");
    EXPECT_EQ(cfg.group, "");
    ASSERT_EQ(cfg.listeners.size(), 1u);
    EXPECT_TRUE(cfg.listeners[0].plaintext);
    EXPECT_TRUE(cfg.listeners[0].tls);
    EXPECT_EQ(cfg.listeners[0].default_route, "");
    ASSERT_EQ(cfg.certificates.size(), 2u);
    EXPECT_FALSE(cfg.certificates[0].is_default);
    EXPECT_FALSE(cfg.certificates[1].is_default);
    EXPECT_EQ(cfg.default_certificate(), &cfg.certificates[0]);
    ASSERT_EQ(cfg.routes.size(), 1u);
    EXPECT_TRUE(cfg.routes[0].sni.empty());
    EXPECT_EQ(cfg.routes[0].balance, balance_policy::round_robin);
    EXPECT_EQ(cfg.tls.alpn, (std::vector<std::string>{"gopher"}));
    EXPECT_FALSE(cfg.tls.require_alpn);
    EXPECT_EQ(cfg.tls.min_version, tls_version::tls1_2);
    EXPECT_EQ(cfg.timeouts.handshake, 10s);
    EXPECT_EQ(cfg.timeouts.connect, 5s);
    EXPECT_EQ(cfg.timeouts.idle, 300s);
    EXPECT_EQ(cfg.timeouts.shutdown_grace, 30s);
    EXPECT_FALSE(cfg.admin.address);
    EXPECT_EQ(cfg.logging.level, log_level::info);
    EXPECT_EQ(cfg.logging.format, log_format::text);
    EXPECT_EQ(cfg.logging.access, "");
}

TEST_F(ConfigLoaderGood, AccessLogOff)
{
    for (char const* value : {"off", "false"}) {
        auto cfg = load_ok(std::string(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
logging: { access: )") + value +
                           " }\n");
        EXPECT_TRUE(cfg.logging.access_off) << value;
        EXPECT_EQ(cfg.logging.access, "") << value;
    }
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
logging: { access: ./off }
)");
    EXPECT_FALSE(cfg.logging.access_off);
    EXPECT_EQ(cfg.logging.access, (dir_.path() / "off").string());
}

TEST_F(ConfigLoaderGood, PlaintextOnlyNeedsNoCertificate)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    default_route: legacy
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(cfg.certificates.empty());
    EXPECT_EQ(cfg.default_certificate(), nullptr);
}

TEST_F(ConfigLoaderGood, NullSectionsMeanDefaults)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
tls:
timeouts:
admin:
logging: { access: }
certificates:
)");
    EXPECT_FALSE(cfg.admin.address);
    EXPECT_EQ(cfg.timeouts.idle, 300s);
    EXPECT_EQ(cfg.logging.access, "");
}

TEST_F(ConfigLoaderGood, BooleansAndNumbersMayBeQuoted)
{
    auto cfg = load_ok(R"(threads: "2"
listeners:
  - address: "127.0.0.1:0"
    plaintext: "true"
    tls: False
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
tls: { min_version: 1.2 }
)");
    EXPECT_EQ(cfg.threads, 2u);
    EXPECT_TRUE(cfg.listeners[0].plaintext);
    EXPECT_FALSE(cfg.listeners[0].tls);
    EXPECT_EQ(cfg.tls.min_version, tls_version::tls1_2);
}

TEST_F(ConfigLoaderGood, TextWithBaseDir)
{
    auto text = expand(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: example.pem
    key: example.key
routes:
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    auto result = load_config_text(text, "inline.yaml", dir_.path().string());
    ASSERT_TRUE(std::holds_alternative<config>(result))
        << to_text(std::get<std::vector<config_problem>>(result));
    auto const& cfg = std::get<config>(result);
    EXPECT_EQ(cfg.source, "inline.yaml");
    EXPECT_EQ(cfg.certificates[0].cert_file, example_.cert.string());
    EXPECT_EQ(cfg.certificates[0].names,
              (std::vector<std::string>{"example.org", "www.example.org"}));
}

TEST_F(ConfigLoaderGood, SharedAnchorsAreFine)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    sni: [a.test]
    backends: &pool ["127.0.0.1:7070", "127.0.0.1:7071"]
  - name: b
    sni: [b.test]
    backends: *pool
)");
    ASSERT_EQ(cfg.routes.size(), 2u);
    EXPECT_EQ(cfg.routes[1].backends.size(), 2u);
}

} // namespace
} // namespace got::test
