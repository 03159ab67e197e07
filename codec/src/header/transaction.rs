//! Transactions: END_TRANSACTION (client → broker, oneway) and CHECK_TRANSACTION_STATE
//! (broker → client, oneway).

use crate::error::{CodecError, Result};
use crate::header::{HeaderInfo, RpcRequestHeader};

/// `MessageSysFlag.TRANSACTION_NOT_TYPE`: in END_TRANSACTION, "unknown" (leave the half
/// message for a later check).
pub const TRANSACTION_NOT_TYPE: i32 = 0;
/// `MessageSysFlag.TRANSACTION_PREPARED_TYPE`: the sysFlag bits of a half message.
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x1 << 2;
/// `MessageSysFlag.TRANSACTION_COMMIT_TYPE`.
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x2 << 2;
/// `MessageSysFlag.TRANSACTION_ROLLBACK_TYPE`.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0x3 << 2;

/// The producer's decision carried by END_TRANSACTION's `commitOrRollback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionResolution {
    /// 0: not decided yet; the broker keeps the half message and checks back later.
    Unknown,
    /// 8: commit.
    Commit,
    /// 12: rollback.
    Rollback,
}

impl TransactionResolution {
    /// The wire value (0, 8 or 12).
    pub fn code(self) -> i32 {
        match self {
            TransactionResolution::Unknown => TRANSACTION_NOT_TYPE,
            TransactionResolution::Commit => TRANSACTION_COMMIT_TYPE,
            TransactionResolution::Rollback => TRANSACTION_ROLLBACK_TYPE,
        }
    }

    /// The resolution for a wire value; `None` for anything but 0, 8, 12.
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            TRANSACTION_NOT_TYPE => Some(TransactionResolution::Unknown),
            TRANSACTION_COMMIT_TYPE => Some(TransactionResolution::Commit),
            TRANSACTION_ROLLBACK_TYPE => Some(TransactionResolution::Rollback),
            _ => None,
        }
    }
}

define_header! {
    /// Java `EndTransactionRequestHeader`: `END_TRANSACTION` (37), oneway.
    ///
    /// Invariant after [`read_fields`](crate::ext_fields::CommandHeader::read_fields):
    /// `commit_or_rollback` is 0, 8 or 12 (Java's `checkFields`; anything else is an
    /// `InvalidField` error), so [`resolution`](Self::resolution) is `Some`.
    /// `tran_state_table_offset` is the half message's queue offset and
    /// `commit_log_offset` its commit-log offset (decoded by the client from the send
    /// response's `msgId`).
    pub struct EndTransactionRequestHeader = "EndTransactionRequestHeader",
        base rpc: RpcRequestHeader,
        check check_commit_or_rollback
    {
        producer_group: req String = "producerGroup",
        /// Consume-queue offset of the half message.
        tran_state_table_offset: req i64 = "tranStateTableOffset",
        /// Commit-log offset of the half message.
        commit_log_offset: req i64 = "commitLogOffset",
        /// 0 (unknown), 8 (commit) or 12 (rollback).
        commit_or_rollback: req i32 = "commitOrRollback",
        /// True when answering a CHECK_TRANSACTION_STATE (Java `Boolean` initialised to
        /// false: always sent).
        from_transaction_check: dflt bool = "fromTransactionCheck" => false,
        /// The message's unique id (`UNIQ_KEY`).
        msg_id: req String = "msgId",
        transaction_id: opt String = "transactionId",
        /// 5.x: the real topic.
        topic: opt String = "topic",
    }
}

fn check_commit_or_rollback(h: &EndTransactionRequestHeader) -> Result<()> {
    if TransactionResolution::from_code(h.commit_or_rollback).is_some() {
        Ok(())
    } else {
        Err(CodecError::invalid_field(
            EndTransactionRequestHeader::JAVA_CLASS,
            "commitOrRollback",
            h.commit_or_rollback.to_string(),
            "transaction type (0, 8 or 12)",
        ))
    }
}

impl EndTransactionRequestHeader {
    /// The decision; `None` only for a value that did not come through `read_fields`.
    pub fn resolution(&self) -> Option<TransactionResolution> {
        TransactionResolution::from_code(self.commit_or_rollback)
    }
}

define_header! {
    /// Java `EndTransactionResponseHeader`: no fields (END_TRANSACTION is oneway; never sent).
    pub struct EndTransactionResponseHeader = "EndTransactionResponseHeader" {}
}

