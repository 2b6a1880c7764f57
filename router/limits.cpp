#include "limits.hpp"

#include "common/log.hpp"
#include "common/metrics.hpp"

#include <cstring>

namespace got {

per_address_counts::key per_address_counts::key_of(boost::asio::ip::address const& a)
{
    if (a.is_v4())
        return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4()).to_bytes();
    return a.to_v6().to_bytes();
}

std::size_t per_address_counts::key_hash::operator()(key const& k) const noexcept
{
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::memcpy(&hi, k.data(), 8);
    std::memcpy(&lo, k.data() + 8, 8);
    // Multiply-xorshift (splitmix64's finaliser) over both halves: low bits well mixed
    // for the stripe and the bucket.
    std::uint64_t x = hi ^ (lo * 0x9e3779b97f4a7c15ULL);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return static_cast<std::size_t>(x);
}

per_address_counts::stripe& per_address_counts::stripe_of(key const& k)
{
    return stripes_[key_hash{}(k) % stripes_.size()];
}

per_address_counts& address_counts()
{
    static per_address_counts instance;
    return instance;
}

bool per_address_counts::try_acquire(boost::asio::ip::address const& addr, unsigned limit)
{
    if (limit == 0)
        return true;
    auto const k = key_of(addr);
    auto& s = stripe_of(k);
    std::lock_guard lock(s.mutex);
    auto& n = s.counts[k];
    if (n >= limit)
        return false;
    ++n;
    return true;
}

void per_address_counts::release(boost::asio::ip::address const& addr)
{
    auto const k = key_of(addr);
    auto& s = stripe_of(k);
    std::lock_guard lock(s.mutex);
    auto it = s.counts.find(k);
    if (it == s.counts.end())
        return;
    if (--it->second == 0)
        s.counts.erase(it);
}

bool take_handshake_token(unsigned per_second, unsigned loops)
{
    if (per_second == 0)
        return true;
    using clock = std::chrono::steady_clock;
    struct bucket
    {
        double tokens = -1;
        clock::time_point last{};
    };
    thread_local bucket b;
    double rate = static_cast<double>(per_second) / std::max(1u, loops);
    double burst = std::max(1.0, rate); // a second's worth
    auto now = clock::now();
    if (b.tokens < 0)
        b.tokens = burst;
    else
        b.tokens =
            std::min(burst, b.tokens + std::chrono::duration<double>(now - b.last).count() * rate);
    b.last = now;
    if (b.tokens < 1)
        return false;
    b.tokens -= 1;
    return true;
}

void log_limit_hit(limit_kind kind, std::string const& message)
{
    metrics::get().limit_hits[static_cast<std::size_t>(kind)].fetch_add(1,
                                                                        std::memory_order_relaxed);
    // At most one line a second per kind, lock-free: whoever moves the stamp logs.
    static std::array<std::atomic<std::int64_t>, enum_count<limit_kind>> last_ms{};
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    auto& slot = last_ms[static_cast<std::size_t>(kind)];
    auto prev = slot.load(std::memory_order_relaxed);
    if (now - prev < 1000 || !slot.compare_exchange_strong(prev, now))
        return;
    log::warning(message);
}

} // namespace got
