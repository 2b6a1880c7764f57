// The router core without sockets: route matching over connection facts, backend choice
// on a snapshot built from a real config, access-line formatting, the reload's listener
// plan and the PROXY header a backend gets.
#include "access_log.hpp"
#include "backend_link.hpp"
#include "backend_resolver.hpp"
#include "common/proxy_protocol.hpp"
#include "config_fixture.hpp"
#include "inspect.hpp"
#include "listener_plan.hpp"
#include "runtime.hpp"
#include "tls_context_registry.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <cstring>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <set>

namespace got::test {
namespace {

constexpr std::string_view routed_config = R"(listeners:
  - address: 127.0.0.1:0
    default_route: legacy
  - address: 127.0.0.1:1
certificates:
  - cert: @example_cert@
    key: @example_key@
  - cert: @wild_cert@
    key: @wild_key@
    default: true
routes:
  - name: example
    sni: [example.org, www.example.org]
    backends: ["127.0.0.1:7071", "127.0.0.1:7072", "127.0.0.1:7073"]
  - name: net
    sni: ["*.example.net"]
    backends: ["127.0.0.1:7074"]
  - name: legacy
    backends:
      - address: "127.0.0.1:7075"
        max_connections: 1
      - address: "127.0.0.1:7076"
        backup: true
  - name: example-h2
    sni: [example.org]
    alpn: [h2]
    backends: ["127.0.0.1:7077"]
)";

class RouterCore : public config_fixture
{
protected:
    void SetUp() override
    {
        cfg_ = std::make_shared<config const>(load_ok(routed_config));
        backend_addresses addresses;
        std::string error;
        ASSERT_TRUE(resolve_backends(cfg_, addresses, error)) << error;
        rt_ = build_runtime(cfg_, addresses, error);
        ASSERT_TRUE(rt_) << error;
    }

    std::string matched(std::string_view sni, std::string_view default_route) const
    {
        auto r = rt_->routes.match({sni, default_route});
        return r ? r->config.name : "(none)";
    }

    std::shared_ptr<config const> cfg_;
    std::shared_ptr<runtime const> rt_;
};

TEST_F(RouterCore, RouteMatchOrder)
{
    struct row
    {
        std::string_view sni, default_route, expected;
    };
    for (auto const& r : std::vector<row>{
             {"example.org", "legacy", "example"},    // exact
             {"www.example.org", "", "example"},      // exact, no default needed
             {"a.example.net", "legacy", "net"},      // one-label wildcard
             {"a.b.example.net", "legacy", "legacy"}, // two labels: not the wildcard
             {"example.net", "legacy", "legacy"},     // the wildcard's base: not matched
             {"", "legacy", "legacy"},                // no SNI (plaintext): default
             {"unknown.test", "legacy", "legacy"},    // unknown name: default
             {"unknown.test", "", "(none)"},          // no default: no route
             {"", "", "(none)"},
             {"", "gone", "(none)"}, // a default naming no route
         })
        EXPECT_EQ(matched(r.sni, r.default_route), r.expected)
            << "sni=" << r.sni << " default=" << r.default_route;
}

TEST_F(RouterCore, AlpnRoutesWithinAName)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    default_route: fallback
certificates:
  - cert: @example_cert@
    key: @example_key@
routes:
  - name: any
    sni: [example.org]
    backends: ["127.0.0.1:7071"]
  - name: http
    sni: [example.org]
    alpn: [http/1.1]
    backends: ["127.0.0.1:7072"]
  - name: foo
    sni: [example.org, "*.example.net"]
    alpn: [x-foo, x-bar]
    backends: ["127.0.0.1:7073"]
  - name: fallback
    backends: ["127.0.0.1:7074"]
)");
    route_table table(cfg);
    struct row
    {
        std::string_view sni;
        std::vector<std::string> offered;
        std::string_view route, selected;
    };
    for (auto const& r : std::vector<row>{
             {"example.org", {}, "any", ""},
             {"example.org", {"gopher"}, "any", ""},
             {"example.org", {"h2", "http/1.1"}, "http", "http/1.1"},
             {"example.org", {"x-bar", "http/1.1"}, "foo", "x-bar"}, // the client's order
             {"example.org", {"http/1.1", "x-foo"}, "http", "http/1.1"},
             {"a.example.net", {"x-foo"}, "foo", "x-foo"},
             {"a.example.net", {"gopher"}, "fallback", ""}, // only ALPN routes: fall through
             {"", {"x-foo"}, "fallback", ""},               // no SNI: the default
         }) {
        auto m = table.match({r.sni, "fallback", r.offered});
        ASSERT_TRUE(m) << r.sni;
        EXPECT_EQ(m->config.name, r.route) << r.sni << " " << r.offered.size();
        EXPECT_EQ(m->alpn, r.selected) << r.sni;
    }
}

