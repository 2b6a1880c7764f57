"""The integration-test harness by purpose; tests import it through harness.py."""
