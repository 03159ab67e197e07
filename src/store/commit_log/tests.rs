use super::*;
use crate::store::checkpoint::StoreCheckpoint;
use apogee_codec::message::{decode_record, encode_batch, BatchEntry};
use std::net::SocketAddr;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn msg(topic: &str, qid: i32, body: &[u8], props: &[u8]) -> MessageInner {
    MessageInner {
        topic: topic.into(),
        queue_id: qid,
        flag: 7,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: addr("10.0.0.1:5000"),
        store_host: addr("127.0.0.1:10911"),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::copy_from_slice(body),
        properties: props.to_vec(),
    }
}

fn open(dir: &std::path::Path, file_size: usize) -> CommitLog {
    let cl = CommitLog::new(
        &Fs::real(),
        &dir.join("commitlog"),
        file_size,
        4 * 1024 * 1024,
        false,
        Arc::new(Poison::default()),
        None,
    )
    .unwrap();
    cl.load().unwrap();
    cl
}

#[test]
fn append_read_and_roll_with_blank() {
    let dir = tempfile::tempdir().unwrap();
    let cl = open(dir.path(), 4096);
    let mut offsets = Vec::new();
    for i in 0..40 {
        let r = cl
            .append(&msg("T", i % 2, &[i as u8; 200], b"TAGS\x01a"))
            .unwrap();
        assert_eq!(r.logics_offset, (i / 2) as i64);
        offsets.push(r.wrote_offset);
    }
    // Several files, each record readable at its offset with the right fields.
    assert!(cl.queue().files().len() > 1);
    for (i, off) in offsets.iter().enumerate() {
        let b = cl.get_record(*off).unwrap();
        let (rec, n) = decode_record(&b).unwrap();
        assert_eq!(n, b.len());
        assert_eq!(rec.physical_offset, *off);
        assert_eq!(rec.queue_offset, (i / 2) as i64);
        assert_eq!(rec.body, &[i as u8; 200][..]);
        assert_eq!(cl.store_timestamp_at(*off), Some(rec.store_timestamp));
        // No record crosses a file boundary.
        assert_eq!(off / 4096, (off + b.len() as i64 - 1) / 4096);
    }
    // The first file ends with a blank record.
    let f0 = &cl.queue().files()[0];
    let data = f0.slice_from(0).unwrap();
    let mut pos = 0;
    loop {
        let size = i32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let magic = i32::from_be_bytes(data[pos + 4..pos + 8].try_into().unwrap());
        if magic == BLANK_MAGIC {
            assert_eq!(pos + size, 4096);
            break;
        }
        pos += size;
    }
}

#[test]
fn batch_gets_consecutive_offsets_and_joined_props() {
    let dir = tempfile::tempdir().unwrap();
    let cl = open(dir.path(), 1 << 16);
    cl.append(&msg("B", 0, b"first", b"")).unwrap();
    let body = encode_batch([
        BatchEntry::new(1, b"one", b"UNIQ_KEY\x01A"),
        BatchEntry::new(2, b"two", b"UNIQ_KEY\x01B\x02"),
        BatchEntry::new(3, b"", b""),
    ])
    .unwrap();
    let batch = BatchInner {
        topic: "B".into(),
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: addr("10.0.0.1:5000"),
        store_host: addr("127.0.0.1:10911"),
        reconsume_times: 0,
        body: Bytes::from(body),
        batch_properties: b"CLUSTER\x01c".to_vec(),
    };
    let r = cl.append_batch(&batch).unwrap();
    assert_eq!(r.msg_num, 3);
    assert_eq!(r.logics_offset, 1);
    assert_eq!(r.msg_id.split(',').count(), 3);
    let mut phy = r.wrote_offset;
    let mut props = Vec::new();
    for i in 0..3 {
        let b = cl.get_record(phy).unwrap();
        let (rec, _) = decode_record(&b).unwrap();
        assert_eq!(rec.queue_offset, 1 + i);
        assert_eq!(rec.store_timestamp, r.store_timestamp);
        props.push(rec.properties.to_vec());
        phy += b.len() as i64;
    }
    assert_eq!(props[0], b"UNIQ_KEY\x01A\x02CLUSTER\x01c");
    assert_eq!(props[1], b"UNIQ_KEY\x01B\x02CLUSTER\x01c");
    assert_eq!(props[2], b"CLUSTER\x01c");
    assert_eq!(cl.queue_offset("B", 0), 4);
}

#[test]
fn prepared_records_do_not_take_queue_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let cl = open(dir.path(), 1 << 16);
    let mut m = msg("T", 0, b"x", b"");
    m.sys_flag = sysflag::TRANSACTION_PREPARED_TYPE;
    assert_eq!(cl.append(&m).unwrap().logics_offset, 0);
    assert_eq!(cl.append(&msg("T", 0, b"y", b"")).unwrap().logics_offset, 0);
    assert_eq!(cl.append(&msg("T", 0, b"z", b"")).unwrap().logics_offset, 1);
}

