#include "tls_stream.hpp"

#include "drained_receive.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <new>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

namespace got {

namespace {

boost::system::error_code ssl_error_code(unsigned long code)
{
    // In OpenSSL 3 an unexpected TCP EOF is a TLS error; Asio (and our callers) call
    // it a truncated stream.
    if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return net::ssl::error::stream_truncated;
    return {static_cast<int>(code), net::error::get_ssl_category()};
}

bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

} // namespace

// Our BIO's type, so the ClientHello callback can tell a tls_stream's SSL from others.
int tls_stream::bio_type()
{
    static int const type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
    return type;
}

BIO_METHOD const* tls_stream::bio_method()
{
    static BIO_METHOD const* const method = [] {
        BIO_METHOD* m = BIO_meth_new(bio_type(), "got-socket");
        if (m == nullptr)
            return static_cast<BIO_METHOD*>(nullptr);
        BIO_meth_set_read(m, &tls_stream::bio_read);
        BIO_meth_set_write(m, &tls_stream::bio_write);
        BIO_meth_set_ctrl(m, &tls_stream::bio_ctrl);
        return m;
    }();
    return method;
}

// Passes `n` bytes read on to OpenSSL: counted against the ClientHello cap until the
// ClientHello callback has run, and copied while recording. Over the cap the read
// fails (and with it the handshake).
int tls_stream::handed_over(char const* data, int n)
{
    if (!hello_read_) {
        hello_bytes_ += static_cast<std::uint32_t>(n);
        if (hello_bytes_ > max_client_hello) {
            hello_too_large_ = true;
            errno = EMSGSIZE;
            return -1;
        }
    }
    if (recording_) {
        // As bytes, so the copy is one memmove (from `char` it went byte by byte).
        auto const* bytes = reinterpret_cast<unsigned char const*>(data);
        recorded_.insert(recorded_.end(), bytes, bytes + n);
    }
    return n;
}

tls_stream* tls_stream::of(SSL* ssl) noexcept
{
    BIO* rbio = SSL_get_rbio(ssl);
    if (rbio && BIO_method_type(rbio) == bio_type())
        return static_cast<tls_stream*>(BIO_get_data(rbio));
    return nullptr;
}

void tls_stream::client_hello_read(SSL* ssl) noexcept
{
    if (auto* self = of(ssl))
        self->hello_read_ = true;
}

// Reads the classifier's bytes first, then the socket. A closed socket reads as an
// error without touching its old descriptor number.
int tls_stream::bio_read(BIO* bio, char* data, int size)
{
    auto* self = static_cast<tls_stream*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (size <= 0)
        return 0;
    if (self->prefix_) {
        auto n = std::min<std::size_t>(static_cast<std::size_t>(size),
                                       self->prefix_size_ - self->prefix_used_);
        std::memcpy(data, self->prefix_.get() + self->prefix_used_, n);
        self->prefix_used_ += static_cast<std::uint32_t>(n);
        if (self->prefix_used_ == self->prefix_size_)
            self->prefix_.reset();
        return self->handed_over(data, static_cast<int>(n));
    }
    if (!self->socket_.is_open()) {
        errno = EBADF;
        return -1;
    }
    // Asio's rule for its own receives: on a socket drained by a short read (or found
    // empty) that epoll has not reported since, anything that comes raises an edge still
    // to be reported (drained_receive.hpp), so the read is left to the wait (run() waits
    // as after EAGAIN). Most often this is the read that follows our own send: the
    // handshake's after its flight (the client has a certificate to check and keys to
    // derive), the close's after our close_notify: a recv that says EAGAIN spared.
    if (!receive_tries_first(self->socket_)) {
        BIO_set_retry_read(bio);
        errno = EAGAIN;
        return -1;
    }
    auto n =
        ::recv(self->socket_.native_handle(), data, static_cast<std::size_t>(size), MSG_DONTWAIT);
    if (n > 0) {
        // OpenSSL reads ahead (asks for its buffer's room): a short read drained the
        // socket, so a parked session's wait needs no re-registration (wait_readable).
        if (n < size)
            note_short_read(self->socket_);
        return self->handed_over(data, static_cast<int>(n));
    }
    if (n == 0) {
        self->eof_ = true;
        return 0;
    }
    if (would_block(errno)) {
        if (errno != EINTR)
            note_would_block(self->socket_, ready_for::read); // run() waits with wait_noted
        BIO_set_retry_read(bio);
    }
    return -1;
}

// Never a retry: what the socket does not take now is kept in `pending_` (behind
// anything already there, so records stay in order) and `size` is reported written. So
// OpenSSL's record layer never holds a half-sent record, and a handshake message it
// writes while a read processes a KeyUpdate cannot meet one (see the header).
int tls_stream::bio_write(BIO* bio, char const* data, int size)
{
    auto* self = static_cast<tls_stream*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (!self->socket_.is_open()) {
        errno = EBADF;
        return -1;
    }
    if (size <= 0)
        return 0;
    std::size_t sent = 0;
    if (self->pending_size() == 0 && !self->corked_) {
        auto n = ::send(self->socket_.native_handle(), data, static_cast<std::size_t>(size),
                        MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && !would_block(errno))
            return -1;
        sent = n < 0 ? 0 : static_cast<std::size_t>(n);
    }
    try {
        self->pending_.insert(self->pending_.end(), data + sent, data + size);
    } catch (std::bad_alloc const&) {
        errno = ENOMEM; // never an exception through OpenSSL's C frames
        return -1;
    }
    return size;
}

long tls_stream::bio_ctrl(BIO* bio, int cmd, long, void*)
{
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; // `pending_` goes out from run(), in order, before the operation completes
    case BIO_CTRL_WPENDING:
        return static_cast<long>(static_cast<tls_stream*>(BIO_get_data(bio))->pending_size());
    case BIO_CTRL_EOF:
        return static_cast<tls_stream*>(BIO_get_data(bio))->eof_ ? 1 : 0;
    default:
        return 0; // no kTLS, no pending bytes, no push/pop
    }
}

