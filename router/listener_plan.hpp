// The listener side of a reload as a pure decision: which open listeners the new config
// keeps (their sockets stay, so no connection attempt is refused during the reload),
// which addresses must be opened, and which open listeners close. Keyed by the
// configured address text (`[::]:70`), as the listeners are.
#pragma once

#include "common/config.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace got {

struct listener_plan
{
    // One entry per listener of the new config, in its order: the index of the open
    // listener it keeps, or none when it must be opened.
    std::vector<std::optional<std::size_t>> reuse;
    // Indexes of open listeners the new config no longer has.
    std::vector<std::size_t> close;
};

listener_plan plan_listeners(std::span<std::string const> open_keys,
                             std::span<listener_config const> wanted);

} // namespace got
