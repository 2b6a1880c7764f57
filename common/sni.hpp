// Server names: normalising what a client sent, and matching it against names
// from certificates and routes. Plain functions over strings, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace got::sni {

// Lower-case, trailing dot removed. Empty result for what RFC 6066 says is not a
// server name: empty, IP literals (v4 dotted quad or anything with ':'), names
// longer than 253 bytes, or bytes outside [A-Za-z0-9.-_*].
std::string normalise(std::string_view name);

// Whether `pattern` (already lower-case) is a wildcard `*.rest`.
bool is_wildcard(std::string_view pattern);

// The wildcard pattern that would match `name`: `a.b.c` gives `*.b.c`; a name with
// a single label gives nothing. A wildcard matches exactly one label.
std::optional<std::string> wildcard_for(std::string_view name);

// Whether `name` is a valid pattern for the config: a DNS name, optionally with a
// leading `*.` label. Expects lower case.
bool valid_pattern(std::string_view pattern);

} // namespace got::sni
