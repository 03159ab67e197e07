//! Tests against stores written by the real Java RocketMQ 4.9.8 broker
//! (`/work/shared/fixtures`, or `$APOGEE_FIXTURES`). Each test extracts its own copy.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::*;
use crate::store::fs::Fs;

const CQ_FILE_SIZE: usize = 6000;

fn fixtures() -> Option<PathBuf> {
    Some(crate::store::test_support::fixtures_dir())
}

/// Extract an archive into a fresh temporary directory (holding `store/`).
fn extract(fixtures: &Path, archive: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(fixtures.join(archive))
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "tar failed on {archive}");
    dir
}

#[derive(Debug)]
struct Msg {
    topic: String,
    queue_id: i32,
    queue_offset: i64,
    phy: i64,
    size: i32,
    tags_code: i64,
    store_timestamp: i64,
}

#[derive(Debug)]
struct QueueLine {
    topic: String,
    queue_id: i32,
    min: i64,
    max: i64,
}

struct Manifest {
    /// In CommitLog order (= dispatch order).
    msgs: Vec<Msg>,
    queues: Vec<QueueLine>,
    cl_min: i64,
    cl_max: i64,
}

fn int(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn manifest(fixtures: &Path) -> Manifest {
    let text = std::fs::read_to_string(fixtures.join("manifest-clean.jsonl")).unwrap();
    let mut m = Manifest {
        msgs: Vec::new(),
        queues: Vec::new(),
        cl_min: -1,
        cl_max: -1,
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str().unwrap() {
            "message" => m.msgs.push(Msg {
                topic: v["topic"].as_str().unwrap().to_owned(),
                queue_id: int(&v, "queueId") as i32,
                queue_offset: int(&v, "queueOffset"),
                phy: int(&v, "commitLogOffset"),
                size: int(&v, "storeSize") as i32,
                tags_code: int(&v, "expectedCqTagsCode"),
                store_timestamp: int(&v, "storeTimestamp"),
            }),
            "queue" => m.queues.push(QueueLine {
                topic: v["topic"].as_str().unwrap().to_owned(),
                queue_id: int(&v, "queueId") as i32,
                min: int(&v, "minOffset"),
                max: int(&v, "maxOffset"),
            }),
            "summary" => {
                m.cl_min = int(&v, "commitLogMinOffset");
                m.cl_max = int(&v, "commitLogMaxOffset");
            }
            _ => {}
        }
    }
    assert!(m.msgs.windows(2).all(|w| w[0].phy < w[1].phy));
    assert_eq!(m.msgs.len(), 4387);
    assert!(m.cl_max > 0);
    m
}

/// Messages per queue, in queue-offset order.
fn by_queue(m: &Manifest) -> BTreeMap<(String, i32), Vec<&Msg>> {
    let mut map: BTreeMap<(String, i32), Vec<&Msg>> = BTreeMap::new();
    for msg in &m.msgs {
        map.entry((msg.topic.clone(), msg.queue_id))
            .or_default()
            .push(msg);
    }
    for v in map.values_mut() {
        v.sort_by_key(|m| m.queue_offset);
    }
    map
}

/// Every data file under a consumequeue dir: relative path → bytes.
fn cq_files(cq_dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for topic in std::fs::read_dir(cq_dir).unwrap() {
        let topic = topic.unwrap().path();
        for queue in std::fs::read_dir(&topic).unwrap() {
            let queue = queue.unwrap().path();
            for file in std::fs::read_dir(&queue).unwrap() {
                let file = file.unwrap().path();
                let rel = file
                    .strip_prefix(cq_dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&file).unwrap());
            }
        }
    }
    out
}

fn load_table(cq_dir: &Path) -> ConsumeQueueTable {
    let table = ConsumeQueueTable::new(&Fs::real(), cq_dir, CQ_FILE_SIZE).unwrap();
    table.load().unwrap();
    table
}

