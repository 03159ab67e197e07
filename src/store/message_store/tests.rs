use super::*;
use crate::store::results::AcceptAll;
use crate::store::test_support::{extract, json_lines};
use apogee_codec::message::{decode_record, decompress_body, TagFilter};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The configuration the fixtures were written with.
fn fixture_config(root: &Path) -> MessageStoreConfig {
    let mut c = MessageStoreConfig::default();
    for (k, v) in [
        ("mappedFileSizeCommitLog", "1048576"),
        ("mappedFileSizeConsumeQueue", "6000"),
        ("maxHashSlotNum", "1000"),
        ("maxIndexNum", "4000"),
        ("fileReservedTime", "1000000"),
        // Tests must not depend on how full the host's disk is.
        ("diskMaxUsedSpaceRatio", "95"),
        ("diskSpaceWarningLevelRatio", "100"),
        ("diskSpaceCleanForciblyRatio", "100"),
    ] {
        assert_eq!(c.set(k, v), Ok(true));
    }
    c.store_path_root_dir = root.to_string_lossy().into_owned();
    c
}

fn small_config(root: &Path) -> MessageStoreConfig {
    let mut c = fixture_config(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue = 20 * 50;
    c.warm_maped_file_enable = false;
    c
}

fn msg(topic: &str, qid: i32, body: &[u8], props: &str) -> MessageInner {
    MessageInner {
        topic: topic.into(),
        queue_id: qid,
        flag: 0,
        sys_flag: 0,
        born_timestamp: now_ms(),
        born_host: "10.1.2.3:4000".parse().unwrap(),
        store_host: "127.0.0.1:10911".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::copy_from_slice(body),
        properties: props.as_bytes().to_vec(),
    }
}

struct TagsOnly(TagFilter);

impl MessageFilter for TagsOnly {
    fn matches_cq(&self, tags_code: i64) -> bool {
        self.0.matches_code(tags_code)
    }
}

#[test]
fn put_get_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let mut ids = Vec::new();
    {
        let store = MessageStore::open(cfg.clone(), Fs::real()).unwrap();
        for i in 0..300 {
            let tag = if i % 3 == 0 { "A" } else { "B" };
            let r = store.put_message_blocking(
                msg(
                    "T",
                    i % 2,
                    format!("body-{i}").as_bytes(),
                    &format!("TAGS\u{1}{tag}\u{2}KEYS\u{1}k{i} common"),
                ),
                true,
            );
            assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
            ids.push(r.append.unwrap());
        }
        assert!(store.wait_dispatched(Duration::from_secs(10)));
        assert_eq!(store.max_offset_in_queue("T", 0), 150);
        // Pull everything of queue 0 in batches of 32.
        let mut off = 0;
        let mut got = 0;
        while off < 150 {
            let r = store.get_message("T", 0, off, 32, &AcceptAll).unwrap();
            assert_eq!(r.status, GetMessageStatus::Found);
            for (b, qo) in r.messages.iter().zip(&r.queue_offsets) {
                let (rec, _) = decode_record(b).unwrap();
                assert_eq!(rec.queue_offset, *qo);
                assert_eq!(rec.body, format!("body-{}", qo * 2).as_bytes());
                got += 1;
            }
            off = r.next_begin_offset;
        }
        assert_eq!(got, 150);
        let r = store.get_message("T", 0, 150, 32, &AcceptAll).unwrap();
        assert_eq!(r.status, GetMessageStatus::OffsetOverflowOne);
        assert_eq!(r.next_begin_offset, 150);
        let r = store.get_message("T", 0, 999, 32, &AcceptAll).unwrap();
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetMessageStatus::OffsetOverflowBadly, 150)
        );
        let r = store.get_message("Nope", 0, 0, 32, &AcceptAll).unwrap();
        assert_eq!(r.status, GetMessageStatus::NoMessageInQueue);
        // Tag filter: only A (every 3rd message overall; in queue 0 those with i % 6 == 0).
        let f = TagsOnly(TagFilter::parse(Some("A")));
        let r = store.get_message("T", 0, 0, 32, &f).unwrap();
        assert!(r.messages.len() <= 32);
        for b in &r.messages {
            let (rec, _) = decode_record(b).unwrap();
            assert_eq!(rec.tags(), Some(&b"A"[..]));
        }
        // Query by key.
        let q = store.query_message("T", "k7", 32, 0, i64::MAX);
        assert_eq!(q.messages.len(), 1);
        let q = store.query_message("T", "common", 64, 0, i64::MAX);
        assert_eq!(q.messages.len(), 64);
        // View by offset.
        let rec = store.look_message_by_offset(ids[5].wrote_offset).unwrap();
        assert_eq!(decode_record(&rec).unwrap().0.body, b"body-5");
        store.shutdown();
        assert!(!cfg.abort_path().exists());
    }
    // Normal restart: everything is still there and offsets continue.
    let store = MessageStore::open(cfg.clone(), Fs::real()).unwrap();
    assert!(!store.recovered_from_abnormal_exit());
    assert_eq!(store.max_offset_in_queue("T", 1), 150);
    let r = store.put_message_blocking(msg("T", 1, b"after", ""), true);
    assert_eq!(r.append.unwrap().logics_offset, 150);
    store.shutdown();
}

