//! Tests against index files written by the real Java RocketMQ 4.9.8 broker
//! (`/work/shared/fixtures`, see its README). Each test extracts its own copy.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{build_key, index_key_hash, IndexFile, IndexService};
use crate::store::dispatch_request::{DispatchRequest, TRANSACTION_ROLLBACK_TYPE};
use crate::store::fs::Fs;

const SLOTS: usize = 1000;
const NUM: usize = 4000;

struct Msg {
    topic: String,
    keys: Option<String>,
    uniq: Option<String>,
    phy: i64,
    ts: i64,
    sys_flag: i32,
}

impl Msg {
    fn dispatch(&self) -> DispatchRequest {
        DispatchRequest {
            topic: self.topic.clone(),
            commit_log_offset: self.phy,
            store_timestamp: self.ts,
            keys: self.keys.clone(),
            uniq_key: self.uniq.clone(),
            sys_flag: self.sys_flag,
            ..Default::default()
        }
    }

    /// The keys Java indexes for this record (`topic#...`), without the topic.
    fn index_keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self.uniq.iter().cloned().collect();
        if let Some(k) = &self.keys {
            v.extend(k.split(' ').filter(|p| !p.is_empty()).map(str::to_owned));
        }
        v
    }
}

/// Extract the clean store's index files and checkpoint into a fresh temp dir.
fn extract_clean() -> Option<(tempfile::TempDir, PathBuf)> {
    let dir = crate::store::test_support::extract(
        "java-4.9.8-clean.tar.gz",
        &["store/index", "store/checkpoint"],
    );
    let store = dir.path().join("store");
    Some((dir, store))
}

fn manifest() -> Vec<Msg> {
    let text = std::fs::read_to_string(
        crate::store::test_support::fixtures_dir().join("manifest-clean.jsonl"),
    )
    .unwrap();
    let mut v = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        if j["type"] != "message" {
            continue;
        }
        v.push(Msg {
            topic: j["topic"].as_str().unwrap().to_owned(),
            keys: j["keys"].as_str().map(str::to_owned),
            uniq: j["uniqKey"].as_str().map(str::to_owned),
            phy: j["commitLogOffset"].as_i64().unwrap(),
            ts: j["storeTimestamp"].as_i64().unwrap(),
            sys_flag: j["sysFlag"].as_i64().unwrap() as i32,
        });
    }
    v
}

fn checkpoint_index_ts(store: &Path) -> i64 {
    let b = std::fs::read(store.join("checkpoint")).unwrap();
    i64::from_be_bytes(b[16..24].try_into().unwrap())
}

