//! END_TRANSACTION (37): a producer's decision on a half message (Java `EndTransactionProcessor`,
//! 4.9.8; broker-behaviour.md §9.2).
//!
//! * A slave answers SLAVE_NOT_AVAILABLE.
//! * `commitOrRollback` 0 (unknown): nothing happens and nothing is answered; the check-back
//!   will ask later. The same whether or not the request answers a check
//!   (`fromTransactionCheck`), which only changes what is logged.
//! * Commit (8) and rollback (12) read the half message at `commitLogOffset` (absent →
//!   SYSTEM_ERROR "Find prepared transaction message failed") and check it against the header:
//!   `PGROUP` = `producerGroup`, its queue offset = `tranStateTableOffset`, its CommitLog offset
//!   = `commitLogOffset` (each mismatch → SYSTEM_ERROR with Java's remark).
//! * Commit then stores the real message and, once it is stored, the op message. The real
//!   message is a new record: topic / queue from `REAL_TOPIC` / `REAL_QID`; body (as stored,
//!   compressed or not), flag, born timestamp and host, store host and reconsume times of the
//!   half message; sysFlag = the half message's with transaction type COMMIT;
//!   `preparedTransactionOffset` = the half message's CommitLog offset. Its properties string
//!   is the half message's map re-serialized, as Java does: `REAL_TOPIC`, `REAL_QID`,
//!   `TRAN_MSG` and `PGROUP` stay in the stored string (Java removes the first three only from
//!   its in-memory map, after serializing it). A committed message with a positive `DELAY`
//!   goes through the store's delay rewrite like any message; Java's map has lost `REAL_*`
//!   and `TRAN_MSG` by then, so they are left out of the string handed to the store.
//! * Rollback stores only the op message.
//!
//! The answer (dropped for the usual oneway request): SUCCESS, or the store's failure mapped as
//! Java's `sendFinalMessage` does (a flush or slave timeout still counts as SUCCESS).
//!
//! One deliberate difference: Java would "commit" any record that carries `PGROUP` and
//! matching offsets; here the record must be in the half topic, so a committed message cannot
//! be committed a second time by naming its own offsets.

use std::sync::Arc;

use apogee_codec::codes::response;
use apogee_codec::header::transaction::{EndTransactionRequestHeader, TransactionResolution};
use apogee_codec::message::{keys, sysflag, MessageExt};
use apogee_codec::RemotingCommand;
use log::{info, warn};

use super::{decode_message, distinct_len, java_map_string, java_parse, op_queue};
use crate::broker::processor::bad_header;
use crate::broker::BrokerInner;
use crate::remoting::{Connection, Reply};
use crate::store::config_files::topics::TRANS_HALF_TOPIC;
use crate::store::message_inner::MessageInner;
use crate::store::results::{PutMessageResult, PutMessageStatus};
use crate::store::store_config::BrokerRole;

/// Java's remark when the half message cannot be read.
pub const NOT_FOUND_REMARK: &str = "Find prepared transaction message failed";

/// Entry point for END_TRANSACTION.
pub async fn process(b: &Arc<BrokerInner>, conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    let h: EndTransactionRequestHeader = match req.read_header() {
        Ok(h) => h,
        Err(e) => return bad_header(&req, &e),
    };
    if b.store.config().broker_role() == BrokerRole::Slave {
        warn!(
            "END_TRANSACTION from {} refused: this broker is a slave",
            conn.peer()
        );
        return RemotingCommand::response_to(&req, response::SLAVE_NOT_AVAILABLE).into();
    }
    let Some(resolution) = h.resolution() else {
        return Reply::None;
    };
    let how = if h.from_transaction_check {
        "answering a check"
    } else {
        "after sending"
    };
    match resolution {
        TransactionResolution::Unknown => {
            info!(
                "producer {} ({}) left transaction {} pending {how} (half message at {}); \
                 remark: {:?}",
                conn.peer(),
                h.producer_group,
                h.msg_id,
                h.commit_log_offset,
                req.remark
            );
            Reply::None
        }
        TransactionResolution::Commit => {
            if h.from_transaction_check {
                info!(
                    "producer {} ({}) commits transaction {} {how}",
                    conn.peer(),
                    h.producer_group,
                    h.msg_id
                );
            }
            commit(b, &req, &h).await.into()
        }
        TransactionResolution::Rollback => {
            info!(
                "producer {} ({}) rolls back transaction {} {how}",
                conn.peer(),
                h.producer_group,
                h.msg_id
            );
            rollback(b, &req, &h).await.into()
        }
    }
}

fn system_error(req: &RemotingCommand, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::error_to(req, response::SYSTEM_ERROR, remark)
}

