#include "connection_clock.hpp"

#include "exact_allocator.hpp"

#include <atomic>
#include <boost/asio/bind_allocator.hpp>
#include <stdexcept>

namespace got {

namespace {

// Bumped when a queue is destroyed: a thread's remembered queue is then looked up
// again (a new io_context may have the old one's address).
std::atomic<unsigned> queues_destroyed{0};

struct remembered_queue
{
    net::execution_context* ctx = nullptr;
    deadline_queue* queue = nullptr;
    unsigned epoch = 0;
};
thread_local remembered_queue remembered;

} // namespace

deadline_queue::deadline_queue(net::execution_context& ctx)
    : net::execution_context::service(ctx)
    , timer_(static_cast<net::io_context&>(ctx).get_executor())
{}

deadline_queue::~deadline_queue()
{
    queues_destroyed.fetch_add(1, std::memory_order_release);
}

deadline_queue& deadline_queue::of(net::io_context::executor_type const& ex)
{
    auto& ctx = ex.context();
    auto const epoch = queues_destroyed.load(std::memory_order_acquire);
    if (remembered.ctx != &ctx || remembered.epoch != epoch)
        remembered = {&ctx, &net::use_service<deadline_queue>(ctx), epoch};
    return *remembered.queue;
}

// The io_context is going: its pending operations (and the sessions they hold) are
// destroyed after this, and their clocks must not touch the heap.
void deadline_queue::shutdown()
{
    shut_down_ = true;
    for (auto& e : heap_)
        e.clk->index_ = connection_clock::not_queued;
    heap_.clear();
}

bool deadline_queue::consistent() const noexcept
{
    for (std::size_t i = 0; i < heap_.size(); ++i) {
        if (heap_[i].clk->index_ != i)
            return false;
        if (i > 0 && heap_[i].when < heap_[(i - 1) / 2].when)
            return false;
    }
    return true;
}

void deadline_queue::set(std::size_t i, entry e) noexcept
{
    heap_[i] = e;
    e.clk->index_ = static_cast<std::uint32_t>(i);
}

void deadline_queue::sift_up(std::size_t i) noexcept
{
    auto e = heap_[i];
    while (i > 0) {
        auto parent = (i - 1) / 2;
        if (!(e.when < heap_[parent].when))
            break;
        set(i, heap_[parent]);
        i = parent;
    }
    set(i, e);
}

void deadline_queue::sift_down(std::size_t i) noexcept
{
    auto e = heap_[i];
    auto const n = heap_.size();
    for (;;) {
        auto child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && heap_[child + 1].when < heap_[child].when)
            ++child;
        if (!(heap_[child].when < e.when))
            break;
        set(i, heap_[child]);
        i = child;
    }
    set(i, e);
}

deadline_queue::clock::time_point deadline_queue::due(connection_clock const& c) const noexcept
{
    return c.index_ == connection_clock::not_queued ? clock::time_point::max()
                                                    : heap_[c.index_].when;
}

void deadline_queue::place(connection_clock& c, clock::time_point when)
{
    if (shut_down_)
        return;
    if (c.index_ == connection_clock::not_queued) {
        heap_.push_back({when, &c});
        c.index_ = static_cast<std::uint32_t>(heap_.size() - 1);
        sift_up(c.index_);
    } else {
        auto i = c.index_;
        bool earlier = when < heap_[i].when;
        heap_[i].when = when;
        earlier ? sift_up(i) : sift_down(i);
    }
    if (when < armed_)
        arm(when);
}

void deadline_queue::remove(connection_clock& c) noexcept
{
    auto i = c.index_;
    if (i == connection_clock::not_queued)
        return;
    c.index_ = connection_clock::not_queued;
    auto last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size())
        return;
    set(i, last);
    // The moved entry may belong above or below the hole.
    if (i > 0 && last.when < heap_[(i - 1) / 2].when)
        sift_up(i);
    else
        sift_down(i);
}

// One wait pending for the earliest deadline. It stays armed when the connection it was
// armed for ends first (most do): it then fires early, finds nothing due and is armed
// for the new earliest, which is one wait per deadline's length, not per connection.
void deadline_queue::arm(clock::time_point when)
{
    armed_ = when;
    timer_.expires_at(when); // a pending wait completes with operation_aborted
    timer_.async_wait(net::bind_allocator(
        exact_allocator<void>(), [this](boost::system::error_code const& ec) { on_timer(ec); }));
}

void deadline_queue::on_timer(boost::system::error_code const& ec)
{
    if (ec || shut_down_)
        return; // replaced by a wait for an earlier deadline
    armed_ = clock::time_point::max();
    auto const now = clock::now();
    while (!heap_.empty() && heap_.front().when <= now) {
        auto* c = heap_.front().clk;
        remove(*c);
        c->on_due(now); // may place it again, later
    }
    if (!heap_.empty() && heap_.front().when < armed_)
        arm(heap_.front().when);
}

loop_executor loop_of(net::any_io_executor const& ex)
{
    auto const* io = ex.target<loop_executor>();
    if (!io)
        throw std::logic_error("an executor that is not an event loop's io_context's");
    return *io;
}

void connection_clock::schedule()
{
    if (stopped_ || expired_)
        return;
    auto when = deadline();
    if (when < queue_->due(*this))
        queue_->place(*this, when);
}

void connection_clock::on_due(clock::time_point now)
{
    if (stopped_ || expired_)
        return;
    boost::system::error_code ignored;
    if (attempt_ && attempt_deadline_ <= now) {
        attempt_->close(ignored); // that connect is over; the session goes on
        attempt_ = nullptr;
        attempt_expired_ = true;
    }
    auto when = deadline();
    if (when > now) {
        queue_->place(*this, when); // activity moved the deadline later
        return;
    }
    expired_ = true;
    if (attempt_)
        attempt_->close(ignored);
    if (backend)
        backend->close(ignored);
    if (client)
        client->close(ignored);
}

} // namespace got
