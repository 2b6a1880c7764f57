// The GoH gateway's decisions without sockets: which route a Gopher URL's host and port
// take (never an open proxy), the access line of a GoH request, and the browse page's
// Content-Security-Policy (hashes of exactly the inline script and style it serves).
#include "access_log.hpp"
#include "common/goh_request.hpp"
#include "config_fixture.hpp"
#include "goh_handler.hpp"
#include "goh_page.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

namespace got::test {
namespace {

namespace http = boost::beast::http;

constexpr std::string_view goh_config = R"(listeners:
  - address: 127.0.0.1:7070
    tls: false
    default_route: legacy
    goh: true
routes:
  - name: example
    sni: [example.org]
    backends: ["127.0.0.1:7071"]
  - name: net
    sni: ["*.example.net"]
    backends: ["127.0.0.1:7074"]
  - name: legacy
    backends: ["127.0.0.1:7075"]
)";

using GohRouter = config_fixture;

TEST_F(GohRouter, RouteForTheUrlsHostAndPort)
{
    auto cfg = load_ok(goh_config);
    route_table routes(cfg);
    auto const& listener = cfg.listeners[0];
    net::ip::tcp::endpoint local(net::ip::make_address("127.0.0.2"), 7443);
    struct row
    {
        std::string url;
        std::string host_header;
        std::string route; // empty: refused
        http::status status;
    };
    row const rows[] = {
        {"gopher://example.org/1/", "gw.test", "example", http::status::ok},
        {"gopher://EXAMPLE.org:7070/1/", "", "example", http::status::ok},
        {"gopher://example.org:7443/1/", "", "example", http::status::ok},
        {"gopher://a.example.net/1/", "", "net", http::status::ok},
        {"gopher://gw.test/1/", "gw.test:7443", "legacy", http::status::ok},
        {"gopher://127.0.0.1:7070/1/", "", "legacy", http::status::ok},
        {"gopher://127.0.0.2:7443/1/", "", "legacy", http::status::ok},
        {"gopher://other.test/1/", "gw.test", "", http::status::not_found},
        {"gopher://10.0.0.1/1/", "gw.test", "", http::status::not_found},
        {"gopher://a.b.example.net/1/", "", "", http::status::not_found},
        {"gopher://example.org:7071/1/", "", "", http::status::forbidden},
        {"gopher://gw.test:22/1/", "gw.test", "", http::status::forbidden},
    };
    for (auto const& r : rows) {
        auto target = goh::parse_gopher_url(r.url).target;
        ASSERT_TRUE(target) << r.url;
        auto choice = choose_goh_route(routes, listener, *target, r.host_header, local);
        EXPECT_EQ(choice.route ? choice.route->config.name : "", r.route) << r.url;
        EXPECT_EQ(choice.status, r.status) << r.url;
        EXPECT_EQ(choice.reason.empty(), r.route != "") << r.url;
    }
}

TEST(GohAccessLine, RequestFields)
{
    access_record r;
    r.start = std::chrono::steady_clock::now();
    r.transport = transport::goh;
    http_request_fields http{"GET", "/gopher-proxy", 502, "gopher://a.test/1/x"};
    routed_record routed;
    routed.http = &http;
    r.routed = &routed;
    r.outcome = error::backend_unavailable;
    connection_facts f;
    logging_config text;
    auto line = format_access_record(r, f, text);
    EXPECT_NE(line.find(" transport=goh "), std::string::npos) << line;
    EXPECT_NE(line.find(" method=GET path=/gopher-proxy status=502 url=gopher://a.test/1/x"),
              std::string::npos)
        << line;
    logging_config json;
    json.format = log_format::json;
    line = format_access_record(r, f, json);
    EXPECT_NE(line.find(R"("status":502)"), std::string::npos) << line;
    // A connection that was no GoH request has no such fields.
    access_record plain;
    EXPECT_EQ(format_access_record(plain, f, text).find("status="), std::string::npos);
}

std::string sha256_base64(std::string_view text)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<unsigned char const*>(text.data()), text.size(), digest);
    unsigned char out[64];
    int n = EVP_EncodeBlock(out, digest, SHA256_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

// The text between the first `<tag>` and `</tag>` of the page.
std::string_view inline_block(std::string_view page, std::string_view tag)
{
    auto open = "<" + std::string(tag) + ">";
    auto begin = page.find(open);
    auto end = page.find("</" + std::string(tag) + ">");
    if (begin == std::string_view::npos || end == std::string_view::npos)
        return {};
    return page.substr(begin + open.size(), end - begin - open.size());
}

TEST(GohPage, PolicyAllowsExactlyItsInlineScriptAndStyle)
{
    auto page = goh_page_html();
    auto csp = std::string(goh_page_csp());
    auto script = inline_block(page, "script");
    auto style = inline_block(page, "style");
    ASSERT_FALSE(script.empty());
    ASSERT_FALSE(style.empty());
    EXPECT_NE(csp.find("script-src 'sha256-" + sha256_base64(script) + "'"), std::string::npos);
    EXPECT_NE(csp.find("style-src 'sha256-" + sha256_base64(style) + "'"), std::string::npos);
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe"), std::string::npos);
    // No external assets, no inline handlers or style attributes.
    EXPECT_EQ(page.find("src="), std::string_view::npos);
    EXPECT_EQ(page.find("http-equiv"), std::string_view::npos);
    EXPECT_EQ(page.find("style=\""), std::string_view::npos);
    EXPECT_EQ(page.find(" onclick"), std::string_view::npos);
    EXPECT_EQ(page.find("innerHTML"), std::string_view::npos);
}

} // namespace
} // namespace got::test