/// The half message named by the header, checked against it (Java `commitMessage` /
/// `rollbackMessage` + `checkPrepareMessage`).
pub fn find_half(
    b: &BrokerInner,
    req: &RemotingCommand,
    h: &EndTransactionRequestHeader,
) -> Result<MessageExt, Box<RemotingCommand>> {
    let half = b
        .store
        .look_message_by_offset(h.commit_log_offset)
        .and_then(|bytes| decode_message(&bytes))
        .filter(|m| m.topic == TRANS_HALF_TOPIC)
        .ok_or_else(|| Box::new(system_error(req, NOT_FOUND_REMARK)))?;
    if half.property(keys::PGROUP) != Some(h.producer_group.as_str()) {
        return Err(Box::new(system_error(req, "The producer group wrong")));
    }
    if half.queue_offset != h.tran_state_table_offset {
        return Err(Box::new(system_error(
            req,
            "The transaction state table offset wrong",
        )));
    }
    if half.physical_offset != h.commit_log_offset {
        return Err(Box::new(system_error(req, "The commit log offset wrong")));
    }
    Ok(half)
}

async fn commit(
    b: &Arc<BrokerInner>,
    req: &RemotingCommand,
    h: &EndTransactionRequestHeader,
) -> RemotingCommand {
    let half = match find_half(b, req, h) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    let msg = match committed_message(&half) {
        Ok(m) => m,
        Err(why) => return system_error(req, why),
    };
    let wait = super::wait_store_msg_ok(&half.properties);
    let result = b.store.put_message(msg, wait).await;
    let resp = final_response(b, req, &result);
    if resp.code == response::SUCCESS {
        op_queue::write_remove_op(b, &half).await;
    } else {
        warn!(
            "commit of transaction {} failed: {:?} {:?}",
            h.msg_id, result.status, result.remark
        );
    }
    resp
}

async fn rollback(
    b: &Arc<BrokerInner>,
    req: &RemotingCommand,
    h: &EndTransactionRequestHeader,
) -> RemotingCommand {
    let half = match find_half(b, req, h) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    op_queue::write_remove_op(b, &half).await;
    RemotingCommand::success_to(req)
}

/// The real message a commit stores for `half` (Java `endMessageTransaction` and what
/// `processRequest` changes afterwards).
pub fn committed_message(half: &MessageExt) -> Result<MessageInner, String> {
    let topic = half
        .property(keys::REAL_TOPIC)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the half message has no REAL_TOPIC".to_owned())?
        .to_owned();
    let queue_id = half
        .property(keys::REAL_QID)
        .and_then(java_parse::<i32>)
        .ok_or_else(|| {
            format!(
                "the half message has no valid REAL_QID ({:?})",
                half.property(keys::REAL_QID)
            )
        })?;
    let sys_flag = (half.sys_flag & !sysflag::TRANSACTION_MASK) | sysflag::TRANSACTION_COMMIT_TYPE;
    let n = distinct_len(&half.properties);
    let mut props = half.properties.clone();
    if will_be_delayed(&props) {
        props.remove(keys::REAL_TOPIC);
        props.remove(keys::REAL_QID);
        props.remove(keys::TRAN_MSG);
    }
    Ok(MessageInner {
        topic,
        queue_id,
        flag: half.flag,
        sys_flag,
        born_timestamp: half.born_timestamp,
        born_host: half.born_host,
        store_host: half.store_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half.physical_offset,
        body: half.body.clone(),
        properties: java_map_string(&props, n),
    })
}

/// Whether the store will move a COMMIT message to the schedule topic (positive `DELAY`).
fn will_be_delayed(props: &apogee_codec::message::MessageProperties) -> bool {
    props
        .get(keys::DELAY)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .is_some_and(|l| l > 0)
}

