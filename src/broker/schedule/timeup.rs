//! Turning a due record of `SCHEDULE_TOPIC_XXXX` back into the message its producer sent
//! (Java's `messageTimeup`, 4.9.8).
//!
//! Kept from the stored record: body (as stored, so a compressed body stays compressed with
//! its sysFlag bit), flag, sysFlag, born timestamp, born host, store host, reconsume times and
//! the properties string byte for byte — `DELAY`, `REAL_TOPIC` and `REAL_QID` included. That
//! is what 4.9.8 stores: `messageTimeup` serializes the property map into the properties
//! string *before* it clears `DELAY` from the map, so the clearing only keeps the store from
//! scheduling the copy again; the stored copy still carries `DELAY` (the Java-written fixture
//! store shows delivered copies whose properties string equals the schedule record's). The
//! copy is therefore put with `MessageStore::put_message_unscheduled`, which skips the delay
//! rewrite. The prepared-transaction offset is 0 (Java builds a fresh message). The message
//! is put with WAIT = false; the stored WAIT property is not touched, and the tags code is
//! computed by the dispatcher from TAGS like for any other message.
//!
//! A record that cannot be delivered — undecodable, no `REAL_TOPIC`, a `REAL_QID` that is not
//! a non-negative integer, or a real topic that is the schedule topic itself or the
//! transaction half topic — is a [`Malformed`] error: the caller drops it, as Java does.

use apogee_codec::message::{
    decode_record, iter_properties, keys, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR,
};
use bytes::Bytes;

use crate::store::commit_log::SCHEDULE_TOPIC;
use crate::store::config_files::topics::TRANS_HALF_TOPIC;
use crate::store::message_inner::MessageInner;

/// Why a scheduled record cannot be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// The message to store for a due schedule-topic record.
pub fn rebuild(record: &[u8]) -> Result<MessageInner, Malformed> {
    let (rec, _) =
        decode_record(record).map_err(|e| Malformed(format!("undecodable record: {e}")))?;
    let topic = rec
        .property(keys::REAL_TOPIC)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .ok_or_else(|| Malformed("no REAL_TOPIC property".into()))?;
    if topic.is_empty() || topic == SCHEDULE_TOPIC || topic == TRANS_HALF_TOPIC {
        return Err(Malformed(format!(
            "real topic {topic:?} cannot be delivered to"
        )));
    }
    let qid = rec
        .property(keys::REAL_QID)
        .ok_or_else(|| Malformed("no REAL_QID property".into()))?;
    let queue_id = std::str::from_utf8(qid)
        .ok()
        .and_then(|q| q.parse::<i32>().ok())
        .filter(|q| *q >= 0)
        .ok_or_else(|| {
            Malformed(format!(
                "REAL_QID {:?} is not a queue id",
                String::from_utf8_lossy(qid)
            ))
        })?;
    Ok(MessageInner {
        topic,
        queue_id,
        flag: rec.flag,
        sys_flag: rec.sys_flag,
        born_timestamp: rec.born_timestamp,
        born_host: rec.born_host,
        store_host: rec.store_host,
        reconsume_times: rec.reconsume_times,
        prepared_transaction_offset: 0,
        body: Bytes::copy_from_slice(rec.body),
        properties: rec.properties.to_vec(),
    })
}

