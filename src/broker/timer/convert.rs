//! Turning a due `rmq_sys_wheel_timer` record into the message to store in its real queue
//! (5.x `TimerMessageStore.convert` / `convertMessage`).
//!
//! Like a due delay-level message ([`crate::broker::schedule::timeup`]) the copy keeps the
//! record's body, flag, sysFlag, born timestamp and host, store host and reconsume times. Its
//! properties are the record's (so `UNIQ_KEY`, `KEYS`, `TAGS`, the producer's
//! `TIMER_DELIVER_MS` / `TIMER_DELAY_SEC` / `TIMER_DELAY_MS`, `TIMER_OUT_MS`, `REAL_TOPIC`
//! and `REAL_QID` all stay) plus `TIMER_ENQUEUE_MS` (when the timer took the message in) and
//! `TIMER_DEQUEUE_MS` (when it was delivered), serialized in Java `HashMap` order. That is the
//! string 5.x stores: it serializes the map before it clears `REAL_TOPIC` / `REAL_QID` from
//! it. `TIMER_OUT_MS` in the copy is what keeps a copy sent again from being scheduled again
//! ([`super::hook`] rule 3).

use apogee_codec::message::MessageProperties;

use super::hook::{keys, TIMER_TOPIC};
use crate::broker::schedule::timeup::{self, Malformed};
use crate::store::message_inner::MessageInner;

/// The message to store for a due timer record, delivered at `now` after being taken in at
/// `enqueue_ms`.
pub fn convert(record: &[u8], enqueue_ms: i64, now: i64) -> Result<MessageInner, Malformed> {
    let mut m = timeup::rebuild(record)?;
    if m.topic == TIMER_TOPIC {
        return Err(Malformed(format!(
            "real topic {TIMER_TOPIC:?} cannot be delivered to"
        )));
    }
    let mut p = MessageProperties::parse(&m.properties);
    p.insert(keys::TIMER_ENQUEUE_MS, enqueue_ms.to_string());
    p.insert(keys::TIMER_DEQUEUE_MS, now.to_string());
    let n = p.len();
    p.sort_java_hash_map_order(n);
    m.properties = p.encode();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apogee_codec::message::{body_crc, MessageRecord, RecordVersion};

    fn record(props: &[u8]) -> Vec<u8> {
        let born: std::net::SocketAddr = "10.1.2.3:4567".parse().unwrap();
        let store: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
        MessageRecord {
            version: RecordVersion::V1,
            body_crc: body_crc(b"b"),
            queue_id: 0,
            flag: 5,
            queue_offset: 1,
            physical_offset: 100,
            sys_flag: 0,
            born_timestamp: 10,
            born_host: born,
            store_timestamp: 20,
            store_host: store,
            reconsume_times: 2,
            prepared_transaction_offset: 0,
            body: b"b",
            topic: TIMER_TOPIC.as_bytes(),
            properties: props,
        }
        .to_vec()
        .unwrap()
    }

    #[test]
    fn the_copy_keeps_everything_and_gains_the_timer_times() {
        let props = b"TIMER_DELAY_SEC\x015\x02UNIQ_KEY\x01U1\x02TIMER_OUT_MS\x01999\x02REAL_TOPIC\x01T\x02REAL_QID\x012\x02TAGS\x01a";
        let m = convert(&record(props), 111, 222).unwrap();
        assert_eq!((m.topic.as_str(), m.queue_id), ("T", 2));
        assert_eq!((m.flag, m.reconsume_times, m.born_timestamp), (5, 2, 10));
        let p = MessageProperties::parse(&m.properties);
        for (k, v) in [
            ("TIMER_DELAY_SEC", "5"),
            ("UNIQ_KEY", "U1"),
            ("TIMER_OUT_MS", "999"),
            ("REAL_TOPIC", "T"),
            ("REAL_QID", "2"),
            ("TAGS", "a"),
            ("TIMER_ENQUEUE_MS", "111"),
            ("TIMER_DEQUEUE_MS", "222"),
        ] {
            assert_eq!(p.get(k), Some(v), "{k}");
        }
        assert_eq!(p.len(), 8);
    }

    #[test]
    fn undeliverable_records_are_refused() {
        assert!(convert(b"REAL_TOPIC", 0, 0).is_err());
        let r = record(b"REAL_TOPIC\x01rmq_sys_wheel_timer\x02REAL_QID\x010");
        assert!(convert(&r, 0, 0).is_err());
        assert!(convert(&record(b"REAL_QID\x010"), 0, 0).is_err());
    }
}
