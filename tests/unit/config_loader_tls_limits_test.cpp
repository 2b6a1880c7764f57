// The hardening settings: `tls` profile, unknown-SNI policy, cipher and group lists,
// session-ticket keys and their rotation; `limits`; `timeouts.half_closed`. Good values are
// read as written, left out they take the model's defaults, and each rule has a refusal
// checked by line, key path and message.
#include "as_unprivileged_user.hpp"
#include "config_fixture.hpp"

#include <chrono>

namespace got::test {
namespace {

using namespace std::chrono_literals;

class ConfigLoaderTlsLimits : public config_fixture
{
protected:
    // Writes `bytes` bytes of key material to `name` in the test directory.
    std::filesystem::path write_keys(std::string_view name, std::size_t bytes) const
    {
        return dir_.write(name, std::string(bytes, '\x5a'));
    }

    // The problems of a config whose line 7 is `tls: { <tls> }`.
    std::vector<config_problem> tls_problems(std::string const& tls) const
    {
        return load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls: { )" + tls + " }\n");
    }
};

TEST_F(ConfigLoaderTlsLimits, ModernWithSharedTicketKeys)
{
    write_keys("tickets.key", 2 * 80);
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: @example_cert@
    key: @example_key@
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls:
  profile: modern
  min_version: "1.3"
  unknown_sni: reject
  groups: "X25519:P-256"
  ticket_keys: tickets.key     # relative: next to the config file
  ticket_rotation: 1m
limits:
  max_connections: 0
  max_connections_per_ip: 100000000
  handshakes_per_second: 250
timeouts:
  half_closed: 1500ms
)");
    EXPECT_EQ(cfg.tls.profile, tls_profile::modern);
    EXPECT_EQ(cfg.tls.min_version, tls_version::tls1_3);
    EXPECT_EQ(cfg.tls.unknown_sni, unknown_sni_policy::reject);
    EXPECT_EQ(cfg.tls.ciphers, "");
    EXPECT_EQ(cfg.tls.groups, "X25519:P-256");
    EXPECT_EQ(cfg.tls.ticket_keys, (dir_.path() / "tickets.key").string());
    EXPECT_EQ(cfg.tls.ticket_rotation, 1min);
    EXPECT_EQ(cfg.limits.max_connections, 0u);
    EXPECT_EQ(cfg.limits.max_connections_per_ip, 100'000'000u);
    EXPECT_EQ(cfg.limits.handshakes_per_second, 250u);
    EXPECT_EQ(cfg.timeouts.half_closed, 1500ms);
}

TEST_F(ConfigLoaderTlsLimits, IntermediateWithCiphersAndSixteenKeys)
{
    auto keys = write_keys("sixteen.key", 16 * 80);
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls:
  profile: intermediate
  min_version: "1.2"
  unknown_sni: default
  ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
  ticket_keys: @dir@/sixteen.key
  ticket_rotation: 24h
limits: { max_connections: 100, max_connections_per_ip: 0, handshakes_per_second: 0 }
)");
    EXPECT_EQ(cfg.tls.profile, tls_profile::intermediate);
    EXPECT_EQ(cfg.tls.unknown_sni, unknown_sni_policy::use_default);
    EXPECT_EQ(cfg.tls.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
    EXPECT_EQ(cfg.tls.groups, "X25519:P-256:P-384");
    EXPECT_EQ(cfg.tls.ticket_keys, keys.string());
    EXPECT_EQ(cfg.tls.ticket_rotation, 24h);
    EXPECT_EQ(cfg.limits.max_connections, 100u);
    EXPECT_EQ(cfg.limits.max_connections_per_ip, 0u);
    EXPECT_EQ(cfg.limits.handshakes_per_second, 0u);
}

