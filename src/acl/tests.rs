//! The validator's decisions, request by request, against one configuration.

use std::net::SocketAddr;

use apogee_codec::codes::request as rc;
use apogee_codec::RemotingCommand;

use super::signature::sign_in_place;
use super::{PlainAcl, ACL_EXCEPTION};

const CONF: &str = r#"
globalWhiteRemoteAddresses:
  - 10.9.9.*
accounts:
  - accessKey: producer1
    secretKey: producer-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms: ["TopicA=PUB", "TopicB=SUB", "RMQ_SYS_TRACE_TOPIC=DENY"]
    groupPerms: ["GroupX=DENY"]
  - accessKey: adminKey1
    secretKey: admin-secret
    whiteRemoteAddress: 192.168.1.1-100
    admin: true
"#;

fn acl() -> PlainAcl {
    PlainAcl::from_text("plain_acl.yml".into(), CONF).unwrap()
}

fn addr(s: &str) -> SocketAddr {
    format!("{s}:40000").parse().unwrap()
}

fn send(topic: &str, group: &str) -> RemotingCommand {
    let mut r = RemotingCommand::request(rc::SEND_MESSAGE_V2, 7);
    r.ext_mut().insert("a", group);
    r.ext_mut().insert("b", topic);
    r.body = bytes::Bytes::from_static(b"hello");
    r
}

fn signed(mut r: RemotingCommand, ak: &str, sk: &str) -> RemotingCommand {
    let body = r.body.clone();
    sign_in_place(r.ext_mut(), &body, ak, sk, None);
    r
}

fn reason(r: Result<(), super::AclDenied>) -> String {
    r.unwrap_err().0
}

#[test]
fn signed_send_with_pub_passes() {
    let r = signed(send("TopicA", "pg"), "producer1", "producer-secret");
    assert_eq!(acl().validate(addr("127.0.0.1"), &r), Ok(()));
}

#[test]
fn refusals_name_the_reason() {
    let a = acl();
    let local = addr("127.0.0.1");
    assert_eq!(
        reason(a.validate(local, &send("TopicA", "pg"))),
        "No accessKey is configured"
    );
    let r = signed(send("TopicA", "pg"), "nobody12", "x");
    assert_eq!(reason(a.validate(local, &r)), "No acl config for nobody12");
    let r = signed(send("TopicA", "pg"), "producer1", "wrong-secret");
    assert_eq!(
        reason(a.validate(local, &r)),
        "Check signature failed for accessKey=producer1"
    );
    let r = signed(send("TopicB", "pg"), "producer1", "producer-secret");
    assert_eq!(
        reason(a.validate(local, &r)),
        "No default permission for topic:TopicB"
    );
    let r = signed(send("Other", "pg"), "producer1", "producer-secret");
    assert_eq!(
        reason(a.validate(local, &r)),
        "No default permission for topic:Other"
    );
    let denied = super::AclDenied("x".into());
    assert_eq!(denied.remark(), format!("{ACL_EXCEPTION}: x"));
}

#[test]
fn changed_body_breaks_the_signature() {
    let mut r = signed(send("TopicA", "pg"), "producer1", "producer-secret");
    r.body = bytes::Bytes::from_static(b"hellO");
    assert!(acl().validate(addr("127.0.0.1"), &r).is_err());
}

#[test]
fn retry_topic_send_checks_the_group() {
    let a = acl();
    let local = addr("127.0.0.1");
    let r = signed(
        send("%RETRY%GroupY", "GroupY"),
        "producer1",
        "producer-secret",
    );
    assert_eq!(a.validate(local, &r), Ok(()));
    let r = signed(
        send("%RETRY%GroupX", "GroupX"),
        "producer1",
        "producer-secret",
    );
    assert_eq!(
        reason(a.validate(local, &r)),
        "No default permission for group:GroupX"
    );
}

#[test]
fn whitelists_skip_the_signature() {
    let a = acl();
    // Global whitelist: no credentials at all.
    assert_eq!(a.validate(addr("10.9.9.4"), &send("Any", "pg")), Ok(()));
    // Account whitelist: the access key alone.
    let mut r = send("Any", "pg");
    r.ext_mut().insert("AccessKey", "adminKey1");
    assert_eq!(a.validate(addr("192.168.1.50"), &r), Ok(()));
    assert!(a.validate(addr("192.168.1.150"), &r).is_err());
}

#[test]
fn admin_codes_need_an_admin() {
    let a = acl();
    let local = addr("127.0.0.1");
    let mut r = RemotingCommand::request(rc::UPDATE_AND_CREATE_TOPIC, 1);
    r.ext_mut().insert("topic", "T");
    let by_user = signed(r.clone(), "producer1", "producer-secret");
    assert_eq!(
        reason(a.validate(local, &by_user)),
        format!(
            "Need admin permission for request code={}, but accessKey=producer1 is not",
            rc::UPDATE_AND_CREATE_TOPIC
        )
    );
    let by_admin = signed(r, "adminKey1", "admin-secret");
    assert_eq!(a.validate(local, &by_admin), Ok(()));
}

#[test]
fn trace_topic_publish_is_always_allowed() {
    let r = signed(
        send("RMQ_SYS_TRACE_TOPIC", "pg"),
        "producer1",
        "producer-secret",
    );
    assert_eq!(acl().validate(addr("127.0.0.1"), &r), Ok(()));
}