/// `raw` with every `name` entry removed, the others kept byte for byte and in order
/// (segments the Java parser would skip are dropped, as a Java re-serialization drops them).
pub fn without_property(raw: &[u8], name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for (k, v) in iter_properties(raw) {
        if k == name.as_bytes() {
            continue;
        }
        if !out.is_empty() {
            out.push(PROPERTY_SEPARATOR);
        }
        out.extend_from_slice(k);
        out.push(NAME_VALUE_SEPARATOR);
        out.extend_from_slice(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use apogee_codec::message::{body_crc, sysflag, MessageRecord, RecordVersion};

    fn record(props: &[u8], body: &[u8], sys_flag: i32) -> Vec<u8> {
        let born: std::net::SocketAddr = "10.1.2.3:4567".parse().unwrap();
        let store: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
        MessageRecord {
            version: RecordVersion::V1,
            body_crc: body_crc(body),
            queue_id: 1,
            flag: 77,
            queue_offset: 9,
            physical_offset: 1234,
            sys_flag: sysflag::with_host_flags(sys_flag, &born, &store),
            born_timestamp: 1_000,
            born_host: born,
            store_timestamp: 2_000,
            store_host: store,
            reconsume_times: 3,
            prepared_transaction_offset: 55,
            body,
            topic: SCHEDULE_TOPIC.as_bytes(),
            properties: props,
        }
        .to_vec()
        .unwrap()
    }

    #[test]
    fn rebuild_restores_the_real_message() {
        let props = b"REAL_TOPIC\x01T1\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01U\x02DELAY\x012\x02WAIT\x01true\x02TAGS\x01a\x02REAL_QID\x013";
        let rec = record(props, b"body", sysflag::COMPRESSED);
        let m = rebuild(&rec).unwrap();
        assert_eq!(m.topic, "T1");
        assert_eq!(m.queue_id, 3);
        assert_eq!(m.flag, 77);
        assert_eq!(m.sys_flag & sysflag::COMPRESSED, sysflag::COMPRESSED);
        assert_eq!(m.born_timestamp, 1_000);
        assert_eq!(m.born_host.to_string(), "10.1.2.3:4567");
        assert_eq!(m.store_host.to_string(), "127.0.0.1:10911");
        assert_eq!(m.reconsume_times, 3);
        assert_eq!(m.prepared_transaction_offset, 0);
        assert_eq!(&m.body[..], b"body");
        assert_eq!(
            m.properties, props,
            "the properties string is kept, DELAY included"
        );
    }

    #[test]
    fn malformed_records_are_refused_not_panicked_on() {
        for props in [
            &b"KEYS\x01k\x02DELAY\x011\x02REAL_QID\x010"[..],
            b"REAL_TOPIC\x01T\x02DELAY\x011",
            b"REAL_TOPIC\x01T\x02REAL_QID\x01x",
            b"REAL_TOPIC\x01T\x02REAL_QID\x01-1",
            b"REAL_TOPIC\x01SCHEDULE_TOPIC_XXXX\x02REAL_QID\x010",
            b"REAL_TOPIC\x01RMQ_SYS_TRANS_HALF_TOPIC\x02REAL_QID\x010",
        ] {
            assert!(rebuild(&record(props, b"x", 0)).is_err(), "{props:?}");
        }
        let good = record(b"REAL_TOPIC\x01T\x02REAL_QID\x010", b"x", 0);
        for n in 0..good.len() {
            assert!(rebuild(&good[..n]).is_err());
        }
        let mut garbage = good.clone();
        for b in garbage.iter_mut().skip(4).step_by(3) {
            *b ^= 0x5a;
        }
        let _ = rebuild(&garbage);
    }

    #[test]
    fn without_property_keeps_order_and_bytes() {
        assert_eq!(without_property(b"", "DELAY"), b"");
        assert_eq!(without_property(b"DELAY\x011", "DELAY"), b"");
        assert_eq!(
            without_property(b"A\x011\x02DELAY\x013\x02B\x01\xff\x02DELAY\x014", "DELAY"),
            b"A\x011\x02B\x01\xff"
        );
        assert_eq!(
            without_property(b"A\x011\x02\x02B\x012\x02", "DELAY"),
            b"A\x011\x02B\x012"
        );
    }

    /// The Java 4.9.8 fixture store holds both the schedule records and the copies the Java
    /// broker delivered from them: a copy's properties string is the schedule record's, byte
    /// for byte (DELAY kept), and so is ours.
    #[test]
    fn delivered_copies_match_the_java_broker_byte_for_byte() {
        use crate::store::test_support::json_lines;
        let lines = json_lines("manifest-clean.jsonl");
        let uniq = |m: &serde_json::Value| m["properties"]["UNIQ_KEY"].as_str().map(str::to_owned);
        let mut checked = 0;
        for d in lines.iter().filter(|m| m["topic"] == "FixDelay") {
            let Some(key) = uniq(d) else { continue };
            let Some(s) = lines
                .iter()
                .find(|m| m["topic"] == SCHEDULE_TOPIC && uniq(m).as_deref() == Some(&key))
            else {
                continue;
            };
            let sched = s["propertiesRaw"].as_str().unwrap().as_bytes();
            let java = d["propertiesRaw"].as_str().unwrap().as_bytes();
            let m = rebuild(&record(sched, b"x", 0)).unwrap();
            assert_eq!(m.properties, java, "{key}");
            assert_eq!(m.topic, "FixDelay");
            assert_eq!(Some(m.queue_id as u64), d["queueId"].as_u64());
            checked += 1;
        }
        assert_eq!(checked, 5, "the five delivered level-1 messages");
    }
}
