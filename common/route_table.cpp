#include "route_table.hpp"

#include "selector.hpp"
#include "sni.hpp"

namespace got {

route_table::route_table(config const& cfg)
    : cfg_(cfg)
{
    for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
        auto const& r = cfg.routes[i];
        by_name_.emplace(r.name, i);
        has_prefixes_ = has_prefixes_ || !r.selector_prefix.empty();
        if (r.sni.empty())
            for (auto const& prefix : r.selector_prefix)
                no_sni_prefixes_.emplace_back(prefix, i);
        for (auto const& pattern : r.sni) {
            auto& routes = (sni::is_wildcard(pattern) ? wildcard_ : exact_)[pattern];
            for (auto const& prefix : r.selector_prefix)
                routes.by_prefix.emplace_back(prefix, i);
            // The loader refuses two claims of one (name, protocol): first one wins here.
            if (r.alpn.empty() && r.selector_prefix.empty() && !routes.any)
                routes.any = i;
            for (auto const& protocol : r.alpn)
                routes.by_alpn.emplace_back(protocol, i);
        }
    }
}

std::optional<matched_route> route_table::at(std::optional<std::size_t> index) const
{
    if (!index)
        return std::nullopt;
    return matched_route{*index, cfg_.routes[*index]};
}

void route_table::longest_prefix(prefix_list const& prefixes, std::string_view selector,
                                 std::optional<matched_route>& best) const
{
    for (auto const& [prefix, index] : prefixes)
        if (selector::has_prefix(selector, prefix) &&
            (!best || prefix.size() > best->prefix.size()))
            best.emplace(matched_route{index, cfg_.routes[index], {}, prefix});
}

std::optional<matched_route> route_table::pick(name_routes const& routes,
                                               route_query const& q) const
{
    for (auto const& protocol : q.alpn_offered)
        for (auto const& [name, index] : routes.by_alpn)
            if (name == protocol)
                return matched_route{index, cfg_.routes[index], name};
    std::optional<matched_route> best;
    longest_prefix(routes.by_prefix, q.selector, best);
    if (best)
        return best;
    return at(routes.any);
}

std::optional<matched_route> route_table::by_server_name(std::string_view server_name,
                                                         route_query const& q) const
{
    if (server_name.empty())
        return std::nullopt;
    if (auto it = exact_.find(std::string(server_name)); it != exact_.end())
        if (auto r = pick(it->second, q))
            return r;
    if (auto w = sni::wildcard_for(server_name))
        if (auto it = wildcard_.find(*w); it != wildcard_.end())
            return pick(it->second, q);
    return std::nullopt;
}

// What a listener reaches: the prefixes of the routes without sni and of the default
// route's names, then the default route itself.
std::optional<matched_route> route_table::without_name(route_query const& q) const
{
    auto fallback = q.default_route.empty() ? std::nullopt : find(q.default_route);
    if (!has_prefixes_)
        return fallback;
    std::optional<matched_route> best;
    longest_prefix(no_sni_prefixes_, q.selector, best);
    if (fallback)
        for (auto const& pattern : fallback->config.sni) {
            auto const& table = sni::is_wildcard(pattern) ? wildcard_ : exact_;
            if (auto it = table.find(pattern); it != table.end())
                longest_prefix(it->second.by_prefix, q.selector, best);
        }
    return best ? best : fallback;
}

std::optional<matched_route> route_table::find(std::string_view name) const
{
    auto it = by_name_.find(std::string(name));
    return at(it == by_name_.end() ? std::nullopt : std::optional(it->second));
}

bool route_table::has_name(std::string_view server_name) const
{
    if (exact_.count(std::string(server_name)))
        return true;
    auto w = sni::wildcard_for(server_name);
    return w && wildcard_.count(*w);
}

std::optional<matched_route> route_table::match(route_query const& q) const
{
    if (auto r = by_server_name(q.server_name, q))
        return r;
    return without_name(q);
}

} // namespace got
