"""Django's Redis cache, with one client per connection pool instead of one per call.

`django.core.cache.backends.redis.RedisCacheClient.get_client` makes a new `redis.Redis`
for every cache operation, and a client's constructor fills its table of about 170 response
callbacks each time: on a signed-in page that was the session read's largest cost (60 to
130 µs of CPU a request on the bench machine, more than the round trip to Redis). A
`redis.Redis` is safe to share between threads (every command borrows a connection from the
pool) and after a fork (the pool notices the new process and opens its own connections), so
one client per pool is kept. Everything else is Django's backend.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class SharedClientRedisCache(RedisCache):
    """settings.CACHES' BACKEND for Redis: Django's RedisCache with the shared client."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
