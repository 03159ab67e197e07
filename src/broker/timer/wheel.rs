//! The timing wheel: a file of fixed-size slots, one per `timerPrecisionMs` of time, each the
//! head of a linked list of timer-log entries due in that slot.
//!
//! Slot layout (big-endian, [`SLOT_SIZE`] = 24 bytes): `time_ms i64` (start of the slot's
//! interval), `last i64` (timer-log position of the newest entry, −1 for none), `count i64`.
//! Slot index of a time `t` is `(t / precision) mod slots`; the wheel spans
//! `slots × precision` ms, and the caller keeps every occupied slot within one span ahead of
//! its read position (so a slot never holds two rounds at once; the stored `time_ms` tells a
//! stale slot from a live one).
//!
//! Memory: the slots live in the file (read and written with `pread`/`pwrite`); in memory is
//! only a bitmap of occupied slots (1 bit per slot: 64 KiB for the default 3-day maximum at
//! 1 s precision), which finds the next occupied slot without touching the file.
//!
//! The wheel is an index derived from the timer log: at start it is rebuilt from the log's
//! pending entries ([`Wheel::reset`] then [`Wheel::link`] per entry), so a wheel file left
//! half-written by a crash is never trusted.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Size of one slot.
pub const SLOT_SIZE: u64 = 24;

/// One slot as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub time_ms: i64,
    pub last: i64,
    pub count: i64,
}

impl Slot {
    const EMPTY: Slot = Slot {
        time_ms: 0,
        last: -1,
        count: 0,
    };

    fn encode(&self) -> [u8; SLOT_SIZE as usize] {
        let mut b = [0u8; SLOT_SIZE as usize];
        b[0..8].copy_from_slice(&self.time_ms.to_be_bytes());
        b[8..16].copy_from_slice(&self.last.to_be_bytes());
        b[16..24].copy_from_slice(&self.count.to_be_bytes());
        b
    }

    fn decode(b: &[u8; SLOT_SIZE as usize]) -> Slot {
        let at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            i64::from_be_bytes(x)
        };
        Slot {
            time_ms: at(0),
            last: at(8),
            count: at(16),
        }
    }
}

/// The open wheel. Owned by the timer actor.
pub struct Wheel {
    file: File,
    slots: u64,
    precision: i64,
    /// Bit `i` set: slot `i` holds entries.
    occupied: Vec<u64>,
}