#[test]
fn java_index_files_find_every_message() {
    let Some((_tmp, store)) = extract_clean() else {
        return;
    };
    let msgs = manifest();
    assert_eq!(msgs.len(), 4387);
    // A batch big enough that popular keys (cust-<n>) return every hit.
    let svc = IndexService::new(Fs::real(), store.join("index"), SLOTS, NUM, 1_000_000).unwrap();
    svc.load(true, 0).unwrap();
    let files = svc.files();
    assert_eq!(files.len(), 3);

    // Headers: full, full, partial; consecutive files share their boundary values; every
    // entry's offset lies within its file's [beginPhyOffset, endPhyOffset]; the used-slot count
    // equals the number of non-empty slots (4.9.8 counts a slot once).
    let counts: Vec<i32> = files.iter().map(|f| f.index_count()).collect();
    assert_eq!(counts, vec![4000, 4000, 2838]);
    for w in files.windows(2) {
        assert_eq!(w[1].begin_phy_offset(), w[0].end_phy_offset());
        assert_eq!(w[1].begin_timestamp(), w[0].end_timestamp());
    }
    for f in &files {
        let h = f.header();
        assert_eq!(h, f.raw_header(), "{}", f.file_name());
        assert!(h.begin_phy_offset <= h.end_phy_offset);
        assert!(h.begin_timestamp <= h.end_timestamp);
        let used = (0..SLOTS)
            .filter(|s| f.slot_value(*s).unwrap() != 0)
            .count();
        assert_eq!(used as i32, h.hash_slot_count, "{}", f.file_name());
        for i in 1..h.index_count as usize {
            let e = f.entry(i).unwrap();
            assert!(
                (h.begin_phy_offset..=h.end_phy_offset).contains(&e.phy_offset),
                "{} entry {i}: {e:?} outside {h:?}",
                f.file_name()
            );
            assert!(e.prev_index >= 0 && e.prev_index < i as i32);
            assert!(e.key_hash >= 0);
        }
    }
    // The checkpoint's indexMsgTimestamp is the end of the last full file.
    let cp = checkpoint_index_ts(&store);
    assert_eq!(cp, files[1].end_timestamp());

    // Every indexed key of every non-ROLLBACK record finds the record's offset, in a file
    // whose offset range brackets it.
    let mut lookups = 0;
    let mut seen_in_file = [0usize; 3];
    let mut first_phy = i64::MAX;
    let mut last_phy = i64::MIN;
    for m in &msgs {
        if m.sys_flag & 0xC == TRANSACTION_ROLLBACK_TYPE {
            continue;
        }
        for key in m.index_keys() {
            let q = svc.query(&m.topic, &key, usize::MAX, 0, i64::MAX);
            assert!(
                q.phy_offsets.contains(&m.phy),
                "{}#{key} -> {:?}, expected {}",
                m.topic,
                q.phy_offsets,
                m.phy
            );
            assert_eq!(q.index_last_update_phyoffset, files[2].end_phy_offset());
            let full = build_key(&m.topic, &key);
            let holders: Vec<usize> = (0..3)
                .filter(|i| {
                    files[*i]
                        .select(&full, usize::MAX, 0, i64::MAX)
                        .contains(&m.phy)
                })
                .collect();
            assert!(!holders.is_empty());
            for i in holders {
                let h = files[i].header();
                assert!(h.begin_phy_offset <= m.phy && m.phy <= h.end_phy_offset);
                seen_in_file[i] += 1;
            }
            first_phy = first_phy.min(m.phy);
            last_phy = last_phy.max(m.phy);
            lookups += 1;
        }
    }
    assert!(lookups > 8000, "{lookups}");
    assert!(seen_in_file.iter().all(|n| *n > 0), "{seen_in_file:?}");
    assert_eq!(files[0].begin_phy_offset(), first_phy);
    assert_eq!(files[2].end_phy_offset(), last_phy);
    // The three files hold exactly the indexed keys (2 × 3999 + 2837 entries).
    assert_eq!(lookups, 3999 * 2 + 2837);

    // A narrow time range around one message (widened by a second: times are stored in
    // whole seconds since the file's begin) still finds it.
    let m = &msgs[2000];
    let key = m.index_keys().remove(0);
    let q = svc.query(&m.topic, &key, 32, m.ts - 1000, m.ts + 1000);
    assert!(q.phy_offsets.contains(&m.phy));
    // ROLLBACK records are not indexed (their half messages are, under the half topic).
    let rollbacks = msgs
        .iter()
        .filter(|m| m.sys_flag & 0xC == TRANSACTION_ROLLBACK_TYPE)
        .count();
    assert!(rollbacks > 0 || msgs.iter().all(|m| m.sys_flag & 0xC != 0xC));
}

#[test]
fn java_index_abnormal_exit_pruning() {
    let Some((_tmp, store)) = extract_clean() else {
        return;
    };
    let cp = checkpoint_index_ts(&store);
    let svc = IndexService::new(Fs::real(), store.join("index"), SLOTS, NUM, 64).unwrap();
    svc.load(false, cp).unwrap();
    // The partial third file ends after the checkpoint: deleted, to be rebuilt.
    assert_eq!(svc.files().len(), 2);
    assert_eq!(std::fs::read_dir(store.join("index")).unwrap().count(), 2);
    // The wrong geometry is refused without touching anything.
    let wrong = IndexService::new(Fs::real(), store.join("index"), 500, NUM, 64).unwrap();
    assert!(wrong.load(false, 0).is_err());
    assert_eq!(std::fs::read_dir(store.join("index")).unwrap().count(), 2);
}

