//! The body of SEND_BATCH_MESSAGE (remoting-protocol.md §10.4, `MessageDecoder.encodeMessages`).
//!
//! A plain concatenation of entries, no count and no outer header:
//!
//! | field | size | value |
//! |---|---|---|
//! | totalSize | i32 | size of the entry including this field = 22 + bodyLen + propertiesLen |
//! | magicCode | i32 | 0 (not checked) |
//! | bodyCRC | i32 | 0 (the broker computes its own) |
//! | flag | i32 | `Message.flag` |
//! | bodyLen + body | i32 + n | never compressed in 4.9 |
//! | propertiesLen + properties | i16 + p | the message's own properties, incl. its `UNIQ_KEY` |
//!
//! **Invariant** (checked by default): `totalSize = 22 + bodyLen + propertiesLen`, both lengths
//! ≥ 0 and inside the body. The Java broker never looks at totalSize;
//! [`BatchIter::ignore_total_size`] reads the same way for clients that fill it in wrongly.
//!
//! Each entry becomes one stored record whose properties are the entry's own followed by the
//! batch-level ones from the request header, joined by [`join_properties`].

use bytes::BufMut;
use nom::number::complete::{be_i16, be_i32};
use nom::Parser;

use crate::error::{CodecError, ErrorKind, Result};

use super::parse::{ensure, length_prefixed, to_codec, PErr, PResult};
use super::properties::{MAX_PROPERTIES_LEN, PROPERTY_SEPARATOR};

const CTX: &str = "batch entry";

/// Bytes of an entry besides body and properties.
pub const BATCH_ENTRY_OVERHEAD: usize = 22;

/// One message of a batch body, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    /// As sent (Java writes 0).
    pub magic: i32,
    /// As sent (Java writes 0).
    pub body_crc: i32,
    pub flag: i32,
    pub body: &'a [u8],
    /// Raw properties string of this message.
    pub properties: &'a [u8],
}

impl<'a> BatchEntry<'a> {
    /// An entry as the Java client writes it (magic and CRC 0).
    pub fn new(flag: i32, body: &'a [u8], properties: &'a [u8]) -> Self {
        BatchEntry {
            magic: 0,
            body_crc: 0,
            flag,
            body,
            properties,
        }
    }

    /// totalSize of this entry (saturating on absurd lengths; see [`Self::encode_to`]).
    pub fn total_size(&self) -> usize {
        BATCH_ENTRY_OVERHEAD
            .saturating_add(self.body.len())
            .saturating_add(self.properties.len())
    }

    /// Append the entry; returns its size. Errors: properties over 32767 bytes, entry over
    /// `i32::MAX`, or no room in `out`.
    pub fn encode_to<B: BufMut>(&self, out: &mut B) -> Result<usize> {
        let len = self.total_size();
        let unencodable = |what: String| CodecError::new(CTX, 0, ErrorKind::Unencodable(what));
        if self.properties.len() > MAX_PROPERTIES_LEN {
            return Err(unencodable(format!(
                "properties are {} bytes; at most {MAX_PROPERTIES_LEN} fit",
                self.properties.len()
            )));
        }
        if len > i32::MAX as usize {
            return Err(unencodable(format!(
                "entry of {len} bytes exceeds i32::MAX"
            )));
        }
        if out.remaining_mut() < len {
            return Err(unencodable(format!(
                "output buffer has room for {} bytes, the entry needs {len}",
                out.remaining_mut()
            )));
        }
        out.put_i32(len as i32);
        out.put_i32(self.magic);
        out.put_i32(self.body_crc);
        out.put_i32(self.flag);
        out.put_i32(self.body.len() as i32);
        out.put_slice(self.body);
        out.put_i16(self.properties.len() as i16);
        out.put_slice(self.properties);
        Ok(len)
    }
}

/// Encode a whole batch body.
pub fn encode_batch<'a, I>(entries: I) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = BatchEntry<'a>>,
{
    let mut out = Vec::new();
    for e in entries {
        e.encode_to(&mut out)?;
    }
    Ok(out)
}

/// Fields after totalSize, on input cut to the entry (strict) or the rest of the body (lenient).
fn parse_entry(input: &[u8]) -> PResult<'_, (i32, BatchEntry<'_>)> {
    let (_, ()) = ensure(input, 20)?;
    let (i, (total, magic, body_crc, flag)) = (be_i32, be_i32, be_i32, be_i32).parse(input)?;
    let (i, body) = length_prefixed("bodyLen", 2, be_i32).parse(i)?;
    let (i, properties) = length_prefixed("propertiesLen", 0, be_i16).parse(i)?;
    Ok((
        i,
        (
            total,
            BatchEntry {
                magic,
                body_crc,
                flag,
                body,
                properties,
            },
        ),
    ))
}

