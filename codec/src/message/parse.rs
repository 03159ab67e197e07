//! nom plumbing shared by the record and batch parsers.
//!
//! The parsers run on complete, bounded slices (a record cut at its TOTALSIZE, a batch entry cut
//! at its totalSize), so running out of input always means "a length field lies". The error type
//! [`PErr`] remembers the input position and why the parse failed; [`to_codec`] turns it into a
//! [`CodecError`] whose offset is relative to the start of the unit being decoded.

use nom::bytes::complete::take;
use nom::error::{ErrorKind as NomKind, ParseError};
use nom::{IResult, Parser};

use crate::error::{CodecError, ErrorKind};

/// Why a message parser stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    /// Input ended; `need` bytes were required at the position.
    Eof { need: usize },
    /// A length field is negative or larger than the bytes left for it.
    BadLength {
        field: &'static str,
        value: i64,
        limit: i64,
    },
    /// Any other violation.
    Invalid(String),
    /// A failure reported by a nom combinator itself.
    Nom(NomKind),
}

/// Error type of the message parsers: position (the remaining input) plus reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PErr<'a> {
    pub input: &'a [u8],
    pub why: Why,
}

impl<'a> PErr<'a> {
    pub fn bad_length(input: &'a [u8], field: &'static str, value: i64, limit: i64) -> Self {
        PErr {
            input,
            why: Why::BadLength {
                field,
                value,
                limit,
            },
        }
    }

    pub fn invalid(input: &'a [u8], what: impl Into<String>) -> Self {
        PErr {
            input,
            why: Why::Invalid(what.into()),
        }
    }

    /// Wrap as a non-recoverable nom failure.
    pub fn fail<T>(self) -> IResult<&'a [u8], T, PErr<'a>> {
        Err(nom::Err::Failure(self))
    }
}

impl<'a> ParseError<&'a [u8]> for PErr<'a> {
    fn from_error_kind(input: &'a [u8], kind: NomKind) -> Self {
        let why = if kind == NomKind::Eof {
            // nom does not say how much was missing; at least one more byte.
            Why::Eof {
                need: input.len().saturating_add(1),
            }
        } else {
            Why::Nom(kind)
        };
        PErr { input, why }
    }

    fn append(_input: &'a [u8], _kind: NomKind, other: Self) -> Self {
        other
    }
}

/// Result type of the message parsers.
pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, PErr<'a>>;

/// Convert a parser failure into a [`CodecError`]; `unit` is the whole slice the parse started
/// on, so the offset is `unit.len() - remaining.len()`.
pub(crate) fn to_codec(context: &'static str, unit: &[u8], err: nom::Err<PErr<'_>>) -> CodecError {
    match err {
        nom::Err::Incomplete(needed) => {
            let need = match needed {
                nom::Needed::Size(n) => n.get(),
                nom::Needed::Unknown => 1,
            };
            CodecError::incomplete(context, unit.len(), need, 0)
        }
        nom::Err::Error(e) | nom::Err::Failure(e) => {
            let offset = unit.len().saturating_sub(e.input.len());
            match e.why {
                Why::Eof { need } => CodecError::incomplete(context, offset, need, e.input.len()),
                Why::BadLength {
                    field,
                    value,
                    limit,
                } => CodecError::new(
                    context,
                    offset,
                    ErrorKind::BadLength {
                        field,
                        value,
                        limit,
                    },
                ),
                Why::Invalid(what) => CodecError::invalid(context, offset, what),
                Why::Nom(kind) => {
                    CodecError::invalid(context, offset, format!("parse error ({kind:?})"))
                }
            }
        }
    }
}

/// Fail with [`Why::Eof`] unless at least `n` bytes are left (so the fixed-width nom parsers
/// that follow cannot fail and the error names the real shortfall).
pub(crate) fn ensure(input: &[u8], n: usize) -> PResult<'_, ()> {
    if input.len() < n {
        Err(nom::Err::Failure(PErr {
            input,
            why: Why::Eof { need: n },
        }))
    } else {
        Ok((input, ()))
    }
}

/// A length-prefixed byte field: `len` reads the length, which must be in
/// `0 ..= remaining - reserve` (`reserve` = bytes that must still follow the field). On a lie the
/// error points at the length field itself.
pub(crate) fn length_prefixed<'a, L, N>(
    field: &'static str,
    reserve: usize,
    mut len: L,
) -> impl FnMut(&'a [u8]) -> PResult<'a, &'a [u8]>
where
    L: Parser<&'a [u8], Output = N, Error = PErr<'a>>,
    N: Into<i64>,
{
    move |input: &'a [u8]| {
        let (rest, n) = len.parse(input)?;
        let n: i64 = n.into();
        let limit = rest.len().saturating_sub(reserve);
        let limit_i64 = i64::try_from(limit).unwrap_or(i64::MAX);
        if n < 0 || n > limit_i64 {
            return PErr::bad_length(input, field, n, limit_i64).fail();
        }
        // 0 <= n <= limit <= rest.len(): take cannot fail.
        take(n as usize).parse(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nom::number::complete::be_i32;

    #[test]
    fn length_prefixed_checks_range() {
        let data = [0u8, 0, 0, 3, b'a', b'b', b'c', 9];
        let (rest, v) = length_prefixed("X", 1, be_i32).parse(&data[..]).unwrap();
        assert_eq!(v, b"abc");
        assert_eq!(rest, &[9]);

        let err = length_prefixed("X", 2, be_i32)
            .parse(&data[..])
            .unwrap_err();
        let e = to_codec("t", &data, err);
        assert_eq!(e.offset, 0);
        assert!(matches!(
            e.kind,
            ErrorKind::BadLength {
                field: "X",
                value: 3,
                limit: 2
            }
        ));

        let neg = [0xFFu8, 0xFF, 0xFF, 0xFF];
        let err = length_prefixed("X", 0, be_i32).parse(&neg[..]).unwrap_err();
        assert!(matches!(
            to_codec("t", &neg, err).kind,
            ErrorKind::BadLength { value: -1, .. }
        ));
    }

    #[test]
    fn eof_maps_to_incomplete() {
        let data = [1u8, 2];
        let err = be_i32::<_, PErr>(&data[..]).unwrap_err();
        let e = to_codec("t", &data, err);
        assert!(e.is_incomplete());
        let err = ensure(&data[1..], 4).unwrap_err();
        let e = to_codec("t", &data, err);
        assert_eq!(e.offset, 1);
        assert_eq!(e.kind, ErrorKind::Incomplete { need: 4, have: 1 });
    }
}
