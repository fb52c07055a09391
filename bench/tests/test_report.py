"""The report's growth verdict: p50 latency at the largest size over the smallest,
and the ledger's bytes on disk per transfer."""

from bench.report import _growth


def stage(transfers: int, p50: dict[str, float], disk: dict | None = None) -> dict:
    return {
        "history": {"transfers": transfers, "disk": disk or {}},
        "scenarios": {name: {"p50_ms": ms} for name, ms in p50.items()},
    }


def test_one_size_has_no_growth_verdict():
    assert _growth({"10000": stage(10_000, {"wallet": 5.0})}) is None


def test_latency_is_compared_between_the_smallest_and_the_largest_size():
    stages = {
        # Keys are sizes as text: "1000000" sorts before "20000" as text, not here.
        "1000000": stage(1_000_000, {"wallet": 6.0, "gifts_hot": 99.0}),
        "20000": stage(20_000, {"wallet": 5.0, "gifts_hot": 80.0}),
        "10000000": stage(
            10_000_000,
            {"wallet": 5.5, "gifts_hot": 100.0},
            disk={
                "wallets_transfer": {"table_bytes": 1_500_000_000, "index_bytes": 10**9}
            },
        ),
    }

    growth = _growth(stages)

    assert (growth["from"], growth["to"]) == (20_000, 10_000_000)
    assert growth["p50_latency_ratio"] == {"wallet": 1.1, "gifts_hot": 1.25}
    assert growth["meets_target"] is False
    assert growth["bytes_per_transfer"] == {"wallets_transfer": 250.0}


def test_within_the_target_it_is_met():
    growth = _growth(
        {
            "10000": stage(10_000, {"gifts_spread": 10.0}),
            "10000000": stage(10_000_000, {"gifts_spread": 12.0}),
        }
    )
    assert growth["meets_target"] is True
