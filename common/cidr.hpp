// Address blocks as `proxy_protocol.from` writes them: `10.0.0.0/8`, `2001:db8::/32`, and a
// bare address for one host (`192.0.2.7` is `/32`, `::1` is `/128`). Strict: the prefix
// must fit the family and the bits past it must be zero (`10.0.0.1/8` is refused, since it
// reads like one host but would trust the whole /8). An IPv4-mapped IPv6 block
// (`::ffff:10.0.0.0/104`) is refused too: `cidr_block::contains` takes a v4-mapped address
// as IPv4, so such a block could never match; the message names the IPv4 block to write.
#pragma once

#include "config.hpp"
#include "parse_result.hpp"

#include <string_view>

namespace got {

parse_result<cidr_block> parse_cidr(std::string_view text);

} // namespace got
