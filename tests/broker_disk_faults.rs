//! Disk faults seen over the wire, injected through the store's file-system seam
//! (`Fs::faultable()` given to the broker): a disk above `diskSpaceWarningLevelRatio`, a
//! failed CommitLog msync, and ENOSPC while the CommitLog rolls to a new file. Every send
//! gets a clean error code, nothing stored is damaged, and sends resume once the fault is
//! gone (or, after a failed msync, once the broker is restarted).

mod common;

use std::io;
use std::net::SocketAddr;

use apogee::broker::Broker;
use apogee::remoting::RemotingClient;
use apogee::rt;
use apogee::store::fs::{Fault, Fs, FsOp};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::message::{decode_offset_msg_id, decode_record, iter_records};
use apogee_codec::RemotingCommand;

fn start(
    dir: &std::path::Path,
    fs: Fs,
    tune: impl FnOnce(&mut apogee::store::store_config::MessageStoreConfig),
) -> Broker {
    let (b, mut s) = common::configs(dir, None);
    tune(&mut s);
    rt::block_on(Broker::start(b, s, fs)).expect("broker starts")
}

fn send(c: &RemotingClient, addr: SocketAddr, body: &[u8]) -> RemotingCommand {
    let mut req = RemotingCommand::request(rc::SEND_MESSAGE_V2, 0);
    for (k, v) in [
        ("a", "pg"),
        ("b", "DiskFaults"),
        ("c", "TBW102"),
        ("d", "1"),
        ("e", "0"),
        ("f", "0"),
        ("g", "0"),
        ("h", "0"),
        ("i", "WAIT\u{1}true"),
    ] {
        req.ext_mut().insert(k, v);
    }
    common::call(c, addr, req.with_body(body.to_vec()))
}

/// The body stored at the physical offset named by a send's msgId.
fn view(c: &RemotingClient, addr: SocketAddr, msg_id: &str) -> Vec<u8> {
    let id = decode_offset_msg_id(msg_id).expect("offset msg id");
    let mut req = RemotingCommand::request(rc::VIEW_MESSAGE_BY_ID, 0);
    req.ext_mut().insert("offset", id.offset.to_string());
    let r = common::call(c, addr, req);
    assert_eq!(r.code, response::SUCCESS, "{r}");
    decode_record(&r.body).expect("a record").0.body.to_vec()
}

/// Every body of queue 0, in order (pulled over the wire).
fn pull_all(c: &RemotingClient, addr: SocketAddr) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    loop {
        let mut req = RemotingCommand::request(rc::PULL_MESSAGE, 0);
        for (k, v) in [
            ("consumerGroup", "g"),
            ("topic", "DiskFaults"),
            ("queueId", "0"),
            ("queueOffset", offset.to_string().as_str()),
            ("maxMsgNums", "32"),
            ("sysFlag", "4"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "0"),
            ("subscription", "*"),
            ("subVersion", "0"),
            ("expressionType", "TAG"),
        ] {
            req.ext_mut().insert(k, v);
        }
        let r = common::call(c, addr, req);
        if r.code != response::SUCCESS {
            return out;
        }
        for rec in iter_records(&r.body) {
            let rec = rec.expect("an intact record");
            assert_eq!(rec.queue_offset, out.len() as i64);
            out.push(rec.body.to_vec());
        }
        offset = r.ext("nextBeginOffset").unwrap().parse().unwrap();
    }
}

#[test]
fn disk_above_the_warning_ratio_refuses_sends_until_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Fs::faultable();
    let b = start(dir.path(), fs.clone(), |s| {
        s.disk_space_warning_level_ratio = 90;
    });
    let c = common::client();
    let r = send(&c, b.addr(), b"before");
    assert_eq!(r.code, response::SUCCESS, "{r}");

    fs.set_disk_usage(Some(0.97));
    b.store().check_disk_space();
    let r = send(&c, b.addr(), b"refused");
    assert_eq!(r.code, response::SERVICE_NOT_AVAILABLE, "{r}");
    let remark = r.remark.unwrap_or_default();
    assert!(
        remark.starts_with(
            "service not available now. It may be caused by one of the following reasons: \
             the broker's disk is full [CL:  0.97 CQ:  0.97 INDEX:  0.97]"
        ),
        "{remark}"
    );

    fs.set_disk_usage(Some(0.50));
    b.store().check_disk_space();
    let r = send(&c, b.addr(), b"after");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    // The consume queue is built just after the append (as in Java): wait for it.
    assert!(b
        .store()
        .wait_dispatched(std::time::Duration::from_secs(10)));
    let bodies = pull_all(&c, b.addr());
    assert_eq!(bodies, vec![b"before".to_vec(), b"after".to_vec()]);
    rt::block_on(b.shutdown());
}

