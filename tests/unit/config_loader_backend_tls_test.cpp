// A backend's `tls:` (GoT to the backend): the short form `tls: true`, the map and its
// defaults (sni from a host name, none for an IP; alpn [gopher]; verify on; the system
// store), /config, and each refusal by line, key path and message.
#include "common/config_json.hpp"
#include "config_fixture.hpp"

namespace got::test {
namespace {

using ConfigLoaderBackendTls = config_fixture;

TEST_F(ConfigLoaderBackendTls, ShortFormMapAndDefaults)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    default_route: r
routes:
  - name: r
    backends:
      - "127.0.0.1:7070"
      - { address: "Gopher.Example.ORG:7071", tls: true }
      - { address: "127.0.0.1:7072", tls: { ca: @example_cert@ } }
      - address: "[::1]:7073"
        tls: { sni: other.example, alpn: [gopher, x-test], verify: false,
               cert: @example_cert@, key: @example_key@ }
      - { address: "localhost:7074", tls: false }
      - { address: "localhost:7075", tls: { alpn: [] } }
)");
    auto const& b = cfg.routes.at(0).backends;
    ASSERT_EQ(b.size(), 6u);
    EXPECT_FALSE(b[0].tls);
    ASSERT_TRUE(b[1].tls);
    EXPECT_EQ(b[1].tls->sni, "gopher.example.org");
    EXPECT_EQ(b[1].tls->alpn, std::vector<std::string>{"gopher"});
    EXPECT_TRUE(b[1].tls->verify);
    EXPECT_EQ(b[1].tls->ca, "");
    ASSERT_TRUE(b[2].tls);
    EXPECT_EQ(b[2].tls->sni, ""); // an IP address: no SNI unless written
    EXPECT_EQ(b[2].tls->ca, example_.cert.string());
    ASSERT_TRUE(b[3].tls);
    EXPECT_EQ(b[3].tls->sni, "other.example");
    EXPECT_EQ(b[3].tls->alpn, (std::vector<std::string>{"gopher", "x-test"}));
    EXPECT_FALSE(b[3].tls->verify);
    EXPECT_EQ(b[3].tls->cert, example_.cert.string());
    EXPECT_EQ(b[3].tls->key, example_.key.string());
    EXPECT_FALSE(b[4].tls);
    ASSERT_TRUE(b[5].tls);
    EXPECT_TRUE(b[5].tls->alpn.empty());

    auto json = config_to_json(cfg);
    EXPECT_NE(json.find(R"("send_proxy":"none","tls":null})"), json.npos) << json;
    EXPECT_NE(json.find(R"("tls":{"sni":"gopher.example.org","alpn":["gopher"],"verify":true,)"
                        R"("ca":null,"cert":null,"key":null})"),
              json.npos)
        << json;
    EXPECT_NE(json.find(R"("tls":{"sni":null,"alpn":["gopher"],"verify":true,"ca":")"), json.npos)
        << json;
}

TEST_F(ConfigLoaderBackendTls, RefusesBadValues)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    default_route: r
routes:
  - name: r
    backends:
      - { address: "127.0.0.1:7070", tls: sometimes }
      - { address: "127.0.0.1:7071", tls: { sni: "1.2.3.4", verifyy: true } }
      - { address: "127.0.0.1:7072", tls: { ca: @dir@/missing.pem } }
      - { address: "127.0.0.1:7073", tls: { ca: @example_key@ } }
      - { address: "127.0.0.1:7074", tls: { key: @example_key@ } }
      - { address: "127.0.0.1:7075", tls: { cert: @example_cert@ } }
      - { address: "127.0.0.1:7076", tls: { cert: @example_cert@, key: @other_key@ } }
      - { address: "127.0.0.1:7077", tls: { alpn: [""], verify: maybe } }
      - { address: "127.0.0.1:7078", tls: { ca: @example_cert@, verify: false } }
      - { address: "127.0.0.1:7079", tls: { cert: @dir@/nocert.pem, key: @example_key@ } }
)");
    EXPECT_TRUE(has_problem(p, 8, "routes[0].backends[0].tls", "sometimes"));
    EXPECT_TRUE(has_problem(p, 9, "routes[0].backends[1].tls.sni", "is not a server name"));
    EXPECT_TRUE(has_problem(p, 9, "routes[0].backends[1].tls.verifyy", "did you mean \"verify\""));
    EXPECT_TRUE(has_problem(p, 10, "routes[0].backends[2].tls.ca", "missing.pem"));
    EXPECT_TRUE(has_problem(p, 11, "routes[0].backends[3].tls.ca", "no PEM certificate in"));
    EXPECT_TRUE(has_problem(p, 12, "routes[0].backends[4].tls.key", "key needs cert"));
    EXPECT_TRUE(has_problem(p, 13, "routes[0].backends[5].tls.cert", "cert needs key"));
    EXPECT_TRUE(has_problem(p, 14, "routes[0].backends[6].tls.key", "does not match"));
    EXPECT_TRUE(has_problem(p, 15, "routes[0].backends[7].tls.alpn[0]", "1 to 255 bytes"));
    EXPECT_TRUE(has_problem(p, 15, "routes[0].backends[7].tls.verify", "maybe"));
    EXPECT_TRUE(has_problem(p, 16, "routes[0].backends[8].tls.ca", "no effect with verify: false"));
    EXPECT_TRUE(has_problem(p, 17, "routes[0].backends[9].tls.cert", "nocert.pem"));
    EXPECT_EQ(p.size(), 12u) << to_text(p);
}

TEST_F(ConfigLoaderBackendTls, PassthroughRouteCannotHaveATlsBackend)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    plaintext: false
    default_route: pt
certificates:
  - cert: @example_cert@
    key: @example_key@
routes:
  - name: pt
    tls: passthrough
    backends:
      - address: "127.0.0.1:7070"
        tls: { ca: @example_cert@ }
)");
    EXPECT_TRUE(has_problem(p, 13, "routes[0].backends[0].tls", "a passthrough route relays"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

} // namespace
} // namespace got::test