TEST_F(RouterCore, LongestSelectorPrefixWithinAName)
{
    auto cfg = load_ok(R"(listeners:
  - address: 127.0.0.1:0
    default_route: legacy
certificates:
  - cert: @example_cert@
    key: @example_key@
routes:
  - name: example
    sni: [example.org]
    backends: ["127.0.0.1:7071"]
  - name: example-docs
    sni: [example.org]
    selector_prefix: /docs
    backends: ["127.0.0.1:7072"]
  - name: example-docs-old
    sni: [example.org]
    selector_prefix: [/docs/old, /archive]
    backends: ["127.0.0.1:7073"]
  - name: www-only-prefix
    sni: [www.example.org]
    selector_prefix: /w
    backends: ["127.0.0.1:7074"]
  - name: phorum
    selector_prefix: /phorum
    backends: ["127.0.0.1:7075"]
  - name: alice
    selector_prefix: /~alice
    backends: ["127.0.0.1:7076"]
  - name: legacy
    sni: [legacy.test]
    backends: ["127.0.0.1:7077"]
  - name: legacy-sub
    sni: [legacy.test]
    selector_prefix: /sub
    backends: ["127.0.0.1:7078"]
)");
    route_table table(cfg);
    EXPECT_TRUE(table.has_prefixes());
    struct row
    {
        std::string_view sni, selector, route, prefix;
    };
    for (auto const& r : std::vector<row>{
             {"example.org", "/docs", "example-docs", "/docs"},
             {"example.org", "/docs/a", "example-docs", "/docs"},
             {"example.org", "/docs/old/x", "example-docs-old", "/docs/old"}, // longest
             {"example.org", "/docs/older", "example-docs", "/docs"},         // not a segment
             {"example.org", "/archive?x", "example-docs-old", "/archive"},
             {"example.org", "/docsx", "example", ""}, // the name's fallback
             {"example.org", "", "example", ""},
             {"example.org", "/phorum", "example", ""}, // a name does not reach the listener's
             {"www.example.org", "/w/x", "www-only-prefix", "/w"},
             {"www.example.org", "/x", "legacy", ""}, // no fallback for the name: the default
             {"www.example.org", "/phorum/x", "phorum", "/phorum"}, // ... and its prefixes
             {"", "/phorum/", "phorum", "/phorum"},                 // plaintext
             {"", "/~alice/caf\xc3\xa9%20x", "alice", "/~alice"},
             {"", "/sub/y", "legacy-sub", "/sub"}, // the default route's name's prefixes
             {"", "/phorumx", "legacy", ""},
             {"", "", "legacy", ""},
             {"unknown.test", "/phorum", "phorum", "/phorum"},
         }) {
        auto m = table.match({r.sni, "legacy", {}, r.selector});
        ASSERT_TRUE(m) << r.sni << " " << r.selector;
        EXPECT_EQ(m->config.name, r.route) << r.sni << " " << r.selector;
        EXPECT_EQ(m->prefix, r.prefix) << r.sni << " " << r.selector;
    }
    // Without a default route, a selector no prefix matches has no route.
    EXPECT_FALSE(table.match({"", "", {}, "/nothing"}));
    EXPECT_EQ(table.match({"", "", {}, "/phorum"})->config.name, "phorum");
}

