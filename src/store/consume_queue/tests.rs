//! Unit tests of the consume queue on real files in temporary directories.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::store::fs::{Fault, Fs, FsOp};

/// 5 units per file.
const SMALL: usize = 100;

fn open_cq(fs: &Fs, root: &Path, file_size: usize) -> ConsumeQueue {
    let cq = ConsumeQueue::new(fs, root, "T", 0, file_size).unwrap();
    cq.load().unwrap();
    cq
}

/// Reopen as after a restart: load + recover.
fn reopen(root: &Path, file_size: usize) -> ConsumeQueue {
    let cq = open_cq(&Fs::real(), root, file_size);
    cq.recover().unwrap();
    cq
}

/// Unit `i` of the standard test data: phy i*100, size 100, tags i.
fn put_n(cq: &ConsumeQueue, range: std::ops::Range<i64>) {
    for i in range {
        assert!(cq.put(i, i * 100, 100, i).unwrap(), "put {i}");
    }
}

fn check_unit(cq: &ConsumeQueue, i: i64) {
    let u = cq.get_unit(i).unwrap_or_else(|| panic!("unit {i} missing"));
    assert_eq!(
        u,
        CqUnit {
            queue_offset: i,
            commit_log_offset: i * 100,
            size: 100,
            tags_code: i
        }
    );
}

fn file_names(cq: &ConsumeQueue) -> Vec<String> {
    cq.mapped_files()
        .iter()
        .map(|f| f.path().file_name().unwrap().to_str().unwrap().to_owned())
        .collect()
}

fn queue_file(root: &Path, name: &str) -> std::path::PathBuf {
    root.join("T").join("0").join(name)
}

