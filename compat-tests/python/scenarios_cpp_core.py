"""Scenarios for the C++ core client 1.2 (PyPI `rocketmq==0.4.4`, venv `.venv`), one per process:

    python scenarios_cpp_core.py <scenario> <namesrv addr> <broker addr>

Prints `RESULT ok` or `RESULT fail <why>`. The scenarios live in scenarios_lib.py.
Not here: `transactional` (librocketmq 1.2's C API has no transactional producer).
Client quirks handled in scenarios_lib: the wrapper cannot answer RECONSUME_LATER (raw C
callback used); PullConsumer keeps offsets client-side (no offset-commit call in the C API).
"""
import scenarios_lib as lib

NAMES = ["sync-send+push-consume", "async-send", "oneway-send", "batch-send", "tag-filter",
         "pull-consumer", "delay-level", "orderly", "consume-later", "two-consumers",
         "broadcast", "restart-mid-consume"]

if __name__ == "__main__":
    table = {n: lib.ALL[n] for n in NAMES}
    # librocketmq 1.2 sends batches as SEND_MESSAGE with batch="1" (client bug, see
    # scenarios_lib.batch_send_v1_quirk): judge it by Java 4.9.8's behaviour instead.
    table["batch-send"] = lib.batch_send_v1_quirk
    lib.main(table)