TEST_F(RouterCore, MatchedRouteIndexesTheSnapshot)
{
    auto r = rt_->routes.match({"a.example.net", ""});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->index, 1u);
    EXPECT_EQ(&r->config, &cfg_->routes[1]);
    EXPECT_TRUE(rt_->routes.has_name("www.example.org"));
    EXPECT_FALSE(rt_->routes.has_name("unknown.test"));
}

TEST_F(RouterCore, RoundRobinVisitsEveryBackendOnce)
{
    std::set<std::size_t> seen;
    for (std::uint64_t ticket = 0; ticket < 3; ++ticket) {
        auto i = rt_->choose_backend(0, 0, ticket, 0);
        ASSERT_TRUE(i);
        seen.insert(*i);
    }
    EXPECT_EQ(seen, (std::set<std::size_t>{0, 1, 2}));
}

TEST_F(RouterCore, ChoiceSkipsDownAndTriedBackends)
{
    auto const& candidates = rt_->route_state[0].candidates;
    candidates[1].state->up.store(false);
    std::uint64_t tried = 1u << 0;
    for (std::uint64_t ticket = 0; ticket < 6; ++ticket) {
        auto i = rt_->choose_backend(0, 0, ticket, tried);
        ASSERT_TRUE(i);
        EXPECT_EQ(*i, 2u) << "ticket " << ticket;
    }
    EXPECT_FALSE(rt_->choose_backend(0, 0, 0, tried | (1u << 2))) << "every backend tried";
    candidates[1].state->up.store(true);
}

TEST_F(RouterCore, SaturatedPrimaryFallsToBackup)
{
    auto const& candidates = rt_->route_state[2].candidates;
    ASSERT_EQ(candidates.size(), 2u);
    EXPECT_EQ(rt_->choose_backend(2, 0, 0, 0), std::optional<std::size_t>(0));
    candidates[0].state->active.store(1); // max_connections: 1
    EXPECT_EQ(rt_->choose_backend(2, 0, 0, 0), std::optional<std::size_t>(1));
    candidates[0].state->active.store(0);
    EXPECT_FALSE(rt_->choose_backend(7, 0, 0, 0)) << "a route index outside the snapshot";
}

// A TLS handshake in memory (two BIO pairs, no socket) against the snapshot's server
// context; returns the server's SSL once the handshake is done (or failed).
struct memory_handshake
{
    SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
    SSL* client = nullptr;
    SSL* server = nullptr;
    tls_hello_notes notes; // what the server's callbacks learnt
    bool done = false;

    memory_handshake(SSL_CTX* server_ctx, char const* sni, std::string const& alpn_wire)
    {
        client = SSL_new(client_ctx);
        server = SSL_new(server_ctx);
        BIO *c, *s;
        BIO_new_bio_pair(&c, 0, &s, 0);
        SSL_set_bio(client, c, c);
        SSL_set_bio(server, s, s);
        attach_hello_notes(server, &notes);
        SSL_set_connect_state(client);
        SSL_set_accept_state(server);
        SSL_set_tlsext_host_name(client, sni);
        SSL_set_alpn_protos(client, reinterpret_cast<unsigned char const*>(alpn_wire.data()),
                            static_cast<unsigned>(alpn_wire.size()));
        for (int i = 0; i < 20 && !done; ++i) {
            int rc = SSL_do_handshake(client);
            int rs = SSL_do_handshake(server);
            done = rc == 1 && rs == 1;
        }
    }
    ~memory_handshake()
    {
        SSL_free(client);
        SSL_free(server);
        SSL_CTX_free(client_ctx);
    }
};

