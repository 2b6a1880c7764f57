// Selector routing keys: selector_prefix, strip_prefix, rewrite_menus on a route and
// selector_vhost on a listener. Line 1 is the first line of each raw string.
#include "config_fixture.hpp"

namespace got::test {
namespace {

using ConfigLoaderSelector = config_fixture;

TEST_F(ConfigLoaderSelector, GoodTwoPrefixSetup)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    default_route: legacy
    selector_vhost: true
routes:
  - name: phorum
    selector_prefix: /phorum
    strip_prefix: true
    rewrite_menus: { host: gopher.example.org, port: 70 }
    backends: ["127.0.0.1:7071"]
  - name: people
    selector_prefix: [/~alice, /~bob]
    backends: ["127.0.0.1:7072"]
  - name: legacy
    backends: ["127.0.0.1:7070"]
)");
    ASSERT_EQ(cfg.routes.size(), 3u);
    EXPECT_TRUE(cfg.listeners[0].selector_vhost);
    EXPECT_EQ(cfg.routes[0].selector_prefix, std::vector<std::string>{"/phorum"});
    EXPECT_TRUE(cfg.routes[0].strip_prefix);
    ASSERT_TRUE(cfg.routes[0].rewrite_menus);
    EXPECT_EQ(cfg.routes[0].rewrite_menus->host, "gopher.example.org");
    EXPECT_EQ(cfg.routes[0].rewrite_menus->port, 70);
    EXPECT_EQ(cfg.routes[1].selector_prefix, (std::vector<std::string>{"/~alice", "/~bob"}));
    EXPECT_FALSE(cfg.routes[1].strip_prefix);
    EXPECT_FALSE(cfg.routes[1].rewrite_menus);
    EXPECT_FALSE(cfg.routes[2].strip_prefix);
}

TEST_F(ConfigLoaderSelector, SamePrefixForDifferentNamesIsFine)
{
    load_ok(R"(listeners:
  - address: 127.0.0.1:0
routes:
  - name: a
    sni: [a.example.org]
    selector_prefix: /docs
    backends: ["127.0.0.1:7071"]
  - name: b
    sni: [b.example.org]
    selector_prefix: /docs
    backends: ["127.0.0.1:7072"]
  - name: c
    selector_prefix: /docs
    backends: ["127.0.0.1:7073"]
certificates:
  - cert: @example_cert@
    key: @example_key@
)");
}

TEST_F(ConfigLoaderSelector, BadPrefixes)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    selector_prefix: [/phorum/, "", "/a?b", /x, /x]
    backends: ["127.0.0.1:7071"]
  - name: b
    selector_prefix: []
    backends: ["127.0.0.1:7072"]
)");
    EXPECT_TRUE(has_problem(p, 6, "routes[0].selector_prefix[0]", R"(must not end with "/")"));
    EXPECT_TRUE(has_problem(p, 6, "routes[0].selector_prefix[1]", "must not be empty"));
    EXPECT_TRUE(has_problem(p, 6, "routes[0].selector_prefix[2]", R"(must not contain "?")"));
    EXPECT_TRUE(has_problem(p, 6, "routes[0].selector_prefix[4]", "listed twice"));
    EXPECT_TRUE(has_problem(p, 9, "routes[1].selector_prefix", "at least one selector prefix"));
    EXPECT_EQ(p.size(), 5u) << to_text(p);
}

