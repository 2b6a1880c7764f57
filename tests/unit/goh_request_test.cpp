// GoH request decoding: the `url` query parameter, the Gopher URL (RFC 4266) and the
// selector sent to the backend.
#include "common/goh_request.hpp"

#include <gtest/gtest.h>
#include <optional>
#include <string>

namespace got::goh {
namespace {

TEST(GohQueryParameter, Table)
{
    struct row
    {
        std::string target;
        std::optional<std::string> expected;
    };
    row const rows[] = {
        {"/?url=gopher%3A%2F%2Fa.test%2F", "gopher://a.test/"},
        {"/?url=gopher://a.test/1/x", "gopher://a.test/1/x"},
        {"/?x=1&url=a+b&url=second", "a b"},
        {"/?url", ""},
        {"/?url=", ""},
        {"/?urls=x", std::nullopt},
        {"/", std::nullopt},
        {"/path?", std::nullopt},
        {"/?u%72l=x", "x"},
        {"/?url=%zz%4", "%zz%4"},
        {"/?url=a%09b", "a\tb"},
        {"/?url=x#frag", "x"},
    };
    for (auto const& r : rows)
        EXPECT_EQ(query_parameter(r.target, "url"), r.expected) << r.target;
}

TEST(GohTargetPath, Table)
{
    EXPECT_EQ(target_path("/?url=x"), "/");
    EXPECT_EQ(target_path("/gopher-proxy?url=x"), "/gopher-proxy");
    EXPECT_EQ(target_path("/gopher-proxy"), "/gopher-proxy");
}

TEST(GohGopherUrl, Good)
{
    struct row
    {
        std::string url;
        std::string host;
        std::uint16_t port;
        char type;
        std::string selector;
    };
    row const rows[] = {
        {"gopher://a.test", "a.test", 70, '1', ""},
        {"gopher://a.test/", "a.test", 70, '1', ""},
        {"gopher://A.Test:7070/", "a.test", 7070, '1', ""},
        {"GOPHER://a.test/0/about.txt", "a.test", 70, '0', "/about.txt"},
        {"gopher://a.test/1", "a.test", 70, '1', ""},
        {"gopher://a.test/7/search%09hello%20world", "a.test", 70, '7', "/search\thello world"},
        {"gopher://a.test/7/search\tterms", "a.test", 70, '7', "/search\tterms"},
        {"gopher://a.test/0sel%25x", "a.test", 70, '0', "sel%x"},
        {"gopher://127.0.0.1:70/9/a?b#c", "127.0.0.1", 70, '9', "/a?b#c"},
        {"gopher://[::1]:71/1/", "::1", 71, '1', "/"},
        {"gopher://[::1]/1", "::1", 70, '1', ""},
        {"gopher://a.test/%31/x", "a.test", 70, '1', "/x"},
    };
    for (auto const& r : rows) {
        auto p = parse_gopher_url(r.url);
        ASSERT_TRUE(p.target) << r.url << ": " << describe(p.error);
        EXPECT_EQ(p.target->host, r.host) << r.url;
        EXPECT_EQ(p.target->port, r.port) << r.url;
        EXPECT_EQ(p.target->type, r.type) << r.url;
        EXPECT_EQ(p.target->selector, r.selector) << r.url;
    }
}

TEST(GohGopherUrl, Bad)
{
    struct row
    {
        std::string url;
        url_error expected;
    };
    row const rows[] = {
        {"", url_error::not_gopher},
        {"http://a.test/", url_error::not_gopher},
        {"gopher:/a.test", url_error::not_gopher},
        {"gophers://a.test/", url_error::not_gopher},
        {"gopher://", url_error::bad_host},
        {"gopher:///1/x", url_error::bad_host},
        {"gopher://a b/", url_error::bad_host},
        {"gopher://a%2etest/", url_error::bad_host},
        {"gopher://user@a.test/", url_error::bad_host},
        {"gopher://[::1/", url_error::bad_host},
        {"gopher://[]/", url_error::bad_host},
        {"gopher://[a.test]/", url_error::bad_host},
        {"gopher://a.test:/", url_error::bad_port},
        {"gopher://a.test:0/", url_error::bad_port},
        {"gopher://a.test:65536/", url_error::bad_port},
        {"gopher://a.test:123456/", url_error::bad_port},
        {"gopher://a.test:7x/", url_error::bad_port},
        {"gopher://[::1]x/", url_error::bad_port},
        {"gopher://a.test/1/x%", url_error::bad_escape},
        {"gopher://a.test/1/x%4", url_error::bad_escape},
        {"gopher://a.test/1/x%zz", url_error::bad_escape},
        {"gopher://a.test/1/x%0d%0aGET", url_error::bad_selector},
        {"gopher://a.test/1/x%0A", url_error::bad_selector},
        {"gopher://a.test/1/x%00", url_error::bad_selector},
        {"gopher://a.test/1/x\r\n", url_error::bad_selector},
        {"gopher://a.test/%09x", url_error::bad_selector},
        {"gopher://a.test/ x", url_error::bad_selector},
        {"gopher://a.test/1" + std::string(max_selector + 1, 'a'), url_error::too_long},
    };
    for (auto const& r : rows) {
        auto p = parse_gopher_url(r.url);
        EXPECT_FALSE(p.target) << r.url;
        EXPECT_EQ(p.error, r.expected) << r.url << ": " << describe(p.error);
    }
    EXPECT_TRUE(parse_gopher_url("gopher://a.test/1" + std::string(max_selector, 'a')).target);
}

// From the query string to the selector: a URL encoded once for the query, with its own
// escapes inside (the page and curl --data-urlencode both produce this).
TEST(GohGopherUrl, ThroughTheQuery)
{
    auto url = query_parameter("/?url=gopher%3A%2F%2Fa.test%2F7%2Fsearch%2509two%2520words", "url");
    ASSERT_TRUE(url);
    auto p = parse_gopher_url(*url);
    ASSERT_TRUE(p.target);
    EXPECT_EQ(p.target->selector, "/search\ttwo words");
    // Decoded once by the query: a raw CR LF reaches the URL and is refused there.
    auto smuggled = query_parameter("/?url=gopher://a.test/1/x%0D%0Aother", "url");
    ASSERT_TRUE(smuggled);
    EXPECT_EQ(parse_gopher_url(*smuggled).error, url_error::bad_selector);
}

TEST(GohToUrl, RoundTrip)
{
    gopher_target const rows[] = {
        {"a.test", 70, '1', ""},
        {"a.test", 7070, '0', "/about us.txt"},
        {"::1", 71, '7', "/search\tx?y#z%"},
        {"a.test", 70, 'h', "URL:http://example.org/"},
        {"a.test", 70, '%', "sel\xb7"}, // found by fuzz_goh_url: the type needs escaping too
    };
    for (auto const& t : rows) {
        auto url = to_url(t);
        auto p = parse_gopher_url(url);
        ASSERT_TRUE(p.target) << url;
        EXPECT_EQ(p.target->host, t.host);
        EXPECT_EQ(p.target->port, t.port);
        EXPECT_EQ(p.target->type, t.type);
        EXPECT_EQ(p.target->selector, t.selector) << url;
    }
    EXPECT_EQ(to_url({"a.test", 70, '7', "/s\tq"}), "gopher://a.test/7/s%09q");
    EXPECT_EQ(to_url({"::1", 71, '1', ""}), "gopher://[::1]:71/1");
}

} // namespace
} // namespace got::goh