impl Wheel {
    /// Open (create) the wheel file with `slots` slots of `precision` ms, emptied.
    pub fn reset(path: &Path, slots: u64, precision: i64) -> io::Result<Wheel> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let slots = slots.max(1);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        // Sparse zeros; a zero slot has count 0 and is empty whatever `last` says.
        file.set_len(slots * SLOT_SIZE)?;
        Ok(Wheel {
            file,
            slots,
            precision: precision.max(1),
            occupied: vec![0; slots.div_ceil(64) as usize],
        })
    }

    pub fn precision(&self) -> i64 {
        self.precision
    }

    /// Time covered by the wheel, ms.
    pub fn span_ms(&self) -> i64 {
        i64::try_from(self.slots)
            .unwrap_or(i64::MAX)
            .saturating_mul(self.precision)
    }

    /// Start of the slot interval holding `t`.
    pub fn slot_time(&self, t: i64) -> i64 {
        t.div_euclid(self.precision) * self.precision
    }

    fn index(&self, t: i64) -> u64 {
        // rem_euclid of a positive modulus is in [0, slots).
        t.div_euclid(self.precision)
            .rem_euclid(i64::try_from(self.slots).unwrap_or(i64::MAX)) as u64
    }

    fn read_slot(&self, i: u64) -> io::Result<Slot> {
        let mut b = [0u8; SLOT_SIZE as usize];
        self.file.read_exact_at(&mut b, i * SLOT_SIZE)?;
        let s = Slot::decode(&b);
        Ok(if s.count <= 0 { Slot::EMPTY } else { s })
    }

    fn write_slot(&mut self, i: u64, s: &Slot) -> io::Result<()> {
        self.file.write_all_at(&s.encode(), i * SLOT_SIZE)?;
        let (w, bit) = ((i / 64) as usize, i % 64);
        if let Some(word) = self.occupied.get_mut(w) {
            if s.count > 0 {
                *word |= 1 << bit;
            } else {
                *word &= !(1 << bit);
            }
        }
        Ok(())
    }

    /// Add the entry at timer-log position `pos` to the slot of `slot_time`; returns the
    /// previous head (−1 for none), which the entry must store as its `prev`. A slot holding
    /// another round (a stale `time_ms`) is started afresh.
    pub fn link(&mut self, slot_time: i64, pos: u64) -> io::Result<i64> {
        let i = self.index(slot_time);
        let mut s = self.read_slot(i)?;
        if s.count <= 0 || s.time_ms != slot_time {
            s = Slot {
                time_ms: slot_time,
                last: -1,
                count: 0,
            };
        }
        let prev = s.last;
        s.last = i64::try_from(pos).map_err(io::Error::other)?;
        s.count += 1;
        self.write_slot(i, &s)?;
        Ok(prev)
    }

    /// Empty the slot of `slot_time` and return what it held. `None` when it is empty or
    /// holds another round (which is left in place).
    pub fn take(&mut self, slot_time: i64) -> io::Result<Option<Slot>> {
        let i = self.index(slot_time);
        let s = self.read_slot(i)?;
        if s.count <= 0 || s.time_ms != slot_time {
            return Ok(None);
        }
        self.write_slot(i, &Slot::EMPTY)?;
        Ok(Some(s))
    }

    /// Start time of the first occupied slot at or after `from` (a slot time), looking at most
    /// one span ahead.
    pub fn next_occupied(&self, from: i64) -> Option<i64> {
        let start = self.index(from);
        let words = self.occupied.len() as u64;
        // Scan the words from start's word, wrapping once.
        for k in 0..=words {
            let w = ((start / 64) + k) % words.max(1);
            let mut word = *self.occupied.get(w as usize)?;
            if k == 0 {
                word &= !0u64 << (start % 64);
            }
            if k == words {
                // Wrapped back to start's word: only bits below start remain.
                word &= (1u64 << (start % 64)).wrapping_sub(1);
            }
            if word != 0 {
                let i = w * 64 + u64::from(word.trailing_zeros());
                if i >= self.slots {
                    continue;
                }
                let ahead = (i + self.slots - start) % self.slots;
                let ahead = i64::try_from(ahead).ok()?;
                return Some(from + ahead * self.precision);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_take_and_find() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wheel::reset(&dir.path().join("wheel"), 100, 1000).unwrap();
        assert_eq!(w.span_ms(), 100_000);
        assert_eq!(w.slot_time(12_345), 12_000);
        assert_eq!(w.slot_time(-1), -1000);
        assert_eq!(w.next_occupied(0), None);

        assert_eq!(w.link(50_000, 0).unwrap(), -1);
        assert_eq!(w.link(50_000, 40).unwrap(), 0);
        assert_eq!(w.link(120_000, 80).unwrap(), -1);
        assert_eq!(w.next_occupied(25_000), Some(50_000));
        assert_eq!(w.next_occupied(50_000), Some(50_000));
        // 120 000 is index 20, after wrapping from 51 000.
        assert_eq!(w.next_occupied(51_000), Some(120_000));

        let s = w.take(50_000).unwrap().unwrap();
        assert_eq!((s.last, s.count), (40, 2));
        assert_eq!(w.take(50_000).unwrap(), None);
        assert_eq!(w.next_occupied(50_000), Some(120_000));
        // Same index, another round: not handed out for this time, and kept.
        assert_eq!(w.take(20_000).unwrap(), None);
        assert_eq!(w.take(120_000).unwrap().unwrap().count, 1);
        assert_eq!(w.next_occupied(0), None);

        // A stale round in a slot is replaced by a link for the new round.
        w.link(3_000, 0).unwrap();
        assert_eq!(w.link(103_000, 40).unwrap(), -1);
        assert_eq!(w.take(103_000).unwrap().unwrap().count, 1);
    }

    #[test]
    fn next_occupied_scans_every_word_and_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wheel::reset(&dir.path().join("wheel"), 200, 10).unwrap();
        for (t, pos) in [(1990, 0u64), (650, 40), (10, 80)] {
            w.link(t, pos).unwrap();
        }
        assert_eq!(w.next_occupied(0), Some(10));
        assert_eq!(w.next_occupied(20), Some(650));
        assert_eq!(w.next_occupied(660), Some(1990));
        // From 2000 (index 0) the next is 2010 (index 1, the round of time 10 one span on).
        assert_eq!(w.next_occupied(2000), Some(2010));
        w.take(10).unwrap();
        w.take(650).unwrap();
        assert_eq!(w.next_occupied(2000), Some(3990));
        w.take(1990).unwrap();
        assert_eq!(w.next_occupied(2000), None);
    }
}
