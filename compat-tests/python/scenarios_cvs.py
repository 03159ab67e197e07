"""Scenarios for the C++ client 2.1 via Python (PyPI `rocketmq-python-cvs==2.1.0.3`, venv
`.venv-cvs`): the 0.4.4 Python API over a librocketmq built from rocketmq-client-cpp 2.1.

    python scenarios_cvs.py <scenario> <namesrv addr> <broker addr>

Quirks: PushConsumer.shutdown may crash the process at exit, so scenarios_lib prints the
verdict first and this client skips the native shutdown altogether (the process exit closes
its connections). The Python wrapper has no transactional producer, but the library exports
CreateTransactionProducer/SendMessageTransaction: scenarios_lib calls them through ctypes.
"""
import scenarios_lib as lib

NAMES = ["first-send-fresh-node", "sync-send+push-consume", "async-send", "oneway-send", "batch-send", "tag-filter",
         "pull-consumer", "delay-level", "orderly", "transactional", "consume-later",
         "two-consumers", "broadcast"]

if __name__ == "__main__":
    table = {n: lib.ALL[n] for n in NAMES}
    # librocketmq 2.1 sends batches as SEND_MESSAGE_V2 with m="1" (client bug, see
    # scenarios_lib.batch_send_v1_quirk): judge it by Java 4.9.8's behaviour instead.
    table["batch-send"] = lib.batch_send_v1_quirk
    lib.main(table, shutdown=False)
