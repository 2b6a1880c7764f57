#!/usr/bin/env python3
"""heap_breakdown.py: bytes per idle connection by owner, from two heaptrack captures.

Each capture is a flame-graph stack file written by
`heaptrack_print -f FILE --flamegraph-cost-type peak -F STACKS` for a got-router holding
a known number of idle handshaken TLS connections. The per-connection figure is the
difference of the two captures divided by the difference of the counts, so what does
not grow with the connections (startup, caches, the handshakes still in flight when the
peak was taken) cancels out.

usage: heap_breakdown.py SMALL.stacks N_SMALL LARGE.stacks N_LARGE
Prints a Markdown table on stdout.
"""

import collections
import re
import sys

# (label, predicate on the stack's frames, root first). The first match wins.
OPENSSL = [
    ("OpenSSL: the SSL object (`SSL_new`)", lambda s: "SSL_new" in s),
    ("OpenSSL: record cipher contexts (read, write)", lambda s: "EVP_CipherInit_ex" in s),
    ("OpenSSL: the session (`SSL_SESSION_new`)", lambda s: "SSL_SESSION_new" in s),
    ("OpenSSL: key exchange keys (`EVP_PKEY_generate`)", lambda s: "EVP_PKEY_generate" in s),
    ("OpenSSL: transcript hash (`EVP_MD_CTX`)", lambda s: "EVP_MD_CTX" in s),
]


def frame_name(frame):
    return re.sub(r" \([^)]*\)$", "", frame)


def coroutine_of(frames, i):
    """The coroutine whose frame `awaitable_frame_base::operator new` at i allocates."""
    for f in frames[i + 1 :]:
        if "thread_info_base" in f or "aligned_new" in f or not f.strip():
            continue
        m = re.search(r"(got::)?(\w+)(<>)?\(", f)
        if "co_spawn_entry_point" in f:
            return "co_spawn_entry_point (Asio's wrapper of each spawned session)"
        if "async_result<>::initiate" in f:
            return "Asio's `use_awaitable` operation (the pending wait)"
        return m.group(2) if m else f[:40]
    caller = frames[max(0, i - 3)]
    return "awaited by " + (re.match(r"\w+", caller) or [caller])[0]


def classify(frames):
    text = ";".join(frames)
    if "tls_context_registry" in text:
        # Before 2026-12-06T21Z the ClientHello's name and ALPN list were kept on the
        # SSL (ex_data); since, what is left is the ticket's server name on the session.
        return "router: ClientHello facts and ticket data from the registry's callbacks"
    for i, f in enumerate(frames):
        if "awaitable_frame_base<>::operator new" in f:
            return "router: coroutine frame " + coroutine_of(frames, i)
    if "tls_stream" in text:
        for label, match in OPENSSL:
            if match(text):
                return label
        if "tls_stream::tls_stream" in text or "tls_stream::attempt" in text:
            return "OpenSSL: the rest (certificates, ALPN/SNI copies, BIOs, stacks)"
        if "make_unique" in text:
            return "router: the `tls_stream` object"
    # GCC's libstdc++ shows std::make_unique as _MakeUniq or make_unique<>.
    made = "_MakeUniq" in text or "make_unique" in text
    if made and "run_session" in text:
        return "router: `session_context` (session state, clock, socket, holds)"
    if made and "serve_tls" in text:
        return "router: the `tls_stream` object"
    if "CRYPTO_set_ex_data" in text:
        return "OpenSSL: the `SSL`'s ex_data stack (the listener's pointers, set by serve_tls)"
    if "deadline_queue" in text:
        return "router: the loop's deadline queue (an entry per connection, amortised)"
    if "timer_queue" in text:
        return "Asio: the timer queue (an entry per pending timer)"
    # Operations allocated for themselves (exact_allocator), not from the recycling cache.
    if "wait_readable" in text:
        return "Asio: the parked wait for the request (`wait_readable`'s reactor operation)"
    if "thread_info_base" not in text and "async_wait" in text:
        if "park" in frames:
            return "Asio: the parked wait for the request (socket wait operation)"
        if any("connection_clock::arm" in f for f in frames):
            return "Asio: the clock's timer wait (timer operation)"
    if "epoll_reactor" in text:
        return "Asio: epoll descriptor state"
    if "thread_info_base" in text:
        return "Asio: pending operations (recycled blocks)"
    got = [f for f in frames if f.startswith("got::") or "(router/" in f]
    return "other: " + (frame_name(got[-1]) if got else frame_name(frames[-1]))[:60]


def load(path):
    totals = collections.Counter()
    with open(path) as f:
        for line in f:
            stack, _, cost = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            totals[classify([frame_name(x) for x in stack.split(";")])] += int(cost)
    return totals


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    small, n_small = load(sys.argv[1]), int(sys.argv[2])
    large, n_large = load(sys.argv[3]), int(sys.argv[4])
    per = {k: (large[k] - small[k]) / (n_large - n_small) for k in set(small) | set(large)}
    rows = sorted(((v, k) for k, v in per.items() if abs(v) >= 8), reverse=True)
    print("| what | bytes per connection |")
    print("|---|---|")
    for v, k in rows:
        print(f"| {k} | {v:.0f} |")
    group = collections.Counter()
    for k, v in per.items():
        group[k.split(":")[0]] += v
    for g in ("router", "Asio", "OpenSSL", "other"):
        print(f"| **{g}, total** | **{group[g]:.0f}** |")
    print(f"| **all heap** | **{sum(per.values()):.0f}** |")


if __name__ == "__main__":
    main()
