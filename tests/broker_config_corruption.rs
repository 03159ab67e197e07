//! Damaged config JSON at broker start (topics.json, consumerOffset.json, delayOffset.json,
//! subscriptionGroup.json): with a good `.bak` the broker starts from it and serves the
//! previous state; with both copies damaged it refuses to start with an error naming the
//! file (as Java's ConfigManager does); it never panics.

mod common;

use std::path::Path;

use apogee::broker::Broker;
use apogee::rt;
use apogee::store::fs::Fs;
use apogee_codec::codes::{request as rc, response};
use apogee_codec::RemotingCommand;

const FILES: [&str; 4] = [
    "topics.json",
    "consumerOffset.json",
    "delayOffset.json",
    "subscriptionGroup.json",
];

fn start(dir: &Path) -> Result<Broker, String> {
    let (b, s) = common::configs(dir, None);
    rt::block_on(Broker::start(b, s, Fs::real())).map_err(|e| e.to_string())
}

fn call(b: &Broker, code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut req = RemotingCommand::request(code, 0);
    for (k, v) in fields {
        req.ext_mut().insert(*k, *v);
    }
    common::call(&common::client(), b.addr(), req)
}

fn offset_of(b: &Broker) -> Option<String> {
    let r = call(
        b,
        rc::QUERY_CONSUMER_OFFSET,
        &[("consumerGroup", "G"), ("topic", "Kept"), ("queueId", "0")],
    );
    (r.code == response::SUCCESS).then(|| r.ext("offset").unwrap_or("").to_owned())
}

fn has_topic(b: &Broker) -> bool {
    let r = call(b, rc::GET_ALL_TOPIC_CONFIG, &[]);
    r.code == response::SUCCESS && String::from_utf8_lossy(&r.body).contains("\"Kept\"")
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_dir(&p, &dst);
        } else if p.file_name().is_some_and(|n| n != "lock") {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

/// Damage kinds: bit flip, cut in half, emptied, garbage.
fn damage(path: &Path, kind: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    match kind {
        0 => {
            let at = bytes.len() / 3;
            bytes[at] ^= 0x40;
        }
        1 => bytes.truncate(bytes.len() / 2),
        2 => bytes.clear(),
        _ => bytes = b"\xff\xfe{{{not json".to_vec(),
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn damaged_config_json_falls_back_to_bak_or_refuses_cleanly() {
    let template = tempfile::tempdir().unwrap();
    {
        let b = start(template.path()).unwrap();
        let r = call(
            &b,
            rc::UPDATE_AND_CREATE_TOPIC,
            &[
                ("topic", "Kept"),
                ("defaultTopic", "TBW102"),
                ("readQueueNums", "2"),
                ("writeQueueNums", "2"),
                ("perm", "6"),
                ("topicFilterType", "SINGLE_TAG"),
                ("topicSysFlag", "0"),
                ("order", "false"),
            ],
        );
        assert_eq!(r.code, response::SUCCESS, "{r}");
        let r = call(
            &b,
            rc::UPDATE_CONSUMER_OFFSET,
            &[
                ("consumerGroup", "G"),
                ("topic", "Kept"),
                ("queueId", "0"),
                ("commitOffset", "0"),
            ],
        );
        assert_eq!(r.code, response::SUCCESS, "{r}");
        rt::block_on(b.shutdown());
    }
    // Start and stop once more: every file is persisted again, so each has a `.bak`.
    rt::block_on(start(template.path()).unwrap().shutdown());
    let config = template.path().join("config");
    for f in FILES {
        assert!(config.join(f).exists(), "{f} written");
        assert!(config.join(format!("{f}.bak")).exists(), "{f}.bak written");
    }

    for f in FILES {
        for kind in 0..4 {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(template.path(), dir.path());
            damage(&dir.path().join("config").join(f), kind);
            let b = start(dir.path()).unwrap_or_else(|e| panic!("{f} damage {kind}: {e}"));
            assert!(has_topic(&b), "{f} damage {kind}: topic lost");
            assert!(offset_of(&b).is_some(), "{f} damage {kind}: offset lost");
            rt::block_on(b.shutdown());
        }
        // Both copies damaged: a clean refusal that names the file.
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        damage(&dir.path().join("config").join(f), 3);
        damage(&dir.path().join("config").join(format!("{f}.bak")), 1);
        match start(dir.path()) {
            Ok(b) => {
                rt::block_on(b.shutdown());
                panic!("{f} and its .bak damaged, yet the broker started");
            }
            Err(e) => assert!(e.contains(f), "{f}: {e}"),
        }
    }
}