#[test]
fn sync_flush_group_commit_many_writers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.flush_disk_type = "SYNC_FLUSH".into();
    let store = MessageStore::open(cfg, Fs::real()).unwrap();
    let mut handles = Vec::new();
    for t in 0..8 {
        let s = store.clone();
        handles.push(std::thread::spawn(move || {
            for i in 0..50 {
                let r = s
                    .put_message_blocking(msg("S", t % 4, format!("{t}-{i}").as_bytes(), ""), true);
                assert_eq!(r.status, PutMessageStatus::PutOk);
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    let total: i64 = (0..4).map(|q| store.max_offset_in_queue("S", q)).sum();
    assert_eq!(total, 400);
    store.shutdown();
}

#[test]
fn fsync_failure_poisons_and_restart_recovers() {
    use crate::store::fs::{Fault, FsOp};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.flush_disk_type = "SYNC_FLUSH".into();
    let fs = Fs::faultable();
    let store = MessageStore::open(cfg.clone(), fs.clone()).unwrap();
    let ok = store.put_message_blocking(msg("P", 0, b"durable", ""), true);
    assert_eq!(ok.status, PutMessageStatus::PutOk);
    fs.arm(Fault::new(FsOp::Sync, "commitlog", 1, io::ErrorKind::Other));
    let r = store.put_message_blocking(msg("P", 0, b"unknown fate", ""), true);
    assert_ne!(r.status, PutMessageStatus::PutOk);
    assert!(store.is_poisoned());
    let r = store.put_message_blocking(msg("P", 0, b"refused", ""), true);
    assert_eq!(r.status, PutMessageStatus::ServiceNotAvailable);
    assert!(r.remark.unwrap().contains("sync failed"));
    store.shutdown();
    drop(store);
    // The abort file stays (poisoned), so the restart recovers abnormally and keeps the
    // acknowledged message.
    assert!(cfg.abort_path().exists());
    let store = MessageStore::open(cfg, Fs::real()).unwrap();
    assert!(store.recovered_from_abnormal_exit());
    let rec = store
        .look_message_by_offset(ok.append.unwrap().wrote_offset)
        .unwrap();
    assert_eq!(decode_record(&rec).unwrap().0.body, b"durable");
    let r = store.put_message_blocking(msg("P", 0, b"again", ""), true);
    assert_eq!(r.status, PutMessageStatus::PutOk);
    store.shutdown();
}

#[test]
fn delayed_messages_are_rewritten_to_the_schedule_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path()), Fs::real()).unwrap();
    let r = store.put_message_blocking(msg("D", 3, b"later", "DELAY\u{1}3\u{2}TAGS\u{1}x"), true);
    assert_eq!(r.status, PutMessageStatus::PutOk);
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    assert_eq!(store.max_offset_in_queue(SCHEDULE_TOPIC, 2), 1);
    assert_eq!(store.max_offset_in_queue("D", 3), 0);
    let g = store
        .get_message(SCHEDULE_TOPIC, 2, 0, 1, &AcceptAll)
        .unwrap();
    let (rec, _) = decode_record(&g.messages[0]).unwrap();
    assert_eq!(rec.property("REAL_TOPIC"), Some(&b"D"[..]));
    assert_eq!(rec.property("REAL_QID"), Some(&b"3"[..]));
    // The CQ tags code is the delivery time: store time + 10 s (level 3).
    let unit = store
        .inner
        .cq_table
        .get(SCHEDULE_TOPIC, 2)
        .unwrap()
        .get_unit(0)
        .unwrap();
    assert_eq!(unit.tags_code, rec.store_timestamp + 10_000);
    store.shutdown();
}

#[test]
fn arrival_listener_sees_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path()), Fs::real()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    store.add_arrival_listener(Arc::new(move |a| {
        s2.lock()
            .unwrap()
            .push((a.topic.to_owned(), a.queue_id, a.max_offset));
    }));
    for i in 0..10 {
        store.put_message_blocking(msg("L", i % 2, b"x", ""), false);
    }
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    let v = seen.lock().unwrap().clone();
    assert_eq!(v.len(), 10);
    assert_eq!(v.last().unwrap(), &("L".to_owned(), 1, 5));
    store.shutdown();
}