TEST_F(ConfigLoaderTlsLimits, DefaultsWhenLeftOut)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls: { ticket_keys: }
limits:
)");
    EXPECT_EQ(cfg.tls.profile, tls_profile::intermediate);
    EXPECT_EQ(cfg.tls.unknown_sni, unknown_sni_policy::use_default);
    EXPECT_EQ(cfg.tls.ciphers, "");
    EXPECT_EQ(cfg.tls.groups, "X25519:P-256:P-384");
    EXPECT_EQ(cfg.tls.ticket_keys, "");
    EXPECT_EQ(cfg.tls.ticket_rotation, 12h);
    EXPECT_EQ(cfg.limits.max_connections, 20000u);
    EXPECT_EQ(cfg.limits.max_connections_per_ip, 512u);
    EXPECT_EQ(cfg.limits.handshakes_per_second, 0u);
    EXPECT_EQ(cfg.timeouts.half_closed, 30s);
    EXPECT_FALSE(cfg.listeners[0].proxy_protocol);
    EXPECT_FALSE(cfg.routes[0].health.enabled);
    EXPECT_EQ(cfg.routes[0].retries, 2u);
}

TEST_F(ConfigLoaderTlsLimits, UnknownProfileAndPolicy)
{
    auto p = tls_problems("profile: moderne, unknown_sni: drop");
    EXPECT_TRUE(has_problem(
        p, 7, "tls.profile",
        R"(unknown TLS profile "moderne" (did you mean "modern"?); expected one of: intermediate, modern)"));
    EXPECT_TRUE(has_problem(p, 7, "tls.unknown_sni",
                            R"(unknown SNI policy "drop"; expected one of: default, reject)"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderTlsLimits, CiphersAndGroupsEmptyOrUnknownToOpenssl)
{
    auto p = tls_problems(R"(ciphers: "", groups: "")");
    EXPECT_TRUE(has_problem(p, 7, "tls.ciphers",
                            "expected a colon-separated list of ciphers, got an empty string"));
    EXPECT_TRUE(has_problem(p, 7, "tls.groups",
                            "expected a colon-separated list of groups, got an empty string"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);

    p = tls_problems(R"(ciphers: "NO-SUCH-CIPHER", groups: "X25519:P-999", alpn: [gopher])");
    EXPECT_TRUE(has_problem(
        p, 7, "tls.ciphers",
        R"(expected an OpenSSL cipher list that selects at least one TLS 1.2 cipher, got "NO-SUCH-CIPHER")"));
    EXPECT_TRUE(
        has_problem(p, 7, "tls.groups",
                    R"(expected groups OpenSSL knows, like "X25519:P-256", got "X25519:P-999")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);

    p = tls_problems("ciphers: [AES128], groups: 25519");
    EXPECT_TRUE(has_problem(p, 7, "tls.ciphers", "expected a string, got a list"));
    EXPECT_TRUE(has_problem(p, 7, "tls.groups", R"(got "25519")"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderTlsLimits, ModernProfileContradictions)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls:
  profile: modern
  min_version: "1.2"
  ciphers: ECDHE-RSA-AES128-GCM-SHA256
)");
    EXPECT_TRUE(has_problem(p, 9, "tls.min_version",
                            R"(profile: modern is TLS 1.3 only; write min_version: "1.3")"));
    EXPECT_TRUE(has_problem(p, 10, "tls.ciphers",
                            "ciphers sets TLS 1.2 ciphers, which profile: modern (TLS 1.3 only) "
                            "never uses"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);

    // A bad min_version is only its own problem.
    p = tls_problems(R"(profile: modern, min_version: "1.1")");
    EXPECT_TRUE(has_problem(p, 7, "tls.min_version", R"(unknown TLS version "1.1")"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderTlsLimits, TicketKeysFileRefused)
{
    write_keys("short.key", 81);
    write_keys("empty.key", 0);
    write_keys("seventeen.key", 17 * 80);
    struct row
    {
        std::string value;
        std::string message_part;
    };
    auto file = [&](char const* name) { return (dir_.path() / name).string(); };
    row const rows[] = {
        {"missing.key", "cannot read \"" + file("missing.key") + "\": No such file or directory"},
        {"short.key",
         "\"" + file("short.key") + "\" holds 81 bytes; expected 1 to 16 keys of 80 bytes each"},
        {"empty.key", "holds 0 bytes; expected 1 to 16 keys"},
        {"seventeen.key", "holds 1360 bytes; expected 1 to 16 keys"},
        {"@dir@", "is a directory, not a file"},
        {"/dev/null", "\"/dev/null\" is not a regular file"},
        {"short.key/x", "Not a directory"},
        {"\"\"", "expected a file path, got an empty string"},
        {"[a.key]", "expected a string, got a list"},
    };
    for (auto const& r : rows) {
        auto p = tls_problems("ticket_keys: " + r.value);
        EXPECT_TRUE(has_problem(p, 7, "tls.ticket_keys", r.message_part)) << r.value;
        EXPECT_EQ(p.size(), 1u) << r.value << "\n" << to_text(p);
    }
}

TEST_F(ConfigLoaderTlsLimits, TicketKeysFileUnreadable)
{
    namespace fs = std::filesystem;
    auto keys = write_keys("locked.key", 80);
    auto config = write_config(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls: { ticket_keys: locked.key }
)");
    // Loaded as a throwaway user (root reads files whatever their mode): the directory and
    // the config are open to others, the key file to no one.
    fs::permissions(dir_.path(), fs::perms::others_read | fs::perms::others_exec,
                    fs::perm_options::add);
    fs::permissions(config, fs::perms::others_read, fs::perm_options::add);
    fs::permissions(keys, fs::perms::none);
    auto check = [&] {
        auto result = load_config(config.string());
        auto* p = std::get_if<std::vector<config_problem>>(&result);
        ASSERT_NE(p, nullptr) << "the config loaded, but problems were expected";
        EXPECT_TRUE(has_problem(*p, 7, "tls.ticket_keys", "Permission denied"));
        EXPECT_EQ(p->size(), 1u) << to_text(*p);
    };
    EXPECT_TRUE(as_unprivileged_user(check));
}

TEST_F(ConfigLoaderTlsLimits, TicketRotationTooShort)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
tls:
  ticket_rotation: 59s
)");
    EXPECT_TRUE(has_problem(p, 8, "tls.ticket_rotation",
                            R"(expected a duration of at least 1m, got "59s")"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);

    for (auto value : {"0s", "59999ms", "", "12"}) {
        p = tls_problems(std::string("ticket_rotation: ") + value);
        EXPECT_TRUE(has_problem(p, 7, "tls.ticket_rotation", "")) << value;
        EXPECT_EQ(p.size(), 1u) << value << "\n" << to_text(p);
    }
}

TEST_F(ConfigLoaderTlsLimits, LimitsOutOfRange)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
limits:
  max_connections: -1
  max_connections_per_ip: 100000001
  handshakes_per_second: fast
  max_conections: 5
)");
    EXPECT_TRUE(has_problem(p, 8, "limits.max_connections",
                            R"(expected an integer from 0 to 100000000, got "-1")"));
    EXPECT_TRUE(has_problem(p, 9, "limits.max_connections_per_ip", R"(got "100000001")"));
    EXPECT_TRUE(has_problem(p, 10, "limits.handshakes_per_second", R"(got "fast")"));
    EXPECT_TRUE(has_problem(p, 11, "limits.max_conections",
                            R"(unknown key "max_conections" (did you mean "max_connections"?))"));
    EXPECT_EQ(p.size(), 4u) << to_text(p);
}

TEST_F(ConfigLoaderTlsLimits, LimitsNullValueOrNotAMap)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
limits:
  max_connections:
)");
    EXPECT_TRUE(has_problem(p, 8, "limits.max_connections",
                            "expected an integer from 0 to 100000000, got nothing"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);

    p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
limits: [1000]
)");
    EXPECT_TRUE(has_problem(p, 7, "limits", "expected a map, got a list"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderTlsLimits, HalfClosedMustBePositive)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
timeouts:
  half_closed: 0s
  half_close: 5s
)");
    EXPECT_TRUE(has_problem(p, 8, "timeouts.half_closed",
                            R"(expected a duration greater than zero, got "0s")"));
    EXPECT_TRUE(has_problem(p, 9, "timeouts.half_close", R"(did you mean "half_closed"?)"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

} // namespace
} // namespace got::test