// (The snapshot has an ALPN route, so the ClientHello's ALPN list is kept.)
TEST_F(RouterCore, HandshakeRecordsOfferedAlpnInOrder)
{
    memory_handshake h(rt_->tls->initial_context().native_handle(), "www.example.org",
                       std::string("\x02h2\x06gopher\x08http/1.1"));
    ASSERT_TRUE(h.done);
    EXPECT_EQ(h.notes.alpn, (std::vector<std::string>{"h2", "gopher", "http/1.1"}));
    EXPECT_EQ(server_name_of(h.server), "www.example.org");
    unsigned char const* selected = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(h.server, &selected, &len);
    EXPECT_EQ(std::string_view(reinterpret_cast<char const*>(selected), len), "gopher");
}

TEST_F(RouterCore, AlpnRouteSelectsTheProtocolThatChoseIt)
{
    memory_handshake h(rt_->tls->initial_context().native_handle(), "example.org",
                       std::string("\x06gopher\x02h2"));
    ASSERT_TRUE(h.done);
    unsigned char const* selected = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(h.server, &selected, &len);
    EXPECT_EQ(std::string_view(reinterpret_cast<char const*>(selected), len), "h2")
        << "example-h2 chose the connection, so its protocol is selected over tls.alpn";
}

TEST_F(RouterCore, HandshakeWithoutAlpnOffersNone)
{
    memory_handshake h(rt_->tls->initial_context().native_handle(), "example.org", "");
    ASSERT_TRUE(h.done);
    EXPECT_TRUE(h.notes.alpn.empty());
}

access_record sample_record()
{
    static routed_record routed;
    routed.route = "example";
    routed.backend = "127.0.0.1:7071";
    routed.bytes_in = 12;
    routed.bytes_out = 3456;
    access_record r;
    r.start = std::chrono::steady_clock::now();
    r.listener = "127.0.0.1:70";
    r.transport = transport::tls;
    r.routed = &routed;
    r.outcome = error::backend_reset;
    return r;
}

connection_facts sample_facts()
{
    connection_facts f;
    f.client = {boost::asio::ip::make_address("192.0.2.1"), 5000};
    f.transport = transport::tls;
    f.tls_version = "TLSv1.3";
    f.sni = "example.org";
    return f;
}

TEST(AccessLine, TextHasEveryFieldInOrderAndDashForEmpty)
{
    logging_config cfg;
    auto line = format_access_record(sample_record(), sample_facts(), cfg);
    auto fields = line.substr(line.find(" access ") + 8);
    EXPECT_EQ(fields.substr(0, fields.find(" duration_ms=")),
              "client=192.0.2.1:5000 listener=127.0.0.1:70 transport=tls tls_version=TLSv1.3 "
              "sni=example.org alpn=- client_subject=- client_verify=- route=example prefix=- "
              "backend=127.0.0.1:7071 bytes_in=12 bytes_out=3456");
    EXPECT_TRUE(line.ends_with(" outcome=backend_reset")) << line;
}

TEST(AccessLine, TextEscapesBytesThatWouldBreakTheLayout)
{
    logging_config cfg;
    auto f = sample_facts();
    f.rare().client_subject = "CN=alice example,O=\"Q\\\xc3\xa9";
    auto r = sample_record();
    r.client_verify = "ok";
    auto line = format_access_record(r, f, cfg);
    EXPECT_NE(line.find(" client_subject=CN=alice\\x20example,O=\\x22Q\\x5c\\xc3\\xa9 "
                        "client_verify=ok "),
              std::string::npos)
        << line;
}

