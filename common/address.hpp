// `host:port` as the config writes it: `127.0.0.1:70`, `[::1]:70`, `[::]:70`,
// `localhost:7070`. IPv6 addresses must be in brackets (`::1:70` is ambiguous). Plain
// string checks, no name resolution: host names are only checked for shape.
#pragma once

#include "config.hpp"
#include "parse_result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace got {

enum class host_rule
{
    ip_literal, // listeners: the address to bind
    ip_or_name, // backends, admin: a name is resolved when connecting
};

struct endpoint_rules
{
    host_rule host = host_rule::ip_or_name;
    std::uint16_t min_port = 1; // 0 allows an ephemeral port (tests bind to port 0)
};

parse_result<endpoint> parse_endpoint(std::string_view text, endpoint_rules rules);

// One spelling per endpoint, to find repeats: a host name in lower case, an IPv6 address in
// its RFC 5952 form (`[0:0::1]:70` and `[::1]:70` are one endpoint).
std::string canonical_text(endpoint const& e);

} // namespace got
