// Plaintext to plaintext without copying through user space: splice(2) moves the
// bytes socket -> pipe -> socket inside the kernel (what HAProxy's `option
// splice-auto` does). Same contract as the buffered pumps in splice.hpp: half-close
// carried through, aborts close both sides, a backend reset becomes a reset to the
// client, and a full pipe (a slow reader) stops reading the other side (flow control).
#pragma once

#include "splice.hpp"

namespace got {

// Both directions at once, each through its own pipe.
awaitable<void> splice(tcp::socket& client, tcp::socket& backend, splice_state& st,
                       connection_clock& clk);

} // namespace got