/// Overwrite bytes of a file on disk (the queue must be closed).
fn poke(path: &Path, pos: usize, data: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[pos..pos + data.len()].copy_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn unit_codec() {
    let b = encode_unit(0x0102030405060708, -2, i64::MIN);
    assert_eq!(&b[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&b[8..12], &[0xff, 0xff, 0xff, 0xfe]);
    assert_eq!(&b[12..], &[0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(decode_unit(&b), Some((0x0102030405060708, -2, i64::MIN)));
    assert_eq!(decode_unit(&b[..19]), None);
    let blank = CqUnit {
        queue_offset: 0,
        commit_log_offset: 0,
        size: i32::MAX,
        tags_code: 0,
    };
    assert!(blank.is_blank() && blank.is_valid());
}

#[test]
fn put_get_round_trip_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    assert_eq!(
        (cq.min_offset(), cq.max_offset(), cq.max_physic_offset()),
        (0, 0, -1)
    );
    assert!(cq.get_unit(0).is_none());
    assert_eq!(cq.units_from(0, 10).count(), 0);
    put_n(&cq, 0..24);
    assert_eq!(
        file_names(&cq),
        [
            "00000000000000000000",
            "00000000000000000100",
            "00000000000000000200",
            "00000000000000000300",
            "00000000000000000400"
        ]
    );
    assert_eq!((cq.min_offset(), cq.max_offset()), (0, 24));
    assert_eq!(cq.max_physic_offset(), 2400);
    assert_eq!(cq.last_offset(), 2400);
    assert_eq!(cq.message_count(), 24);
    for i in 0..24 {
        check_unit(&cq, i);
    }
    assert!(cq.get_unit(24).is_none());
    assert!(cq.get_unit(-1).is_none());
    assert!(cq.get_unit(i64::MAX).is_none());

    // Across files, bounded by max and by the end of data.
    let mut it = cq.units_from(3, 100);
    let got: Vec<i64> = it.by_ref().map(|u| u.queue_offset).collect();
    assert_eq!(got, (3..24).collect::<Vec<_>>());
    assert_eq!(it.next_offset(), 24);
    assert!(it.next().is_none());
    let mut it = cq.units_from(3, 4);
    assert_eq!(
        it.by_ref().map(|u| u.commit_log_offset).collect::<Vec<_>>(),
        [300, 400, 500, 600]
    );
    assert_eq!(it.next_offset(), 7);
    // One file only.
    let mut it = cq.units_in_file_from(3, 100);
    assert_eq!(it.by_ref().count(), 2);
    assert_eq!(it.next_offset(), 5);
    assert_eq!(cq.roll_next_file(3), 5);
    assert_eq!(cq.roll_next_file(5), 10);

    // The bytes are the big-endian units, back to back.
    cq.flush(0).unwrap();
    let first = std::fs::read(queue_file(dir.path(), "00000000000000000000")).unwrap();
    let expect: Vec<u8> = (0..5).flat_map(|i| encode_unit(i * 100, 100, i)).collect();
    assert_eq!(first, expect);
    let last = std::fs::read(queue_file(dir.path(), "00000000000000000400")).unwrap();
    assert_eq!(last.len(), SMALL);
    assert_eq!(&last[80..], &[0u8; 20]);
    drop(cq);

    let cq = reopen(dir.path(), SMALL);
    assert_eq!((cq.min_offset(), cq.max_offset()), (0, 24));
    assert_eq!(cq.max_physic_offset(), 2400);
    for i in 0..24 {
        check_unit(&cq, i);
    }
    put_n(&cq, 24..26);
    check_unit(&cq, 25);
    assert_eq!(cq.mapped_files().len(), 6);
}

#[test]
fn duplicates_and_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    put_n(&cq, 0..7);
    // Same record again: phy + size <= max physical offset.
    assert!(cq.put(3, 300, 100, 3).unwrap());
    assert!(cq.put(6, 600, 100, 6).unwrap());
    // A position already written, even with a new physical offset.
    assert!(cq.put(5, 5000, 100, 5).unwrap());
    assert!(cq.put(0, 7000, 100, 0).unwrap());
    assert_eq!(cq.max_offset(), 7);
    check_unit(&cq, 5);
    check_unit(&cq, 0);
    assert_eq!(cq.max_physic_offset(), 700);
    // A gap: logged, and written at the current position (as Java does).
    assert!(cq.put(9, 900, 100, 9).unwrap());
    assert_eq!(cq.max_offset(), 8);
    assert_eq!(cq.get_unit(7).unwrap().commit_log_offset, 900);
    assert!(cq.get_unit(9).is_none());
    // Nonsense is refused.
    for (q, phy, size) in [
        (-1, 0, 1),
        (0, -1, 1),
        (0, 0, 0),
        (i64::MAX, 0, 1),
        (0, i64::MAX, 1),
    ] {
        let e = cq.put(q, phy, size, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
    assert_eq!(cq.max_offset(), 8);
}

#[test]
fn first_file_at_nonzero_offset_is_padded() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    // Offset 12 lives at byte 240: file 200, two blank units before it.
    assert!(cq.put(12, 1200, 100, 12).unwrap());
    assert_eq!(file_names(&cq), ["00000000000000000200"]);
    assert_eq!((cq.min_offset(), cq.max_offset()), (12, 13));
    assert_eq!(cq.min_logic_offset(), 240);
    assert!(cq.get_unit(10).is_none() && cq.get_unit(11).is_none());
    check_unit(&cq, 12);
    assert_eq!(cq.units_from(0, 10).count(), 0);
    assert_eq!(cq.units_from(12, 10).count(), 1);
    put_n(&cq, 13..16);
    assert_eq!(cq.max_offset(), 16);
    assert_eq!(cq.max_physic_offset(), 1600);
    cq.flush(0).unwrap();
    assert_eq!(cq.flushed_where(), 320);
    let bytes = std::fs::read(queue_file(dir.path(), "00000000000000000200")).unwrap();
    let blank = encode_unit(0, i32::MAX, 0);
    assert_eq!(&bytes[..20], &blank);
    assert_eq!(&bytes[20..40], &blank);
    assert_eq!(&bytes[40..60], &encode_unit(1200, 100, 12));
    drop(cq);

    // After a restart the blank units are valid data for recovery, but never the min offset.
    let cq = reopen(dir.path(), SMALL);
    assert_eq!(cq.max_offset(), 16);
    assert_eq!(cq.max_physic_offset(), 1600);
    cq.correct_min_offset(0);
    assert_eq!(cq.min_offset(), 12);
    cq.correct_min_offset(1400);
    assert_eq!(cq.min_offset(), 14);
    drop(cq);

    // A queue starting exactly at a file boundary needs no padding.
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    assert!(cq.put(10, 1000, 100, 10).unwrap());
    assert_eq!(file_names(&cq), ["00000000000000000200"]);
    assert_eq!((cq.min_offset(), cq.max_offset()), (10, 11));
    check_unit(&cq, 10);
}

#[test]
fn recovery_stops_at_bad_tail() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    put_n(&cq, 0..13);
    cq.flush(0).unwrap();
    drop(cq);
    // Zero the last unit (a unit whose write never reached the disk).
    poke(
        &queue_file(dir.path(), "00000000000000000200"),
        40,
        &[0; 20],
    );
    let cq = reopen(dir.path(), SMALL);
    assert_eq!(cq.max_offset(), 12);
    assert_eq!(cq.max_physic_offset(), 1200);
    assert_eq!(cq.flushed_where(), 240);
    put_n(&cq, 12..13);
    check_unit(&cq, 12);
    drop(cq);

    // A torn unit (size 0, garbage after it) in the middle file: later files go, the garbage
    // is zeroed.
    poke(
        &queue_file(dir.path(), "00000000000000000100"),
        48,
        &[0, 0, 0, 0],
    );
    poke(
        &queue_file(dir.path(), "00000000000000000100"),
        80,
        &[0xAB; 20],
    );
    let cq = reopen(dir.path(), SMALL);
    assert_eq!(cq.max_offset(), 7);
    assert_eq!(cq.max_physic_offset(), 700);
    assert_eq!(file_names(&cq).len(), 2);
    assert!(!queue_file(dir.path(), "00000000000000000200").exists());
    let bytes = std::fs::read(queue_file(dir.path(), "00000000000000000100")).unwrap();
    assert!(bytes[40..].iter().all(|b| *b == 0));
    put_n(&cq, 7..9);
    check_unit(&cq, 8);
    drop(cq);

    // A negative physical offset also ends the data.
    poke(
        &queue_file(dir.path(), "00000000000000000100"),
        20,
        &(-5i64).to_be_bytes(),
    );
    let cq = reopen(dir.path(), SMALL);
    assert_eq!(cq.max_offset(), 6);
    drop(cq);

    // Recovery starts at the third-to-last file: damage before it goes unnoticed (as in Java).
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    put_n(&cq, 0..18);
    cq.flush(0).unwrap();
    drop(cq);
    poke(
        &queue_file(dir.path(), "00000000000000000000"),
        20,
        &[0; 20],
    );
    let cq = reopen(dir.path(), SMALL);
    assert_eq!(cq.max_offset(), 18);
    // ... and a first unit that is invalid leaves an empty last file.
    drop(cq);
    poke(&queue_file(dir.path(), "00000000000000000300"), 0, &[0; 20]);
    let cq = reopen(dir.path(), SMALL);
    assert_eq!(cq.max_offset(), 15);
    assert_eq!(cq.max_physic_offset(), 1500);
    put_n(&cq, 15..16);
    check_unit(&cq, 15);
}

#[test]
fn truncate_dirty_follows_the_commit_log() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    put_n(&cq, 0..13);
    // Past the end: nothing happens.
    cq.truncate_dirty(10_000).unwrap();
    assert_eq!((cq.max_offset(), cq.max_physic_offset()), (13, 1300));
    // Units with phy >= 750 go: 0..=7 stay.
    cq.truncate_dirty(750).unwrap();
    assert_eq!((cq.max_offset(), cq.max_physic_offset()), (8, 800));
    assert_eq!(file_names(&cq).len(), 2);
    assert!(!queue_file(dir.path(), "00000000000000000200").exists());
    assert!(cq.get_unit(8).is_none());
    // The record at 800 is dispatched again.
    put_n(&cq, 8..9);
    check_unit(&cq, 8);
    // A cut at a file boundary deletes the file after it.
    cq.truncate_dirty(500).unwrap();
    assert_eq!((cq.max_offset(), cq.max_physic_offset()), (5, 500));
    assert_eq!(file_names(&cq), ["00000000000000000000"]);
    // Everything.
    cq.truncate_dirty(0).unwrap();
    assert_eq!(
        (cq.min_offset(), cq.max_offset(), cq.max_physic_offset()),
        (0, 0, -1)
    );
    assert!(cq.mapped_files().is_empty());
    put_n(&cq, 0..2);
    check_unit(&cq, 1);
    drop(cq);
    let cq = reopen(dir.path(), SMALL);
    assert_eq!(cq.max_offset(), 2);
}

#[test]
fn expiry_and_min_offset() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    put_n(&cq, 0..18);
    assert_eq!(cq.delete_expired_files(0).unwrap(), 0);
    assert_eq!(cq.min_offset(), 0);
    // Files 0 (last phy 400) and 1 (last phy 900) are below 1050; file 2 (1400) is not.
    assert_eq!(cq.delete_expired_files(1050).unwrap(), 2);
    assert_eq!(cq.mapped_files().len(), 2);
    assert!(!queue_file(dir.path(), "00000000000000000000").exists());
    assert_eq!(cq.min_offset(), 11);
    assert!(cq.get_unit(10).is_none());
    check_unit(&cq, 11);
    assert_eq!(cq.units_from(0, 5).count(), 0);
    assert_eq!(cq.message_count(), 7);
    // The last file is never deleted.
    assert_eq!(cq.delete_expired_files(1_000_000).unwrap(), 1);
    assert_eq!(file_names(&cq), ["00000000000000000300"]);
    // No unit qualifies: the min offset stays, but not below the first file.
    assert_eq!(cq.min_offset(), 15);
    assert_eq!(cq.max_offset(), 18);
    cq.correct_min_offset(1600);
    assert_eq!(cq.min_offset(), 16);
    drop(cq);
    let cq = reopen(dir.path(), SMALL);
    cq.correct_min_offset(0);
    assert_eq!((cq.min_offset(), cq.max_offset()), (15, 18));
}

