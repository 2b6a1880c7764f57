"""Harness for got-router's integration tests: the real binary, real clients.

Each test gets a temporary directory, certificates made with `openssl` at test
time, test backends (tests/support/gopher_backend.py) and a router started on
port 0 from a YAML config. Every process a test starts is killed on teardown,
also when the test fails, and every wait is bounded in time.

This module only gathers the names tests import (`from harness import X`); they live
in harnesslib/, one module per purpose:

    config     paths, the standard timeouts, YAML, certificates, the standard config
    clients    TLS and plaintext clients from Python's ssl and sockets, raw TLS bytes
    processes  the router, test backends and the fault relay as running processes
    probes     access log, admin endpoint and metrics, /proc and socket states, waits
    cases      RouterTestCase and HardeningTestCase, which tie the four together

A new helper goes into the module of its purpose and is added here.
The router binary is $GOT_ROUTER, else build/router/got-router under the repo.
"""

from harnesslib.cases import HardeningTestCase, RouterTestCase
from harnesslib.clients import (BioTlsClient, SocketCrowd, client_context,
                                client_hello_with_extension, plain_request, raw_client_hello,
                                reframe_first_record,
                                read_until_close, sni_extension, tls_connect, tls_records,
                                wait_peer_close)
from harnesslib.config import (CLIENT_TIMEOUT, CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT,
                               MARGIN, REPO_ROOT, START_TIMEOUT, SUPPORT_DIR, Certificate, make_ca,
                               make_ca_signed, make_client_cert, make_self_signed,
                               standard_certificates, standard_config, to_yaml)
from harnesslib.probes import (ACCESS, ADMIN_ENDPOINT, ERROR_ITEM, LISTENING, PIPES_KEPT_PER_LOOP,
                               accepted_fd, access_fields, admin_port, merge_resumed, fetch_admin, http_request, limit_hits,
                               metric_value, parse_metrics, percentile, proc_cpu_seconds,
                               proc_fd_count, proc_pipe_count, proc_rss_kib, process_tcp_states,
                               strace_during, wait_until)
from harnesslib.processes import (BACKEND_SCRIPT, CLONE_NEWNET, RELAY_SCRIPT, Backend,
                                  HalfClosingBackend, LineCollector, Relay, Router,
                                  enter_private_netns, router_binary, start_haproxy,
                                  start_relay, stream_digest, tcp_listening)

# tests/support is on sys.path once harnesslib.processes is imported.
import gopher_backend  # noqa: E402

__all__ = [
    # cases
    "HardeningTestCase", "RouterTestCase",
    # clients
    "BioTlsClient", "SocketCrowd", "client_context", "client_hello_with_extension",
    "plain_request", "raw_client_hello", "read_until_close", "reframe_first_record",
    "sni_extension", "tls_connect",
    "tls_records", "wait_peer_close",
    # config
    "CLIENT_TIMEOUT", "CONNECT_TIMEOUT", "HANDSHAKE_TIMEOUT", "IDLE_TIMEOUT", "MARGIN",
    "start_haproxy", "tcp_listening",
    "REPO_ROOT", "START_TIMEOUT", "SUPPORT_DIR", "Certificate", "make_ca", "make_ca_signed", "make_client_cert",
    "make_self_signed", "standard_certificates", "standard_config", "to_yaml",
    # probes
    "ACCESS", "ADMIN_ENDPOINT", "ERROR_ITEM", "LISTENING", "PIPES_KEPT_PER_LOOP",
    "accepted_fd", "access_fields", "merge_resumed", "admin_port", "fetch_admin", "http_request", "limit_hits", "metric_value",
    "parse_metrics", "percentile", "proc_cpu_seconds", "proc_fd_count", "proc_pipe_count",
    "proc_rss_kib", "process_tcp_states", "strace_during", "wait_until",
    # processes
    "BACKEND_SCRIPT", "CLONE_NEWNET", "RELAY_SCRIPT", "Backend", "HalfClosingBackend",
    "LineCollector", "Relay", "Router", "enter_private_netns", "gopher_backend",
    "router_binary", "start_relay", "stream_digest",
]
