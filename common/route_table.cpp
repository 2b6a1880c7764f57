#include "route_table.hpp"

#include "sni.hpp"

namespace got {

route_table::route_table(config const& cfg)
{
    for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
        auto const& r = cfg.routes[i];
        int idx = static_cast<int>(i);
        by_name_.emplace(r.name, idx);
        for (auto const& pattern : r.sni)
            (sni::is_wildcard(pattern) ? wildcard_ : exact_).emplace(pattern, idx);
    }
}

int route_table::find(std::string_view name) const
{
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? -1 : it->second;
}

int route_table::match(std::string_view server_name, std::string_view default_route) const
{
    if (!server_name.empty()) {
        std::string key(server_name);
        if (auto it = exact_.find(key); it != exact_.end())
            return it->second;
        if (auto w = sni::wildcard_for(server_name)) {
            if (auto it = wildcard_.find(*w); it != wildcard_.end())
                return it->second;
        }
    }
    if (default_route.empty())
        return -1;
    return find(default_route);
}

} // namespace got
