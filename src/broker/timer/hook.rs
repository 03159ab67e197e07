//! What a send does with the 5.x timer properties (RocketMQ 5.x `HookUtils.
//! checkIfTimerMessage` / `transformTimerMessage`); the send path asks [`decide`] and acts on
//! the answer.
//!
//! Rules, in 5.x's order:
//! 1. Only messages of transaction type NOT or COMMIT are looked at (half messages are not).
//!    A message already in `rmq_sys_wheel_timer` is not looked at again.
//! 2. `DELAY` > 0 wins: the `TIMER_DELIVER_MS`, `TIMER_DELAY_SEC` and `TIMER_DELAY_MS`
//!    properties are removed and the message takes the delay-level path.
//! 3. A message that carries `TIMER_OUT_MS` (a timer message that was already delivered and is
//!    sent again) is an ordinary message.
//! 4. Otherwise, with any of the three properties: refused when `timerWheelEnable` is false
//!    (SYSTEM_ERROR); the delivery time is `now + TIMER_DELAY_SEC × 1000`, else
//!    `now + TIMER_DELAY_MS`, else `TIMER_DELIVER_MS` (first present wins), each parsed like
//!    Java's `Long.parseLong` (arithmetic wraps as Java's does); a value that does not parse
//!    is refused with MESSAGE_ILLEGAL.
//! 5. A delivery time in the future further than `timerMaxDelaySec` is refused with
//!    MESSAGE_ILLEGAL; otherwise the message is parked until then. A delivery time not in the
//!    future is stored at once as an ordinary message — unless it carries `TIMER_DEL_UNIQKEY`
//!    (MESSAGE_ILLEGAL).
//!
//! The refusals carry 5.x's response codes and remarks (`SendMessageProcessor`).
//!
//! Differences from 5.x: 5.x rounds the delivery time down to `timerPrecisionMs` (and takes a
//! further `timerPrecisionMs` off a time that is already a multiple of it), so it may deliver
//! up to one precision early; here `TIMER_OUT_MS` is the requested time and delivery is never
//! early. 5.x's per-slot flow control (`timerCongestNumEachSlot`, off by default) and the
//! cancellation of a pending message by `TIMER_DEL_UNIQKEY` are not implemented: such a
//! message is scheduled like any other. Batches are not looked at (5.x's hook only handles
//! single messages either). A committed transactional message is not looked at when its
//! commit re-puts it (5.x's store hook would schedule it then): it is delivered at commit.

use apogee_codec::codes::response;
use apogee_codec::message::sysflag;

/// The topic timer messages are parked in (5.x `TimerMessageStore.TIMER_TOPIC`).
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";

/// 5.x property names (`MessageConst`).
pub mod keys {
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
    pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
    pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
    pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
    /// The three a producer sets.
    pub const REQUEST: [&str; 3] = [TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS];
}

/// The settings [`decide`] needs.
#[derive(Debug, Clone, Copy)]
pub struct TimerLimits {
    /// `timerWheelEnable`.
    pub enabled: bool,
    /// `timerMaxDelaySec`.
    pub max_delay_sec: i64,
}

/// What the send path does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not a timer message: store as usual.
    Plain,
    /// `DELAY` wins: remove [`keys::REQUEST`] from the properties, then store as usual (the
    /// delay-level path).
    DropTimerKeys,
    /// Park the message in [`TIMER_TOPIC`] until `deliver_ms`.
    Schedule { deliver_ms: i64 },
    /// Refuse the send.
    Reject { code: i32, remark: String },
}

/// Java `Long.parseLong`: optional sign, then decimal digits only.
fn java_long(v: &str) -> Option<i64> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// `DELAY` > 0 (the test the delay-level path makes).
fn positive_level(v: Option<&str>) -> bool {
    v.and_then(|v| v.trim().parse::<i64>().ok())
        .is_some_and(|l| l > 0)
}

