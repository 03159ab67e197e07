//! The built `apogee` binary: starts on free ports, routes a topic through its name server,
//! stores and serves a message, and shuts down cleanly on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apogee_codec::body::TopicRouteData;
use apogee_codec::codes::{request, response};
use apogee_codec::RemotingCommand;

#[test]
fn standalone_binary_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_apogee"))
        .args(["--store", store.to_str().unwrap()])
        .args([
            "--namesrv-port",
            "0",
            "--broker-port",
            "0",
            "--broker-ip",
            "127.0.0.1",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // "apogee 0.1.0 ready in N ms: name server on 0.0.0.0:P, broker broker-a on 127.0.0.1:Q ..."
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let ready = loop {
        let l = lines.next().expect("output").unwrap();
        if l.contains(" ready in ") {
            break l;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no ready line");
    };
    let ns_port: u16 = ready
        .split("name server on ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("name server port");
    let broker: SocketAddr = ready
        .split(" on ")
        .nth(2)
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .expect("broker address");
    let ns: SocketAddr = format!("127.0.0.1:{ns_port}").parse().unwrap();
    let c = common::client();

    // The broker registered TBW102 with the embedded name server.
    let deadline = Instant::now() + Duration::from_secs(10);
    let route = loop {
        let mut req = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0);
        req.ext_mut().insert("topic", "TBW102");
        let r = common::call(&c, ns, req);
        if r.code == response::SUCCESS {
            break TopicRouteData::decode(&r.body).unwrap();
        }
        assert!(Instant::now() < deadline, "TBW102 never routed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        route.broker_datas[0].master_addr(),
        Some(broker.to_string().as_str())
    );

    // Send (auto-creating the topic), then read it back by offset id.
    let mut send = RemotingCommand::request(request::SEND_MESSAGE_V2, 0);
    for (k, v) in [
        ("a", "pg"),
        ("b", "BinaryTopic"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "0"),
        ("f", "0"),
        ("g", "1"),
        ("h", "0"),
        ("i", "KEYS\u{1}k1"),
    ] {
        send.ext_mut().insert(k, v);
    }
    let r = common::call(&c, broker, send.with_body(b"through the binary".to_vec()));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let msg_id = r.ext("msgId").unwrap().to_owned();
    let id = apogee_codec::message::decode_offset_msg_id(&msg_id).unwrap();
    let mut view = RemotingCommand::request(request::VIEW_MESSAGE_BY_ID, 0);
    view.ext_mut().insert("offset", id.offset.to_string());
    let r = common::call(&c, broker, view);
    assert_eq!(r.code, response::SUCCESS);
    let (rec, _) = apogee_codec::message::decode_record(&r.body).unwrap();
    assert_eq!(rec.body, b"through the binary");

    // SIGTERM: a clean shutdown removes the abort file.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !store.join("abort").exists(),
        "clean shutdown removes the abort file"
    );
}