TEST(AccessLine, PassthroughShowsTheOfferedProtocolsAndTerminatedTheNegotiatedOne)
{
    logging_config cfg;
    auto f = sample_facts();
    f.alpn_offered = {"h2", "acme-tls/1"};
    f.alpn = "gopher";
    auto r = sample_record();
    EXPECT_NE(format_access_record(r, f, cfg).find(" alpn=gopher "), std::string::npos);
    r.transport = transport::tls_passthrough;
    f.alpn.clear();
    auto line = format_access_record(r, f, cfg);
    EXPECT_NE(line.find(" transport=tls_passthrough "), std::string::npos) << line;
    EXPECT_NE(line.find(" alpn=h2,acme-tls/1 "), std::string::npos) << line;
}

TEST(AccessLine, JsonHasTheSameFields)
{
    logging_config cfg;
    cfg.format = log_format::json;
    auto f = sample_facts();
    f.sni = "quote\"and\\back";
    auto line = format_access_record(sample_record(), f, cfg);
    EXPECT_TRUE(line.starts_with("{\"time\":\"")) << line;
    EXPECT_NE(line.find(",\"client\":\"192.0.2.1:5000\",\"listener\":\"127.0.0.1:70\","
                        "\"transport\":\"tls\",\"tls_version\":\"TLSv1.3\","
                        "\"sni\":\"quote\\\"and\\\\back\",\"alpn\":\"\",\"client_subject\":\"\","
                        "\"client_verify\":\"\",\"route\":\"example\",\"prefix\":\"\","
                        "\"backend\":\"127.0.0.1:7071\",\"bytes_in\":12,\"bytes_out\":3456,"
                        "\"duration_ms\":"),
              std::string::npos)
        << line;
    EXPECT_TRUE(line.ends_with(",\"outcome\":\"backend_reset\"}")) << line;
}

listener_config listener_at(std::string host, std::uint16_t port)
{
    listener_config l;
    l.address.host = std::move(host);
    l.address.port = port;
    return l;
}

TEST(ListenerPlan, KeepsOpensAndCloses)
{
    std::vector<std::string> open{"127.0.0.1:70", "[::1]:70", "127.0.0.1:7000"};
    std::vector<listener_config> wanted{listener_at("127.0.0.1", 7000),
                                        listener_at("127.0.0.1", 7001),
                                        listener_at("127.0.0.1", 70)};
    auto plan = plan_listeners(open, wanted);
    ASSERT_EQ(plan.reuse.size(), 3u);
    EXPECT_EQ(plan.reuse[0], std::optional<std::size_t>(2));
    EXPECT_FALSE(plan.reuse[1]);
    EXPECT_EQ(plan.reuse[2], std::optional<std::size_t>(0));
    EXPECT_EQ(plan.close, std::vector<std::size_t>{1});
}

TEST(ListenerPlan, EmptyOnBothSides)
{
    auto none = plan_listeners({}, {});
    EXPECT_TRUE(none.reuse.empty());
    EXPECT_TRUE(none.close.empty());
    std::vector<std::string> open{"127.0.0.1:70"};
    EXPECT_EQ(plan_listeners(open, {}).close, std::vector<std::size_t>{0});
}

proxy_header parsed(std::string const& bytes)
{
    auto r = parse_proxy_header(
        std::span(reinterpret_cast<std::uint8_t const*>(bytes.data()), bytes.size()));
    EXPECT_EQ(r.status, proxy_parse_status::done) << r.reason;
    EXPECT_EQ(r.consumed, bytes.size());
    return r.header;
}

TEST(ProxyHeaderFor, V1CarriesClientAndLocalAddresses)
{
    connection_facts f;
    f.client = {net::ip::make_address("192.0.2.7"), 40000};
    tcp::endpoint local{net::ip::make_address("::ffff:198.51.100.1"), 70};
    auto header = proxy_header_for(f, local, proxy_version::v1);
    EXPECT_EQ(header, "PROXY TCP4 192.0.2.7 198.51.100.1 40000 70\r\n");
}

