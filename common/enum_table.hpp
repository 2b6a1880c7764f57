// One table per enum: the names an enum's values have in the config, /config, the
// metrics and the access log, declared once beside the enum.
//
// An enum `E` that ends in `count_` specialises `enum_names<E>` with an array of
// exactly `E::count_` names, in declaration order. A value added to the enum without
// a name leaves an empty slot, which `complete()` rejects at compile time wherever the
// table is used; arrays indexed by the enum (metrics) take their size from
// `enum_count<E>`.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace got {

template <class E>
struct enum_names; // static constexpr std::array<std::string_view, E::count_> value

template <class E>
inline constexpr std::size_t enum_count = static_cast<std::size_t>(E::count_);

namespace detail {
template <class E>
consteval bool complete()
{
    for (auto name : enum_names<E>::value)
        if (name.empty())
            return false;
    return enum_names<E>::value.size() == enum_count<E>;
}
} // namespace detail

// The value's name; "unknown" for a value outside the enum.
template <class E>
constexpr std::string_view name_of(E e) noexcept
{
    static_assert(detail::complete<E>(), "every value of the enum needs a name");
    auto i = static_cast<std::size_t>(e);
    return i < enum_count<E> ? enum_names<E>::value[i] : std::string_view("unknown");
}

template <class E>
constexpr std::optional<E> from_name(std::string_view name) noexcept
{
    static_assert(detail::complete<E>(), "every value of the enum needs a name");
    for (std::size_t i = 0; i < enum_count<E>; ++i)
        if (enum_names<E>::value[i] == name)
            return static_cast<E>(i);
    return std::nullopt;
}

// The values in declaration order, for loops over an enum (metrics families).
template <class E>
constexpr std::array<E, enum_count<E>> enum_values() noexcept
{
    std::array<E, enum_count<E>> out{};
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<E>(i);
    return out;
}

} // namespace got
