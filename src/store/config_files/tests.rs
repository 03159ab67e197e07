//! Tests of the config files against what Java wrote: the 4.9.8 fixture store
//! (`/work/shared/fixtures`, or `$APOGEE_FIXTURES`) and the files in `testdata/` written by the
//! real 4.9.8 classes with fastjson 1.2.69 (see `testdata/README.md`).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use apogee_codec::body::{
    ConsumerOffsetSerializeWrapper, DataVersion, DelayOffsetSerializeWrapper,
    SubscriptionGroupConfig, SubscriptionGroupWrapper, TopicConfig, TopicConfigSerializeWrapper,
    TopicFilterType,
};
use proptest::prelude::*;

use super::consumer_filter::EMPTY_CONSUMER_FILTER;
use super::topics::{perm, validate_topic, TopicNameError};
use super::*;
use crate::store::fs::{Fault, FsOp};

// ---- helpers --------------------------------------------------------------------------------

fn fixtures() -> Option<PathBuf> {
    Some(crate::store::test_support::fixtures_dir())
}

/// Extract the clean fixture store; returns the temp dir and its `store/config`.
fn extract_clean() -> Option<(tempfile::TempDir, PathBuf)> {
    let fx = fixtures()?;
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(fx.join("java-4.9.8-clean.tar.gz"))
        .arg("-C")
        .arg(dir.path())
        .arg("store/config")
        .status()
        .unwrap();
    assert!(status.success(), "tar failed");
    let config = dir.path().join("store").join("config");
    Some((dir, config))
}

fn testdata(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/store/config_files/testdata")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture_settings() -> TopicSettings {
    TopicSettings::new("DefaultCluster", "broker-a")
}

/// Put `bytes` as `<fresh dir>/<name>` and return the dir.
fn fresh_with(name: &str, bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), bytes).unwrap();
    dir
}

/// Load `bytes` as file `name` of a fresh dir with manager `m`, persist, and return what was
/// written (also checking that the previous content went to the backup).
fn rewrite<M: ConfigManager>(
    name: &str,
    bytes: &[u8],
    make: impl FnOnce(&Fs, &Path) -> M,
) -> (Vec<u8>, M) {
    let dir = fresh_with(name, bytes);
    let m = make(&Fs::real(), dir.path());
    assert_eq!(m.load().unwrap(), LoadSource::Main);
    m.persist().unwrap();
    let written = std::fs::read(dir.path().join(name)).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join(format!("{name}.bak"))).unwrap(),
        bytes
    );
    assert!(!dir.path().join(format!("{name}.tmp")).exists());
    assert_eq!(m.encode().as_bytes(), written.as_slice());
    (written, m)
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- the 4.9.8 fixture ----------------------------------------------------------------------