TEST(ProxyHeaderFor, V2CarriesSniAndTlsVersion)
{
    connection_facts f;
    f.client = {net::ip::make_address("2001:db8::1"), 40000};
    f.transport = transport::tls;
    f.sni = "example.org";
    f.tls_version = "TLSv1.3";
    auto h =
        parsed(proxy_header_for(f, {net::ip::make_address("127.0.0.1"), 70}, proxy_version::v2));
    EXPECT_EQ(h.family, proxy_family::tcp6);
    EXPECT_EQ(h.source_port, 40000);
    EXPECT_EQ(h.destination_port, 70);
    EXPECT_EQ(h.authority, std::optional<std::string>("example.org"));
    ASSERT_TRUE(h.ssl);
    EXPECT_EQ(h.ssl->version, std::optional<std::string>("TLSv1.3"));

    EXPECT_EQ(h.ssl->client, proxy_ssl_client::ssl);
    EXPECT_TRUE(h.ssl->sub_tlvs.empty());

    // A verified client certificate: CERT_CONN and CERT_SESS, verify 0, the CN sub-TLV;
    // on a resumed session CERT_SESS alone, as HAProxy sends them.
    f.rare().client_subject = "CN=alice,O=Example";
    f.rare().client_cn = "alice";
    f.rare().client_cert_this_connection = true;
    auto cert = parsed(proxy_header_for(f, {net::ip::make_address("::1"), 70}, proxy_version::v2));
    ASSERT_TRUE(cert.ssl);
    EXPECT_EQ(cert.ssl->client,
              proxy_ssl_client::ssl | proxy_ssl_client::cert_conn | proxy_ssl_client::cert_sess);
    EXPECT_EQ(cert.ssl->verify, 0u);
    EXPECT_EQ(cert.ssl->sub_tlvs, (std::vector<proxy_tlv>{{proxy_tlv_type::ssl_cn, "alice"}}));
    f.rare().client_cert_this_connection = false;
    auto resumed =
        parsed(proxy_header_for(f, {net::ip::make_address("::1"), 70}, proxy_version::v2));
    EXPECT_EQ(resumed.ssl->client, proxy_ssl_client::ssl | proxy_ssl_client::cert_sess);

    f.transport = transport::plain;
    f.sni.clear();
    auto plain = parsed(proxy_header_for(f, {net::ip::make_address("::1"), 70}, proxy_version::v2));
    EXPECT_FALSE(plain.authority);
    EXPECT_FALSE(plain.ssl);
}

TEST(ClientAddressHash, MappedIpv4HashesAsIpv4)
{
    EXPECT_EQ(client_address_hash(net::ip::make_address("::ffff:192.0.2.1")),
              client_address_hash(net::ip::make_address("192.0.2.1")));
    EXPECT_NE(client_address_hash(net::ip::make_address("192.0.2.1")),
              client_address_hash(net::ip::make_address("192.0.2.2")));
}

// A request line that came with the first bytes is taken as it is, without read_request:
// a line end with no NUL before it. Anything else is read_request's to answer.
TEST(RequestLineReady, OnlyAWholeLineWithoutNul)
{
    auto ready = [](std::string_view bytes) {
        boost::beast::flat_buffer buf;
        if (!bytes.empty()) { // (an empty buffer's data is null: no memcpy from it)
            auto space = buf.prepare(bytes.size());
            std::memcpy(space.data(), bytes.data(), bytes.size());
            buf.commit(bytes.size());
        }
        return request_line_ready(buf);
    };
    EXPECT_TRUE(ready("\r\n"));
    EXPECT_TRUE(ready("/menu\tsearch\r\n"));
    EXPECT_TRUE(ready("sel\n"));
    EXPECT_TRUE(ready(std::string_view("sel\r\n\0after", 11))); // past the line: the backend's
    EXPECT_FALSE(ready(""));
    EXPECT_FALSE(ready("sel"));
    EXPECT_FALSE(ready("sel\r"));
    EXPECT_FALSE(ready(std::string_view("s\0l\r\n", 6)));
}

} // namespace
} // namespace got::test