/// Java `sendFinalMessage`: the store's answer to the commit as a response.
fn final_response(
    b: &BrokerInner,
    req: &RemotingCommand,
    result: &PutMessageResult,
) -> RemotingCommand {
    let (code, remark) = match result.status {
        PutMessageStatus::PutOk
        | PutMessageStatus::FlushDiskTimeout
        | PutMessageStatus::FlushSlaveTimeout
        | PutMessageStatus::SlaveNotAvailable => return RemotingCommand::success_to(req),
        PutMessageStatus::CreateMappedFileFailed => (
            response::SYSTEM_ERROR,
            "Create mapped file failed.".to_owned(),
        ),
        PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded => (
            response::MESSAGE_ILLEGAL,
            format!(
                "The message is illegal, maybe msg body or properties length not matched. msg \
                 body length limit {}B, msg properties length limit 32KB.",
                b.store.config().max_message_size
            ),
        ),
        PutMessageStatus::ServiceNotAvailable => (
            response::SERVICE_NOT_AVAILABLE,
            "Service not available now.".to_owned(),
        ),
        PutMessageStatus::OsPageCacheBusy => (
            response::SYSTEM_ERROR,
            "OS page cache busy, please try another machine".to_owned(),
        ),
        PutMessageStatus::UnknownError => (response::SYSTEM_ERROR, "UNKNOWN_ERROR".to_owned()),
    };
    RemotingCommand::error_to(req, code, remark)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apogee_codec::message::MessageProperties;
    use bytes::Bytes;

    fn half(props: &str) -> MessageExt {
        MessageExt {
            topic: TRANS_HALF_TOPIC.into(),
            queue_id: 0,
            flag: 7,
            queue_offset: 3,
            physical_offset: 4096,
            sys_flag: sysflag::COMPRESSED | sysflag::MULTI_TAGS,
            born_timestamp: 11,
            born_host: "127.0.0.1:5000".parse().unwrap(),
            store_timestamp: 12,
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 2,
            prepared_transaction_offset: 0,
            body_crc: 0,
            body: Bytes::from_static(b"zz"),
            properties: MessageProperties::parse_str(props),
        }
    }

    #[test]
    fn committed_message_fields() {
        let h = half("REAL_TOPIC\u{1}T\u{2}PGROUP\u{1}pg\u{2}TRAN_MSG\u{1}true\u{2}REAL_QID\u{1}2");
        let m = committed_message(&h).unwrap();
        assert_eq!(m.topic, "T");
        assert_eq!(m.queue_id, 2);
        assert_eq!(m.flag, 7);
        assert_eq!(
            m.sys_flag,
            sysflag::COMPRESSED | sysflag::MULTI_TAGS | sysflag::TRANSACTION_COMMIT_TYPE
        );
        assert_eq!(m.prepared_transaction_offset, 4096);
        assert_eq!(m.reconsume_times, 2);
        assert_eq!(&m.body[..], b"zz");
        let p = MessageProperties::parse(&m.properties);
        assert_eq!(p.get("REAL_TOPIC"), Some("T"));
        assert_eq!(p.get("TRAN_MSG"), Some("true"));
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn committed_message_needs_real_topic_and_queue() {
        assert!(committed_message(&half("REAL_QID\u{1}1")).is_err());
        assert!(committed_message(&half("REAL_TOPIC\u{1}T")).is_err());
        assert!(committed_message(&half("REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1} 1")).is_err());
    }

    #[test]
    fn delayed_commit_leaves_real_fields_to_the_store() {
        let h = half("REAL_TOPIC\u{1}T\u{2}DELAY\u{1}2\u{2}TRAN_MSG\u{1}true\u{2}REAL_QID\u{1}0");
        let m = committed_message(&h).unwrap();
        let p = MessageProperties::parse(&m.properties);
        assert_eq!(p.get("REAL_TOPIC"), None);
        assert_eq!(p.get("TRAN_MSG"), None);
        assert_eq!(p.get("DELAY"), Some("2"));
    }

    /// Every committed message of the Java fixture store is rebuilt from its half message with
    /// the same properties string, flags and offsets.
    #[test]
    fn matches_the_java_committed_records() {
        use crate::store::test_support::json_lines;
        use std::collections::HashMap;
        let lines = json_lines("manifest-clean.jsonl");
        let mut halves: HashMap<i64, &serde_json::Value> = HashMap::new();
        for m in &lines {
            if m["type"] == "message" && m["topic"] == TRANS_HALF_TOPIC {
                halves.insert(m["commitLogOffset"].as_i64().unwrap(), m);
            }
        }
        let mut n = 0;
        for m in &lines {
            if m["type"] != "message" || m["topic"] != "FixTxn" {
                continue;
            }
            let hm = halves[&m["preparedTransactionOffset"].as_i64().unwrap()];
            let mut h = half(hm["propertiesRaw"].as_str().unwrap());
            h.sys_flag = hm["sysFlag"].as_i64().unwrap() as i32;
            h.flag = hm["flag"].as_i64().unwrap() as i32;
            h.physical_offset = hm["commitLogOffset"].as_i64().unwrap();
            let c = committed_message(&h).unwrap();
            assert_eq!(
                String::from_utf8(c.properties).unwrap(),
                m["propertiesRaw"].as_str().unwrap()
            );
            assert_eq!(i64::from(c.sys_flag), m["sysFlag"].as_i64().unwrap());
            assert_eq!(i64::from(c.queue_id), m["queueId"].as_i64().unwrap());
            assert_eq!(
                c.prepared_transaction_offset,
                m["preparedTransactionOffset"].as_i64().unwrap()
            );
            n += 1;
        }
        assert_eq!(n, 12);
    }
}