/// The clean Java store: normal recovery keeps every record, reproduces the queue offsets,
/// and every record reads back with its exact bytes.
#[test]
fn java_clean_store_is_served() {
    let tmp = extract("java-4.9.8-clean.tar.gz", &[]);
    let root = tmp.path().join("store");
    assert!(!root.join("abort").exists());
    let store = MessageStore::open(fixture_config(&root), Fs::real()).unwrap();
    let manifest = json_lines("manifest-clean.jsonl");
    let summary = manifest.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(
        store.commit_log_max_offset(),
        summary["commitLogMaxOffset"].as_i64().unwrap()
    );
    let mut per_queue: HashMap<(String, i32), Vec<i64>> = HashMap::new();
    for m in manifest.iter().filter(|l| l["type"] == "message") {
        let phy = m["commitLogOffset"].as_i64().unwrap();
        let rec = store.look_message_by_offset(phy).unwrap();
        assert_eq!(sha256_hex(&rec), m["recordSha256"].as_str().unwrap());
        let (r, _) = decode_record(&rec).unwrap();
        let body = decompress_body(r.body, r.sys_flag, 1 << 24).unwrap();
        assert_eq!(sha256_hex(&body), m["bodySha256"].as_str().unwrap());
        let topic = m["topic"].as_str().unwrap().to_owned();
        let qid = m["queueId"].as_i64().unwrap() as i32;
        per_queue
            .entry((topic, qid))
            .or_default()
            .push(m["queueOffset"].as_i64().unwrap());
    }
    for q in manifest.iter().filter(|l| l["type"] == "queue") {
        let topic = q["topic"].as_str().unwrap();
        let qid = q["queueId"].as_i64().unwrap() as i32;
        assert_eq!(
            store.min_offset_in_queue(topic, qid),
            q["minOffset"].as_i64().unwrap(),
            "{topic}/{qid}"
        );
        assert_eq!(
            store.max_offset_in_queue(topic, qid),
            q["maxOffset"].as_i64().unwrap(),
            "{topic}/{qid}"
        );
    }
    // Pull FixA/0 from the start: the records come in queue-offset order.
    let mut off = 0;
    let mut n = 0;
    loop {
        let r = store.get_message("FixA", 0, off, 32, &AcceptAll).unwrap();
        if r.status != GetMessageStatus::Found {
            break;
        }
        for (b, qo) in r.messages.iter().zip(&r.queue_offsets) {
            assert_eq!(decode_record(b).unwrap().0.queue_offset, *qo);
            assert_eq!(*qo, n);
            n += 1;
        }
        off = r.next_begin_offset;
    }
    assert_eq!(n, per_queue[&("FixA".to_owned(), 0)].len() as i64);
    // Lookup by key through the Java index.
    let first = manifest
        .iter()
        .find(|l| l["type"] == "message" && l["topic"] == "FixA" && l["uniqKey"].is_string())
        .unwrap();
    let q = store.query_message("FixA", first["uniqKey"].as_str().unwrap(), 32, 0, i64::MAX);
    assert!(q
        .messages
        .iter()
        .any(|b| sha256_hex(b) == first["recordSha256"].as_str().unwrap()));
    // New messages continue the Java queue offsets, and survive a restart.
    let before = store.max_offset_in_queue("FixA", 1);
    let r = store.put_message_blocking(msg("FixA", 1, b"from apogee", ""), true);
    assert_eq!(r.append.as_ref().unwrap().logics_offset, before);
    store.shutdown();
    drop(store);
    let store = MessageStore::open(fixture_config(&root), Fs::real()).unwrap();
    assert_eq!(store.max_offset_in_queue("FixA", 1), before + 1);
    store.shutdown();
}

