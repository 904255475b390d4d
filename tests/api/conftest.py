from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from portal.services import accounts


@pytest.fixture
def keys(app) -> dict[str, str]:
    return {scope: accounts.create_api_key(f"{scope} key", scope).secret
            for scope in ("integration", "pos")}


class Api:
    """The Flask test client with a bearer key and JSON by default."""

    def __init__(self, client, key: str | None) -> None:
        self.client, self.key = client, key

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**headers, **(extra or {})}

    def get(self, path: str, **kw):
        return self.client.get("/api/v1" + path, headers=self.headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, json=None, **kw):
        return self.client.post("/api/v1" + path, json=json,
                                headers=self.headers(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw):
        return self.client.delete("/api/v1" + path, headers=self.headers(kw.pop("headers", None)), **kw)

    def patch(self, path: str, json=None, **kw):
        return self.client.patch("/api/v1" + path, json=json,
                                 headers=self.headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def api(client, keys) -> Api:
    return Api(client, keys["integration"])


@pytest.fixture
def pos(client, keys) -> Api:
    return Api(client, keys["pos"])


@pytest.fixture
def served(app) -> str:
    """The app served over real HTTP on a loopback port, as a till or checkout reaches it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
