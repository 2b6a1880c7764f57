// Fuzz target: telling TLS from plaintext Gopher on the first bytes, the way the router
// does it (Boost.Beast's detect_ssl / is_tls_client_hello), under random split schedules.
//
// Input: one schedule byte, then the bytes a client sends. Bit i of the schedule byte puts
// a read boundary after payload byte i+1 (the decisive bytes are the first nine); the rest
// arrives in one piece. Checks:
// - the verdict on the whole input equals the verdict on the same bytes as a multi-buffer
//   sequence cut at the boundaries;
// - appended chunk by chunk, the first definite verdict is the whole input's and never
//   flips or becomes undecided again;
// - `beast::detect_ssl` reading from a stream that delivers those chunks returns that
//   verdict without error (or end of stream when the bytes never decide), and leaves the
//   bytes it read, unchanged and in order, in its buffer for the handshake or the selector.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/logic/tribool.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_classifier.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

// 0 false, 1 true, 2 undecided.
int verdict(boost::tribool t)
{
    return boost::indeterminate(t) ? 2 : (t ? 1 : 0);
}

template <class Buffers>
int classify(Buffers const& buffers)
{
    return verdict(beast::detail::is_tls_client_hello(buffers));
}

// A SyncReadStream that delivers `chunks` in order, each over as many reads as the
// caller's buffer needs, then end of stream.
class scripted_stream
{
public:
    explicit scripted_stream(std::vector<std::span<std::uint8_t const>> chunks)
        : chunks_(std::move(chunks))
    {}

    template <class MutableBufferSequence>
    std::size_t read_some(MutableBufferSequence const& buffers, boost::system::error_code& ec)
    {
        ec = {};
        if (next_ == chunks_.size()) {
            ec = net::error::eof;
            return 0;
        }
        auto chunk = chunks_[next_].subspan(offset_);
        auto n = net::buffer_copy(buffers, net::buffer(chunk.data(), chunk.size()));
        offset_ += n;
        if (offset_ == chunks_[next_].size()) {
            ++next_;
            offset_ = 0;
        }
        return n;
    }

    template <class MutableBufferSequence>
    std::size_t read_some(MutableBufferSequence const& buffers)
    {
        boost::system::error_code ec;
        auto n = read_some(buffers, ec);
        if (ec)
            throw boost::system::system_error(ec);
        return n;
    }

private:
    std::vector<std::span<std::uint8_t const>> chunks_;
    std::size_t next_ = 0;
    std::size_t offset_ = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::uint8_t const schedule = data[0];
    std::span<std::uint8_t const> payload(data + 1, size - 1);

    std::vector<std::span<std::uint8_t const>> chunks;
    std::size_t start = 0;
    for (std::size_t i = 0; i < 8 && i + 1 < payload.size(); ++i) {
        if (schedule & (1u << i)) {
            chunks.push_back(payload.subspan(start, i + 1 - start));
            start = i + 1;
        }
    }
    if (start < payload.size())
        chunks.push_back(payload.subspan(start));

    int const whole = classify(net::buffer(payload.data(), payload.size()));

    std::vector<net::const_buffer> sequence;
    for (auto c : chunks)
        sequence.emplace_back(c.data(), c.size());
    FUZZ_CHECK(classify(sequence) == whole);

    std::size_t received = 0;
    int first_definite = 2;
    for (auto c : chunks) {
        received += c.size();
        int now = classify(net::buffer(payload.data(), received));
        if (first_definite == 2)
            first_definite = now;
        else
            FUZZ_CHECK(now == first_definite);
    }
    FUZZ_CHECK(first_definite == whole);

    scripted_stream stream(chunks);
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    bool const is_tls = beast::detect_ssl(stream, buffer, ec);
    if (whole == 2) {
        FUZZ_CHECK(ec == net::error::eof);
        FUZZ_CHECK(!is_tls);
    } else {
        FUZZ_CHECK(!ec);
        FUZZ_CHECK(is_tls == (whole == 1));
    }
    FUZZ_CHECK(buffer.size() <= payload.size());
    FUZZ_CHECK(buffer.size() == 0 ||
               std::memcmp(buffer.data().data(), payload.data(), buffer.size()) == 0);
    return 0;
}