tls_stream::tls_stream(tcp_socket& socket, SSL_CTX* ctx, role as)
    : socket_(socket)
{
    // Whatever the descriptor's mode, the BIO never blocks: MSG_DONTWAIT on each call
    // instead of an ioctl per connection.
    auto const* method = bio_method();
    if (method == nullptr)
        throw std::bad_alloc();
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr)
        throw std::bad_alloc();
    BIO* bio = BIO_new(method);
    if (bio == nullptr) {
        SSL_free(ssl_);
        throw std::bad_alloc();
    }
    BIO_set_data(bio, this);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl_, bio, bio); // the SSL owns the BIO
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                           SSL_MODE_RELEASE_BUFFERS);
    if (as == role::client) {
        hello_read_ = true; // the cap is for a client's ClientHello, not a server's replies
        SSL_set_connect_state(ssl_);
    } else {
        SSL_set_accept_state(ssl_);
    }
}

tls_stream::~tls_stream()
{
    SSL_free(ssl_);
}

// One try of the SSL call. `done` with `ec` clear is success.
tls_stream::step tls_stream::attempt(operation what, void* data, std::size_t size, std::size_t& n,
                                     boost::system::error_code& ec)
{
    n = 0;
    if (!socket_.is_open()) {
        ec = net::error::operation_aborted;
        return step::done;
    }
    if (size == 0 &&
        (what == operation::read || what == operation::write || what == operation::write_last))
        return step::done;
    ERR_clear_error();
    errno = 0;
    int ret = 0;
    bool ok = false;
    switch (what) {
    case operation::handshake:
        ret = SSL_do_handshake(ssl_);
        ok = ret == 1;
        break;
    case operation::read:
        ret = SSL_read_ex(ssl_, data, size, &n);
        ok = ret == 1;
        break;
    case operation::write:
        ret = SSL_write_ex(ssl_, data, size, &n);
        ok = ret == 1;
        break;
    case operation::write_last:
        // Both records wait in pending_, and run() sends them together before the
        // operation completes. A failed close_notify is async_shutdown's (never
        // reported: the reply is whole, and the FIN follows).
        corked_ = true;
        ret = SSL_write_ex(ssl_, data, size, &n);
        ok = ret == 1;
        if (ok && n == size && SSL_shutdown(ssl_) < 0)
            ERR_clear_error();
        corked_ = false;
        break;
    case operation::shutdown:
        ret = SSL_shutdown(ssl_);
        ok = ret >= 0; // 0: ours sent, the peer's not awaited
        break;
    }
    int const sys = errno;
    if (ok)
        return step::done;
    n = 0;
    int const err = SSL_get_error(ssl_, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return step::want_read;
    case SSL_ERROR_WANT_WRITE:
        return step::want_write;
    case SSL_ERROR_ZERO_RETURN:
        ec = net::error::eof;
        break;
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
        // Our ClientHello callback stopped the handshake for a passthrough route.
        stopped_at_client_hello_ = true;
        ec = net::error::operation_not_supported;
        break;
    case SSL_ERROR_SYSCALL:
        if (auto code = ERR_get_error(); code != 0)
            ec = ssl_error_code(code);
        else if (sys == 0)
            ec = net::ssl::error::stream_truncated; // TCP EOF, no close_notify
        else
            ec = {sys, boost::system::system_category()};
        break;
    case SSL_ERROR_SSL:
        ec = ssl_error_code(ERR_get_error());
        break;
    default:
        ec = net::ssl::error::unexpected_result;
        break;
    }
    ERR_clear_error();
    if (!ec)
        ec = net::ssl::error::unexpected_result;
    return step::done;
}

