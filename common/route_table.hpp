// Route lookup by server name: exact, then one-label wildcard, then the listener's
// default route. Built once per config snapshot; lookups are read-only and lock-free.
#pragma once

#include "config.hpp"

#include <string>
#include <string_view>
#include <unordered_map>

namespace got {

class route_table
{
public:
    explicit route_table(config const& cfg);

    // Index into config::routes, or -1. `server_name` must be normalised
    // (sni::normalise); empty means no SNI. `default_route` is the listener's.
    int match(std::string_view server_name, std::string_view default_route) const;

    // Index of the route with this name, or -1.
    int find(std::string_view name) const;

private:
    std::unordered_map<std::string, int> exact_;
    std::unordered_map<std::string, int> wildcard_; // key: `*.rest`
    std::unordered_map<std::string, int> by_name_;
};

} // namespace got