#[test]
fn fixture_files_are_rewritten_byte_identically() {
    let Some((_tmp, config)) = extract_clean() else {
        return;
    };
    for suffix in ["", ".bak"] {
        let read = |name: &str| std::fs::read(config.join(format!("{name}{suffix}"))).unwrap();

        let topics = read("topics.json");
        let (out, m) = rewrite("topics.json", &topics, |fs, d| {
            TopicConfigManager::new(fs, d, fixture_settings())
        });
        assert_eq!(show(&out), show(&topics), "topics.json{suffix}");
        let fix_a = m.get("FixA").unwrap();
        assert_eq!((fix_a.read_queue_nums, fix_a.perm), (4, 6));

        let groups = read("subscriptionGroup.json");
        let (out, m) = rewrite(
            "subscriptionGroup.json",
            &groups,
            SubscriptionGroupManager::new,
        );
        assert_eq!(show(&out), show(&groups), "subscriptionGroup.json{suffix}");
        assert!(m.contains("FixGroup"));

        let delay = read("delayOffset.json");
        let (out, m) = rewrite("delayOffset.json", &delay, DelayOffsetManager::new);
        assert_eq!(show(&out), show(&delay), "delayOffset.json{suffix}");
        assert_eq!(m.get(3), Some(8));

        let filter = read("consumerFilter.json");
        let (out, _) = rewrite("consumerFilter.json", &filter, ConsumerFilterFile::new);
        assert_eq!(out, filter);
        assert_eq!(show(&filter), EMPTY_CONSUMER_FILTER);

        // consumerOffset.json: Java itself reorders the table after a restart (fastjson reads
        // it into a default-sized ConcurrentHashMap; the original had capacity 512), and so do
        // we — byte for byte what the real 4.9.8 code writes after loading this file.
        let offsets = read("consumerOffset.json");
        let (out, m) = rewrite("consumerOffset.json", &offsets, ConsumerOffsetManager::new);
        assert_eq!(
            show(&out),
            show(&testdata("fixture_restart_consumerOffset.json")),
            "consumerOffset.json{suffix}"
        );
        let ours = ConsumerOffsetSerializeWrapper::decode(&out).unwrap();
        let java = ConsumerOffsetSerializeWrapper::decode(&offsets).unwrap();
        assert_eq!(ours, java);
        assert_eq!(m.query("FixGroup", "FixA", 2), Some(997));

        // …and a broker that starts without the file and receives the same commits (the
        // history of the fixture run) writes exactly the fixture's bytes.
        let dir = tempfile::tempdir().unwrap();
        let fresh = ConsumerOffsetManager::new(&Fs::real(), dir.path());
        let tree = key_order::KeyTree::parse(&offsets).unwrap();
        for key in tree.get("offsetTable").unwrap().keys() {
            let (topic, group) = consumer_offsets::split_offset_key(key).unwrap();
            for (q, off) in &java.offset_table[key] {
                fresh.commit(group, topic, *q, *off);
            }
        }
        fresh.persist().unwrap();
        assert_eq!(
            show(&std::fs::read(fresh.config_path()).unwrap()),
            show(&offsets)
        );
    }
}

#[test]
fn fixture_loads_through_config_files() {
    let Some((_tmp, config)) = extract_clean() else {
        return;
    };
    let files = ConfigFiles::new(&Fs::real(), &config, fixture_settings());
    files.load_all().unwrap();
    assert_eq!(files.topics.len(), 15);
    assert_eq!(files.topics.data_version().counter, 7);
    assert_eq!(files.subscription_groups.data_version().counter, 2);
    assert_eq!(
        files
            .consumer_offsets
            .query_all("FixGroup", "FixA")
            .unwrap(),
        BTreeMap::from([(0, 1007), (1, 999), (2, 997), (3, 987)])
    );
    assert_eq!(
        files.delay_offsets.table(),
        BTreeMap::from([(1, 5), (3, 8)])
    );
    assert!(files.consumer_filter.topics().is_empty());
    // persisting everything unchanged keeps topics/groups/delay/filter byte-identical
    let before: Vec<Vec<u8>> = ["topics.json", "subscriptionGroup.json", "delayOffset.json"]
        .iter()
        .map(|n| std::fs::read(config.join(n)).unwrap())
        .collect();
    files.persist_all().unwrap();
    for (n, b) in ["topics.json", "subscriptionGroup.json", "delayOffset.json"]
        .iter()
        .zip(before)
    {
        assert_eq!(std::fs::read(config.join(n)).unwrap(), b, "{n}");
    }
}

// ---- files written by the real Java classes (testdata/) -------------------------------------

const WEIRD: &str = "W\u{e9}ird\"T\\x\u{1}\u{7f}\u{2028}\u{6807}/\t";

fn fixed_version() -> DataVersion {
    DataVersion::new(42, 1_700_000_000_000)
}

#[test]
fn java_restart_outputs_are_reproduced() {
    for name in ["topics.json", "consumerOffset.json", "delayOffset.json"] {
        let input = testdata(&format!("java_fresh/{name}"));
        let expected = testdata(&format!("java_restart/{name}"));
        let out = match name {
            "topics.json" => {
                rewrite(name, &input, |fs, d| {
                    TopicConfigManager::new(fs, d, fixture_settings())
                })
                .0
            }
            "consumerOffset.json" => rewrite(name, &input, ConsumerOffsetManager::new).0,
            _ => rewrite(name, &input, DelayOffsetManager::new).0,
        };
        assert_eq!(show(&out), show(&expected), "{name}");
    }
    // Groups: Java resets the data version on load (no setter); we keep the file's. The rest
    // is Java's output.
    let name = "subscriptionGroup.json";
    let input = testdata(&format!("java_fresh/{name}"));
    let java = show(&testdata(&format!("java_restart/{name}")));
    let (out, _) = rewrite(name, &input, SubscriptionGroupManager::new);
    let head: String = show(&input).split_inclusive('\n').take(5).collect();
    let tail: String = java.split_inclusive('\n').skip(5).collect();
    assert_eq!(show(&out), head + &tail);
}

