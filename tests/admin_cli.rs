//! `apogee-admin` against an in-process name server and broker.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use apogee::namesrv::{NameServer, NamesrvConfig};
use apogee::rt;

fn admin(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_apogee-admin"))
        .args(args)
        .output()
        .expect("run apogee-admin");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn everyday_commands() {
    let dir = tempfile::tempdir().unwrap();
    let ns = rt::block_on(NameServer::start(NamesrvConfig {
        listen_port: 0,
        kv_config_path: dir.path().join("kv.json").to_string_lossy().into_owned(),
        ..Default::default()
    }))
    .unwrap();
    let ns_addr = format!("127.0.0.1:{}", ns.local_addr().port());
    let (b, s) = common::configs(&dir.path().join("store"), Some(ns_addr.parse().unwrap()));
    let tb = common::start_broker_with(b, s, tempfile::tempdir().unwrap());
    let broker = tb.addr().to_string();

    // Wait for the broker's first registration.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = admin(&["-n", &ns_addr, "topicList"]);
        if ok && out.contains("TBW102") {
            break;
        }
        assert!(Instant::now() < deadline, "no topics: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, out) = admin(&[
        "-n",
        &ns_addr,
        "updateTopic",
        "-t",
        "CliTopic",
        "-r",
        "2",
        "-w",
        "2",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("success"), "{out}");
    let (ok, out) = admin(&["-n", &ns_addr, "topicList"]);
    assert!(ok && out.lines().any(|l| l == "CliTopic"), "{out}");
    let (ok, out) = admin(&["-n", &ns_addr, "topicRoute", "-t", "CliTopic"]);
    assert!(ok && out.contains("\"writeQueueNums\":2"), "{out}");

    // A message and a committed offset for a group.
    let r = tb.broker.store().put_message_blocking(
        apogee::store::message_inner::MessageInner {
            topic: "CliTopic".into(),
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_host: tb.addr(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: bytes::Bytes::from_static(b"hello cli"),
            properties: b"KEYS\x01k1\x02TAGS\x01t".to_vec(),
        },
        true,
    );
    let msg_id = r.append.unwrap().msg_id;
    tb.broker
        .inner()
        .configs
        .consumer_offsets
        .commit("CliGroup", "CliTopic", 0, 0);
    assert!(tb.broker.store().wait_dispatched(Duration::from_secs(5)));
    let (ok, out) = admin(&[
        "-n",
        &ns_addr,
        "consumerProgress",
        "-g",
        "CliGroup",
        "-t",
        "CliTopic",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("Diff Total: 1"), "{out}");
    let (ok, out) = admin(&["-n", &ns_addr, "queryMsgById", "-i", &msg_id]);
    assert!(ok && out.contains("Body Length:        9"), "{out}");
    let (ok, out) = admin(&["-b", &broker, "brokerStatus"]);
    assert!(ok && out.contains("brokerVersionDesc"), "{out}");
    let (ok, out) = admin(&["-n", &ns_addr, "nonsense"]);
    assert!(!ok && out.contains("unknown command"), "{out}");
    tb.stop();
    ns.shutdown();
}