fn decode_entry(buf: &[u8], check_total: bool) -> Result<(BatchEntry<'_>, usize)> {
    if !check_total {
        let (rest, (_, entry)) = parse_entry(buf).map_err(|e| to_codec(CTX, buf, e))?;
        return Ok((entry, buf.len() - rest.len()));
    }
    let (_, total) =
        be_i32::<_, PErr>(buf).map_err(|_| CodecError::incomplete(CTX, 0, 4, buf.len()))?;
    let bad_total = |limit: usize| {
        CodecError::new(
            CTX,
            0,
            ErrorKind::BadLength {
                field: "totalSize",
                value: i64::from(total),
                limit: limit as i64,
            },
        )
    };
    let n = usize::try_from(total)
        .ok()
        .filter(|&n| n >= BATCH_ENTRY_OVERHEAD)
        .ok_or_else(|| bad_total(BATCH_ENTRY_OVERHEAD))?;
    let unit = buf.get(..n).ok_or_else(|| bad_total(buf.len()))?;
    let (rest, (_, entry)) = parse_entry(unit).map_err(|e| to_codec(CTX, unit, e))?;
    if !rest.is_empty() {
        return Err(bad_total(n - rest.len()));
    }
    Ok((entry, n))
}

/// Decode the entry at the front of `buf`; returns it and its size. Checks the totalSize
/// invariant; a totalSize beyond the buffer, or lengths that overrun it, are `BadLength`
/// errors (a request body is complete, so a shortfall means a lying length).
pub fn decode_batch_entry(buf: &[u8]) -> Result<(BatchEntry<'_>, usize)> {
    decode_entry(buf, true)
}

/// Iterator over the entries of a batch body; yields the first error (offset relative to the
/// whole body) and then stops.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    check_total: bool,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        BatchIter {
            buf: body,
            pos: 0,
            check_total: true,
            failed: false,
        }
    }

    /// Read like the Java broker: skip totalSize and walk by bodyLen / propertiesLen.
    pub fn ignore_total_size(mut self) -> Self {
        self.check_total = false;
        self
    }

    /// Offset of the next entry within the body.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        match decode_entry(rest, self.check_total) {
            Ok((e, n)) => {
                self.pos += n;
                Some(Ok(e))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.at(self.pos)))
            }
        }
    }
}

impl std::iter::FusedIterator for BatchIter<'_> {}

/// Iterate a batch body (see [`BatchIter`]).
pub fn iter_batch(body: &[u8]) -> BatchIter<'_> {
    BatchIter::new(body)
}

/// Whether the Java broker puts a `0x02` between an entry's own properties and the batch-level
/// ones: both non-empty and the entry's string not already ending with one.
fn needs_separator(own: &[u8], batch: &[u8]) -> bool {
    !own.is_empty() && !batch.is_empty() && own.last() != Some(&PROPERTY_SEPARATOR)
}

/// Length of [`join_properties`]'s result (check it against 32767 before storing).
pub fn joined_properties_len(own: &[u8], batch: &[u8]) -> usize {
    own.len() + usize::from(needs_separator(own, batch)) + batch.len()
}