fn set_mtime(path: &Path, ms: i64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64))
        .unwrap();
}

#[test]
fn offset_by_time_binary_search() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), 40 * 20);
    assert_eq!(cq.offset_by_time(5, 0, |_, _| Some(0)), 0);
    // Unit i stores at 1_700_000_000_000 + 10 * i; units 20 and 21 share a timestamp.
    let base = 1_700_000_000_000i64;
    let time_of = |phy: i64| base + 10 * (phy / 100) - i64::from(phy >= 2100) * 10;
    put_n(&cq, 0..70);
    cq.flush(0).unwrap();
    set_mtime(
        &queue_file(dir.path(), "00000000000000000000"),
        time_of(3900),
    );
    set_mtime(
        &queue_file(dir.path(), "00000000000000000800"),
        time_of(6900),
    );
    let lookup = |t: i64| {
        cq.offset_by_time(t, 0, |phy, size| {
            assert_eq!(size, 100);
            Some(time_of(phy))
        })
    };
    for i in 0..70 {
        let r = lookup(time_of(i * 100));
        assert_eq!(time_of(r * 100), time_of(i * 100), "unit {i} -> {r}");
    }
    assert!([20, 21].contains(&lookup(time_of(2000))));
    // Between two records: the closer one (the older one on a tie).
    assert_eq!(lookup(base + 10 * 5 + 3), 5);
    assert_eq!(lookup(base + 10 * 5 + 7), 6);
    assert_eq!(lookup(base + 10 * 5 + 5), 5);
    // Before everything: the first unit; after everything: the last.
    assert_eq!(lookup(base - 1000), 0);
    assert_eq!(lookup(base + 1_000_000), 69);
    // In the second file's time range.
    assert_eq!(lookup(base + 10 * 50 - 10 + 4), 50);
    // Units below the CommitLog min offset count as older.
    assert_eq!(
        cq.offset_by_time(base, 1000, |phy, _| Some(time_of(phy))),
        10
    );
    // Unreadable store time: 0.
    assert_eq!(cq.offset_by_time(base + 100, 0, |_, _| None), 0);
}