/// The store killed with SIGKILL mid-send: abnormal recovery keeps every acknowledged send at
/// its offsets, readable by key and with the right body, and rebuilds the lagging queues.
#[test]
fn java_killed_store_recovers_every_acknowledged_message() {
    let tmp = extract("java-4.9.8-killed.tar.gz", &[]);
    let root = tmp.path().join("store");
    assert!(root.join("abort").exists());
    let store = MessageStore::open(fixture_config(&root), Fs::real()).unwrap();
    assert!(store.recovered_from_abnormal_exit());
    let acked = json_lines("acked-killed.jsonl");
    assert_eq!(acked.len(), 412);
    for a in &acked {
        let phy = a["commitLogOffset"].as_i64().unwrap();
        let rec = store
            .look_message_by_offset(phy)
            .expect("acked record present");
        let (r, _) = decode_record(&rec).unwrap();
        r.verify_body_crc().unwrap();
        assert_eq!(r.queue_id as i64, a["queueId"].as_i64().unwrap());
        assert_eq!(r.queue_offset, a["queueOffset"].as_i64().unwrap());
        let body = decompress_body(r.body, r.sys_flag, 1 << 24).unwrap();
        assert_eq!(sha256_hex(&body), a["bodySha256"].as_str().unwrap());
        // The consume queue points at it.
        let topic = a["topic"].as_str().unwrap();
        assert_eq!(
            store.commit_log_offset_in_queue(topic, r.queue_id, r.queue_offset),
            Some(phy)
        );
        // Found by unique key and by each key.
        let uniq = a["uniqKey"].as_str().unwrap();
        let q = store.query_message(topic, uniq, 32, 0, i64::MAX);
        assert!(q.messages.iter().any(|m| m[..] == rec[..]), "uniq {uniq}");
        for k in a["keys"]
            .as_str()
            .unwrap_or("")
            .split(' ')
            .filter(|k| !k.is_empty())
        {
            let q = store.query_message(topic, k, 64, 0, i64::MAX);
            assert!(q.messages.iter().any(|m| m[..] == rec[..]), "key {k}");
        }
    }
    // Every record up to the end of the log is intact (a torn tail was cut off).
    let end = store.commit_log_max_offset();
    let last = acked
        .iter()
        .map(|a| a["commitLogOffset"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(end > last);
    store.shutdown();
}

/// A writer process killed with SIGKILL in the middle of a SYNC_FLUSH write loop, three times
/// on the same store: after each recovery every message acknowledged so far is readable with
/// the right content, at its offsets.
#[test]
fn sigkill_mid_write_loses_no_acknowledged_message() {
    if let Ok(dir) = std::env::var("APOGEE_CRASH_CHILD_DIR") {
        crash_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<String> = Vec::new();
    for (cycle, kill_after) in [(0usize, 150usize), (1, 311), (2, 97)].into_iter() {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::message_store::tests::sigkill_mid_write_loses_no_acknowledged_message",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("APOGEE_CRASH_CHILD_DIR", dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.strip_prefix("ACK ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while got < kill_after && Instant::now() < deadline {
            if let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
                acked.push(l);
                got += 1;
            }
        }
        // SIGKILL, mid-loop.
        child.kill().unwrap();
        let _ = child.wait();
        while let Ok(l) = rx.try_recv() {
            acked.push(l);
        }
        assert!(
            got >= kill_after,
            "cycle {cycle}: child acknowledged only {got}"
        );
        let mut cfg = small_config(dir.path());
        cfg.flush_disk_type = "SYNC_FLUSH".into();
        let store = MessageStore::open(cfg, Fs::real()).unwrap();
        assert!(store.recovered_from_abnormal_exit());
        for line in &acked {
            let mut it = line.split(' ');
            let phy: i64 = it.next().unwrap().parse().unwrap();
            let qo: i64 = it.next().unwrap().parse().unwrap();
            let i: usize = it.next().unwrap().parse().unwrap();
            let rec = store
                .look_message_by_offset(phy)
                .expect("acknowledged record");
            let (r, _) = decode_record(&rec).unwrap();
            r.verify_body_crc().unwrap();
            assert_eq!(r.queue_offset, qo);
            assert_eq!(r.body, crash_body(i).as_slice());
            assert_eq!(store.commit_log_offset_in_queue("K", 0, qo), Some(phy));
        }
        // Nothing corrupt is served: every record in the queue decodes with a good CRC.
        let mut off = store.min_offset_in_queue("K", 0);
        loop {
            let r = store.get_message("K", 0, off, 32, &AcceptAll).unwrap();
            if r.status != GetMessageStatus::Found {
                break;
            }
            for m in &r.messages {
                decode_record(m).unwrap().0.verify_body_crc().unwrap();
            }
            off = r.next_begin_offset;
        }
        store.shutdown();
        drop(store);
    }
}

fn crash_body(i: usize) -> Vec<u8> {
    format!("crash-{i}-").repeat(1 + i % 40).into_bytes()
}

fn crash_child(dir: &Path) {
    use std::io::Write;
    let mut cfg = small_config(dir);
    cfg.flush_disk_type = "SYNC_FLUSH".into();
    let store = MessageStore::open(cfg, Fs::real()).unwrap();
    let out = std::io::stdout();
    let start = (store.max_offset_in_queue("K", 0) as usize) * 1000;
    for i in start.. {
        let r = store.put_message_blocking(msg("K", 0, &crash_body(i), ""), true);
        if r.status == PutMessageStatus::PutOk {
            let a = r.append.unwrap();
            let mut o = out.lock();
            let _ = writeln!(o, "ACK {} {} {i}", a.wrote_offset, a.logics_offset);
            let _ = o.flush();
        }
    }
}

#[test]
fn expiry_deletes_old_files_and_moves_queue_minimums() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.file_reserved_time = 0;
    // Every hour is a deletion hour.
    cfg.delete_when = (0..24)
        .map(|h| format!("{h:02}"))
        .collect::<Vec<_>>()
        .join(";");
    let store = MessageStore::open(cfg, Fs::real()).unwrap();
    for i in 0..400 {
        store.put_message_blocking(msg("E", 0, &[i as u8; 500], ""), false);
    }
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    let files_before = store.inner.commit_log.queue().files().len();
    assert!(files_before > 2);
    let deleted = store.clean_expired_files();
    assert!(deleted > 0);
    assert!(store.commit_log_min_offset() > 0);
    let min = store.min_offset_in_queue("E", 0);
    assert!(min > 0);
    // A pull below the minimum is told to move.
    let r = store.get_message("E", 0, 0, 32, &AcceptAll).unwrap();
    assert_eq!(r.status, GetMessageStatus::OffsetTooSmall);
    assert_eq!(r.next_begin_offset, min);
    let r = store.get_message("E", 0, min, 32, &AcceptAll).unwrap();
    assert_eq!(r.status, GetMessageStatus::Found);
    store.shutdown();
}

#[test]
fn transient_store_pool_commits_and_recycles_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.transient_store_pool_enable = true;
    cfg.transient_store_pool_size = 2;
    cfg.commit_interval_commit_log = 10;
    {
        let store = MessageStore::open(cfg.clone(), Fs::real()).unwrap();
        assert_eq!(store.transient_buffers_available(), Some(2));
        for i in 0..600 {
            let r = store.put_message_blocking(msg("TP", 0, &[i as u8; 300], ""), false);
            assert_eq!(r.status, PutMessageStatus::PutOk);
        }
        // Several 64 KiB files were written through buffers; committed data becomes visible.
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.max_offset_in_queue("TP", 0) < 600 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(store.max_offset_in_queue("TP", 0), 600);
        // Buffers of full files went back to the pool (one may still serve the last file).
        let files: Vec<_> = store
            .inner
            .commit_log
            .queue()
            .files()
            .iter()
            .map(|f| {
                (
                    f.from_offset(),
                    f.wrote_position(),
                    f.readable_position(),
                    f.has_buffer(),
                )
            })
            .collect();
        assert!(
            store.transient_buffers_available().unwrap() >= 1,
            "{files:?}"
        );
        let r = store.get_message("TP", 0, 599, 1, &AcceptAll).unwrap();
        assert_eq!(
            decode_record(&r.messages[0]).unwrap().0.body,
            &[599u16 as u8; 300][..]
        );
        let r = store.get_message("TP", 0, 0, 1, &AcceptAll).unwrap();
        assert_eq!(r.status, GetMessageStatus::Found, "before restart: {r:?}");
        store.shutdown();
        assert!(!cfg.abort_path().exists(), "clean shutdown");
    }
    let store = MessageStore::open(cfg, Fs::real()).unwrap();
    assert_eq!(store.max_offset_in_queue("TP", 0), 600);
    for o in [0, 299, 599] {
        let r = store.get_message("TP", 0, o, 1, &AcceptAll).unwrap();
        assert_eq!(
            r.status,
            GetMessageStatus::Found,
            "offset {o}: {r:?} min {}",
            store.commit_log_min_offset()
        );
        assert_eq!(
            decode_record(&r.messages[0]).unwrap().0.body,
            &[o as u8; 300][..]
        );
    }
    store.shutdown();
}

