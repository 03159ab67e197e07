//! The broker starts, answers unknown codes cleanly, and shuts down.

mod common;

use apogee_codec::codes::response;
use apogee_codec::{RemotingCommand, SerializeType};

#[test]
fn unknown_codes_are_answered_in_the_request_serialization() {
    let tb = common::start_broker();
    let c = common::client();
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let mut req = RemotingCommand::request(7777, 0);
        req.serialize_type = st;
        let r = common::call(&c, tb.addr(), req);
        assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
        assert_eq!(r.serialize_type, st);
        assert!(r.remark.unwrap().contains("7777"));
        assert_eq!(r.version, apogee_codec::codes::CURRENT_VERSION);
    }
    tb.stop();
}