#[test]
fn java_fresh_history_is_reproduced() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Fs::real();

    // topics (the Java "fresh broker" history)
    let topics = TopicConfigManager::new(&fs, dir.path(), fixture_settings());
    for i in 0..60 {
        let q = i % 16 + 1;
        topics
            .update_topic_config(TopicConfig {
                read_queue_nums: q,
                write_queue_nums: q,
                perm: if i % 3 == 0 { 4 } else { 6 },
                order: i % 5 == 0,
                topic_sys_flag: i % 4,
                topic_filter_type: if i % 6 == 0 {
                    TopicFilterType::MultiTag
                } else {
                    TopicFilterType::SingleTag
                },
                ..TopicConfig::new(format!("Topic{}", i * 7919 % 1000))
            })
            .unwrap();
    }
    for i in (0..60).step_by(9) {
        topics
            .delete_topic_config(&format!("Topic{}", i * 7919 % 1000))
            .unwrap();
    }
    topics
        .update_topic_config(TopicConfig {
            read_queue_nums: 3,
            write_queue_nums: 3,
            ..TopicConfig::new(WEIRD)
        })
        .unwrap();
    topics.assign_data_version(fixed_version());
    assert_eq!(topics.encode(), show(&testdata("java_fresh/topics.json")));

    // groups
    let groups = SubscriptionGroupManager::new(&fs, dir.path());
    for i in 0..40i32 {
        groups
            .update(SubscriptionGroupConfig {
                retry_max_times: i,
                retry_queue_nums: i % 3,
                consume_enable: i % 2 == 0,
                consume_broadcast_enable: i % 3 != 0,
                broker_id: i64::from(i % 2),
                which_broker_when_consume_slowly: i64::from(i % 4),
                notify_consumer_ids_changed_enable: i % 7 != 0,
                consume_from_min_enable: i % 5 != 0,
                ..SubscriptionGroupConfig::new(format!("GID_{}", i * 13 % 101))
            })
            .unwrap();
    }
    for i in (0..40).step_by(6) {
        groups.delete(&format!("GID_{}", i * 13 % 101)).unwrap();
    }
    groups.update(SubscriptionGroupConfig::new(WEIRD)).unwrap();
    groups.assign_data_version(fixed_version());
    assert_eq!(
        groups.encode(),
        show(&testdata("java_fresh/subscriptionGroup.json"))
    );

    // consumer offsets
    let offsets = ConsumerOffsetManager::new(&fs, dir.path());
    let qs = [0, 1, 2, 17, 64, -1, 1_000_000, 33];
    for i in 0..50usize {
        let (topic, group) = (format!("T{}", i * 31 % 97), format!("G{}", i % 7));
        for j in 0..=(i % qs.len()) {
            let q = qs[(i + j) % qs.len()];
            offsets.commit(&group, &topic, q, i as i64 * 1000 + i64::from(q));
        }
    }
    assert!(!offsets.remove_group("G3").is_empty());
    assert!(offsets.clone_offset("G1", "G9", "T31"));
    assert_eq!(
        offsets.encode(),
        show(&testdata("java_fresh/consumerOffset.json"))
    );

    // delay offsets
    let delay = DelayOffsetManager::new(&fs, dir.path());
    for l in [5, 1, 18, 3, 2, 17, 9, 33, 16] {
        delay.set(l, i64::from(l) * 11);
    }
    assert_eq!(
        delay.encode(),
        show(&testdata("java_fresh/delayOffset.json"))
    );
}

// ---- load fallbacks and failed persists -----------------------------------------------------

