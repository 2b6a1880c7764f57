// The server side of one TLS connection, without Asio's ssl::stream: OpenSSL reads
// and writes the socket's descriptor itself, through a tiny BIO that calls recv/send,
// so there is no BIO pair and no extra copy per record (only a record's tail that the
// socket did not take is copied, see below). With SSL_MODE_RELEASE_BUFFERS an idle
// connection holds no record buffer at all.
//
// Operations are coroutines: try the SSL call; send what it wrote and the socket did
// not take; on SSL_ERROR_WANT_READ wait with socket.async_wait and try again (TLS 1.3
// reads can write: KeyUpdate answers). Errors come back as values, mapped as Asio's
// ssl::stream maps them, so callers keep their checks:
//   peer's close_notify                        -> net::error::eof
//   TCP EOF without close_notify               -> net::ssl::error::stream_truncated
//   reset and other socket errors              -> system error codes
//   TLS failures (alerts, bad records, ...)    -> ERR_get_error() in Asio's ssl category
//   socket closed locally (watchdog, an abort) -> net::error::operation_aborted
//
// Cancellation is by closing the socket (connection_clock's watchdog, abort_both):
// a pending wait completes with operation_aborted, and the BIO never touches a
// closed socket's descriptor number again (it may already belong to another
// connection). Nothing is sent on destruction: close_notify only by async_shutdown.
//
// Full duplex: one read and one write may be pending at once (splice.hpp's two
// pumps), on the connection's single event-loop thread, so OpenSSL never runs
// concurrently. Both may end up waiting in the same direction (a read that waits for
// room to send what it owes while a write waits too): Asio's reactor queues any number
// of wait operations per descriptor and direction and completes all of them when the
// descriptor becomes ready, and each operation simply retries its own step.
//
// Post-handshake messages during a stalled write: OpenSSL 3.0's record layer has one
// write buffer, and a record it could only partly send must be retried alone
// (ssl3_write_pending: same length, same record type); a KeyUpdate answer that SSL_read
// writes meanwhile (owed for an update_requested, sent once any further handshake
// message arrives) fails the connection with SSL_R_BAD_LENGTH or SSL_R_BAD_WRITE_RETRY.
// So the BIO never asks OpenSSL to retry a write: what the socket does not take is kept
// here, in order, and sent before the operation that wrote it completes (a read that
// writes leaves it to a write in progress). A KeyUpdate is processed whenever it
// arrives, the reply continues byte for byte, and an update_requested is answered with
// our own KeyUpdate before our next application record. At most one record's unsent
// tail plus what reads wrote is buffered: a write starts only once the buffer is empty,
// and a read stops reading while more than pending_limit bytes wait for a peer that
// does not read. The buffer is freed when empty.
#pragma once

#include "common/awaitable.hpp"
#include "loop_socket.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <openssl/ssl.h>
#include <tuple>
#include <vector>

namespace got {

struct tls_hello_notes;

class tls_stream
{
public:
    using result = std::tuple<boost::system::error_code, std::size_t>;

    // Server: a client's connection (the ClientHello cap applies). Client: our
    // connection to a TLS backend (backend_stream); the handshake is the client's.
    enum class role
    {
        server,
        client,
    };

    // A new SSL* on `ctx` over `socket`, in server mode unless `as` is client. The
    // socket stays its owner's (who keeps it beyond the stream and closes it): an idle
    // connection then holds one socket object, not a moved-from one beside the stream's.
    // Throws std::bad_alloc if OpenSSL cannot allocate.
    tls_stream(tcp_socket& socket, SSL_CTX* ctx, role as = role::server);
    ~tls_stream();
    // The BIO points at this object: it never moves.
    tls_stream(tls_stream const&) = delete;
    tls_stream& operator=(tls_stream const&) = delete;

    tcp_socket& next_layer() noexcept { return socket_; }
    SSL* native_handle() noexcept { return ssl_; }

    // The handshake (the server's, or the client's for role::client). `already_read` holds bytes
    // the classifier took from the socket (the start of the ClientHello): OpenSSL reads them before
    // the socket. The copy is freed as soon as OpenSSL has consumed it.
    awaitable<boost::system::error_code> async_handshake(net::const_buffer already_read);

    // At least one byte, or an error. An empty buffer completes at once.
    awaitable<result> async_read_some(net::mutable_buffer buffer)
    {
        return run(operation::read, buffer.data(), buffer.size());
    }

    // At least one byte (one TLS record at most), or an error.
    awaitable<result> async_write_some(net::const_buffer buffer)
    {
        return run(operation::write, const_cast<void*>(buffer.data()), buffer.size());
    }

