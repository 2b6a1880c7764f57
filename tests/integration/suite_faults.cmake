# Fault injection and soak (issue 9): a fault relay between got-router and a backend,
# blackholed backends, half-close loops, a lossy throttled link in a network namespace.
# Included by CMakeLists.txt; got_integration_test() is defined there.

got_integration_test(test_faults.BackendFaults.test_backend_eof_close_notify_then_fin)
got_integration_test(test_faults.BackendFaults.test_backend_reset_mid_reply_tls)
got_integration_test(test_faults.BackendFaults.test_backend_reset_mid_reply_plaintext_and_curl)
got_integration_test(test_faults.BackendFaults.test_client_reset_mid_reply_closes_backend)
got_integration_test(test_faults.Blackhole.test_blackholed_backends_error_item)
got_integration_test(test_faults.Blackhole.test_blackholed_backend_retried_on_next)
got_integration_test(test_faults.BackendHalfClose.test_backend_half_close_tls)
got_integration_test(test_faults.BackendHalfClose.test_backend_half_close_plaintext)
# Counts CLOSE-WAIT sockets and descriptors of the router: alone, so nothing else skews them.
got_integration_test(test_faults.HalfCloseLoop.test_half_close_1000_no_close_wait TIMEOUT 120 SERIAL)
# 200 MB through an 8 Mbit (1 MB/s) bucket with 2% drop: about 4 minutes, needs root (unshare -n).
# Not SERIAL: the link, not the CPU, bounds it (a few % of one core), and it lives in its
# own network namespace (its own lo, tc qdiscs and iptables rules), so it runs beside the
# other tests instead of holding the whole machine for 4 minutes.
got_integration_test(test_faults.LossyLink.test_lossy_throttled_link_1mb_fetches_intact TIMEOUT 600)
# Started first (ctest starts the highest COST first; after a run, CTestCostData.txt has
# its real time, still the longest): declared last, it would only start once the other
# tests are nearly done, and run alone after all.
set_tests_properties(integration.faults.lossy_throttled_link_1mb_fetches_intact PROPERTIES
  COST 1000)

# Soak: 180 s of mixed traffic with reloads; RSS and descriptor drift (tests/soak.sh).
# The binaries of this build tree (a sanitizer build's router, not build/'s). A
# sanitizer build runs it for 90 s (30 s warm-up, then 12 samples): there it looks for
# memory errors and leaks under reload churn; the plain build's 180 s run owns drift.
set(GOT_SOAK_SECONDS 180)
if(GOT_SANITIZE)
  set(GOT_SOAK_SECONDS 90)
endif()
add_test(NAME soak COMMAND ${CMAKE_SOURCE_DIR}/tests/soak.sh ${GOT_SOAK_SECONDS})
set_tests_properties(soak PROPERTIES TIMEOUT 400 RUN_SERIAL TRUE LABELS soak
  ENVIRONMENT "GOT_ROUTER=$<TARGET_FILE:got-router>;GOT_BENCH=$<TARGET_FILE:got-bench>;GOT_BENCH_BACKEND=$<TARGET_FILE:got-bench-backend>")