#[test]
fn java_clean_store_units_and_offsets() {
    let Some(fx) = fixtures() else { return };
    let m = manifest(&fx);
    let store = extract(&fx, "java-4.9.8-clean.tar.gz");
    let cq_dir = store.path().join("store").join("consumequeue");
    let before = cq_files(&cq_dir);
    assert!(before.values().all(|b| b.len() == CQ_FILE_SIZE));

    let table = load_table(&cq_dir);
    assert_eq!(table.len(), m.queues.len());
    // Recovery as at a start after a clean shutdown.
    let max_phy = table.recover_all().unwrap();
    let expect_max_phy = m
        .msgs
        .iter()
        .map(|x| x.phy + i64::from(x.size))
        .max()
        .unwrap();
    assert_eq!(max_phy, expect_max_phy);
    assert!(max_phy <= m.cl_max);
    table.truncate_all_dirty(m.cl_max).unwrap(); // nothing lies past the CommitLog end
    table.correct_min_offsets(m.cl_min);

    let tqt = table.topic_queue_table();
    assert_eq!(tqt.len(), m.queues.len());
    for q in &m.queues {
        let cq = table.get(&q.topic, q.queue_id).unwrap();
        assert_eq!(
            (cq.min_offset(), cq.max_offset()),
            (q.min, q.max),
            "{}-{}",
            q.topic,
            q.queue_id
        );
        assert_eq!(tqt[&format!("{}-{}", q.topic, q.queue_id)], q.max);
    }
    for msg in &m.msgs {
        let cq = table.get(&msg.topic, msg.queue_id).unwrap();
        let u = cq.get_unit(msg.queue_offset).unwrap();
        assert_eq!(
            (u.commit_log_offset, u.size, u.tags_code),
            (msg.phy, msg.size, msg.tags_code),
            "{msg:?}"
        );
    }
    // Iterating a whole queue gives its records in queue order, across files.
    for ((topic, qid), msgs) in by_queue(&m) {
        let cq = table.get(&topic, qid).unwrap();
        let mut it = cq.units_from(0, usize::MAX);
        let units: Vec<CqUnit> = it.by_ref().collect();
        assert_eq!(units.len(), msgs.len(), "{topic}-{qid}");
        for (u, msg) in units.iter().zip(&msgs) {
            assert_eq!(
                (u.queue_offset, u.commit_log_offset),
                (msg.queue_offset, msg.phy)
            );
        }
        assert_eq!(it.next_offset(), cq.max_offset());
        assert_eq!(
            cq.last_offset(),
            msgs.last().map_or(-1, |x| x.phy + i64::from(x.size))
        );
    }
    // Loading and recovering a Java store changes no byte of it.
    table.flush_all(0).unwrap();
    drop(table);
    assert_eq!(cq_files(&cq_dir), before);
}

#[test]
fn rebuilt_queues_are_byte_identical_to_java() {
    let Some(fx) = fixtures() else { return };
    let m = manifest(&fx);
    let store = extract(&fx, "java-4.9.8-clean.tar.gz");
    let java = cq_files(&store.path().join("store").join("consumequeue"));

    let ours_dir = tempfile::tempdir().unwrap();
    let table = ConsumeQueueTable::new(&Fs::real(), ours_dir.path(), CQ_FILE_SIZE).unwrap();
    // Dispatch every record in CommitLog order, then everything again (as a re-dispatch
    // after an abnormal shutdown would): the second pass must change nothing.
    for _pass in 0..2 {
        for msg in &m.msgs {
            let cq = table.find_or_create(&msg.topic, msg.queue_id).unwrap();
            assert!(cq
                .put(msg.queue_offset, msg.phy, msg.size, msg.tags_code)
                .unwrap());
        }
    }
    table.flush_all(0).unwrap();
    drop(table);
    let ours = cq_files(ours_dir.path());
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        java.keys().collect::<Vec<_>>()
    );
    assert!(ours.contains_key("FixA/0/00000000000000018000"));
    for (name, bytes) in &java {
        assert!(ours[name] == *bytes, "{name} differs from the Java file");
    }
}