#[test]
fn corrupt_empty_or_missing_main_falls_back_to_bak() {
    let good = testdata("java_fresh/topics.json");
    for main in [
        Some(&b""[..]),
        Some(b"{\"dataVersion\":"),
        Some(b"\0\0\0"),
        None,
    ] {
        let dir = tempfile::tempdir().unwrap();
        if let Some(m) = main {
            std::fs::write(dir.path().join("topics.json"), m).unwrap();
        }
        std::fs::write(dir.path().join("topics.json.bak"), &good).unwrap();
        let m = TopicConfigManager::new(&Fs::real(), dir.path(), fixture_settings());
        assert_eq!(m.load().unwrap(), LoadSource::Backup);
        assert_eq!(m.data_version(), fixed_version());
        assert!(m.contains(WEIRD));
        // the next persist repairs the main file
        m.persist().unwrap();
        let again = TopicConfigManager::new(&Fs::real(), dir.path(), fixture_settings());
        assert_eq!(again.load().unwrap(), LoadSource::Main);
        assert_eq!(again.table(), m.table());
        // the good backup was kept (the corrupt main was not copied over it)
        assert_eq!(
            std::fs::read(dir.path().join("topics.json.bak")).unwrap(),
            good
        );
    }
}

#[test]
fn no_files_is_the_builtin_state() {
    let dir = tempfile::tempdir().unwrap();
    let files = ConfigFiles::new(&Fs::real(), dir.path(), fixture_settings());
    files.load_all().unwrap();
    assert_eq!(files.topics.len(), 8);
    assert_eq!(files.subscription_groups.table().len(), 7);
    assert!(files.consumer_offsets.table().is_empty());
    assert!(files.delay_offsets.table().is_empty());
    files.persist_all().unwrap();
    assert_eq!(
        show(&std::fs::read(dir.path().join("consumerOffset.json")).unwrap()),
        "{\n\t\"offsetTable\":{}\n}"
    );
    assert_eq!(
        show(&std::fs::read(dir.path().join("delayOffset.json")).unwrap()),
        "{\n\t\"offsetTable\":{}\n}"
    );
    assert_eq!(
        show(&std::fs::read(dir.path().join("consumerFilter.json")).unwrap()),
        EMPTY_CONSUMER_FILTER
    );
    let again = ConfigFiles::new(&Fs::real(), dir.path(), fixture_settings());
    again.load_all().unwrap();
    assert_eq!(again.topics.table(), files.topics.table());
}

#[test]
fn both_files_corrupt_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("subscriptionGroup.json"), "{{{").unwrap();
    std::fs::write(dir.path().join("subscriptionGroup.json.bak"), "[1,").unwrap();
    let m = SubscriptionGroupManager::new(&Fs::real(), dir.path());
    let e = m.load().unwrap_err();
    assert!(e.to_string().contains("subscriptionGroup.json"), "{e}");
}

#[test]
fn failed_persist_keeps_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Fs::faultable();
    let m = TopicConfigManager::new(&fs, dir.path(), fixture_settings());
    m.persist().unwrap();
    let path = dir.path().join("topics.json");
    let before = std::fs::read(&path).unwrap();
    let faults = [
        (FsOp::Write, "topics.json.tmp", PersistStep::WriteTemp),
        (FsOp::Sync, "topics.json.tmp", PersistStep::WriteTemp),
        (FsOp::Write, "topics.json.bak", PersistStep::WriteBackup),
        (FsOp::Sync, "topics.json.bak", PersistStep::WriteBackup),
        (FsOp::Rename, "topics.json", PersistStep::Rename),
    ];
    for (n, (op, target, step)) in faults.into_iter().enumerate() {
        fs.arm(Fault::new(op, target, 1, io::ErrorKind::StorageFull));
        let e = m
            .update_topic_config(TopicConfig::new(format!("New{n}")))
            .unwrap_err();
        assert!(
            matches!(&e, ConfigFileError::Persist { step: s, .. } if *s == step),
            "{e}"
        );
        assert!(e.previous_file_intact());
        assert_eq!(std::fs::read(&path).unwrap(), before, "{op:?} on {target}");
        assert!(!dir.path().join("topics.json.tmp").exists());
        // the change is in memory (as in Java) and readable, the file still loads
        assert!(m.contains(&format!("New{n}")));
        let reader = TopicConfigManager::new(&Fs::real(), dir.path(), fixture_settings());
        assert_eq!(reader.load().unwrap(), LoadSource::Main);
        assert!(!reader.contains(&format!("New{n}")));
        fs.disarm_all();
    }
    // once the disk recovers, the next persist writes everything
    m.persist().unwrap();
    let reader = TopicConfigManager::new(&Fs::real(), dir.path(), fixture_settings());
    reader.load().unwrap();
    for n in 0..5 {
        assert!(reader.contains(&format!("New{n}")));
    }
}

