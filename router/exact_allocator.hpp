// An allocator for the operations that stay pending while a connection idles (the wait
// for its request; the deadline queue's one timer per loop): plain operator new, so each
// gets a block of its own size.
// Asio serves a handler whose allocator is std::allocator from a per-thread recycling
// cache instead, and a cached block keeps the size of the largest operation that used it
// (240 and 336 bytes where these waits need about 100): cheap for a short operation,
// a few hundred bytes per connection for one that stays pending while it idles.
//   socket.async_wait(w, net::bind_allocator(exact_allocator<void>(), handler));
#pragma once

#include <cstddef>
#include <memory>

namespace got {

template <class T>
struct exact_allocator
{
    using value_type = T;

    exact_allocator() noexcept = default;
    template <class U>
    exact_allocator(exact_allocator<U> const&) noexcept
    {}

    T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }

    template <class U>
    bool operator==(exact_allocator<U> const&) const noexcept
    {
        return true;
    }
};

} // namespace got
