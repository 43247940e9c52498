"""The Redis cache backend (clinic.cache): one client per connection pool, on real Redis."""

import os

from django.core.cache import caches


def test_one_client_serves_every_call():
    """Django's own backend builds a `redis.Redis` (and its table of response callbacks) for
    every operation; ours keeps one per pool."""
    backend = caches["default"]._cache
    assert backend.get_client("a") is backend.get_client("b")
    assert backend.get_client("a") is backend.get_client("a", write=True)  # one server


def test_the_shared_client_reads_and_writes(settings):
    cache = caches["default"]
    cache.set("shared-client", {"n": 1}, 30)
    assert cache.get("shared-client") == {"n": 1}
    assert cache.add("shared-client", 2) is False
    assert cache.delete("shared-client") is True
    assert cache.get("shared-client", "gone") == "gone"


def test_a_forked_process_uses_the_client_on_connections_of_its_own():
    """gunicorn and Celery fork workers after the client may exist: the pool notices the
    new process and opens its own connections instead of sharing the parent's socket."""
    cache = caches["default"]
    cache.set("before-fork", "yes", 30)
    parent_client = cache._cache.get_client()
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it reads through the same client object
        ok = cache._cache.get_client() is parent_client and cache.get("before-fork") == "yes"
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("before-fork") == "yes"  # the parent's connection still answers