#[test]
fn hostile_files_do_not_panic() {
    let inputs: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"\"x\"".to_vec(),
        b"{\"topicConfigTable\":{\"A\":5}}".to_vec(),
        b"{\"offsetTable\":{\"a@b\":{x:1}}}".to_vec(),
        b"{\"offsetTable\":{1:{2:3}}}".to_vec(),
        b"{\"offsetTable\":{\"k\":[1,2]}}".to_vec(),
        b"{\"subscriptionGroupTable\":{\"G\":{\"retryMaxTimes\":\"x\"}}}".to_vec(),
        "[".repeat(10_000).into_bytes(),
        "{\"a\":".repeat(10_000).into_bytes(),
        vec![0xff, 0xfe, 0x00],
    ];
    for input in inputs {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "topics.json",
            "subscriptionGroup.json",
            "consumerOffset.json",
            "delayOffset.json",
            "consumerFilter.json",
        ] {
            std::fs::write(dir.path().join(name), &input).unwrap();
        }
        let files = ConfigFiles::new(&Fs::real(), dir.path(), fixture_settings());
        for m in files.all() {
            let _ = m.load();
            let _ = m.encode();
        }
    }
}

// ---- topics ---------------------------------------------------------------------------------

#[test]
fn builtin_topics() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = fixture_settings();
    let m = TopicConfigManager::new(&Fs::real(), dir.path(), s.clone());
    let t = |name: &str| {
        let c = m.get(name).unwrap();
        (c.read_queue_nums, c.write_queue_nums, c.perm)
    };
    assert_eq!(t("SELF_TEST_TOPIC"), (1, 1, 6));
    assert_eq!(t("TBW102"), (8, 8, 7));
    assert_eq!(t("BenchmarkTest"), (1024, 1024, 6));
    assert_eq!(t("DefaultCluster"), (16, 16, 7));
    assert_eq!(t("broker-a"), (1, 1, 7));
    assert_eq!(t("OFFSET_MOVED_EVENT"), (1, 1, 6));
    assert_eq!(t("SCHEDULE_TOPIC_XXXX"), (18, 18, 6));
    assert_eq!(t("DefaultCluster_REPLY_TOPIC"), (1, 1, 6));
    assert!(m.get("RMQ_SYS_TRACE_TOPIC").is_none());
    assert!(m.is_system_topic("broker-a"));
    assert!(!m.is_system_topic("FixA"));

    s.auto_create_topic_enable = false;
    s.cluster_topic_enable = false;
    s.broker_topic_enable = false;
    s.trace_topic_enable = true;
    s.default_topic_queue_nums = 4;
    let m = TopicConfigManager::new(&Fs::real(), dir.path(), s);
    assert!(m.get("TBW102").is_none());
    assert_eq!(m.get("DefaultCluster").unwrap().perm, perm::INHERIT);
    assert_eq!(m.get("broker-a").unwrap().perm, perm::INHERIT);
    assert_eq!(m.get("RMQ_SYS_TRACE_TOPIC").unwrap().read_queue_nums, 1);
}