void tls_stream::consume_pending(std::size_t n)
{
    pending_begin_ += static_cast<std::uint32_t>(n);
    if (pending_begin_ == pending_.size()) {
        std::vector<unsigned char>().swap(pending_); // an idle connection holds no buffer
        pending_begin_ = 0;
    }
}

// One non-blocking send of what is pending; the rest stays. For error paths (an alert).
void tls_stream::try_send_pending()
{
    if (pending_size() == 0 || !socket_.is_open())
        return;
    auto n = ::send(socket_.native_handle(), pending_.data() + pending_begin_, pending_size(),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
        consume_pending(static_cast<std::size_t>(n));
}

awaitable<boost::system::error_code> tls_stream::send_pending()
{
    while (pending_size() > 0) {
        if (!socket_.is_open())
            co_return net::error::operation_aborted;
        auto n = ::send(socket_.native_handle(), pending_.data() + pending_begin_, pending_size(),
                        MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            consume_pending(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && !would_block(errno))
            co_return boost::system::error_code(errno, boost::system::system_category());
        if (n < 0 && errno != EINTR)
            note_would_block(socket_, ready_for::write);
        auto [wec] = co_await wait_noted(socket_, ready_for::write);
        if (wec)
            co_return wec;
    }
    co_return boost::system::error_code{};
}

awaitable<tls_stream::result> tls_stream::run(operation what, void* data, std::size_t size)
{
    // A write or shutdown in progress sends everything pending before it completes, so
    // a read that leaves bytes behind (a KeyUpdate answer) need not wait for them.
    // Counted by hand at each return, not by a guard object: at the event loops' teardown
    // the frames of suspended operations are destroyed after the session frame that owns
    // this stream, so a destructor here would write to freed memory. A frame destroyed
    // mid-operation leaves the count behind, with the stream it belongs to.
    bool const writer =
        what == operation::write || what == operation::write_last || what == operation::shutdown;
    writers_ += writer;
    auto finish = [this, writer](result r) {
        writers_ -= writer;
        return r;
    };
    for (;;) {
        // Backpressure: a write, handshake or shutdown starts only once what is pending
        // has gone (at most one record is ever buffered for the write pump); a read
        // stops reading once a peer that sends but never reads has made us owe it more
        // than pending_limit (KeyUpdate answers, 27 bytes each).
        if (pending_size() > 0 && (what != operation::read || pending_size() > pending_limit)) {
            if (auto ec = co_await send_pending())
                co_return finish(result{ec, 0});
        }
        std::size_t n = 0;
        boost::system::error_code ec;
        step s = attempt(what, data, size, n, ec);
        if (pending_size() > 0) {
            if (s == step::done && ec) {
                try_send_pending(); // an alert, if the socket takes it
                co_return finish(result{ec, 0});
            }
            // Our bytes go before we wait for the peer's (a handshake flight), and before
            // a write or shutdown completes. A read leaves them to a writer in progress.
            if (what != operation::read || writers_ == 0) {
                if (auto sec = co_await send_pending())
                    co_return finish(result{sec, 0});
            }
        }
        if (s == step::done)
            co_return finish(result{ec, n});
        // want_read: bio_read's recv said EAGAIN and noted it, or it made none on a
        // drained socket; either way the wait needs no epoll_ctl. want_write (bio_write
        // never asks for a retry: not expected) waits as Asio does.
        boost::system::error_code wec;
        if (s == step::want_read)
            std::tie(wec) = co_await wait_noted(socket_, ready_for::read);
        else
            std::tie(wec) = co_await socket_.async_wait(tcp_socket::wait_write, use_nothrow);
        if (wec)
            co_return finish(result{wec, 0});
    }
}

awaitable<boost::system::error_code> tls_stream::async_handshake(net::const_buffer already_read)
{
    if (already_read.size() > 0) {
        prefix_.reset(new unsigned char[already_read.size()]);
        std::memcpy(prefix_.get(), already_read.data(), already_read.size());
        prefix_size_ = static_cast<std::uint32_t>(already_read.size()); // at most the cap
        prefix_used_ = 0;
        // The classifier's read nearly always holds the whole ClientHello: room for it at
        // once, rather than growing the copy from OpenSSL's small reads (header, body).
        if (recording_)
            recorded_.reserve(prefix_size_);
    }
    // Bytes left in the prefix (none in practice) are read first by later reads.
    auto [ec, n] = co_await run(operation::handshake, nullptr, 0);
    co_return ec;
}

awaitable<tls_stream::result> tls_stream::async_write(net::const_buffer buffer)
{
    std::size_t total = 0;
    while (buffer.size() > 0) {
        auto [ec, n] = co_await async_write_some(buffer);
        total += n;
        buffer += n;
        if (ec)
            co_return result{ec, total};
    }
    co_return result{boost::system::error_code{}, total};
}

awaitable<tls_stream::result> tls_stream::async_write_last(net::const_buffer buffer)
{
    if (buffer.size() == 0)
        co_return result{co_await async_shutdown(), 0};
    // Records of at most max_record bytes (fewer if the client limited their size:
    // then write_last wrote part of the buffer and sent no close_notify yet).
    std::size_t total = 0;
    while (buffer.size() > 0) {
        bool const last = buffer.size() <= max_record;
        auto [ec, n] =
            co_await run(last ? operation::write_last : operation::write,
                         const_cast<void*>(buffer.data()), last ? buffer.size() : max_record);
        total += n;
        buffer += n;
        if (ec)
            co_return result{ec, total};
    }
    co_return result{boost::system::error_code{}, total};
}

awaitable<boost::system::error_code> tls_stream::async_shutdown()
{
    auto [ec, n] = co_await run(operation::shutdown, nullptr, 0);
    co_return ec;
}

} // namespace got
