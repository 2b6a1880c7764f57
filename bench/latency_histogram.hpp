// A latency histogram in microseconds with bounded memory and mergeable counts.
//
// Exact below 1024 µs; above, 64 buckets per power of two, so a reported
// percentile is at most 1/64 (1.6%) above the true value, and never above the
// maximum seen. One histogram per load thread, merged once at the end.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace got::bench {

class latency_histogram
{
public:
    latency_histogram()
        : counts_(bucket_count, 0)
    {}

    void record(std::uint64_t micros)
    {
        ++counts_[index_of(micros)];
        ++total_;
        max_ = std::max(max_, micros);
    }

    void merge(latency_histogram const& other)
    {
        for (std::size_t i = 0; i < bucket_count; ++i)
            counts_[i] += other.counts_[i];
        total_ += other.total_;
        max_ = std::max(max_, other.max_);
    }

    std::uint64_t count() const { return total_; }
    std::uint64_t max() const { return max_; }

    // The smallest recorded bucket bound at or below which a fraction `q` of the
    // samples lie (q in (0, 1]); 0 when empty.
    std::uint64_t percentile(double q) const
    {
        if (total_ == 0)
            return 0;
        auto target = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        target = std::clamp<std::uint64_t>(target, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < bucket_count; ++i) {
            seen += counts_[i];
            if (seen >= target)
                return std::min(upper_bound_of(i), max_);
        }
        return max_;
    }

private:
    static constexpr unsigned sub_bits = 6; // 64 buckets per power of two
    static constexpr std::uint64_t exact_limit = 1024;
    static constexpr unsigned exact_bits = 10; // log2(exact_limit)
    static constexpr std::size_t bucket_count = exact_limit + (64 - exact_bits) * (1u << sub_bits);

    static std::size_t index_of(std::uint64_t v)
    {
        if (v < exact_limit)
            return static_cast<std::size_t>(v);
        unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
        unsigned shift = msb - sub_bits;
        return exact_limit + (msb - exact_bits) * (1u << sub_bits) +
               static_cast<std::size_t>((v >> shift) & ((1u << sub_bits) - 1));
    }

    static std::uint64_t upper_bound_of(std::size_t i)
    {
        if (i < exact_limit)
            return i;
        std::size_t k = i - exact_limit;
        unsigned msb = exact_bits + static_cast<unsigned>(k >> sub_bits);
        std::uint64_t sub = (k & ((1u << sub_bits) - 1)) + (1u << sub_bits);
        unsigned shift = msb - sub_bits;
        return ((sub + 1) << shift) - 1;
    }

    std::vector<std::uint64_t> counts_;
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
};

} // namespace got::bench
