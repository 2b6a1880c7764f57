#include "backend_state.hpp"

#include "common/log.hpp"

#include <map>
#include <mutex>
#include <set>

namespace got {

namespace {

std::mutex registry_mutex;
std::map<std::pair<std::string, std::string>, std::shared_ptr<backend_state>> registry;

} // namespace

void backend_state::record(bool ok, unsigned rise, unsigned fall, std::string const& why)
{
    if (ok) {
        failures.store(0, std::memory_order_relaxed);
        if (up.load(std::memory_order_relaxed))
            return;
        if (successes.fetch_add(1, std::memory_order_relaxed) + 1 < rise)
            return;
        bool was = false;
        if (up.compare_exchange_strong(was, true)) {
            successes.store(0, std::memory_order_relaxed);
            log::info("backend " + name + " of route " + route + " is up (" + why + ")");
        }
        return;
    }
    successes.store(0, std::memory_order_relaxed);
    if (!up.load(std::memory_order_relaxed))
        return;
    if (failures.fetch_add(1, std::memory_order_relaxed) + 1 < fall)
        return;
    bool was = true;
    if (up.compare_exchange_strong(was, false)) {
        failures.store(0, std::memory_order_relaxed);
        log::warning("backend " + name + " of route " + route + " is down (" + why + ")");
    }
}

std::shared_ptr<backend_state> backend_state_for(std::string const& route, std::string const& name)
{
    std::lock_guard lock(registry_mutex);
    auto& slot = registry[{route, name}];
    if (!slot) {
        slot = std::make_shared<backend_state>();
        slot->route = route;
        slot->name = name;
    }
    return slot;
}

void retain_backend_states(std::vector<std::shared_ptr<backend_state>> const& keep)
{
    std::set<backend_state*> wanted;
    for (auto const& s : keep)
        wanted.insert(s.get());
    std::lock_guard lock(registry_mutex);
    for (auto it = registry.begin(); it != registry.end();) {
        if (wanted.count(it->second.get()))
            ++it;
        else
            it = registry.erase(it);
    }
}

} // namespace got
