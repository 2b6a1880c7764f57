// Health and load of one backend, shared by every config snapshot that names it, so
// a reload keeps what the router learned (up/down, open connections).
//
// Written from the control loop (active checks) and from data loops (passive
// failures, connection counts): atomics only; a transition is logged by whoever
// flips `up`, once. `up` is the only copy of the health state: the
// got_router_backend_up gauge reads it when scraped (metrics::report_backend_up).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace got {

struct backend_state
{
    std::string route;
    std::string name;
    std::atomic<bool> up{true};
    std::atomic<unsigned> successes{0}; // consecutive, while down
    std::atomic<unsigned> failures{0};  // consecutive, while up
    std::atomic<std::int64_t> active{0};

    // One check result (active probe, or a connect during real traffic).
    void record(bool ok, unsigned rise, unsigned fall, std::string const& why);
};

// The state for (route, backend), created on first use.
std::shared_ptr<backend_state> backend_state_for(std::string const& route, std::string const& name);

// Forgets every state not in `keep` (called when a snapshot is published).
void retain_backend_states(std::vector<std::shared_ptr<backend_state>> const& keep);

} // namespace got