#[test]
fn disk_full_on_file_creation_fails_cleanly_and_recovers() {
    use crate::store::fs::{Fault, FsOp};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.warm_maped_file_enable = false;
    let fs = Fs::faultable();
    let store = MessageStore::open(cfg.clone(), fs.clone()).unwrap();
    let first = store.put_message_blocking(msg("F", 0, &[0u8; 400], ""), false);
    let mut stored = vec![first.append.unwrap().wrote_offset];
    // Fill the first file, then make the next creation fail with ENOSPC.
    fs.arm(Fault::new(
        FsOp::Create,
        "commitlog",
        1000,
        io::ErrorKind::StorageFull,
    ));
    let mut failed = 0;
    for i in 1..300 {
        let r = store.put_message_blocking(msg("F", 0, &[i as u8; 400], ""), false);
        match r.status {
            PutMessageStatus::PutOk => stored.push(r.append.unwrap().wrote_offset),
            PutMessageStatus::CreateMappedFileFailed => failed += 1,
            s => panic!("unexpected {s:?}"),
        }
    }
    assert!(failed > 0 && !stored.is_empty());
    // Space returns: sends resume, nothing stored before is damaged.
    fs.disarm_all();
    let r = store.put_message_blocking(msg("F", 0, b"after", ""), false);
    assert_eq!(r.status, PutMessageStatus::PutOk);
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    assert_eq!(store.max_offset_in_queue("F", 0), stored.len() as i64 + 1);
    for (i, phy) in stored.iter().enumerate() {
        let rec = store.look_message_by_offset(*phy).unwrap();
        assert_eq!(decode_record(&rec).unwrap().0.queue_offset, i as i64);
    }
    store.shutdown();
    let store = MessageStore::open(cfg, Fs::real()).unwrap();
    assert_eq!(store.max_offset_in_queue("F", 0), stored.len() as i64 + 1);
    store.shutdown();
}