/// Stored properties of a batch entry (4.9.8 `CommitLog` batch encoder): the entry's own
/// string, a `0x02` if needed, then the batch-level string (the request header's properties
/// plus `CLUSTER`, re-serialized).
pub fn join_properties(own: &[u8], batch: &[u8], out: &mut Vec<u8>) {
    out.reserve(joined_properties_len(own, batch));
    out.extend_from_slice(own);
    if needs_separator(own, batch) {
        out.push(PROPERTY_SEPARATOR);
    }
    out.extend_from_slice(batch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::properties::MessageProperties;
    use crate::message::test_support;
    use proptest::prelude::*;

    #[test]
    fn layout_and_round_trip() {
        let e1 = BatchEntry::new(5, b"body-1", b"UNIQ_KEY\x01A\x02KEYS\x01k1");
        let e2 = BatchEntry::new(0, b"", b"");
        let body = encode_batch([e1, e2]).unwrap();
        assert_eq!(body.len(), 22 + 6 + 18 + 22);
        assert_eq!(&body[0..4], &46i32.to_be_bytes());
        assert_eq!(&body[4..12], &[0u8; 8]);
        let got: Vec<_> = iter_batch(&body).collect::<Result<_>>().unwrap();
        assert_eq!(got, vec![e1, e2]);
        let (first, n) = decode_batch_entry(&body).unwrap();
        assert_eq!((first, n), (e1, 46));
    }

    #[test]
    fn lying_lengths() {
        let body = encode_batch([BatchEntry::new(1, b"abc", b"K\x01V")]).unwrap();
        // totalSize too big, too small, negative
        // (27 cuts the entry inside the properties, which is what the error names)
        for (t, field) in [
            (100i32, "totalSize"),
            (27, "propertiesLen"),
            (-5, "totalSize"),
            (3, "totalSize"),
        ] {
            let mut b = body.clone();
            b[0..4].copy_from_slice(&t.to_be_bytes());
            let e = decode_batch_entry(&b).unwrap_err();
            assert!(
                matches!(e.kind, ErrorKind::BadLength { field: f, .. } if f == field),
                "{t}: {e}"
            );
        }
        // bodyLen over the entry
        let mut b = body.clone();
        b[16..20].copy_from_slice(&50i32.to_be_bytes());
        let e = decode_batch_entry(&b).unwrap_err();
        assert!(
            matches!(
                e.kind,
                ErrorKind::BadLength {
                    field: "bodyLen",
                    value: 50,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.offset, 16);
        // propertiesLen negative
        let mut b = body.clone();
        b[23..25].copy_from_slice(&(-1i16).to_be_bytes());
        assert!(matches!(
            decode_batch_entry(&b).unwrap_err().kind,
            ErrorKind::BadLength {
                field: "propertiesLen",
                ..
            }
        ));
        // short header
        assert!(decode_batch_entry(&body[..10]).is_err());
        // second entry bad: first ok, error offset points into the body, then stop
        let mut two = body.clone();
        two.extend_from_slice(&body[..body.len() - 1]);
        let mut it = iter_batch(&two);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.offset, body.len());
        assert!(it.next().is_none());
        // lenient mode ignores a wrong totalSize, like Java
        let mut b = body.clone();
        b[0..4].copy_from_slice(&0i32.to_be_bytes());
        let got: Vec<_> = iter_batch(&b)
            .ignore_total_size()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(got[0].body, b"abc");
        assert!(iter_batch(&b).next().unwrap().is_err());
    }

    #[test]
    fn joining_properties() {
        let mut out = Vec::new();
        join_properties(b"A\x011", b"CLUSTER\x01c", &mut out);
        assert_eq!(out, b"A\x011\x02CLUSTER\x01c");
        out.clear();
        join_properties(b"A\x011\x02", b"CLUSTER\x01c", &mut out);
        assert_eq!(out, b"A\x011\x02CLUSTER\x01c");
        out.clear();
        join_properties(b"", b"CLUSTER\x01c", &mut out);
        assert_eq!(out, b"CLUSTER\x01c");
        out.clear();
        join_properties(b"A\x011", b"", &mut out);
        assert_eq!(out, b"A\x011");
        assert_eq!(joined_properties_len(b"A\x011", b"B\x012"), 7);
    }

    /// FixB batch records of the fixture: the stored properties are the entry's own string
    /// joined with the batch-level `CLUSTER`/`WAIT` string. Rebuild a batch body from them and
    /// check that joining reproduces every stored string.
    #[test]
    fn fixture_batch_properties() {
        let batch_props = b"CLUSTER\x01DefaultCluster\x02WAIT\x01true";
        let mut own_strings = Vec::new();
        let mut bodies = Vec::new();
        let mut stored = Vec::new();
        for m in test_support::manifest_messages() {
            let raw = m["propertiesRaw"].as_str().unwrap().as_bytes();
            if m["topic"] == "FixB" && raw.ends_with(batch_props) {
                let own = &raw[..raw.len() - batch_props.len() - 1];
                own_strings.push(own.to_vec());
                bodies.push(vec![b'x'; m["bodyLength"].as_u64().unwrap() as usize]);
                stored.push(raw.to_vec());
            }
        }
        assert!(own_strings.len() >= 100, "{}", own_strings.len());
        let body = encode_batch(
            own_strings
                .iter()
                .zip(&bodies)
                .map(|(p, b)| BatchEntry::new(0, b, p)),
        )
        .unwrap();
        for ((e, want), b) in iter_batch(&body).zip(&stored).zip(&bodies) {
            let e = e.unwrap();
            assert_eq!(e.body, &b[..]);
            let mut joined = Vec::new();
            join_properties(e.properties, batch_props, &mut joined);
            assert_eq!(&joined, want);
            assert_eq!(joined_properties_len(e.properties, batch_props), want.len());
            assert!(MessageProperties::parse(e.properties).uniq_key().is_some());
        }
    }

    fn entry_strategy() -> impl Strategy<Value = (i32, Vec<u8>, Vec<u8>)> {
        (
            any::<i32>(),
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::collection::vec(any::<u8>(), 0..100),
        )
    }

    proptest! {
        #[test]
        fn batch_round_trip(entries in proptest::collection::vec(entry_strategy(), 0..6)) {
            let body = encode_batch(entries.iter().map(|(f, b, p)| BatchEntry::new(*f, b, p))).unwrap();
            let got: Vec<_> = iter_batch(&body).collect::<Result<_>>().unwrap();
            prop_assert_eq!(got.len(), entries.len());
            for (g, (f, b, p)) in got.iter().zip(&entries) {
                prop_assert_eq!(g.flag, *f);
                prop_assert_eq!(g.body, &b[..]);
                prop_assert_eq!(g.properties, &p[..]);
            }
            let lenient: Vec<_> = iter_batch(&body).ignore_total_size().collect::<Result<_>>().unwrap();
            prop_assert_eq!(lenient, got);
        }

        #[test]
        fn damaged_batches_never_panic(entries in proptest::collection::vec(entry_strategy(), 1..4),
                                       flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
                                       cut in any::<usize>()) {
            let mut body = encode_batch(entries.iter().map(|(f, b, p)| BatchEntry::new(*f, b, p))).unwrap();
            for (at, x) in flips {
                let i = at % body.len();
                body[i] ^= x;
            }
            let cut = cut % (body.len() + 1);
            let _ = iter_batch(&body[..cut]).count();
            let _ = iter_batch(&body[..cut]).ignore_total_size().count();
        }
    }
}
