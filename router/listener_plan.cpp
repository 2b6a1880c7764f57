#include "listener_plan.hpp"

#include <algorithm>

namespace got {

listener_plan plan_listeners(std::span<std::string const> open_keys,
                             std::span<listener_config const> wanted)
{
    listener_plan plan;
    std::vector<bool> kept(open_keys.size(), false);
    for (auto const& lc : wanted) {
        auto key = lc.address.to_string();
        auto it = std::find(open_keys.begin(), open_keys.end(), key);
        if (it == open_keys.end()) {
            plan.reuse.emplace_back();
            continue;
        }
        auto i = static_cast<std::size_t>(it - open_keys.begin());
        kept[i] = true;
        plan.reuse.emplace_back(i);
    }
    for (std::size_t i = 0; i < kept.size(); ++i)
        if (!kept[i])
            plan.close.push_back(i);
    return plan;
}

} // namespace got
