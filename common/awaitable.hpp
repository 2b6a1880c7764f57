// The one completion token of the data plane: errors a peer can cause come back
// as values (`auto [ec, n] = co_await op(use_nothrow)`), never as exceptions.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace got {

namespace net = boost::asio;

template <class T = void>
using awaitable = net::awaitable<T>;

inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

} // namespace got