#[test]
fn truncate_and_redispatch_on_java_store() {
    let Some(fx) = fixtures() else { return };
    let m = manifest(&fx);
    let store = extract(&fx, "java-4.9.8-clean.tar.gz");
    let cq_dir = store.path().join("store").join("consumequeue");
    let java = cq_files(&cq_dir);
    let table = load_table(&cq_dir);
    table.recover_all().unwrap();

    // The CommitLog is cut back at record #2000: every unit at or past it goes.
    let cut = m.msgs[2000].phy;
    table.truncate_all_dirty(cut).unwrap();
    for ((topic, qid), msgs) in by_queue(&m) {
        let cq = table.get(&topic, qid).unwrap();
        let kept: Vec<_> = msgs.iter().filter(|x| x.phy < cut).collect();
        assert_eq!(cq.max_offset(), kept.len() as i64, "{topic}-{qid}");
        let expect_phy = kept.last().map_or(-1, |x| x.phy + i64::from(x.size));
        assert_eq!(cq.max_physic_offset(), expect_phy, "{topic}-{qid}");
    }
    assert_eq!(
        table.max_physic_offset(),
        m.msgs[1999].phy + i64::from(m.msgs[1999].size)
    );
    // Re-dispatching the whole CommitLog restores the Java bytes exactly.
    for msg in &m.msgs {
        let cq = table.find_or_create(&msg.topic, msg.queue_id).unwrap();
        assert!(cq
            .put(msg.queue_offset, msg.phy, msg.size, msg.tags_code)
            .unwrap());
    }
    table.flush_all(0).unwrap();
    drop(table);
    assert_eq!(cq_files(&cq_dir), java);
}

#[test]
fn expiry_on_java_store() {
    let Some(fx) = fixtures() else { return };
    let m = manifest(&fx);
    let store = extract(&fx, "java-4.9.8-clean.tar.gz");
    let table = load_table(&store.path().join("store").join("consumequeue"));
    table.recover_all().unwrap();
    table.correct_min_offsets(m.cl_min);

    // Pretend the CommitLog now starts at record #1500.
    let cl_min = m.msgs[1500].phy;
    let per_file = CQ_FILE_SIZE / CQ_UNIT_SIZE;
    let mut expect_deleted = 0;
    let mut expect_min = HashMap::new();
    for ((topic, qid), msgs) in by_queue(&m) {
        let files = msgs.len().div_ceil(per_file);
        let gone = (0..files.saturating_sub(1))
            .take_while(|k| msgs[k * per_file + per_file - 1].phy < cl_min)
            .count();
        expect_deleted += gone;
        let min = msgs
            .iter()
            .find(|x| x.phy >= cl_min && x.queue_offset >= (gone * per_file) as i64)
            .map_or((gone * per_file) as i64, |x| x.queue_offset);
        expect_min.insert((topic, qid), min);
    }
    assert!(expect_deleted > 0);
    assert_eq!(table.delete_expired(cl_min).unwrap(), expect_deleted);
    for ((topic, qid), min) in expect_min {
        let cq = table.get(&topic, qid).unwrap();
        assert_eq!(cq.min_offset(), min, "{topic}-{qid}");
        assert!(cq.get_unit(min - 1).is_none());
        assert!(cq.get_unit(min).is_some() || min == cq.max_offset());
    }
}