/// Decide for a message of `topic` with `sys_flag` whose properties `prop` looks up, at `now`.
pub fn decide<'a>(
    limits: TimerLimits,
    sys_flag: i32,
    topic: &str,
    prop: impl Fn(&str) -> Option<&'a str>,
    now: i64,
) -> Decision {
    let tx = sys_flag & sysflag::TRANSACTION_MASK;
    if tx != sysflag::TRANSACTION_NOT_TYPE && tx != sysflag::TRANSACTION_COMMIT_TYPE {
        return Decision::Plain;
    }
    if topic == TIMER_TOPIC {
        return Decision::Plain;
    }
    let has_request_key = keys::REQUEST.iter().any(|k| prop(k).is_some());
    if positive_level(prop(apogee_codec::message::keys::DELAY)) {
        return if has_request_key {
            Decision::DropTimerKeys
        } else {
            Decision::Plain
        };
    }
    if !has_request_key || prop(keys::TIMER_OUT_MS).is_some() {
        return Decision::Plain;
    }
    if !limits.enabled {
        return Decision::Reject {
            code: response::SYSTEM_ERROR,
            remark: "accurate timer message is not enabled, timerWheelEnable is false".into(),
        };
    }
    let illegal = || Decision::Reject {
        code: response::MESSAGE_ILLEGAL,
        remark: format!(
            "timer message illegal, the delay time should not be bigger than the max delay \
             {}ms; or if set del msg, the delay time should be bigger than the current time",
            limits.max_delay_sec.wrapping_mul(1000)
        ),
    };
    let parsed = if let Some(v) = prop(keys::TIMER_DELAY_SEC) {
        java_long(v).map(|s| now.wrapping_add(s.wrapping_mul(1000)))
    } else if let Some(v) = prop(keys::TIMER_DELAY_MS) {
        java_long(v).map(|ms| now.wrapping_add(ms))
    } else {
        prop(keys::TIMER_DELIVER_MS).and_then(java_long)
    };
    let Some(deliver_ms) = parsed else {
        return illegal();
    };
    if deliver_ms > now {
        if deliver_ms.wrapping_sub(now) > limits.max_delay_sec.wrapping_mul(1000) {
            return illegal();
        }
        return Decision::Schedule { deliver_ms };
    }
    if prop(keys::TIMER_DEL_UNIQKEY).is_some() {
        return illegal();
    }
    Decision::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const ON: TimerLimits = TimerLimits {
        enabled: true,
        max_delay_sec: 3 * 86_400,
    };

    fn run(limits: TimerLimits, sys_flag: i32, topic: &str, props: &[(&str, &str)]) -> Decision {
        let props: Vec<(String, String)> = props
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        decide(
            limits,
            sys_flag,
            topic,
            |k| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()),
            NOW,
        )
    }

    fn d(props: &[(&str, &str)]) -> Decision {
        run(ON, 0, "T", props)
    }

    fn is_illegal(x: &Decision) -> bool {
        matches!(x, Decision::Reject { code, remark } if *code == response::MESSAGE_ILLEGAL
            && remark.contains("the max delay 259200000ms"))
    }

    #[test]
    fn the_three_properties_give_the_delivery_time() {
        let at = |deliver_ms| Decision::Schedule { deliver_ms };
        assert_eq!(d(&[("TIMER_DELAY_SEC", "5")]), at(NOW + 5_000));
        assert_eq!(d(&[("TIMER_DELAY_MS", "1500")]), at(NOW + 1_500));
        assert_eq!(
            d(&[("TIMER_DELIVER_MS", &(NOW + 42).to_string())]),
            at(NOW + 42)
        );
        assert_eq!(d(&[("TIMER_DELAY_MS", "+7")]), at(NOW + 7));
        // First present wins: SEC, then MS, then DELIVER_MS.
        assert_eq!(
            d(&[
                ("TIMER_DELIVER_MS", "1"),
                ("TIMER_DELAY_MS", "2000"),
                ("TIMER_DELAY_SEC", "3")
            ]),
            at(NOW + 3_000)
        );
        assert_eq!(
            d(&[("TIMER_DELIVER_MS", "1"), ("TIMER_DELAY_MS", "2000")]),
            at(NOW + 2_000)
        );
        // Exactly the maximum is allowed.
        assert_eq!(d(&[("TIMER_DELAY_SEC", "259200")]), at(NOW + 259_200_000));
    }

    #[test]
    fn out_of_range_and_malformed_times_are_illegal() {
        for v in [
            "",
            "x",
            "1.5",
            " 5",
            "5 ",
            "--1",
            "99999999999999999999",
            "+",
        ] {
            assert!(is_illegal(&d(&[("TIMER_DELAY_SEC", v)])), "{v:?}");
            assert!(is_illegal(&d(&[("TIMER_DELIVER_MS", v)])), "{v:?}");
        }
        assert!(is_illegal(&d(&[("TIMER_DELAY_SEC", "259201")])));
        assert!(is_illegal(&d(&[("TIMER_DELAY_MS", "259200001")])));
        assert!(is_illegal(&d(&[(
            "TIMER_DELIVER_MS",
            &(NOW + 259_200_001).to_string()
        )])));
    }

    #[test]
    fn past_times_are_ordinary_messages_unless_a_delete() {
        assert_eq!(d(&[("TIMER_DELAY_SEC", "0")]), Decision::Plain);
        assert_eq!(d(&[("TIMER_DELAY_MS", "-5")]), Decision::Plain);
        assert_eq!(d(&[("TIMER_DELIVER_MS", "1")]), Decision::Plain);
        assert!(is_illegal(&d(&[
            ("TIMER_DELIVER_MS", "1"),
            ("TIMER_DEL_UNIQKEY", "k")
        ])));
        // Java's long arithmetic wraps: a huge second count lands in the past.
        assert_eq!(
            d(&[("TIMER_DELAY_SEC", &(i64::MAX / 10).to_string())]),
            Decision::Plain
        );
    }

    #[test]
    fn precedence_and_exclusions() {
        assert_eq!(
            d(&[("DELAY", "3"), ("TIMER_DELAY_SEC", "5")]),
            Decision::DropTimerKeys
        );
        assert_eq!(d(&[("DELAY", "3")]), Decision::Plain);
        assert_eq!(
            d(&[("DELAY", "0"), ("TIMER_DELAY_SEC", "5")]),
            Decision::Schedule {
                deliver_ms: NOW + 5_000
            }
        );
        assert_eq!(
            d(&[("TIMER_OUT_MS", "1"), ("TIMER_DELAY_SEC", "5")]),
            Decision::Plain
        );
        assert_eq!(d(&[("KEYS", "k")]), Decision::Plain);
        assert_eq!(
            run(
                ON,
                sysflag::TRANSACTION_PREPARED_TYPE,
                "T",
                &[("TIMER_DELAY_SEC", "5")]
            ),
            Decision::Plain
        );
        assert!(matches!(
            run(
                ON,
                sysflag::TRANSACTION_COMMIT_TYPE,
                "T",
                &[("TIMER_DELAY_SEC", "5")]
            ),
            Decision::Schedule { .. }
        ));
        assert_eq!(
            run(ON, 0, TIMER_TOPIC, &[("TIMER_DELAY_SEC", "5")]),
            Decision::Plain
        );
        let off = TimerLimits {
            enabled: false,
            ..ON
        };
        assert_eq!(
            run(off, 0, "T", &[("TIMER_DELAY_SEC", "5")]),
            Decision::Reject {
                code: response::SYSTEM_ERROR,
                remark: "accurate timer message is not enabled, timerWheelEnable is false".into()
            }
        );
        assert_eq!(run(off, 0, "T", &[("KEYS", "k")]), Decision::Plain);
    }
}
