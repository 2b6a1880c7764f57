#include "route_table.hpp"

#include "sni.hpp"

namespace got {

route_table::route_table(config const& cfg)
    : cfg_(cfg)
{
    for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
        auto const& r = cfg.routes[i];
        by_name_.emplace(r.name, i);
        for (auto const& pattern : r.sni)
            (sni::is_wildcard(pattern) ? wildcard_ : exact_).emplace(pattern, i);
    }
}

std::optional<matched_route> route_table::at(std::optional<std::size_t> index) const
{
    if (!index)
        return std::nullopt;
    return matched_route{*index, cfg_.routes[*index]};
}

std::optional<std::size_t> route_table::by_server_name(std::string_view server_name) const
{
    if (server_name.empty())
        return std::nullopt;
    if (auto it = exact_.find(std::string(server_name)); it != exact_.end())
        return it->second;
    if (auto w = sni::wildcard_for(server_name))
        if (auto it = wildcard_.find(*w); it != wildcard_.end())
            return it->second;
    return std::nullopt;
}

std::optional<matched_route> route_table::find(std::string_view name) const
{
    auto it = by_name_.find(std::string(name));
    return at(it == by_name_.end() ? std::nullopt : std::optional(it->second));
}

bool route_table::has_name(std::string_view server_name) const
{
    return by_server_name(server_name).has_value();
}

std::optional<matched_route> route_table::match(route_query const& q) const
{
    if (auto i = by_server_name(q.server_name))
        return at(i);
    if (q.default_route.empty())
        return std::nullopt;
    return find(q.default_route);
}

} // namespace got