fn mtime_of(path: &Path) -> i64 {
    let t = std::fs::metadata(path).unwrap().modified().unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn offset_by_time_on_java_store() {
    let Some(fx) = fixtures() else { return };
    let m = manifest(&fx);
    let store = extract(&fx, "java-4.9.8-clean.tar.gz");
    let table = load_table(&store.path().join("store").join("consumequeue"));
    table.recover_all().unwrap();
    let time_of: HashMap<i64, (i32, i64)> = m
        .msgs
        .iter()
        .map(|x| (x.phy, (x.size, x.store_timestamp)))
        .collect();
    let store_time = |phy: i64, size: i32| {
        let (s, t) = time_of.get(&phy)?;
        (*s == size).then_some(*t)
    };
    let per_file = (CQ_FILE_SIZE / CQ_UNIT_SIZE) as i64;
    let queues = by_queue(&m);
    for (topic, qid) in [("FixB", 0), ("FixOrder", 1), ("FixA", 0), ("FixA", 3)] {
        let cq = table.get(topic, qid).unwrap();
        let files = cq.mapped_files();
        let mtimes: Vec<i64> = files.iter().map(|f| mtime_of(f.path())).collect();
        let msgs = &queues[&(topic.to_owned(), qid)];
        for msg in msgs {
            let t = msg.store_timestamp;
            let r = cq.offset_by_time(t, m.cl_min, store_time);
            // Java picks the first file modified at or after `t` (else the last) and searches it.
            let chosen = mtimes
                .iter()
                .position(|mt| *mt >= t)
                .unwrap_or(files.len() - 1) as i64;
            assert_eq!(r / per_file, chosen, "{topic}-{qid} t={t}");
            if msg.queue_offset / per_file == chosen {
                assert_eq!(msgs[r as usize].store_timestamp, t, "{topic}-{qid} t={t}");
            }
        }
        // Before the first record: the first unit; after the last: the last unit.
        if files.len() == 1 {
            assert_eq!(
                cq.offset_by_time(msgs[0].store_timestamp - 10_000, 0, store_time),
                0
            );
            let last = msgs.last().unwrap();
            assert_eq!(
                cq.offset_by_time(last.store_timestamp + 10_000_000_000, 0, store_time),
                last.queue_offset
            );
        }
    }
}

/// Java `String.hashCode()` of a string (over UTF-16 code units).
fn java_hash(s: &str) -> i64 {
    let mut h: i32 = 0;
    for c in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(c));
    }
    i64::from(h)
}

#[test]
fn java_killed_store_recovers() {
    let Some(fx) = fixtures() else { return };
    let m = manifest(&fx);
    let store = extract(&fx, "java-4.9.8-killed.tar.gz");
    let table = load_table(&store.path().join("store").join("consumequeue"));
    let max_phy = table.recover_all().unwrap();
    table.correct_min_offsets(0);

    // The clean store's records are untouched.
    for msg in &m.msgs {
        let u = table
            .get(&msg.topic, msg.queue_id)
            .unwrap()
            .get_unit(msg.queue_offset)
            .unwrap();
        assert_eq!(
            (u.commit_log_offset, u.size, u.tags_code),
            (msg.phy, msg.size, msg.tags_code)
        );
    }
    // Every acknowledged send after the restart is indexed here (this CQ did not lag).
    let text = std::fs::read_to_string(fx.join("acked-killed.jsonl")).unwrap();
    let mut acked_max: HashMap<i32, i64> = HashMap::new();
    let mut acked_end = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["topic"], "FixA");
        let qid = int(&v, "queueId") as i32;
        let qo = int(&v, "queueOffset");
        let phy = int(&v, "commitLogOffset");
        let cq = table.get("FixA", qid).unwrap();
        let u = cq
            .get_unit(qo)
            .unwrap_or_else(|| panic!("acked FixA-{qid}@{qo} missing"));
        assert_eq!(u.commit_log_offset, phy);
        assert_eq!(u.tags_code, java_hash("Kill"));
        let e = acked_max.entry(qid).or_insert(qo);
        *e = (*e).max(qo);
        acked_end = acked_end.max(phy + i64::from(u.size));
    }
    assert_eq!(acked_max.len(), 4);
    for (qid, max) in acked_max {
        let cq = table.get("FixA", qid).unwrap();
        // At most one unacknowledged send past the last acknowledged one.
        assert!((max + 1..=max + 2).contains(&cq.max_offset()), "FixA-{qid}");
        assert_eq!(cq.min_offset(), 0);
    }
    assert!(max_phy >= acked_end);
    // Units are contiguous and increasing in every queue.
    for cq in table.queues() {
        let units: Vec<CqUnit> = cq.units_from(0, usize::MAX).collect();
        assert_eq!(units.len() as i64, cq.max_offset());
        assert!(units
            .windows(2)
            .all(|w| w[0].end_offset() <= w[1].commit_log_offset));
    }
}