#[test]
fn rebuilding_from_the_manifest_reproduces_java_bytes() {
    let Some((_tmp, store)) = extract_clean() else {
        return;
    };
    let msgs = manifest();
    let out = tempfile::tempdir().unwrap();
    let svc = IndexService::new(Fs::real(), out.path().join("index"), SLOTS, NUM, 64)
        .unwrap()
        .with_clock(|| 1_795_520_097_998);
    let mut reported = Vec::new();
    for m in &msgs {
        if let Some(ts) = svc.build_index(&m.dispatch()).unwrap() {
            reported.push(ts);
        }
    }
    svc.flush().unwrap();
    let ours = svc.files();
    let java: Vec<IndexFile> = {
        let mut names: Vec<_> = std::fs::read_dir(store.join("index"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| IndexFile::open(&Fs::real(), p, SLOTS, NUM).unwrap())
            .collect()
    };
    assert_eq!(ours.len(), java.len());
    // The first rolled file's end timestamp is what Java put in the checkpoint (second roll).
    assert_eq!(reported.last().copied(), Some(checkpoint_index_ts(&store)));
    for (o, j) in ours.iter().zip(&java) {
        assert_eq!(o.header(), j.header(), "{}", j.file_name());
        for s in 0..SLOTS {
            assert_eq!(
                o.slot_value(s),
                j.slot_value(s),
                "{} slot {s}",
                j.file_name()
            );
        }
        for i in 0..NUM {
            assert_eq!(o.entry(i), j.entry(i), "{} entry {i}", j.file_name());
        }
        // And so the whole files are byte-identical.
        let ob = std::fs::read(o.path()).unwrap();
        let jb = std::fs::read(j.path()).unwrap();
        assert!(ob == jb, "{} differs", j.file_name());
    }
    // The first file is named like Java's (the clock is the Java file's creation time; the
    // fixture machine ran on UTC, like this one if TZ is unset and /etc/localtime is UTC).
    let expected = crate::store::sys::time_to_file_name(1_795_520_097_998);
    assert_eq!(ours[0].file_name(), expected);
    // Hash and slot of a sample agree with the Java file's chain heads.
    let m = &msgs[0];
    let key = build_key(&m.topic, &m.index_keys()[0]);
    let slot = index_key_hash(&key) as usize % SLOTS;
    assert_eq!(ours[0].slot_value(slot), java[0].slot_value(slot));
}

#[test]
fn java_killed_store_index() {
    let tar = crate::store::test_support::fixtures_dir().join("java-4.9.8-killed.tar.gz");
    if !tar.exists() {
        eprintln!("skipping: {} not found", tar.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tar)
        .arg("-C")
        .arg(dir.path())
        .arg("store/index")
        .arg("store/checkpoint")
        .status()
        .unwrap();
    assert!(status.success());
    let store = dir.path().join("store");
    let acked: Vec<serde_json::Value> = std::fs::read_to_string(
        crate::store::test_support::fixtures_dir().join("acked-killed.jsonl"),
    )
    .unwrap()
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    // Everything the broker indexed before the kill is readable.
    let svc = IndexService::new(Fs::real(), store.join("index"), SLOTS, NUM, 1_000_000).unwrap();
    svc.load(true, 0).unwrap();
    let files = svc.files();
    assert_eq!(files.len(), 4);
    let indexed_up_to = files[3].end_phy_offset();
    let mut found = 0;
    for a in &acked {
        let phy = a["commitLogOffset"].as_i64().unwrap();
        if phy > indexed_up_to {
            continue;
        }
        let topic = a["topic"].as_str().unwrap();
        let mut keys = vec![a["uniqKey"].as_str().unwrap().to_owned()];
        keys.extend(a["keys"].as_str().unwrap().split(' ').map(str::to_owned));
        for k in keys {
            let q = svc.query(topic, &k, usize::MAX, 0, i64::MAX);
            assert!(q.phy_offsets.contains(&phy), "{topic}#{k} -> {phy}");
            found += 1;
        }
    }
    assert!(found > 0);
    drop(files);
    drop(svc);
    // Abnormal recovery keeps only the files that ended by the checkpoint (the last full one).
    let cp = checkpoint_index_ts(&store);
    let svc = IndexService::new(Fs::real(), store.join("index"), SLOTS, NUM, 64).unwrap();
    svc.load(false, cp).unwrap();
    assert_eq!(svc.files().len(), 3);
    assert_eq!(svc.last_file().unwrap().end_timestamp(), cp);
    assert!(svc.last_file().unwrap().is_write_full());
}
