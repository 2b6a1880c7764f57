#include "client_rate_table.hpp"

#include <algorithm>
#include <random>

namespace got {

namespace {

using clock = client_rate_table::clock;

std::uint64_t random_seed()
{
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ 0x9e3779b97f4a7c15ull;
}

// splitmix64's finaliser: every input bit reaches every output bit.
std::uint64_t mix(std::uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

double seconds_between(clock::time_point from, clock::time_point to)
{
    return to > from ? std::chrono::duration<double>(to - from).count() : 0.0;
}

} // namespace

client_rate_table::client_rate_table(std::size_t capacity, std::uint64_t seed)
    : set_count_(std::max<std::size_t>(1, (capacity + ways - 1) / ways))
    , seed_(seed != 0 ? seed : random_seed())
    , entries_(std::make_unique<entry[]>(set_count_ * ways))
{}

std::size_t client_rate_table::set_of(address_key const& client) const
{
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        hi = hi << 8 | client[i];
        lo = lo << 8 | client[i + 8];
    }
    return static_cast<std::size_t>(mix(mix(hi ^ seed_) ^ lo) % set_count_);
}

client_rate_table::entry& client_rate_table::claim(entry* set, clock::time_point now,
                                                   double per_second, double burst)
{
    entry* oldest = set;
    for (std::size_t i = 0; i < ways; ++i) {
        auto& e = set[i];
        if (!e.used) {
            used_.fetch_add(1, std::memory_order_relaxed);
            return e;
        }
        if (e.tokens + seconds_between(e.last, now) * per_second >= burst)
            return e;
        if (e.last < oldest->last)
            oldest = &e;
    }
    evictions_.fetch_add(1, std::memory_order_relaxed);
    return *oldest;
}

bool client_rate_table::try_take(address_key const& client, clock::time_point now,
                                 double per_second, double burst)
{
    burst = std::max(burst, 1.0);
    auto index = set_of(client);
    entry* set = &entries_[index * ways];
    std::lock_guard lock(stripes_[index % stripe_count]);
    auto found =
        std::find_if(set, set + ways, [&](entry const& e) { return e.used && e.addr == client; });
    entry* e = found;
    if (found == set + ways) {
        e = &claim(set, now, per_second, burst);
        *e = entry{client, true, burst, now};
    } else {
        e->tokens = std::min(burst, e->tokens + seconds_between(e->last, now) * per_second);
        e->last = std::max(e->last, now);
    }
    if (e->tokens < 1.0)
        return false;
    e->tokens -= 1.0;
    return true;
}

namespace {
std::atomic<client_rate_table const*> made{nullptr};
}

client_rate_table& new_connection_rates()
{
    static client_rate_table& instance = []() -> client_rate_table& {
        static client_rate_table table;
        made.store(&table, std::memory_order_release);
        return table;
    }();
    return instance;
}

client_rate_table const* new_connection_rates_if_made()
{
    return made.load(std::memory_order_acquire);
}

} // namespace got