#[test]
fn auto_create_on_send() {
    let dir = tempfile::tempdir().unwrap();
    let m = TopicConfigManager::new(&Fs::real(), dir.path(), fixture_settings());
    let v0 = m.data_version().counter;
    // min(client 4, TBW102 8) queues, perm without INHERIT, sys flag from the caller
    let (tc, created) = m
        .create_topic_in_send_detailed("NewTopic", "TBW102", 4, 1)
        .unwrap();
    assert!(created);
    assert_eq!(
        (
            tc.read_queue_nums,
            tc.write_queue_nums,
            tc.perm,
            tc.topic_sys_flag
        ),
        (4, 4, 6, 1)
    );
    assert_eq!(m.data_version().counter, v0 + 1);
    // persisted at once
    let reader = TopicConfigManager::new(&Fs::real(), dir.path(), fixture_settings());
    reader.load().unwrap();
    assert_eq!(reader.get("NewTopic"), Some(tc.clone()));
    // existing: returned as is, nothing bumped
    let (again, created) = m
        .create_topic_in_send_detailed("NewTopic", "TBW102", 16, 0)
        .unwrap();
    assert!(!created);
    assert_eq!(again, tc);
    assert_eq!(m.data_version().counter, v0 + 1);
    // the template's write queues cap the client's number
    assert_eq!(
        m.create_topic_in_send("Big", "TBW102", 64, 0)
            .unwrap()
            .write_queue_nums,
        8
    );
    // negative client numbers give 0 queues (Java)
    assert_eq!(
        m.create_topic_in_send("Neg", "TBW102", -3, 0)
            .unwrap()
            .read_queue_nums,
        0
    );
    // a template without INHERIT creates nothing; a missing template neither
    assert!(m
        .create_topic_in_send("X1", "SELF_TEST_TOPIC", 4, 0)
        .is_none());
    assert!(m
        .create_topic_in_send("X2", "NoSuchTemplate", 4, 0)
        .is_none());
    // the cluster topic inherits (perm 7) and copies its filter type
    let tc = m
        .create_topic_in_send("X3", "DefaultCluster", 4, 0)
        .unwrap();
    assert_eq!((tc.read_queue_nums, tc.perm), (4, 6));

    // autoCreateTopicEnable=false: no TBW102 at boot; a TBW102 loaded from a file loses INHERIT
    let mut s = fixture_settings();
    s.auto_create_topic_enable = false;
    let off = TopicConfigManager::new(&Fs::real(), dir.path(), s);
    assert!(off.create_topic_in_send("Y", "TBW102", 4, 0).is_none());
    off.load().unwrap(); // the file written above holds TBW102 with perm 7
    assert_eq!(off.get("TBW102").unwrap().perm, 7);
    assert!(off.create_topic_in_send("Y", "TBW102", 4, 0).is_none());
    assert_eq!(off.get("TBW102").unwrap().perm, perm::READ | perm::WRITE);
    assert!(off.get("Y").is_none());
}

#[test]
fn retry_and_dlq_topics() {
    let dir = tempfile::tempdir().unwrap();
    let m = TopicConfigManager::new(&Fs::real(), dir.path(), fixture_settings());
    let r = m.create_retry_topic("G");
    assert_eq!(
        (
            r.topic_name.as_str(),
            r.read_queue_nums,
            r.write_queue_nums,
            r.perm
        ),
        ("%RETRY%G", 1, 1, 6)
    );
    let d = m.create_dlq_topic("G");
    assert_eq!(
        (
            d.topic_name.as_str(),
            d.read_queue_nums,
            d.perm,
            d.topic_sys_flag
        ),
        ("%DLQ%G", 1, 6, 0)
    );
    let (again, created) = m.create_topic_in_send_back_detailed("%RETRY%G", 5, 2, 0);
    assert!(!created);
    assert_eq!(again, r);
    // update / delete bump and persist
    let v = m.data_version().counter;
    let mut c = r.clone();
    c.write_queue_nums = 3;
    assert_eq!(m.update_topic_config(c.clone()).unwrap(), Some(r));
    assert_eq!(m.delete_topic_config("%DLQ%G").unwrap(), Some(d));
    assert_eq!(m.delete_topic_config("%DLQ%G").unwrap(), None);
    assert_eq!(m.data_version().counter, v + 2);
    let w = m.serialize_wrapper();
    assert_eq!(w.topic_config_table["%RETRY%G"], c);
    assert!(!w.topic_config_table.contains_key("%DLQ%G"));
    assert_eq!(w.data_version, m.data_version());
    // the wrapper round-trips through the codec
    assert_eq!(TopicConfigSerializeWrapper::decode(&w.encode()).unwrap(), w);
}