TEST_F(ConfigLoaderSelector, DuplicatePrefixAcrossRoutesCanNeverWin)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    selector_prefix: /phorum
    backends: ["127.0.0.1:7071"]
  - name: b
    selector_prefix: [/other, /phorum]
    backends: ["127.0.0.1:7072"]
)");
    EXPECT_TRUE(has_problem(p, 9, "routes[1].selector_prefix[1]",
                            R"(selector prefix "/phorum" among the routes without sni is )"
                            R"(already claimed by routes[0].selector_prefix (line 6): this one )"
                            "can never win"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderSelector, DuplicatePrefixForOneServerName)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
routes:
  - name: a
    sni: [example.org]
    selector_prefix: /phorum
    backends: ["127.0.0.1:7071"]
  - name: b
    sni: [www.example.org, example.org]
    selector_prefix: /phorum
    backends: ["127.0.0.1:7072"]
certificates:
  - cert: @example_cert@
    key: @example_key@
)");
    EXPECT_TRUE(has_problem(p, 10, "routes[1].selector_prefix",
                            R"(for server name "example.org" is already claimed)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderSelector, DefaultRouteWithPrefix)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    default_route: a
routes:
  - name: a
    selector_prefix: /phorum
    backends: ["127.0.0.1:7071"]
)");
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].default_route",
                            R"(default route "a" has a selector_prefix)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderSelector, StripAndRewriteNeedTheirKeys)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: a
    strip_prefix: true
    backends: ["127.0.0.1:7071"]
  - name: b
    selector_prefix: /b
    rewrite_menus: { host: example.org, port: 70 }
    backends: ["127.0.0.1:7072"]
  - name: c
    selector_prefix: /c
    strip_prefix: true
    rewrite_menus: { host: "", port: 0, hots: x }
    backends: ["127.0.0.1:7073"]
  - name: d
    selector_prefix: /d
    strip_prefix: true
    rewrite_menus:
    backends: ["127.0.0.1:7074"]
)");
    EXPECT_TRUE(has_problem(p, 6, "routes[0].strip_prefix", "strip_prefix needs selector_prefix"));
    EXPECT_TRUE(
        has_problem(p, 10, "routes[1].rewrite_menus", "rewrite_menus needs strip_prefix: true"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].rewrite_menus.hots", R"(did you mean "host"?)"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].rewrite_menus.host", "expected a host name"));
    EXPECT_TRUE(has_problem(p, 15, "routes[2].rewrite_menus.port", "from 1 to 65535"));
    EXPECT_TRUE(has_problem(p, 20, "routes[3].rewrite_menus", "expected a map {host"));
    EXPECT_EQ(p.size(), 6u) << to_text(p);
}

TEST_F(ConfigLoaderSelector, RewriteMenusValues)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
routes:
  - name: c
    selector_prefix: /c
    strip_prefix: true
    rewrite_menus: { host: "", port: 0 }
    backends: ["127.0.0.1:7073"]
  - name: d
    selector_prefix: /d
    strip_prefix: true
    rewrite_menus:
    backends: ["127.0.0.1:7074"]
  - name: e
    selector_prefix: /e
    strip_prefix: true
    rewrite_menus: { port: 70 }
    backends: ["127.0.0.1:7075"]
)");
    EXPECT_TRUE(has_problem(p, 8, "routes[0].rewrite_menus.host", "expected a host name"));
    EXPECT_TRUE(has_problem(p, 8, "routes[0].rewrite_menus.port", ""));
    EXPECT_TRUE(has_problem(p, 13, "routes[1].rewrite_menus", "expected a map {host"));
    EXPECT_TRUE(
        has_problem(p, 18, "routes[2].rewrite_menus.host", R"(missing required key "host")"));
    EXPECT_EQ(p.size(), 4u) << to_text(p);
}

TEST_F(ConfigLoaderSelector, PrefixWithAlpnOrPassthrough)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
routes:
  - name: a
    sni: [example.org]
    alpn: [gopher]
    selector_prefix: /a
    backends: ["127.0.0.1:7071"]
  - name: b
    sni: [www.example.org]
    tls: passthrough
    selector_prefix: /b
    backends: ["127.0.0.1:7072"]
certificates:
  - cert: @example_cert@
    key: @example_key@
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[0].selector_prefix", "cannot be combined with alpn"));
    EXPECT_TRUE(has_problem(p, 12, "routes[1].selector_prefix",
                            "cannot be combined with tls: passthrough"));
    EXPECT_EQ(p.size(), 2u) << to_text(p);
}

TEST_F(ConfigLoaderSelector, PrefixOnlyNameWithPassthroughDefault)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    default_route: pt
routes:
  - name: docs
    sni: [example.org]
    selector_prefix: /docs
    backends: ["127.0.0.1:7071"]
  - name: www
    sni: [www.example.org]
    selector_prefix: /docs
    backends: ["127.0.0.1:7072"]
  - name: www-root
    sni: [www.example.org]
    backends: ["127.0.0.1:7073"]
  - name: pt
    tls: passthrough
    backends: ["127.0.0.1:7443"]
certificates:
  - cert: @example_cert@
    key: @example_key@
)");
    EXPECT_TRUE(has_problem(p, 7, "routes[0].selector_prefix",
                            R"(server name "example.org" has only selector_prefix routes)"));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

TEST_F(ConfigLoaderSelector, SelectorVhostIsABoolean)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    selector_vhost: sometimes
routes:
  - name: a
    backends: ["127.0.0.1:7071"]
)");
    EXPECT_TRUE(has_problem(p, 4, "listeners[0].selector_vhost", ""));
    EXPECT_EQ(p.size(), 1u) << to_text(p);
}

} // namespace
} // namespace got::test
