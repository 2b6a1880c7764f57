// The backend side of a connection: a TCP socket, or, for a backend with `tls`, a
// tls_stream in client mode over that socket (GoT to the backend). Handlers and the
// buffered splice pumps take this one type and it dispatches per operation: plaintext
// keeps recv() first and Asio's writes (and the FIN half-close), TLS goes through the SSL
// stream (a copy, no splice(2)). Plaintext on both sides still goes to zero_copy.cpp.
//
// TLS specifics at the end of a request: a client's FIN is not passed on as a TLS
// close_notify (a GoT server may take it as the end of the connection and drop the
// reply); the backend's reply ends with its close_notify, and a TCP FIN without one is a
// truncated reply (treated as a reset: the client sees RST, never a complete-looking
// reply).
#pragma once

#include "common/awaitable.hpp"
#include "loop_socket.hpp"
#include "tls_stream.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <openssl/ssl.h>

namespace got {

class backend_stream
{
public:
    explicit backend_stream(net::any_io_executor const& ex)
        : socket_(loop_of(ex))
    {}

    // The TCP socket: connect it, send the PROXY header in clear, close it.
    tcp_socket& socket() noexcept { return socket_; }
    // Set once start_tls has run.
    tls_stream* tls() noexcept { return tls_.get(); }

    // Puts a new client SSL on `ctx` over the connected socket (throws bad_alloc).
    void start_tls(SSL_CTX* ctx)
    {
        tls_ = std::make_unique<tls_stream>(socket_, ctx, tls_stream::role::client);
    }

private:
    tcp_socket socket_;
    std::unique_ptr<tls_stream> tls_; // over socket_: declared after it, so destroyed first
};

// A deadline on one operation of a socket that has no timer of its own (a TLS
// handshake, a first read through TLS): when it passes, the socket is closed, so the
// operation completes with operation_aborted, and fired() says why. Disarmed on
// destruction: a timer completion already queued then touches nothing.
class socket_deadline
{
public:
    socket_deadline(tcp_socket& s, std::chrono::steady_clock::duration d)
        : timer_(s.get_executor())
    {
        timer_.expires_after(d);
        timer_.async_wait([state = state_, &s](boost::system::error_code const& ec) {
            if (ec || !state->armed)
                return;
            state->fired = true;
            boost::system::error_code ignored;
            s.close(ignored);
        });
    }
    ~socket_deadline()
    {
        state_->armed = false;
        timer_.cancel();
    }
    socket_deadline(socket_deadline const&) = delete;
    socket_deadline& operator=(socket_deadline const&) = delete;

    bool fired() const noexcept { return state_->fired; }

private:
    struct state
    {
        bool armed = true;
        bool fired = false;
    };
    std::shared_ptr<state> state_ = std::make_shared<state>();
    net::steady_timer timer_;
};

} // namespace got