define_header! {
    /// Java `CheckTransactionStateRequestHeader`: `CHECK_TRANSACTION_STATE` (39), broker →
    /// producer, oneway; the body is the half message's stored record.
    pub struct CheckTransactionStateRequestHeader = "CheckTransactionStateRequestHeader",
        base rpc: RpcRequestHeader
    {
        /// Consume-queue offset of the half message.
        tran_state_table_offset: req i64 = "tranStateTableOffset",
        /// Commit-log offset of the half message.
        commit_log_offset: req i64 = "commitLogOffset",
        /// The message's `UNIQ_KEY`.
        msg_id: opt String = "msgId",
        /// Transaction id (= msgId).
        transaction_id: opt String = "transactionId",
        /// Offset message id of the half message.
        offset_msg_id: opt String = "offsetMsgId",
        /// 5.x: the real topic.
        topic: opt String = "topic",
    }
}

define_header! {
    /// Java `CheckTransactionStateResponseHeader` (defined by Java; not used on the wire
    /// by current clients, which answer with END_TRANSACTION instead).
    pub struct CheckTransactionStateResponseHeader = "CheckTransactionStateResponseHeader" {
        producer_group: req String = "producerGroup",
        tran_state_table_offset: req i64 = "tranStateTableOffset",
        commit_log_offset: req i64 = "commitLogOffset",
        commit_or_rollback: req i32 = "commitOrRollback",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::ext_fields::CommandHeader;
    use crate::header::testutil::{arb, check_header, round_trip};
    use proptest::prelude::*;

    fn end_sample(c: i32) -> EndTransactionRequestHeader {
        EndTransactionRequestHeader {
            rpc: RpcRequestHeader::with_bname("broker-a"),
            producer_group: "pg".into(),
            tran_state_table_offset: 7,
            commit_log_offset: 1024,
            commit_or_rollback: c,
            from_transaction_check: true,
            msg_id: "7F0000010000000000000000".into(),
            transaction_id: Some("tx".into()),
            topic: Some("T".into()),
        }
    }

    #[test]
    fn headers_check() {
        for c in [0, 8, 12] {
            check_header(end_sample(c));
        }
        check_header(EndTransactionResponseHeader {});
        check_header(CheckTransactionStateRequestHeader {
            rpc: RpcRequestHeader::with_bname("b"),
            tran_state_table_offset: 1,
            commit_log_offset: 2,
            msg_id: Some("u".into()),
            transaction_id: Some("u".into()),
            offset_msg_id: Some("o".into()),
            topic: Some("T".into()),
        });
        check_header(CheckTransactionStateResponseHeader {
            producer_group: "pg".into(),
            tran_state_table_offset: 1,
            commit_log_offset: 2,
            commit_or_rollback: 8,
        });
    }

    #[test]
    fn commit_or_rollback_is_checked() {
        for bad in [4, 1, -8, 13] {
            let m = end_sample(bad).to_ext_fields();
            let e = EndTransactionRequestHeader::read_fields(&m).unwrap_err();
            assert_eq!(e.context, "EndTransactionRequestHeader");
            match e.kind {
                ErrorKind::InvalidField { field, value, .. } => {
                    assert_eq!(field, "commitOrRollback");
                    assert_eq!(value, bad.to_string());
                }
                k => panic!("{k:?}"),
            }
        }
        let h = EndTransactionRequestHeader::read_fields(&end_sample(12).to_ext_fields()).unwrap();
        assert_eq!(h.resolution(), Some(TransactionResolution::Rollback));
        assert_eq!(end_sample(3).resolution(), None);
        for r in [
            TransactionResolution::Unknown,
            TransactionResolution::Commit,
            TransactionResolution::Rollback,
        ] {
            assert_eq!(TransactionResolution::from_code(r.code()), Some(r));
        }
        assert_eq!(TRANSACTION_PREPARED_TYPE, 4);
        assert_eq!(TRANSACTION_COMMIT_TYPE, 8);
        assert_eq!(TRANSACTION_ROLLBACK_TYPE, 12);
    }

    prop_compose! {
        fn arb_end()(
            rpc in arb::rpc(),
            producer_group in arb::text(),
            (tran_state_table_offset, commit_log_offset) in any::<(i64, i64)>(),
            commit_or_rollback in prop_oneof![Just(0), Just(8), Just(12)],
            from_transaction_check in any::<bool>(),
            msg_id in arb::text(),
            (transaction_id, topic) in (arb::opt_text(), arb::opt_text()),
        ) -> EndTransactionRequestHeader {
            EndTransactionRequestHeader {
                rpc, producer_group, tran_state_table_offset, commit_log_offset,
                commit_or_rollback, from_transaction_check, msg_id, transaction_id, topic,
            }
        }
    }

    proptest! {
        #[test]
        fn prop_end_transaction_round_trip(h in arb_end()) {
            prop_assert_eq!(round_trip(&h), h);
        }

        #[test]
        fn prop_end_transaction_rejects_other_codes(
            mut h in arb_end(),
            c in any::<i32>().prop_filter("valid", |c| ![0, 8, 12].contains(c)),
        ) {
            h.commit_or_rollback = c;
            prop_assert!(EndTransactionRequestHeader::read_fields(&h.to_ext_fields()).is_err());
        }
    }
}
