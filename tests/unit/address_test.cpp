// host:port parsing for listeners (IP literals, port 0 allowed) and backends (names too).
#include "common/address.hpp"

#include <gtest/gtest.h>
#include <string>

namespace got {
namespace {

constexpr endpoint_rules listener_rules{host_rule::ip_literal, 0};
constexpr endpoint_rules backend_rules{host_rule::ip_or_name, 1};

TEST(ParseEndpoint, Accepts)
{
    struct row
    {
        std::string text;
        endpoint_rules rules;
        endpoint expected;
    };
    row const rows[] = {
        {"127.0.0.1:70", listener_rules, {"127.0.0.1", 70}},
        {"0.0.0.0:0", listener_rules, {"0.0.0.0", 0}},
        {"[::1]:70", listener_rules, {"::1", 70}},
        {"[::]:70", listener_rules, {"::", 70}},
        {"[2001:db8::1]:65535", listener_rules, {"2001:db8::1", 65535}},
        {"localhost:7070", backend_rules, {"localhost", 7070}},
        {"gopher.example.org:70", backend_rules, {"gopher.example.org", 70}},
        {"back_end-1.internal:1", backend_rules, {"back_end-1.internal", 1}},
        {"10.0.0.7:70", backend_rules, {"10.0.0.7", 70}},
    };
    for (auto const& r : rows) {
        auto e = parse_endpoint(r.text, r.rules);
        ASSERT_TRUE(e) << r.text << ": " << e.error();
        EXPECT_EQ(e.value(), r.expected) << r.text;
        EXPECT_EQ(e.value().to_string(), r.text);
    }
}

TEST(ParseEndpoint, Refuses)
{
    struct row
    {
        std::string text;
        endpoint_rules rules;
        std::string message_part;
    };
    row const rows[] = {
        {"", backend_rules, "expected host:port"},
        {"127.0.0.1", backend_rules, "missing port"},
        {"127.0.0.1:", backend_rules, "missing port"},
        {"[::1]", backend_rules, "missing port"},
        {"[::1]:", backend_rules, "missing port"},
        {"::1:70", backend_rules, "write \"[::1]:70\""},
        {"::1", backend_rules, "must be in brackets"},
        {"2001:db8::1:70", listener_rules, "must be in brackets"},
        {"[::1:70", backend_rules, "missing \"]\""},
        {"[example.org]:70", backend_rules, "expected an IPv6 address in brackets"},
        {"[127.0.0.1]:70", backend_rules, "expected an IPv6 address in brackets"},
        {"[::1]70", backend_rules, "expected \":\" and a port"},
        {":70", listener_rules, "missing host"},
        {"localhost:70", listener_rules, "expected an IP address"},
        {"*:70", listener_rules, "expected an IP address"},
        {"127.0.0.1:70000", listener_rules, "a port from 0 to 65535, got \"70000\""},
        {"127.0.0.1:0", backend_rules, "a port from 1 to 65535, got \"0\""},
        {"127.0.0.1:-1", backend_rules, "a port from 1 to 65535"},
        {"127.0.0.1:http", backend_rules, "a port from 1 to 65535"},
        {"127.0.0.1:123456", backend_rules, "a port from 1 to 65535"},
        {"256.0.0.1:70", backend_rules, "expected an IP address or a host name"},
        {"1.2.3:70", backend_rules, "expected an IP address or a host name"},
        {"bad host:70", backend_rules, "expected an IP address or a host name"},
        {"-bad.example:70", backend_rules, "expected an IP address or a host name"},
        {"a..b:70", backend_rules, "expected an IP address or a host name"},
    };
    for (auto const& r : rows) {
        auto e = parse_endpoint(r.text, r.rules);
        ASSERT_FALSE(e) << r.text;
        EXPECT_NE(e.error().find(r.message_part), std::string::npos) << r.text << ": " << e.error();
    }
}

} // namespace
} // namespace got