#[test]
fn wrong_file_size_and_odd_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let table = ConsumeQueueTable::new(&Fs::real(), root, SMALL).unwrap();
    table
        .find_or_create("A", 0)
        .unwrap()
        .put(0, 0, 10, 0)
        .unwrap();
    table
        .find_or_create("A", 3)
        .unwrap()
        .put(0, 10, 10, 0)
        .unwrap();
    drop(table);
    std::fs::create_dir_all(root.join("A").join("abc")).unwrap();
    std::fs::create_dir_all(root.join("A").join("007")).unwrap();
    std::fs::write(root.join("A").join("5"), b"not a dir").unwrap();
    std::fs::write(root.join("stray-file"), b"x").unwrap();
    std::fs::create_dir_all(root.join("B").join("-1")).unwrap();
    let table = ConsumeQueueTable::new(&Fs::real(), root, SMALL).unwrap();
    table.load().unwrap();
    assert_eq!(table.recover_all().unwrap(), 20);
    let mut keys: Vec<_> = table.topic_queue_table().into_iter().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("A-0".to_owned(), 1),
            ("A-3".to_owned(), 1),
            ("B--1".to_owned(), 0)
        ]
    );
    // Wrong size.
    let bad = root.join("C").join("0");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("00000000000000000000"), [0u8; SMALL - 20]).unwrap();
    let table = ConsumeQueueTable::new(&Fs::real(), root, SMALL).unwrap();
    let e = table.load().unwrap_err();
    assert!(e.to_string().contains("configured file size"), "{e}");
    std::fs::remove_dir_all(root.join("C")).unwrap();
    // A file whose name is not a multiple of the file size.
    std::fs::write(
        root.join("A").join("0").join("00000000000000000150"),
        [0u8; SMALL],
    )
    .unwrap();
    let table = ConsumeQueueTable::new(&Fs::real(), root, SMALL).unwrap();
    assert_eq!(table.load().unwrap_err().kind(), io::ErrorKind::InvalidData);
    // Bad sizes and names.
    assert!(ConsumeQueueTable::new(&Fs::real(), root, 30).is_err());
    assert!(ConsumeQueueTable::new(&Fs::real(), root, 0).is_err());
    let table = ConsumeQueueTable::new(&Fs::real(), root, SMALL).unwrap();
    for t in ["", ".", "..", "a/b", "a\\b"] {
        assert!(table.find_or_create(t, 0).is_err(), "{t:?}");
    }
}