#[test]
fn lookup_by_offset_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path()), Fs::real()).unwrap();
    let r = store.put_message_blocking(msg("I", 0, b"by id", ""), false);
    let a = r.append.unwrap();
    let rec = store.look_message_by_msg_id(&a.msg_id).unwrap();
    assert_eq!(decode_record(&rec).unwrap().0.body, b"by id");
    assert!(store.look_message_by_msg_id("nonsense").is_none());
    store.shutdown();
}

#[test]
fn disk_above_max_used_ratio_expires_files_before_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    assert_eq!(cfg.set("diskMaxUsedSpaceRatio", "75"), Ok(true));
    let fs = Fs::faultable();
    let store = MessageStore::open(cfg, fs.clone()).unwrap();
    for i in 0..400 {
        let r = store.put_message_blocking(msg("E", 0, &[i as u8; 400], ""), false);
        assert_eq!(r.status, PutMessageStatus::PutOk);
    }
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    let files = |s: &MessageStore| s.inner.commit_log.queue().files().len();
    let before = files(&store);
    assert!(before >= 3, "{before} CommitLog files");
    // Under the ratio, and far from the reserved time: nothing goes.
    fs.set_disk_usage(Some(0.50));
    assert_eq!(clean_once(&store.inner, now_ms()), 0);
    // Above diskMaxUsedSpaceRatio (75 %): files are expired early, the current one stays,
    // and the store keeps serving from its new minimum.
    fs.set_disk_usage(Some(0.80));
    let deleted = clean_once(&store.inner, now_ms());
    assert!(deleted > 0, "nothing deleted");
    assert_eq!(files(&store), before - deleted);
    assert!(store.inner.commit_log.min_offset() > 0);
    let last = store.max_offset_in_queue("E", 0) - 1;
    let g = store.get_message("E", 0, last, 1, &AcceptAll).unwrap();
    assert_eq!(
        decode_record(&g.messages[0]).unwrap().0.body,
        [(399 % 256) as u8; 400]
    );
    store.shutdown();
}

