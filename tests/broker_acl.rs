//! Access control over raw frames: a broker with `aclEnable=true` and a `plain_acl.yml`,
//! requests signed as 4.x clients sign them (HMAC-SHA1 over the sorted ext fields + body).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apogee::acl::signature::sign_in_place;
use apogee::acl::{ACL_EXCEPTION, REFUSAL_CODE};
use apogee::remoting::RemotingClient;
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::{
    CreateAccessConfigRequestHeader, CreateTopicRequestHeader, DeleteAccessConfigRequestHeader,
    GetBrokerAclConfigResponseHeader, SendMessageRequestHeaderV2,
    UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use apogee_codec::RemotingCommand;

const WAIT_LIMIT: Duration = Duration::from_secs(10);

const ACL: &str = r#"
globalWhiteRemoteAddresses:
accounts:
  - accessKey: producer1
    secretKey: producer-secret
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - TopicA=PUB
      - TopicB=SUB
    groupPerms:
      - GroupDenied=DENY
  - accessKey: adminKey1
    secretKey: admin-secret
    admin: true
"#;

struct AclBroker {
    tb: common::TestBroker,
    file: PathBuf,
}

fn start(acl: &str) -> AclBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let file = home.join("conf/plain_acl.yml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, acl).unwrap();
    let (mut b, s) = common::configs(&dir.path().join("store"), None);
    b.acl_enable = true;
    b.rocketmq_home = home.to_string_lossy().into_owned();
    b.acl_watch_interval_mills = 20;
    AclBroker {
        tb: common::start_broker_with(b, s, dir),
        file,
    }
}

fn send(topic: &str, group: &str, body: &[u8]) -> RemotingCommand {
    let h = SendMessageRequestHeaderV2 {
        a: group.into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: 0,
        f: 0,
        g: 1_700_000_000_123,
        h: 0,
        i: Some(String::new()),
        j: Some(0),
        k: false,
        l: None,
        m: false,
        n: None,
    };
    RemotingCommand::request(rc::SEND_MESSAGE_V2, 0)
        .with_header(&h)
        .with_body(body.to_vec())
}

fn signed(mut r: RemotingCommand, ak: &str, sk: &str) -> RemotingCommand {
    let body = r.body.clone();
    sign_in_place(r.ext_mut(), &body, ak, sk, None);
    r
}

fn assert_refused(r: &RemotingCommand, why: &str) {
    assert_eq!(r.code, REFUSAL_CODE, "{r}");
    assert_eq!(
        r.remark.as_deref(),
        Some(format!("{ACL_EXCEPTION}: {why}").as_str()),
        "{r}"
    );
}

fn call(c: &RemotingClient, ab: &AclBroker, r: RemotingCommand) -> RemotingCommand {
    common::call(c, ab.tb.addr(), r)
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rewrite(file: &Path, text: &str) {
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

#[test]
fn signatures_are_checked_before_any_processor() {
    let ab = start(ACL);
    let c = common::client();

    // Valid signature, PUB on the topic: stored.
    let r = call(
        &c,
        &ab,
        signed(send("TopicA", "pg", b"one"), "producer1", "producer-secret"),
    );
    assert_eq!(r.code, response::SUCCESS, "{r}");

    // Wrong secret.
    let r = call(
        &c,
        &ab,
        signed(send("TopicA", "pg", b"two"), "producer1", "not-the-secret"),
    );
    assert_refused(&r, "Check signature failed for accessKey=producer1");

    // No credentials at all; an access key without a signature; an unknown access key.
    let r = call(&c, &ab, send("TopicA", "pg", b"three"));
    assert_refused(&r, "No accessKey is configured");
    let mut r = send("TopicA", "pg", b"four");
    r.ext_mut().insert("AccessKey", "producer1");
    assert_refused(
        &call(&c, &ab, r),
        "Check signature failed for accessKey=producer1",
    );
    let r = call(
        &c,
        &ab,
        signed(send("TopicA", "pg", b"five"), "stranger1", "whatever1"),
    );
    assert_refused(&r, "No acl config for stranger1");

    // A captured frame replayed with another body (or another header value) fails; the
    // untouched frame still verifies (4.x signatures carry no nonce or time).
    let good = signed(send("TopicA", "pg", b"six"), "producer1", "producer-secret");
    let mut changed_body = good.clone();
    changed_body.body = bytes::Bytes::from_static(b"SIX");
    assert_refused(
        &call(&c, &ab, changed_body),
        "Check signature failed for accessKey=producer1",
    );
    let mut changed_topic = good.clone();
    changed_topic.ext_mut().insert("b", "TopicB");
    assert_refused(
        &call(&c, &ab, changed_topic),
        "Check signature failed for accessKey=producer1",
    );
    assert_eq!(call(&c, &ab, good).code, response::SUCCESS);

    // A refused send never reached the send processor: the topic was not auto-created.
    let r = call(
        &c,
        &ab,
        signed(send("NewTopic", "pg", b"x"), "producer1", "bad-secret1"),
    );
    assert_eq!(r.code, REFUSAL_CODE);
    assert!(!ab.tb.broker.inner().configs.topics.contains("NewTopic"));

    // Permission: SUB only on TopicB, DENY by default.
    let r = call(
        &c,
        &ab,
        signed(send("TopicB", "pg", b"x"), "producer1", "producer-secret"),
    );
    assert_refused(&r, "No default permission for topic:TopicB");
    let r = call(
        &c,
        &ab,
        signed(
            send("Elsewhere", "pg", b"x"),
            "producer1",
            "producer-secret",
        ),
    );
    assert_refused(&r, "No default permission for topic:Elsewhere");
    ab.tb.stop();
}

#[test]
fn retry_topics_map_to_their_group() {
    let ab = start(ACL);
    let c = common::client();
    // Sending to %RETRY%G needs SUB on group G (default SUB here), not PUB on the topic.
    let r = call(
        &c,
        &ab,
        signed(
            send("%RETRY%GroupOk", "GroupOk", b"r"),
            "producer1",
            "producer-secret",
        ),
    );
    assert_ne!(r.code, REFUSAL_CODE, "{r}");
    let r = call(
        &c,
        &ab,
        signed(
            send("%RETRY%GroupDenied", "GroupDenied", b"r"),
            "producer1",
            "producer-secret",
        ),
    );
    assert_refused(&r, "No default permission for group:GroupDenied");
    ab.tb.stop();
}

fn create_topic(topic: &str) -> RemotingCommand {
    RemotingCommand::request(rc::UPDATE_AND_CREATE_TOPIC, 0).with_header(
        &CreateTopicRequestHeader {
            topic: topic.into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: None,
            lo: None,
            rpc: Default::default(),
        },
    )
}

#[test]
fn admin_only_requests_need_an_admin_account() {
    let ab = start(ACL);
    let c = common::client();
    let r = call(
        &c,
        &ab,
        signed(create_topic("AdminMade"), "producer1", "producer-secret"),
    );
    assert_refused(
        &r,
        &format!(
            "Need admin permission for request code={}, but accessKey=producer1 is not",
            rc::UPDATE_AND_CREATE_TOPIC
        ),
    );
    assert!(!ab.tb.broker.inner().configs.topics.contains("AdminMade"));
    let r = call(
        &c,
        &ab,
        signed(create_topic("AdminMade"), "adminKey1", "admin-secret"),
    );
    assert_eq!(r.code, response::SUCCESS, "{r}");
    assert!(ab.tb.broker.inner().configs.topics.contains("AdminMade"));
    ab.tb.stop();
}

#[test]
fn acl_admin_requests_edit_and_persist_the_file() {
    let ab = start(ACL);
    let c = common::client();
    let version = |c: &RemotingClient| {
        let r = call(
            c,
            &ab,
            signed(
                RemotingCommand::request(rc::GET_BROKER_CLUSTER_ACL_INFO, 0),
                "adminKey1",
                "admin-secret",
            ),
        );
        assert_eq!(r.code, response::SUCCESS, "{r}");
        let h: GetBrokerAclConfigResponseHeader = r.read_header().unwrap();
        assert_eq!(h.broker_name, "broker-test");
        let v: serde_json::Value = serde_json::from_str(&h.version).unwrap();
        v["counter"].as_i64().unwrap()
    };
    assert_eq!(version(&c), 0);

    // Create an account; it works at once and is in the file.
    let create = RemotingCommand::request(rc::UPDATE_AND_CREATE_ACL_CONFIG, 0).with_header(
        &CreateAccessConfigRequestHeader {
            access_key: "newUser01".into(),
            secret_key: Some("newSecret01".into()),
            white_remote_address: None,
            admin: Some(false),
            default_topic_perm: Some("PUB".into()),
            default_group_perm: Some("SUB".into()),
            topic_perms: Some("Hidden=DENY".into()),
            group_perms: None,
        },
    );
    let r = call(&c, &ab, signed(create.clone(), "adminKey1", "admin-secret"));
    assert_eq!(r.code, response::SUCCESS, "{r}");
    assert_eq!(version(&c), 1);
    let text = std::fs::read_to_string(&ab.file).unwrap();
    assert!(
        text.contains("newUser01") && text.contains("Hidden=DENY"),
        "{text}"
    );
    let r = call(
        &c,
        &ab,
        signed(send("Anything", "pg", b"x"), "newUser01", "newSecret01"),
    );
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let r = call(
        &c,
        &ab,
        signed(send("Hidden", "pg", b"x"), "newUser01", "newSecret01"),
    );
    assert_refused(&r, "No default permission for topic:Hidden");

    // A short secret is refused with Java's message and the file is left alone.
    let mut bad = create.clone();
    bad.ext_mut().insert("secretKey", "short");
    let r = call(&c, &ab, signed(bad, "adminKey1", "admin-secret"));
    assert_eq!(r.code, response::UPDATE_AND_CREATE_ACL_CONFIG_FAILED, "{r}");
    assert_eq!(std::fs::read_to_string(&ab.file).unwrap(), text);

    // Managing the ACL is not an admin-only code in 4.9.8, but it still needs a valid
    // signature.
    let r = call(&c, &ab, signed(create, "adminKey1", "wrong-secret"));
    assert_eq!(r.code, REFUSAL_CODE);

    // Global whitelist: afterwards unsigned requests from 127.0.0.1 pass.
    let r = call(&c, &ab, send("TopicA", "pg", b"unsigned"));
    assert_refused(&r, "No accessKey is configured");
    let white = RemotingCommand::request(rc::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, 0).with_header(
        &UpdateGlobalWhiteAddrsConfigRequestHeader {
            global_white_addrs: "10.0.0.*,127.0.0.1".into(),
            acl_file_full_path: ab.file.to_string_lossy().into_owned(),
        },
    );
    let r = call(&c, &ab, signed(white, "adminKey1", "admin-secret"));
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let r = call(&c, &ab, send("Elsewhere", "pg", b"unsigned"));
    assert_eq!(r.code, response::SUCCESS, "{r}");
    assert!(std::fs::read_to_string(&ab.file)
        .unwrap()
        .contains("127.0.0.1"));

    // Delete: the account is gone from the file (a second delete fails as in Java).
    let del = RemotingCommand::request(rc::DELETE_ACL_CONFIG, 0).with_header(
        &DeleteAccessConfigRequestHeader {
            access_key: "newUser01".into(),
        },
    );
    let r = call(&c, &ab, del.clone());
    assert_eq!(r.code, response::SUCCESS, "{r}");
    assert!(!std::fs::read_to_string(&ab.file)
        .unwrap()
        .contains("newUser01"));
    let r = call(&c, &ab, del);
    assert_eq!(r.code, response::DELETE_ACL_CONFIG_FAILED, "{r}");
    assert_eq!(version(&c), 3);
    ab.tb.stop();
}

#[test]
fn file_changes_reload_and_broken_files_keep_the_last_good_config() {
    let ab = start(ACL);
    let c = common::client();
    let later = |c: &RemotingClient| {
        call(
            c,
            &ab,
            signed(send("TopicA", "pg", b"l"), "laterKey1", "later-secret"),
        )
        .code
    };
    assert_eq!(later(&c), REFUSAL_CODE);

    // A new account appears in the file: picked up without a restart.
    let with_later = format!(
        "{ACL}  - accessKey: laterKey1\n    secretKey: later-secret\n    defaultTopicPerm: PUB\n"
    );
    rewrite(&ab.file, &with_later);
    wait_until("the new account", || later(&c) == response::SUCCESS);

    // A file that does not load (bad YAML; then a key that is too short) keeps the last good
    // configuration: laterKey1 still works, producer1 too.
    rewrite(&ab.file, "accounts: [\n  - accessKey: broken");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(later(&c), response::SUCCESS);
    rewrite(
        &ab.file,
        "accounts:\n  - accessKey: short\n    secretKey: later-secret\n",
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(later(&c), response::SUCCESS);
    let r = call(
        &c,
        &ab,
        signed(send("TopicA", "pg", b"p"), "producer1", "producer-secret"),
    );
    assert_eq!(r.code, response::SUCCESS, "{r}");

    // A good file again: laterKey1 is gone.
    rewrite(&ab.file, ACL);
    wait_until("the account to go", || later(&c) == REFUSAL_CODE);
    ab.tb.stop();
}