#[test]
fn size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let cl = open(dir.path(), 1 << 16);
    let e = cl.append(&msg(&"t".repeat(128), 0, b"x", b"")).unwrap_err();
    assert_eq!(e.0, PutMessageStatus::MessageIllegal);
    let e = cl
        .append(&msg("T", 0, b"x", &vec![b'a'; 40_000]))
        .unwrap_err();
    assert_eq!(e.0, PutMessageStatus::PropertiesSizeExceeded);
    let e = cl.append(&msg("T", 0, &vec![0; 70_000], b"")).unwrap_err();
    assert_eq!(e.0, PutMessageStatus::MessageIllegal, "bigger than a file");
}

#[test]
fn normal_recovery_truncates_torn_tail_and_bad_crc() {
    let dir = tempfile::tempdir().unwrap();
    let levels = vec![1000; 18];
    let (ends, last);
    {
        let cl = open(dir.path(), 4096);
        let mut e = Vec::new();
        for i in 0..30 {
            let r = cl.append(&msg("T", 0, &[i; 100], b"")).unwrap();
            e.push(r.wrote_offset + r.wrote_bytes as i64);
        }
        ends = e;
        last = cl.max_offset();
    }
    // Reopen: everything is recovered.
    {
        let cl = open(dir.path(), 4096);
        assert_eq!(cl.recover_normally(true, &levels).unwrap(), last);
    }
    // Tear the last record (zero its second half) and flip a body byte of the one before.
    let path_of = |off: i64| {
        dir.path()
            .join("commitlog")
            .join(format!("{:020}", off / 4096 * 4096))
    };
    let torn_at = ends[28];
    let p = path_of(torn_at);
    let mut data = std::fs::read(&p).unwrap();
    let pos = (torn_at % 4096) as usize;
    for b in &mut data[pos + 50..pos + 100] {
        *b = 0;
    }
    std::fs::write(&p, &data).unwrap();
    {
        let cl = open(dir.path(), 4096);
        assert_eq!(cl.recover_normally(true, &levels).unwrap(), torn_at);
        // A new append goes right after the last good record and survives another recovery.
        let r = cl.append(&msg("T", 0, b"new", b"")).unwrap();
        assert_eq!(r.wrote_offset, torn_at);
    }
    {
        let cl = open(dir.path(), 4096);
        let end = cl.recover_normally(true, &levels).unwrap();
        let rec = cl.get_record(torn_at).unwrap();
        assert_eq!(decode_record(&rec).unwrap().0.body, b"new");
        assert_eq!(end, torn_at + rec.len() as i64);
    }
    // A bit flip in a body is caught by the CRC.
    let flip_at = ends[10];
    let p = path_of(flip_at);
    let mut data = std::fs::read(&p).unwrap();
    let pos = (flip_at % 4096) as usize;
    let body_pos = pos + 88; // IPv4 hosts: body after the 4-byte BODYLEN at 84
    data[body_pos] ^= 0x40;
    std::fs::write(&p, &data).unwrap();
    let cl = open(dir.path(), 4096);
    assert_eq!(cl.recover_normally(true, &levels).unwrap(), flip_at);
}

#[test]
fn abnormal_recovery_redispatches_from_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let levels = vec![1000; 18];
    let n = 50;
    {
        let cl = open(dir.path(), 4096);
        for i in 0..n {
            cl.append(&msg("T", 0, &[i as u8; 100], b"KEYS\x01k"))
                .unwrap();
        }
    }
    let cp = StoreCheckpoint::open(&Fs::real(), &dir.path().join("checkpoint")).unwrap();
    // Checkpoint from the far past: replay from the first file.
    let cl = open(dir.path(), 4096);
    let mut seen = Vec::new();
    let end = cl
        .recover_abnormally(&cp, false, true, &levels, |r| {
            seen.push(r.consume_queue_offset)
        })
        .unwrap();
    assert_eq!(end, cl.max_offset());
    assert_eq!(seen, (0..n as i64).collect::<Vec<_>>());
    // A checkpoint newer than everything: replay starts at the last file.
    cp.set_physic_msg_timestamp(i64::MAX / 2);
    cp.set_logics_msg_timestamp(i64::MAX / 2);
    let mut seen2 = 0;
    cl.recover_abnormally(&cp, false, true, &levels, |_| seen2 += 1)
        .unwrap();
    assert!(seen2 > 0 && seen2 < n);
}

#[test]
fn delivery_time_of_levels() {
    let levels = vec![1000, 5000];
    assert_eq!(delivery_time(10, 1, &levels), 1010);
    assert_eq!(delivery_time(10, 2, &levels), 5010);
    assert_eq!(delivery_time(10, 9, &levels), 5010);
    assert_eq!(delivery_time(10, 0, &levels), 1010);
}
