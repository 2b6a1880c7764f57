#include "goh_request.hpp"

#include <algorithm>
#include <array>

namespace got::goh {

namespace {

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char lower(char c) noexcept
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) noexcept
{
    if (s.size() < prefix.size())
        return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (lower(s[i]) != prefix[i])
            return false;
    return true;
}

bool host_name_char(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool ipv6_char(char c) noexcept
{
    return hex_value(c) >= 0 || c == ':' || c == '.';
}

// `host` or `[v6]`, then an optional `:port`. False when either is malformed.
bool split_authority(std::string_view authority, gopher_target& t, url_error& e)
{
    std::string_view host;
    std::string_view rest;
    if (authority.starts_with('[')) {
        auto close = authority.find(']');
        host = authority.substr(1, close == std::string_view::npos ? 0 : close - 1);
        if (close == std::string_view::npos || host.empty() ||
            !std::all_of(host.begin(), host.end(), ipv6_char) ||
            host.find(':') == std::string_view::npos) {
            e = url_error::bad_host;
            return false;
        }
        rest = authority.substr(close + 1);
    } else {
        auto colon = authority.find(':');
        host = authority.substr(0, colon);
        rest = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
    }
    t.host.clear();
    for (char c : host)
        t.host += lower(c);
    if (t.host.empty() || t.host.size() > 253 ||
        (!authority.starts_with('[') &&
         !std::all_of(t.host.begin(), t.host.end(), host_name_char))) {
        e = url_error::bad_host;
        return false;
    }
    if (rest.empty())
        return true;
    auto digits = rest.substr(1);
    if (rest[0] != ':' || digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        e = url_error::bad_port;
        return false;
    }
    unsigned long port = std::stoul(std::string(digits));
    if (port == 0 || port > 65535) {
        e = url_error::bad_port;
        return false;
    }
    t.port = static_cast<std::uint16_t>(port);
    return true;
}

// Strict percent-decoding of a path: a broken escape is an error, not a literal.
std::optional<std::string> path_decode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

bool url_safe(unsigned char c) noexcept
{
    return c > 0x20 && c < 0x7f && c != '%' && c != '#' && c != '?' && c != '"' && c != '<' &&
           c != '>' && c != '\\' && c != '^' && c != '`' && c != '{' && c != '|' && c != '}';
}

} // namespace

std::string_view describe(url_error e) noexcept
{
    static constexpr std::array<std::string_view, 6> names{
        "not a gopher:// URL",           "bad host in the gopher URL",
        "bad port in the gopher URL",    "bad percent-escape in the gopher URL",
        "CR, LF or NUL in the selector", "selector too long",
    };
    return names[static_cast<std::size_t>(e)];
}

parsed_url parse_gopher_url(std::string_view url)
{
    parsed_url r;
    constexpr std::string_view scheme = "gopher://";
    if (!starts_with_nocase(url, scheme)) {
        r.error = url_error::not_gopher;
        return r;
    }
    url.remove_prefix(scheme.size());
    auto slash = url.find('/');
    auto authority = url.substr(0, slash);
    auto path = slash == std::string_view::npos ? std::string_view{} : url.substr(slash + 1);
    gopher_target t;
    if (!split_authority(authority, t, r.error))
        return r;
    auto decoded = path_decode(path);
    if (!decoded) {
        r.error = url_error::bad_escape;
        return r;
    }
    if (!decoded->empty()) {
        t.type = (*decoded)[0];
        t.selector = decoded->substr(1);
    }
    auto const type = static_cast<unsigned char>(t.type);
    if (type < 0x21 || type > 0x7e ||
        t.selector.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        r.error = url_error::bad_selector;
        return r;
    }
    if (t.selector.size() > max_selector) {
        r.error = url_error::too_long;
        return r;
    }
    r.target = std::move(t);
    return r;
}

std::string_view target_path(std::string_view request_target) noexcept
{
    return request_target.substr(0, request_target.find('?'));
}

std::string form_decode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::optional<std::string> query_parameter(std::string_view request_target, std::string_view name)
{
    auto q = request_target.find('?');
    if (q == std::string_view::npos)
        return std::nullopt;
    auto query = request_target.substr(q + 1);
    query = query.substr(0, query.find('#'));
    for (;;) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        auto eq = pair.find('=');
        if (form_decode(pair.substr(0, eq)) == name)
            return eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
        if (amp == std::string_view::npos)
            break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::string to_url(gopher_target const& t)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out = "gopher://";
    bool const v6 = t.host.find(':') != std::string::npos;
    out += v6 ? "[" + t.host + "]" : t.host;
    if (t.port != 70)
        out += ":" + std::to_string(t.port);
    out += '/';
    std::string path(1, t.type);
    path += t.selector;
    for (char c : path) {
        auto const u = static_cast<unsigned char>(c);
        if (url_safe(u)) {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

} // namespace got::goh
