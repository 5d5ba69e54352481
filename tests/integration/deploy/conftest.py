"""The deploy tests' Engine health page: a real HTTP server saying "DB Up"."""

import http.server
import threading

import pytest

from tests.integration.ha.test_agent_real import HealthPage


@pytest.fixture
def tmp_health():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/ovirt-engine/services/health"
    server.shutdown()
    server.server_close()
