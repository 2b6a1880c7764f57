#include "address.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <string>

namespace got {

namespace {

using result = parse_result<endpoint>;

std::string in_quotes(std::string_view s)
{
    return "\"" + std::string(s) + "\"";
}

bool is_ipv4(std::string_view host)
{
    std::string tmp(host);
    in_addr a{};
    return ::inet_pton(AF_INET, tmp.c_str(), &a) == 1;
}

bool is_ipv6(std::string_view host)
{
    std::string tmp(host);
    in6_addr a{};
    return ::inet_pton(AF_INET6, tmp.c_str(), &a) == 1;
}

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool valid_label(std::string_view label)
{
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
        return false;
    return std::all_of(label.begin(), label.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
               c == '_';
    });
}

// A DNS name by shape. All digits and dots would be a malformed IPv4 address, not a name.
bool valid_host_name(std::string_view name)
{
    if (name.empty() || name.size() > 253)
        return false;
    if (std::all_of(name.begin(), name.end(), [](char c) { return is_digit(c) || c == '.'; }))
        return false;
    std::size_t start = 0;
    for (;;) {
        auto dot = name.find('.', start);
        if (!valid_label(name.substr(start, dot == name.npos ? name.npos : dot - start)))
            return false;
        if (dot == name.npos)
            return true;
        start = dot + 1;
    }
}

parse_result<std::uint16_t> parse_port(std::string_view text, std::uint16_t min_port)
{
    auto range = "a port from " + std::to_string(min_port) + " to 65535";
    if (text.empty())
        return parse_result<std::uint16_t>::fail("missing port: expected host:port");
    if (text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit))
        return parse_result<std::uint16_t>::fail("expected " + range + ", got " + in_quotes(text));
    unsigned value = 0;
    for (char c : text)
        value = value * 10 + static_cast<unsigned>(c - '0');
    if (value < min_port || value > 65535)
        return parse_result<std::uint16_t>::fail("expected " + range + ", got " + in_quotes(text));
    return parse_result<std::uint16_t>::ok(static_cast<std::uint16_t>(value));
}

result with_port(std::string host, std::string_view port_text, endpoint_rules rules)
{
    auto port = parse_port(port_text, rules.min_port);
    if (!port)
        return result::fail(port.error());
    return result::ok(endpoint{std::move(host), port.value()});
}

result parse_bracketed(std::string_view text, endpoint_rules rules)
{
    auto close = text.find(']');
    if (close == text.npos)
        return result::fail("missing \"]\" after the IPv6 address in " + in_quotes(text));
    auto host = text.substr(1, close - 1);
    if (!is_ipv6(host))
        return result::fail("expected an IPv6 address in brackets, got " + in_quotes(text));
    auto rest = text.substr(close + 1);
    if (rest.empty())
        return result::fail("missing port: expected [address]:port, got " + in_quotes(text));
    if (rest.front() != ':')
        return result::fail("expected \":\" and a port after \"]\", got " + in_quotes(text));
    return with_port(std::string(host), rest.substr(1), rules);
}

result unbracketed_ipv6(std::string_view text)
{
    auto colon = text.rfind(':');
    auto host = text.substr(0, colon);
    auto port = text.substr(colon + 1);
    if (is_ipv6(host) && !port.empty() && std::all_of(port.begin(), port.end(), is_digit))
        return result::fail("an IPv6 address must be in brackets: write \"[" + std::string(host) +
                            "]:" + std::string(port) + "\", not " + in_quotes(text));
    return result::fail("an IPv6 address must be in brackets with a port, like \"[::1]:70\"; "
                        "got " +
                        in_quotes(text));
}

} // namespace

std::string canonical_text(endpoint const& e)
{
    in6_addr a{};
    char text[INET6_ADDRSTRLEN] = {};
    if (::inet_pton(AF_INET6, e.host.c_str(), &a) == 1 &&
        ::inet_ntop(AF_INET6, &a, text, sizeof text))
        return endpoint{text, e.port}.to_string();
    auto host = e.host;
    std::transform(host.begin(), host.end(), host.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return endpoint{std::move(host), e.port}.to_string();
}

parse_result<endpoint> parse_endpoint(std::string_view text, endpoint_rules rules)
{
    if (text.empty())
        return result::fail("expected host:port, got an empty string");
    if (text.front() == '[')
        return parse_bracketed(text, rules);
    auto colons = std::count(text.begin(), text.end(), ':');
    if (colons > 1)
        return unbracketed_ipv6(text);
    if (colons == 0)
        return result::fail("missing port: expected host:port, got " + in_quotes(text));
    auto colon = text.find(':');
    auto host = text.substr(0, colon);
    if (host.empty())
        return result::fail("missing host in " + in_quotes(text) +
                            ": use 0.0.0.0 or [::] for every address");
    if (!is_ipv4(host)) {
        if (rules.host == host_rule::ip_literal)
            return result::fail("expected an IP address (a listener binds, it does not resolve "
                                "names), got " +
                                in_quotes(host));
        if (!valid_host_name(host))
            return result::fail("expected an IP address or a host name, got " + in_quotes(host));
    }
    return with_port(std::string(host), text.substr(colon + 1), rules);
}

} // namespace got