/// Every file below `dir`, recursively.
fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for f in all_files(from) {
        let rel = f.strip_prefix(from).unwrap();
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dst).unwrap();
    }
}

/// Random damage to a copy of a store, then a start: the store opens (or refuses with an
/// error naming a wrongly sized consume-queue or index file), never panics, and never serves a message that is not exactly what was written
/// at that queue offset. Damage kinds: bit flips, zeroed ranges and truncation of the last
/// CommitLog file (the region recovery scans), bit flips / truncation / removal of consume
/// queue and index files, garbage / truncated / missing checkpoint, and the abort file
/// present or absent.
#[test]
fn random_damage_at_startup_never_serves_a_corrupt_message() {
    let template = tempfile::tempdir().unwrap();
    let mut cfg = small_config(template.path());
    cfg.mapped_file_size_consume_queue = 20 * 40;
    let store = MessageStore::open(cfg.clone(), Fs::real()).unwrap();
    let mut expected: HashMap<(String, i32, i64), Vec<u8>> = HashMap::new();
    let mut noise = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        noise
    };
    for i in 0..400usize {
        let topic = if i % 3 == 0 { "DA" } else { "DB" };
        let q = (i % 2) as i32;
        let mut body = format!("m{i:05}-").into_bytes();
        body.resize(20 + (next() % 380) as usize, b'a' + (i % 26) as u8);
        let r = store.put_message_blocking(msg(topic, q, &body, &format!("KEYS\u{1}k{i}")), false);
        assert_eq!(r.status, PutMessageStatus::PutOk);
        let qo = r.append.unwrap().logics_offset;
        expected.insert((topic.to_owned(), q, qo), body);
    }
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    store.shutdown();
    drop(store);
    let files = all_files(template.path());
    let of_kind = |k: &str| -> Vec<std::path::PathBuf> {
        files
            .iter()
            .filter(|p| p.to_string_lossy().contains(k))
            .map(|p| p.strip_prefix(template.path()).unwrap().to_path_buf())
            .collect()
    };
    let commitlogs = of_kind("/commitlog/");
    let cqs = of_kind("/consumequeue/");
    let indexes = of_kind("/index/");
    assert!(commitlogs.len() >= 3 && cqs.len() >= 4 && !indexes.is_empty());
    let last_cl = commitlogs.last().unwrap().clone();

    let mut opened = 0;
    for round in 0..48 {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(template.path(), dir.path());
        let mut c = cfg.clone();
        c.store_path_root_dir = dir.path().to_string_lossy().into_owned();
        let mut done = Vec::new();
        for _ in 0..1 + next() % 3 {
            let pick = |v: &Vec<std::path::PathBuf>, r: u64| v[(r as usize) % v.len()].clone();
            let r = next();
            let (what, path) = match next() % 7 {
                0 | 1 => ("commitlog", last_cl.clone()),
                2 => ("consumequeue", pick(&cqs, r)),
                3 => ("index", pick(&indexes, r)),
                4 => ("checkpoint", "checkpoint".into()),
                5 => ("abort", "abort".into()),
                _ => ("consumequeue", pick(&cqs, r)),
            };
            let p = dir.path().join(&path);
            if what == "abort" {
                if p.exists() {
                    std::fs::remove_file(&p).unwrap();
                } else {
                    std::fs::write(&p, b"").unwrap();
                }
                done.push("abort toggled".to_owned());
                continue;
            }
            let Ok(mut bytes) = std::fs::read(&p) else {
                continue;
            };
            // Damage mostly where data is (the first part of each file).
            let span = (bytes.len() / 3).max(1);
            match next() % 4 {
                0 if !bytes.is_empty() => {
                    let at = (next() as usize) % span.min(bytes.len());
                    bytes[at] ^= 1 << (next() % 8);
                    done.push(format!("bit flip in {} at {at}", path.display()));
                }
                1 if !bytes.is_empty() => {
                    let at = (next() as usize) % span.min(bytes.len());
                    let len = (1 + next() % 64) as usize;
                    let end = (at + len).min(bytes.len());
                    bytes[at..end].fill(0);
                    done.push(format!("zeroed {}..{end} of {}", at, path.display()));
                }
                2 if what != "commitlog" => {
                    let keep = (next() as usize) % (bytes.len() + 1);
                    bytes.truncate(keep);
                    done.push(format!("truncated {} to {keep}", path.display()));
                }
                _ => {
                    if what == "commitlog" {
                        // The mapped size is kept: a torn tail is zeros past a point.
                        let at = (next() as usize) % span.min(bytes.len()).max(1);
                        bytes[at..].fill(0);
                        done.push(format!("zeroed tail of {} from {at}", path.display()));
                    } else {
                        std::fs::remove_file(&p).unwrap();
                        done.push(format!("removed {}", path.display()));
                        continue;
                    }
                }
            }
            std::fs::write(&p, &bytes).unwrap();
        }
        let store = match MessageStore::open(c, Fs::real()) {
            Ok(s) => s,
            Err(e) => {
                // The only refusal: a consume-queue or index file whose size does not match
                // the configuration (as Java, which fails to load such a file); the error
                // names the file.
                let e = e.to_string();
                assert!(
                    e.contains("refusing to misread it"),
                    "round {round} {done:?}: {e}"
                );
                eprintln!("round {round}: {done:?}: refused to open: {e}");
                continue;
            }
        };
        opened += 1;
        assert!(
            store.wait_dispatched(Duration::from_secs(10)),
            "round {round}"
        );
        for topic in ["DA", "DB"] {
            for q in 0..2 {
                let (min, max) = (
                    store.min_offset_in_queue(topic, q),
                    store.max_offset_in_queue(topic, q),
                );
                let mut off = min;
                while off < max {
                    let Some(g) = store.get_message(topic, q, off, 32, &AcceptAll) else {
                        break;
                    };
                    if g.messages.is_empty() {
                        off = g.next_begin_offset.max(off + 1);
                        continue;
                    }
                    for (m, qo) in g.messages.iter().zip(&g.queue_offsets) {
                        let (rec, _) = decode_record(m).unwrap_or_else(|e| {
                            panic!("round {round} {done:?}: {topic}/{q}@{qo} undecodable: {e}")
                        });
                        assert_eq!(
                            apogee_codec::message::body_crc(rec.body),
                            rec.body_crc,
                            "round {round} {done:?}: {topic}/{q}@{qo} bad CRC"
                        );
                        assert_eq!(rec.queue_offset, *qo, "round {round} {done:?}");
                        assert_eq!(
                            expected.get(&(topic.to_owned(), q, *qo)).map(Vec::as_slice),
                            Some(rec.body),
                            "round {round} {done:?}: {topic}/{q}@{qo} is not what was written"
                        );
                    }
                    off = g.next_begin_offset.max(off + 1);
                }
            }
        }
        // Still writeable after recovery.
        let r = store.put_message_blocking(msg("DA", 0, b"after", ""), false);
        assert_eq!(r.status, PutMessageStatus::PutOk, "round {round} {done:?}");
        store.shutdown();
    }
    assert!(opened >= 24, "only {opened} of 48 damaged stores opened");
}
