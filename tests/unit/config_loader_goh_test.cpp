// A listener's `goh`: off by default, `true` for the defaults, or a map. Good values are
// read as written; each rule has a refusal checked by line, key path and message.
#include "config_fixture.hpp"

namespace got::test {
namespace {

using ConfigLoaderGoh = config_fixture;
using namespace std::chrono_literals;

TEST_F(ConfigLoaderGoh, AsWritten)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
  - address: 127.0.0.1:0
    tls: false
    goh: true
  - address: 127.0.0.1:0
    tls: false
    goh: { path: /gopher-proxy, cors_origin: "https://a.test", max_requests: 3,
           keepalive: 2s }
  - address: 127.0.0.1:0
    tls: false
    goh: false
  - address: 127.0.0.1:0
    tls: false
    goh: { cors_origin: "" }
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    ASSERT_EQ(cfg.listeners.size(), 5u);
    EXPECT_FALSE(cfg.listeners[0].goh);
    ASSERT_TRUE(cfg.listeners[1].goh);
    EXPECT_EQ(cfg.listeners[1].goh->path, "/");
    EXPECT_EQ(cfg.listeners[1].goh->cors_origin, "*");
    EXPECT_EQ(cfg.listeners[1].goh->max_requests, 100u);
    EXPECT_EQ(cfg.listeners[1].goh->keepalive, 15s);
    ASSERT_TRUE(cfg.listeners[2].goh);
    EXPECT_EQ(cfg.listeners[2].goh->path, "/gopher-proxy");
    EXPECT_EQ(cfg.listeners[2].goh->cors_origin, "https://a.test");
    EXPECT_EQ(cfg.listeners[2].goh->max_requests, 3u);
    EXPECT_EQ(cfg.listeners[2].goh->keepalive, 2s);
    EXPECT_FALSE(cfg.listeners[3].goh);
    ASSERT_TRUE(cfg.listeners[4].goh);
    EXPECT_EQ(cfg.listeners[4].goh->cors_origin, "");
}

TEST_F(ConfigLoaderGoh, Refused)
{
    auto p = load_problems(R"(listeners:
  - address: 127.0.0.1:0
    tls: false
    goh: yes please
  - address: 127.0.0.1:0
    tls: false
    goh:
  - address: 127.0.0.1:0
    tls: false
    goh: [/]
  - address: 127.0.0.1:0
    tls: false
    goh: { path: gopher-proxy, max_requests: 0, keepalive: 5 }
  - address: 127.0.0.1:0
    tls: false
    goh: { path: "/a?b", paht: /x, cors_origin: "a\tb" }
routes:
  - name: a
    backends: ["127.0.0.1:7070"]
)");
    EXPECT_TRUE(
        has_problem(p, 4, "listeners[0].goh", R"(expected true or false, got "yes please")"));
    EXPECT_TRUE(has_problem(p, 7, "listeners[1].goh", "expected true, false or a map"));
    EXPECT_TRUE(has_problem(p, 10, "listeners[2].goh", "expected true, false or a map"));
    EXPECT_TRUE(
        has_problem(p, 13, "listeners[3].goh.path", R"(expected a URL path starting with /)"));
    EXPECT_TRUE(has_problem(p, 13, "listeners[3].goh.max_requests",
                            "expected an integer from 1 to 1000000"));
    EXPECT_TRUE(has_problem(p, 13, "listeners[3].goh.keepalive", "a duration with a unit"));
    EXPECT_TRUE(has_problem(p, 16, "listeners[4].goh.path", R"(got "/a?b")"));
    EXPECT_TRUE(has_problem(p, 16, "listeners[4].goh.paht",
                            R"(unknown key "paht" (did you mean "path"?))"));
    EXPECT_TRUE(has_problem(p, 16, "listeners[4].goh.cors_origin", "no control characters"));
    EXPECT_EQ(p.size(), 9u) << to_text(p);
}

} // namespace
} // namespace got::test