    // The most bytes a ClientHello may take, record headers included (one full record:
    // RFC 8446 allows a ClientHello to span records, and this bounds it in total).
    // Until the ClientHello callback has run, the BIO hands OpenSSL no more: past it the
    // read fails and the handshake ends with client_hello_too_large() set.
    static constexpr std::size_t max_client_hello = 16 * 1024 + 5;
    // Called from the ClientHello callback: OpenSSL holds the whole ClientHello, the cap
    // no longer applies (a client certificate chain later may be larger). A no-op for
    // an SSL that is not read through a tls_stream (the in-memory test handshakes).
    static void client_hello_read(SSL* ssl) noexcept;
    // The stream that reads `ssl` (null: an SSL read otherwise), for OpenSSL's callbacks.
    static tls_stream* of(SSL* ssl) noexcept;
    // A server handshake's notes (tls_context_registry.hpp), while the handshake runs.
    tls_hello_notes* hello_notes = nullptr;
    bool client_hello_too_large() const noexcept { return hello_too_large_; }

    // Passthrough: keep a copy of every byte OpenSSL reads (the classifier's first),
    // so a handshake stopped at the ClientHello can be replayed to a backend. The
    // ClientHello cap bounds the copy.
    void record_reads() noexcept { recording_ = true; }
    // The handshake stopped in the ClientHello callback (a passthrough route chose it):
    // async_handshake returned operation_not_supported and no byte was sent.
    bool stopped_at_client_hello() const noexcept { return stopped_at_client_hello_; }
    // The bytes recorded, and any of the classifier's bytes OpenSSL did not read yet,
    // handed over once (recording stops).
    std::vector<unsigned char> take_recorded()
    {
        recording_ = false;
        if (prefix_)
            recorded_.insert(recorded_.end(), prefix_.get() + prefix_used_,
                             prefix_.get() + prefix_size_);
        prefix_.reset();
        return std::move(recorded_);
    }
    // Terminated after all: stop recording and free what was kept.
    void stop_recording() noexcept
    {
        recording_ = false;
        std::vector<unsigned char>().swap(recorded_);
    }

    // All of `buffer`, or an error (with the bytes written before it).
    awaitable<result> async_write(net::const_buffer buffer);

    // All of `buffer` and then close_notify, as async_write and async_shutdown would
    // send them, but in one send where those made two: for a reply whose end came with
    // its last bytes. close_notify leaves with the record that ends the buffer.
    static constexpr std::size_t max_record = 16 * 1024;
    awaitable<result> async_write_last(net::const_buffer buffer);

    // Sends close_notify and completes without waiting for the peer's (reads still
    // see it: SSL_read returns its EOF, and discards application data meanwhile).
    awaitable<boost::system::error_code> async_shutdown();

private:
    enum class operation
    {
        handshake,
        read,
        write,
        write_last, // one record, then close_notify (async_write_last)
        shutdown,
    };
    enum class step
    {
        done,
        want_read,
        want_write,
    };

    awaitable<result> run(operation what, void* data, std::size_t size);
    step attempt(operation what, void* data, std::size_t size, std::size_t& n,
                 boost::system::error_code& ec);

    // Bytes OpenSSL wrote that the socket has not taken yet.
    std::size_t pending_size() const noexcept { return pending_.size() - pending_begin_; }
    void consume_pending(std::size_t n);
    void try_send_pending();
    awaitable<boost::system::error_code> send_pending();

    int handed_over(char const* data, int n);
    static int bio_read(BIO* bio, char* data, int size);
    static int bio_write(BIO* bio, char const* data, int size);
    static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
    static int bio_type();
    static BIO_METHOD const* bio_method();

    tcp_socket& socket_;
    SSL* ssl_ = nullptr;
    std::unique_ptr<unsigned char[]> prefix_; // classifier's bytes, until consumed
    // Encrypted bytes written by OpenSSL, not yet taken by the socket (from
    // pending_begin_ on); empty and unallocated whenever the socket kept up.
    std::vector<unsigned char> pending_;
    std::vector<unsigned char> recorded_;
    // Counts in 32 bits (every one is bounded by the ClientHello cap or pending_limit
    // and a record), so that an idle stream is 16 bytes smaller.
    std::uint32_t prefix_size_ = 0;
    std::uint32_t prefix_used_ = 0;
    std::uint32_t pending_begin_ = 0;
    std::uint32_t hello_bytes_ = 0; // bytes handed to OpenSSL before the callback
    std::uint8_t writers_ = 0;      // write and shutdown operations in progress (0 or 1)
    bool eof_ = false;              // recv returned 0 (BIO_CTRL_EOF tells OpenSSL)
    bool recording_ = false;
    bool stopped_at_client_hello_ = false;
    bool hello_read_ = false;      // the ClientHello callback ran: no cap from then on
    bool hello_too_large_ = false; // the cap ended the handshake
    bool corked_ = false;          // bio_write keeps what it is given (write_last)
    // A read sends what it owes first once this much waits (a peer that never reads).
    static constexpr std::size_t pending_limit = 32 * 1024;
};

} // namespace got