#[test]
fn table_operations() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let table = ConsumeQueueTable::new(&Fs::real(), root, SMALL).unwrap();
    assert!(table.is_empty());
    assert!(table.get("A", 0).is_none());
    let a0 = table.find_or_create("A", 0).unwrap();
    assert!(Arc::ptr_eq(&a0, &table.find_or_create("A", 0).unwrap()));
    assert!(Arc::ptr_eq(&a0, &table.get("A", 0).unwrap()));
    // Two queues interleaved in one CommitLog: phy i*100, A gets even, B odd.
    let b1 = table.find_or_create("B", 1).unwrap();
    for i in 0..24i64 {
        let (q, off) = if i % 2 == 0 {
            (&a0, i / 2)
        } else {
            (&b1, i / 2)
        };
        assert!(q.put(off, i * 100, 100, 0).unwrap());
    }
    let z = table.find_or_create("Z", 0).unwrap(); // never written
    assert_eq!(z.max_offset(), 0);
    assert_eq!(table.len(), 3);
    assert!(table.flush_all(0).unwrap());
    assert_eq!(table.max_physic_offset(), 2400);
    drop((a0, b1, z));
    drop(table);

    let table = ConsumeQueueTable::new(&Fs::real(), root, SMALL).unwrap();
    table.load().unwrap();
    assert_eq!(table.len(), 2); // Z had no directory
    assert_eq!(table.recover_all().unwrap(), 2400);
    let tqt = table.topic_queue_table();
    assert_eq!(tqt.get("A-0"), Some(&12));
    assert_eq!(tqt.get("B-1"), Some(&12));
    // CommitLog cut at 1550: A keeps phy 0..=1400 (8 units), B 100..=1500 (8 units).
    table.truncate_all_dirty(1550).unwrap();
    assert_eq!(table.get("A", 0).unwrap().max_offset(), 8);
    assert_eq!(table.get("B", 1).unwrap().max_offset(), 8);
    assert_eq!(table.max_physic_offset(), 1600);
    // Expire up to 1000: A's first file (last phy 800) and B's (900) go.
    assert_eq!(table.delete_expired(1000).unwrap(), 2);
    assert_eq!(table.get("A", 0).unwrap().min_offset(), 5);
    assert_eq!(table.get("B", 1).unwrap().min_offset(), 5);
    table.correct_min_offsets(1200);
    assert_eq!(table.get("A", 0).unwrap().min_offset(), 6);
    assert_eq!(table.get("B", 1).unwrap().min_offset(), 6);
    // A queue whose records are all gone is removed; the schedule topic never is.
    let s = table.find_or_create(SCHEDULE_TOPIC, 2).unwrap();
    s.put(0, 100, 100, 0).unwrap();
    let removed = table.clean_expired_queues(1550).unwrap();
    assert_eq!(removed, [("A".to_owned(), 0)]);
    assert!(table.get("A", 0).is_none());
    assert!(!root.join("A").join("0").exists());
    assert!(table.get(SCHEDULE_TOPIC, 2).is_some());
    // Topic removal.
    assert_eq!(table.remove_topic("B").unwrap(), 1);
    assert_eq!(table.remove_topic("B").unwrap(), 0);
    assert!(!root.join("B").exists());
    assert_eq!(table.topics(), [SCHEDULE_TOPIC.to_owned()]);
    table.destroy_all().unwrap();
    assert!(table.is_empty());
    assert!(!root.join(SCHEDULE_TOPIC).exists());
}

