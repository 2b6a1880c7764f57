// A route's `tls:`: the short form (`passthrough`), the map that overrides the top-level
// handshake settings, and `client_ca` / `client_auth`. Good values are read as written and
// shown in /config; each rule has a refusal checked by line, key path and message.
#include "common/config_json.hpp"
#include "config_fixture.hpp"

namespace got::test {
namespace {

using ConfigLoaderRouteTls = config_fixture;

TEST_F(ConfigLoaderRouteTls, ShortFormAndMap)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    plaintext: false
    default_route: m
certificates:
  - cert: @example_cert@
    key: @example_key@
routes:
  - name: pt
    sni: [pt.test]
    tls: passthrough
    backends: ["127.0.0.1:7071"]
  - name: m
    sni: [example.org]
    tls:
      min_version: "1.3"
      groups: "X25519"
      client_ca: @example_cert@
    backends: ["127.0.0.1:7072"]
  - name: o
    sni: [o.test]
    tls: { mode: terminate, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256", client_ca: @example_cert@,
           client_auth: optional, profile: intermediate }
    backends: ["127.0.0.1:7073"]
  - name: plain
    backends: ["127.0.0.1:7074"]
)");
    auto const& pt = cfg.routes.at(0).tls;
    EXPECT_EQ(pt.mode, route_tls_mode::passthrough);
    EXPECT_FALSE(pt.overrides());
    auto const& m = cfg.routes.at(1).tls;
    EXPECT_EQ(m.mode, route_tls_mode::terminate);
    EXPECT_EQ(m.min_version, tls_version::tls1_3);
    EXPECT_EQ(m.groups, "X25519");
    EXPECT_EQ(m.client_ca, example_.cert.string());
    EXPECT_EQ(m.client_auth, client_auth_mode::required);
    EXPECT_TRUE(m.overrides());
    auto const& o = cfg.routes.at(2).tls;
    EXPECT_EQ(o.client_auth, client_auth_mode::optional);
    EXPECT_EQ(o.profile, tls_profile::intermediate);
    EXPECT_FALSE(cfg.routes.at(3).tls.overrides());

    auto json = config_to_json(cfg);
    EXPECT_NE(json.find(R"("tls":{"mode":"passthrough","min_version":null,"profile":null,)"
                        R"("ciphers":null,"groups":null,"client_ca":null,"client_auth":null})"),
              json.npos)
        << json;
    EXPECT_NE(json.find(R"("min_version":"1.3","profile":null,"ciphers":null,"groups":"X25519")"),
              json.npos)
        << json;
    EXPECT_NE(json.find(R"("client_auth":"optional")"), json.npos) << json;
}

TEST_F(ConfigLoaderRouteTls, RefusesKeysThatCannotWork)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: pt
    sni: [pt.test]
    tls: { mode: passthrough, client_ca: @example_cert@ }
    backends: ["127.0.0.1:7071"]
  - name: a
    sni: [a.test]
    tls: { client_auth: optional, min_version: "1.1", clientca: x }
    backends: ["127.0.0.1:7072"]
  - name: b
    sni: [b.test]
    tls: { profile: modern, min_version: "1.2", ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" }
    backends: ["127.0.0.1:7073"]
  - name: c
    sni: [c.test]
    tls: sometimes
    backends: ["127.0.0.1:7074"]
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[0].tls.client_ca",
                            "a passthrough route does not terminate TLS, so client_ca has no "
                            "effect"));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].tls.clientca", "did you mean \"client_ca\""));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].tls.min_version", "1.1"));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].tls.client_auth", "client_auth needs client_ca"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].tls.min_version", "profile is modern"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].tls.ciphers", "never uses"));
    EXPECT_TRUE(has_problem(p, 19, "routes[3].tls", "sometimes"));
    EXPECT_EQ(p.size(), 7u) << to_text(p);
}

TEST_F(ConfigLoaderRouteTls, ChecksTheCaFile)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    sni: [a.test]
    tls: { client_ca: @dir@/missing.pem }
    backends: ["127.0.0.1:7072"]
  - name: b
    sni: [b.test]
    tls: { client_ca: @example_key@ }
    backends: ["127.0.0.1:7073"]
  - name: c
    sni: [c.test]
    tls: { client_ca: "" }
    backends: ["127.0.0.1:7074"]
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[0].tls.client_ca", "missing.pem"));
    EXPECT_TRUE(has_problem(p, 11, "routes[1].tls.client_ca", "no PEM certificate in"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].tls.client_ca", "expected a file path"));
    EXPECT_EQ(p.size(), 3u) << to_text(p);
}

TEST_F(ConfigLoaderRouteTls, PlaintextCannotReachARouteThatRequiresCertificates)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    default_route: m
certificates:
  - cert: @example_cert@
    key: @example_key@
routes:
  - name: m
    tls: { client_ca: @example_cert@ }
    backends: ["127.0.0.1:7072"]
)");
    EXPECT_TRUE(has_problem(p, 3, "listeners[0].default_route",
                            "route \"m\" requires client certificates (client_auth: required), "
                            "but this listener takes plaintext clients"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

} // namespace
} // namespace got::test
