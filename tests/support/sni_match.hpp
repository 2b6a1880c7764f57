// The matching rule the route table and the certificate registry implement with their
// exact and wildcard maps, stated as one function: the oracle their tests and the SNI
// fuzz target compare against.
#pragma once

#include "common/sni.hpp"

#include <string_view>

namespace got::sni {

// Whether `name` (normalised) matches `pattern` (exact, or one-label wildcard).
inline bool matches(std::string_view pattern, std::string_view name)
{
    if (!is_wildcard(pattern))
        return pattern == name;
    auto w = wildcard_for(name);
    return w && *w == pattern;
}

} // namespace got::sni