#[test]
fn faults_are_reported_and_recoverable() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Fs::faultable();
    let cq = open_cq(&fs, dir.path(), SMALL);
    fs.arm(Fault::new(
        FsOp::Create,
        "T/0",
        1,
        io::ErrorKind::StorageFull,
    ));
    assert_eq!(
        cq.put(0, 0, 100, 0).unwrap_err().kind(),
        io::ErrorKind::StorageFull
    );
    assert_eq!(cq.max_offset(), 0);
    put_n(&cq, 0..15);
    // Rolling to a new file fails, then works.
    fs.arm(Fault::new(
        FsOp::Create,
        "T/0",
        1,
        io::ErrorKind::StorageFull,
    ));
    assert!(cq.put(15, 1500, 100, 15).is_err());
    assert_eq!(cq.max_offset(), 15);
    put_n(&cq, 15..16);
    fs.arm(Fault::new(FsOp::Sync, "T/0", 1, io::ErrorKind::Other));
    assert!(cq.flush(0).is_err());
    assert!(cq.flush(0).unwrap());
    // A failed delete leaves the queue consistent; a retry finishes the job.
    fs.arm(Fault::new(
        FsOp::Remove,
        "00000000000000000100",
        1,
        io::ErrorKind::PermissionDenied,
    ));
    assert!(cq.delete_expired_files(1200).is_err());
    assert_eq!(
        file_names(&cq),
        [
            "00000000000000000100",
            "00000000000000000200",
            "00000000000000000300"
        ]
    );
    assert_eq!(cq.min_offset(), 5);
    check_unit(&cq, 5);
    assert_eq!(cq.delete_expired_files(1200).unwrap(), 1);
    assert_eq!(cq.min_offset(), 12);
    // A failed truncation is reported.
    fs.arm(Fault::new(
        FsOp::Remove,
        "T/0",
        1,
        io::ErrorKind::PermissionDenied,
    ));
    assert!(cq.truncate_dirty(1250).is_err());
    fs.disarm_all();
    cq.truncate_dirty(1250).unwrap();
    assert_eq!(cq.max_offset(), 13);
}

