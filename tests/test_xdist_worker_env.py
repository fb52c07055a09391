import pytest

from tests.xdist_worker_env import _redis_database_for_worker


def test_each_worker_after_the_first_takes_the_redis_database_below():
    url = "redis://127.0.0.1:6379/15"
    assert _redis_database_for_worker(url, 0) == url
    assert _redis_database_for_worker(url, 1) == "redis://127.0.0.1:6379/14"
    assert (
        _redis_database_for_worker("rediss://:pw@cache:6380/3?ssl_cert_reqs=none", 2)
        == "rediss://:pw@cache:6380/1?ssl_cert_reqs=none"
    )


def test_a_broker_that_is_not_redis_is_shared_as_it_is():
    url = "amqp://guest:guest@127.0.0.1:5672//"
    assert _redis_database_for_worker(url, 1) == url


def test_too_few_databases_below_the_configured_one_is_an_error_not_a_clash():
    with pytest.raises(RuntimeError, match="Redis database 0 - 1"):
        _redis_database_for_worker("redis://127.0.0.1:6379", 1)
