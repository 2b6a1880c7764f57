// The match stage: which route a connection takes, from the facts inspection gathered.
// Built once per config snapshot; lookups are read-only and lock-free.
//
// Order: the server name exact, then one-label wildcard, then the listener's default
// route. Within one name, a route that names an ALPN protocol the client offers wins
// over the name's route without `alpn` (several: the client's order decides); a name
// whose routes all name protocols the client does not offer falls through to the next
// step. Then, among the name's routes without `alpn`, the longest `selector_prefix`
// that matches the request's selector (common/selector.hpp) wins over the name's route
// without a prefix (its fallback). A client with no name of its own (plaintext, no SNI,
// an unknown one) reaches what its listener reaches: the prefixes of the routes without
// `sni` and of the default route's names, then the default route. A new route key adds
// a field to `route_query` and a step here; the handlers never look at keys.
#pragma once

#include "config.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace got {

// What a route is chosen by: the connection's facts as the matcher needs them.
struct route_query
{
    std::string_view server_name;                   // normalised (sni::normalise); empty: none
    std::string_view default_route;                 // the listener's `default_route`; empty: none
    std::span<std::string const> alpn_offered = {}; // the client's order; empty: none
    std::string_view selector = {}; // the request's selector; empty matches no prefix
};

// A route that matched: its position in config::routes (for the snapshot's
// per-route state) and its configuration.
struct matched_route
{
    std::size_t index;
    route_config const& config;
    // The offered protocol that chose the route, for a route with `alpn` (the one the
    // handshake selects); empty otherwise.
    std::string_view alpn = {};
    // The selector prefix that chose the route; empty for a route matched without one.
    std::string_view prefix = {};
};

class route_table
{
public:
    // `cfg` must outlive the table (both live in one snapshot).
    explicit route_table(config const& cfg);

    std::optional<matched_route> match(route_query const& q) const;

    // The route with this name.
    std::optional<matched_route> find(std::string_view name) const;

    // Whether any route has a selector_prefix: only then is the request line's selector
    // needed before matching.
    bool has_prefixes() const { return has_prefixes_; }

    // Whether a server name has a route of its own (exact or wildcard), without the
    // default: what `tls.unknown_sni: reject` asks.
    bool has_name(std::string_view server_name) const;

private:
    // The routes of one server name pattern.
    struct name_routes
    {
        std::optional<std::size_t> any;                             // without `alpn`
        std::vector<std::pair<std::string, std::size_t>> by_alpn;   // protocol, route
        std::vector<std::pair<std::string, std::size_t>> by_prefix; // selector prefix, route
    };
    using prefix_list = std::vector<std::pair<std::string, std::size_t>>;
    std::optional<matched_route> pick(name_routes const& routes, route_query const& q) const;
    std::optional<matched_route> by_server_name(std::string_view server_name,
                                                route_query const& q) const;
    std::optional<matched_route> without_name(route_query const& q) const;
    void longest_prefix(prefix_list const& prefixes, std::string_view selector,
                        std::optional<matched_route>& best) const;
    std::optional<matched_route> at(std::optional<std::size_t> index) const;

    config const& cfg_;
    std::unordered_map<std::string, name_routes> exact_;
    std::unordered_map<std::string, name_routes> wildcard_; // key: `*.rest`
    std::unordered_map<std::string, std::size_t> by_name_;
    prefix_list no_sni_prefixes_; // routes without sni that have a selector_prefix
    bool has_prefixes_ = false;
};

} // namespace got