/// xorshift64*: deterministic noise for the corruption test.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn corrupt_files_never_panic() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let qdir = dir.path().join("T").join("0");
        std::fs::create_dir_all(&qdir).unwrap();
        let files = 1 + noise(&mut seed) % 4;
        for f in 0..files {
            let mut bytes = vec![0u8; SMALL];
            // Mostly valid-looking units, some garbage, some zeros.
            for (i, unit) in bytes.chunks_exact_mut(20).enumerate() {
                let r = noise(&mut seed);
                let v = match r % 5 {
                    0 => [0u8; 20],
                    1 => {
                        let mut u = [0u8; 20];
                        for b in u.iter_mut() {
                            *b = noise(&mut seed) as u8;
                        }
                        u
                    }
                    _ => {
                        let n = (f as i64) * 5 + i as i64;
                        encode_unit(n * 100, 100, n)
                    }
                };
                unit.copy_from_slice(&v);
            }
            std::fs::write(qdir.join(format!("{:020}", f * SMALL as u64)), bytes).unwrap();
        }
        let cq = open_cq(&Fs::real(), dir.path(), SMALL);
        let probe = |cq: &ConsumeQueue| {
            for o in [-1, 0, 1, 7, cq.max_offset(), i64::MAX, i64::MIN] {
                let _ = cq.get_unit(o);
                let _ = cq.units_from(o, 1000).count();
                let _ = cq.units_in_file_from(o, 1000).count();
                let _ = cq.roll_next_file(o);
            }
            let _ = cq.last_offset();
            let _ = cq.offset_by_time(noise(&mut 7u64) as i64, 0, |phy, _| {
                (phy % 3 != 0).then_some(phy)
            });
        };
        probe(&cq);
        cq.recover().unwrap();
        probe(&cq);
        cq.correct_min_offset((noise(&mut seed) % 2000) as i64);
        probe(&cq);
        let phy = (noise(&mut seed) % 2000) as i64 - 100;
        cq.truncate_dirty(phy).unwrap();
        probe(&cq);
        cq.delete_expired_files((noise(&mut seed) % 2000) as i64)
            .unwrap();
        probe(&cq);
        let next = cq.max_offset();
        let _ = cq.put(next, 100_000 + round, 1, 0).unwrap();
        let _ = cq.put(next + 3, 200_000, 1, 0).unwrap();
        probe(&cq);
    }
}

#[test]
fn readers_never_see_partial_units() {
    let dir = tempfile::tempdir().unwrap();
    let cq = Arc::new(open_cq(&Fs::real(), dir.path(), 200));
    let writer = {
        let cq = Arc::clone(&cq);
        std::thread::spawn(move || put_n(&cq, 0..3000))
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let cq = Arc::clone(&cq);
            std::thread::spawn(move || {
                let mut seen = 0i64;
                while seen < 3000 {
                    let mut it = cq.units_from(seen, 64);
                    for u in it.by_ref() {
                        assert_eq!(u.queue_offset, seen);
                        assert_eq!(
                            (u.commit_log_offset, u.size, u.tags_code),
                            (seen * 100, 100, seen)
                        );
                        seen += 1;
                    }
                    assert_eq!(it.next_offset(), seen);
                    assert!(cq.max_offset() >= seen);
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(cq.max_offset(), 3000);
}

#[test]
fn destroy_and_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open_cq(&Fs::real(), dir.path(), SMALL);
    put_n(&cq, 0..7);
    cq.destroy().unwrap();
    assert!(!dir.path().join("T").join("0").exists());
    assert_eq!(
        (cq.min_offset(), cq.max_offset(), cq.max_physic_offset()),
        (0, 0, -1)
    );
    // A later record for this queue starts it again where it belongs.
    assert!(cq.put(7, 700, 100, 7).unwrap());
    assert_eq!((cq.min_offset(), cq.max_offset()), (7, 8));
    check_unit(&cq, 7);
}