#[test]
fn failed_commitlog_sync_poisons_the_store_and_a_restart_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Fs::faultable();
    let sync = |s: &mut apogee::store::store_config::MessageStoreConfig| {
        s.flush_disk_type = "SYNC_FLUSH".into();
    };
    let b = start(dir.path(), fs.clone(), sync);
    let c = common::client();
    let r = send(&c, b.addr(), b"durable");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let durable_id = r.ext("msgId").unwrap().to_owned();

    fs.arm(Fault::new(FsOp::Sync, "commitlog", 1, io::ErrorKind::Other));
    let r = send(&c, b.addr(), b"unknown fate");
    assert_ne!(r.code, response::SUCCESS, "{r}");
    let r = send(&c, b.addr(), b"refused");
    assert_eq!(r.code, response::SERVICE_NOT_AVAILABLE, "{r}");
    assert!(
        r.remark.as_deref().unwrap_or("").contains("sync failed"),
        "{r}"
    );
    rt::block_on(b.shutdown());
    drop(c);

    // The abort file stays: the restart recovers abnormally from what is on disk.
    let b = start(dir.path(), Fs::real(), sync);
    let c = common::client();
    assert_eq!(view(&c, b.addr(), &durable_id), b"durable");
    let r = send(&c, b.addr(), b"again");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    assert!(b
        .store()
        .wait_dispatched(std::time::Duration::from_secs(10)));
    let bodies = pull_all(&c, b.addr());
    assert_eq!(bodies.first().map(Vec::as_slice), Some(&b"durable"[..]));
    assert_eq!(bodies.last().map(Vec::as_slice), Some(&b"again"[..]));
    assert!(bodies.iter().all(|m| m != b"refused"));
    rt::block_on(b.shutdown());
}

#[test]
fn disk_full_while_rolling_fails_sends_cleanly_and_they_resume() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Fs::faultable();
    let small = |s: &mut apogee::store::store_config::MessageStoreConfig| {
        s.mapped_file_size_commit_log = 64 * 1024;
        s.warm_maped_file_enable = false;
    };
    let b = start(dir.path(), fs.clone(), small);
    let c = common::client();
    let r = send(&c, b.addr(), &[0u8; 500]);
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let mut stored = vec![vec![0u8; 500]];
    // Every CommitLog file creation fails with ENOSPC from now on.
    fs.arm(Fault::new(
        FsOp::Create,
        "commitlog",
        usize::MAX,
        io::ErrorKind::StorageFull,
    ));
    let mut failed = 0;
    for i in 1..300u32 {
        let body = vec![i as u8; 500];
        let r = send(&c, b.addr(), &body);
        match r.code {
            response::SUCCESS => stored.push(body),
            response::SYSTEM_ERROR => {
                let remark = r.remark.as_deref().unwrap_or("");
                assert!(
                    remark.starts_with("create mapped file failed, server is busy or broken."),
                    "{r}"
                );
                failed += 1;
            }
            _ => panic!("unexpected answer {r}"),
        }
    }
    assert!(failed > 0, "the first file never filled up");
    // Space returns: sends resume and everything stored before is intact.
    fs.disarm_all();
    let r = send(&c, b.addr(), b"after");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    stored.push(b"after".to_vec());
    let wait = std::time::Instant::now();
    let mut bodies = pull_all(&c, b.addr());
    while bodies.len() < stored.len() && wait.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        bodies = pull_all(&c, b.addr());
    }
    assert_eq!(bodies, stored);
    rt::block_on(b.shutdown());
}
