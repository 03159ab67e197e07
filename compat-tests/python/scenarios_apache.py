"""Scenarios for the Apache Python wheel (PyPI `rocketmq-client-python==0.5.0rc2`, `--pre`,
venv `.venv-apache`; librocketmq from rocketmq-client-cpp 2.x).

    python scenarios_apache.py <scenario> <namesrv addr> <broker addr>

Its API has no async send, no batch send and no pull consumer, so those scenarios are not
run for it. Orderly sends go through Producer(orderly=True).send_orderly_with_sharding_key;
push callbacks must return ConsumeStatus (scenarios_lib.ok_status).
"""
import scenarios_lib as lib

NAMES = ["sync-send+push-consume", "oneway-send", "tag-filter", "delay-level", "orderly",
         "transactional", "consume-later", "two-consumers", "broadcast"]

if __name__ == "__main__":
    lib.main({n: lib.ALL[n] for n in NAMES})