#[test]
fn topic_name_validation() {
    assert_eq!(validate_topic("TopicTest"), Ok(()));
    assert_eq!(validate_topic("%RETRY%G|x_y-1"), Ok(()));
    assert_eq!(validate_topic(&"a".repeat(127)), Ok(()));
    assert_eq!(validate_topic(""), Err(TopicNameError::Blank));
    assert_eq!(validate_topic("  \t"), Err(TopicNameError::Blank));
    assert_eq!(
        validate_topic("a b"),
        Err(TopicNameError::IllegalCharacters)
    );
    assert_eq!(
        validate_topic("../T"),
        Err(TopicNameError::IllegalCharacters)
    );
    assert_eq!(
        validate_topic("Täg"),
        Err(TopicNameError::IllegalCharacters)
    );
    assert_eq!(
        validate_topic(&"a".repeat(128)),
        Err(TopicNameError::TooLong)
    );
    assert_eq!(
        TopicNameError::Blank.to_string(),
        "The specified topic is blank."
    );
    assert_eq!(
        TopicNameError::IllegalCharacters.to_string(),
        "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    );
    assert_eq!(
        TopicNameError::TooLong.to_string(),
        "The specified topic is longer than topic max length."
    );
    assert!(topics::is_not_allowed_send_topic("SCHEDULE_TOPIC_XXXX"));
    assert!(!topics::is_not_allowed_send_topic("TBW102"));
}

// ---- groups ---------------------------------------------------------------------------------

#[test]
fn subscription_groups() {
    let dir = tempfile::tempdir().unwrap();
    let m = SubscriptionGroupManager::new(&Fs::real(), dir.path());
    for g in subscription_groups::BUILTIN_GROUPS {
        assert!(m.contains(g), "{g}");
    }
    let v = m.data_version().counter;
    assert!(m.find_or_create("G1", false).is_none());
    let g = m.find_or_create("G1", true).unwrap();
    assert_eq!(g, SubscriptionGroupConfig::new("G1"));
    assert_eq!(g.retry_max_times, 16);
    // system groups are always created
    assert!(m.find_or_create("CID_RMQ_SYS_TRANS", false).is_some());
    assert_eq!(m.data_version().counter, v + 2);
    // persisted on creation
    let reader = SubscriptionGroupManager::new(&Fs::real(), dir.path());
    reader.load().unwrap();
    assert!(reader.contains("G1") && reader.contains("CID_RMQ_SYS_TRANS"));

    let mut c = g.clone();
    c.retry_max_times = 3;
    assert_eq!(m.update(c.clone()).unwrap(), Some(g));
    assert_eq!(m.get("G1"), Some(c.clone()));
    assert!(m.disable_consume("G1"));
    assert!(!m.get("G1").unwrap().consume_enable);
    assert!(!m.disable_consume("nope"));
    assert!(m.delete("G1").unwrap().is_some());
    assert!(m.delete("G1").unwrap().is_none());
    let w = m.serialize_wrapper();
    assert!(!w.subscription_group_table.contains_key("G1"));
    assert_eq!(SubscriptionGroupWrapper::decode(&w.encode()).unwrap(), w);
}

// ---- offsets --------------------------------------------------------------------------------

#[test]
fn consumer_offsets_api() {
    let dir = tempfile::tempdir().unwrap();
    let m = ConsumerOffsetManager::new(&Fs::real(), dir.path());
    m.commit("G1", "T1", 0, 10);
    m.commit("G1", "T1", 1, 11);
    m.commit("G1", "T2", 0, 20);
    m.commit("G2", "T1", 0, 30);
    assert_eq!(m.query("G1", "T1", 1), Some(11));
    assert_eq!(m.query("G1", "T1", 2), None);
    assert_eq!(m.query("G9", "T1", 0), None);
    assert_eq!(
        m.topics_of_group("G1").into_iter().collect::<Vec<_>>(),
        ["T1", "T2"]
    );
    assert_eq!(
        m.groups_of_topic("T1").into_iter().collect::<Vec<_>>(),
        ["G1", "G2"]
    );
    assert!(m.clone_offset("G1", "G3", "T1"));
    assert!(!m.clone_offset("G7", "G3", "T1"));
    assert_eq!(m.query_all("G3", "T1"), m.query_all("G1", "T1"));
    assert_eq!(m.remove_topic("T2"), vec!["T2@G1".to_string()]);
    let mut removed = m.remove_group("G1");
    removed.sort();
    assert_eq!(removed, ["T1@G1"]);
    assert_eq!(
        m.table().keys().cloned().collect::<Vec<_>>(),
        ["T1@G2", "T1@G3"]
    );
    // Java split semantics for odd keys
    assert_eq!(consumer_offsets::split_offset_key("T@G@"), Some(("T", "G")));
    assert_eq!(consumer_offsets::split_offset_key("T@"), None);
    assert_eq!(consumer_offsets::split_offset_key("@G"), Some(("", "G")));
    assert_eq!(consumer_offsets::split_offset_key("a@b@c"), None);
    // slave sync
    m.put_all(BTreeMap::from([(
        "X@Y".to_string(),
        BTreeMap::from([(0, 5)]),
    )]));
    assert_eq!(m.query("Y", "X", 0), Some(5));
    assert_eq!(m.serialize_wrapper().offset_table, m.table());
}

#[test]
fn five_x_data_version_is_kept() {
    let text = br#"{"dataVersion":{"counter":3,"stateVersion":1,"timestamp":9},"offsetTable":{"T@G":{0:5}}}"#;
    let (out, m) = rewrite("consumerOffset.json", text, ConsumerOffsetManager::new);
    assert_eq!(m.query("G", "T", 0), Some(5));
    assert_eq!(
        show(&out),
        "{\n\t\"dataVersion\":{\n\t\t\"counter\":3,\n\t\t\"stateVersion\":1,\n\t\t\"timestamp\":9\n\t},\n\t\"offsetTable\":{\n\t\t\"T@G\":{0:5\n\t\t}\n\t}\n}"
    );
    let text = br#"{"dataVersion":{"counter":3,"timestamp":9},"offsetTable":{"2":7}}"#;
    let (out, m) = rewrite("delayOffset.json", text, DelayOffsetManager::new);
    assert_eq!(m.get(2), Some(7));
    assert!(show(&out).ends_with("\"offsetTable\":{2:7\n\t}\n}"));
}

fn offset_table() -> impl Strategy<Value = BTreeMap<String, BTreeMap<i32, i64>>> {
    prop::collection::btree_map(
        ("[a-zA-Z0-9%_-]{1,8}", "[a-zA-Z0-9_-]{1,8}").prop_map(|(t, g)| format!("{t}@{g}")),
        prop::collection::btree_map(any::<i32>(), any::<i64>(), 1..6),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn consumer_offsets_round_trip(table in offset_table()) {
        let dir = tempfile::tempdir().unwrap();
        let m = ConsumerOffsetManager::new(&Fs::real(), dir.path());
        for (key, queues) in &table {
            let (t, g) = key.split_once('@').unwrap();
            for (q, o) in queues {
                m.commit(g, t, *q, *o);
            }
        }
        prop_assert_eq!(&m.table(), &table);
        m.persist().unwrap();
        let text = std::fs::read(m.config_path()).unwrap();
        // the codec reads what we write
        let w = ConsumerOffsetSerializeWrapper::decode(&text).unwrap();
        prop_assert_eq!(&w.offset_table, &table);
        // and a reload gives the same table; its rewrite is stable from then on
        let back = ConsumerOffsetManager::new(&Fs::real(), dir.path());
        prop_assert_eq!(back.load().unwrap(), LoadSource::Main);
        prop_assert_eq!(&back.table(), &table);
        back.persist().unwrap();
        let again = ConsumerOffsetManager::new(&Fs::real(), dir.path());
        again.load().unwrap();
        prop_assert_eq!(again.encode(), back.encode());
    }

    #[test]
    fn delay_offsets_round_trip(table in prop::collection::btree_map(1i32..=64, any::<i64>(), 0..20)) {
        let dir = tempfile::tempdir().unwrap();
        let m = DelayOffsetManager::new(&Fs::real(), dir.path());
        for (l, o) in &table {
            m.set(*l, *o);
        }
        m.persist().unwrap();
        let text = std::fs::read(m.config_path()).unwrap();
        prop_assert_eq!(&DelayOffsetSerializeWrapper::decode(&text).unwrap().offset_table, &table);
        let back = DelayOffsetManager::new(&Fs::real(), dir.path());
        back.load().unwrap();
        prop_assert_eq!(back.table(), table);
        prop_assert_eq!(back.encode(), m.encode());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("consumerOffset.json"), &bytes).unwrap();
        std::fs::write(dir.path().join("topics.json"), &bytes).unwrap();
        let _ = ConsumerOffsetManager::new(&Fs::real(), dir.path()).load();
        let _ = TopicConfigManager::new(&Fs::real(), dir.path(), fixture_settings()).load();
    }
}
