//! Test helpers shared by the header modules.

use std::fmt::Debug;

use crate::error::{CodecError, ErrorKind};
use crate::ext_fields::CommandHeader;
use crate::header::{FieldKind, FieldType, HeaderInfo};

/// Keys a base header may contribute (`RpcRequestHeader` + 5.x `lo`).
const BASE_KEYS: &[&str] = &["ns", "nsd", "bname", "oway"];

/// Exercise a header with a *full* sample (every optional field `Some`):
/// round trip, missing required fields, ill-typed numbers, defaulted and optional
/// fields left out, unknown keys ignored, and only known keys written.
pub(crate) fn check_header<T>(sample: T)
where
    T: CommandHeader + HeaderInfo + Default + PartialEq + Debug + Clone,
{
    let class = T::JAVA_CLASS;
    let map = sample.to_ext_fields();
    assert_eq!(
        T::read_fields(&map).as_ref(),
        Ok(&sample),
        "{class}: round trip"
    );

    // Only known keys are written, and a full sample writes every field.
    for (k, _) in map.iter() {
        assert!(
            T::FIELDS.iter().any(|f| f.key == k) || BASE_KEYS.contains(&k),
            "{class}: unexpected key {k}"
        );
    }
    for f in T::FIELDS {
        assert!(map.contains_key(f.key), "{class}: sample lacks {}", f.key);
    }

    let defaults = T::default().to_ext_fields();
    for f in T::FIELDS {
        let mut without = map.clone();
        without.remove(f.key);
        match f.kind {
            FieldKind::Required => {
                assert_eq!(
                    T::read_fields(&without),
                    Err(CodecError::missing(class, f.key)),
                    "{class}: missing {}",
                    f.key
                );
            }
            FieldKind::Optional => {
                let h = T::read_fields(&without)
                    .unwrap_or_else(|e| panic!("{class}: without {}: {e}", f.key));
                assert!(!h.to_ext_fields().contains_key(f.key), "{class}: {}", f.key);
            }
            FieldKind::Defaulted => {
                let h = T::read_fields(&without)
                    .unwrap_or_else(|e| panic!("{class}: without {}: {e}", f.key));
                assert_eq!(
                    h.to_ext_fields().get(f.key),
                    defaults.get(f.key),
                    "{class}: default of {}",
                    f.key
                );
            }
        }

        let bad: &[&str] = match f.ty {
            FieldType::Int => &["x1", "", "1.5", "2147483648", "-2147483649"],
            FieldType::Long => &["x1", "", "0x10", "9223372036854775808"],
            FieldType::Str | FieldType::Bool => &[],
        };
        for b in bad {
            let mut ill = map.clone();
            ill.insert(f.key, *b);
            let err = T::read_fields(&ill).expect_err("ill-typed value accepted");
            assert_eq!(err.context, class);
            match err.kind {
                ErrorKind::InvalidField { field, value, .. } => {
                    assert_eq!(field, f.key);
                    assert_eq!(value, *b);
                }
                other => panic!("{class}: {}: unexpected {other:?}", f.key),
            }
        }
        if f.ty == FieldType::Bool {
            let mut b = map.clone();
            b.insert(f.key, "TRUE");
            let h = T::read_fields(&b).expect("bool");
            assert_eq!(h.to_ext_fields().get(f.key), Some("true"));
            b.insert(f.key, "yes");
            let h = T::read_fields(&b).expect("bool");
            assert_eq!(h.to_ext_fields().get(f.key), Some("false"));
        }
    }

    // Unknown keys and hook keys are ignored.
    let mut noisy = map.clone();
    for k in crate::header::extra_keys::ALL {
        noisy.insert(*k, "");
    }
    noisy.insert("zzUnknown", "whatever");
    assert_eq!(
        T::read_fields(&noisy).as_ref(),
        Ok(&sample),
        "{class}: noise"
    );

    // Numbers with blanks are tolerated (like the rest of the codec).
    for f in T::FIELDS {
        if matches!(f.ty, FieldType::Int | FieldType::Long) {
            let mut m = map.clone();
            let v = format!(" {} ", map.get(f.key).unwrap_or("0"));
            m.insert(f.key, v);
            assert_eq!(T::read_fields(&m).as_ref(), Ok(&sample), "{class}: blanks");
        }
    }
}

/// Write → read must give the same value (used by the property tests).
pub(crate) fn round_trip<T>(h: &T) -> T
where
    T: CommandHeader + Debug,
{
    let map = h.to_ext_fields();
    T::read_fields(&map).unwrap_or_else(|e| panic!("{h:?}: {e}"))
}

/// Proptest strategies reused across modules.
pub(crate) mod arb {
    use crate::header::RpcRequestHeader;
    use proptest::prelude::*;

    /// Any text, including empty and non-ASCII.
    pub fn text() -> impl Strategy<Value = String> {
        any::<String>()
    }

    pub fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    pub fn rpc() -> impl Strategy<Value = RpcRequestHeader> {
        (
            opt_text(),
            any::<Option<bool>>(),
            opt_text(),
            any::<Option<bool>>(),
        )
            .prop_map(|(ns, nsd, bname, oway)| RpcRequestHeader {
                ns,
                nsd,
                bname,
                oway,
            })
    }
}
