#include "route_table.hpp"

#include "sni.hpp"

namespace got {

route_table::route_table(config const& cfg)
    : cfg_(cfg)
{
    for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
        auto const& r = cfg.routes[i];
        by_name_.emplace(r.name, i);
        for (auto const& pattern : r.sni) {
            auto& routes = (sni::is_wildcard(pattern) ? wildcard_ : exact_)[pattern];
            // The loader refuses two claims of one (name, protocol): first one wins here.
            if (r.alpn.empty() && !routes.any)
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

std::optional<matched_route> route_table::pick(name_routes const& routes,
                                               std::span<std::string const> offered) const
{
    for (auto const& protocol : offered)
        for (auto const& [name, index] : routes.by_alpn)
            if (name == protocol)
                return matched_route{index, cfg_.routes[index], name};
    return at(routes.any);
}

std::optional<matched_route> route_table::by_server_name(std::string_view server_name,
                                                         std::span<std::string const> offered) const
{
    if (server_name.empty())
        return std::nullopt;
    if (auto it = exact_.find(std::string(server_name)); it != exact_.end())
        if (auto r = pick(it->second, offered))
            return r;
    if (auto w = sni::wildcard_for(server_name))
        if (auto it = wildcard_.find(*w); it != wildcard_.end())
            return pick(it->second, offered);
    return std::nullopt;
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
    if (auto r = by_server_name(q.server_name, q.alpn_offered))
        return r;
    if (q.default_route.empty())
        return std::nullopt;
    return find(q.default_route);
}

} // namespace got
