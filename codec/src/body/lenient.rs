//! Lenient field readers reproducing fastjson's coercions.
//!
//! fastjson accepts a JSON number where a `String` is expected and a numeric string where an
//! `int`/`long` is expected, treats `null` as "leave the default", and so on. Clients rely on
//! it: the C++ client sends `subVersion` as a string, ali-ons sends numbers and booleans
//! where Java sends strings. These helpers are used with `#[serde(deserialize_with = ...)]`.
//!
//! * [`scalar`]: `i64`, `i32`, `bool`, `f64`, `String` from any JSON scalar; `null` → zero/empty.
//! * [`option`]: the same, `null` → `None`.
//! * [`vec()`] / [`set`]: arrays of coerced scalars; `null` → empty.
//! * [`or_default`]: any `Deserialize + Default` type, `null` → default (for collections,
//!   beans and enums).
//! * [`bool_true`]: a `bool` whose Java default is `true` (`null` keeps `true`).
//! * [`language`]: a `LanguageCode` written as its name, read from a name or an ordinal.

use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::Serializer;

use crate::language::LanguageCode;

/// A value read with fastjson's coercions (see the module docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lenient<T>(pub T);

/// Scalars fastjson coerces between.
pub trait Coerce: Sized + Default {
    /// What the value is, for error messages.
    const EXPECTED: &'static str;
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
    fn from_bool(v: bool) -> Option<Self>;
    fn from_str(v: &str) -> Option<Self>;
}

fn f64_to_i64(v: f64) -> Option<i64> {
    // Truncation like Java's (long) cast; out-of-range and NaN are refused.
    if v.is_finite() && v >= i64::MIN as f64 && v <= i64::MAX as f64 {
        Some(v as i64)
    } else {
        None
    }
}

impl Coerce for i64 {
    const EXPECTED: &'static str = "an integer";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
    fn from_u64(v: u64) -> Option<Self> {
        i64::try_from(v).ok()
    }
    fn from_f64(v: f64) -> Option<Self> {
        f64_to_i64(v)
    }
    fn from_bool(v: bool) -> Option<Self> {
        Some(i64::from(v))
    }
    fn from_str(v: &str) -> Option<Self> {
        let t = v.trim();
        if t.is_empty() {
            return Some(0);
        }
        t.parse::<i64>()
            .ok()
            .or_else(|| t.parse::<f64>().ok().and_then(f64_to_i64))
    }
}

impl Coerce for i32 {
    const EXPECTED: &'static str = "a 32-bit integer";
    fn from_i64(v: i64) -> Option<Self> {
        i32::try_from(v).ok()
    }
    fn from_u64(v: u64) -> Option<Self> {
        i32::try_from(v).ok()
    }
    fn from_f64(v: f64) -> Option<Self> {
        f64_to_i64(v).and_then(|v| i32::try_from(v).ok())
    }
    fn from_bool(v: bool) -> Option<Self> {
        Some(i32::from(v))
    }
    fn from_str(v: &str) -> Option<Self> {
        <i64 as Coerce>::from_str(v).and_then(|v| i32::try_from(v).ok())
    }
}

impl Coerce for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
    fn from_bool(v: bool) -> Option<Self> {
        Some(if v { 1.0 } else { 0.0 })
    }
    fn from_str(v: &str) -> Option<Self> {
        let t = v.trim();
        if t.is_empty() {
            return Some(0.0);
        }
        t.parse().ok()
    }
}

impl Coerce for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v != 0)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v != 0)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v != 0.0)
    }
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
    fn from_str(v: &str) -> Option<Self> {
        let t = v.trim();
        if t.eq_ignore_ascii_case("true") || t == "1" || t.eq_ignore_ascii_case("y") {
            Some(true)
        } else if t.eq_ignore_ascii_case("false")
            || t == "0"
            || t.is_empty()
            || t.eq_ignore_ascii_case("n")
        {
            Some(false)
        } else {
            None
        }
    }
}

impl Coerce for String {
    const EXPECTED: &'static str = "a string";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v.to_string())
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v.to_string())
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v.to_string())
    }
    fn from_bool(v: bool) -> Option<Self> {
        Some(v.to_string())
    }
    fn from_str(v: &str) -> Option<Self> {
        Some(v.to_owned())
    }
}

struct CoerceVisitor<T>(PhantomData<T>);

impl<T: Coerce> CoerceVisitor<T> {
    fn check<E: de::Error>(v: Option<T>, what: impl fmt::Display) -> Result<T, E> {
        v.ok_or_else(|| E::custom(format_args!("{what} is not {}", T::EXPECTED)))
    }
}

impl<'de, T: Coerce> Visitor<'de> for CoerceVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Self::check(T::from_bool(v), v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Self::check(T::from_i64(v), v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Self::check(T::from_u64(v), v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Self::check(T::from_f64(v), v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Self::check(T::from_str(v), format_args!("{v:?}"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Coerce> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CoerceVisitor(PhantomData)).map(Lenient)
    }
}

/// A coerced scalar; `null` gives zero / `false` / `""`.
pub fn scalar<'de, D: Deserializer<'de>, T: Coerce>(d: D) -> Result<T, D::Error> {
    Lenient::<T>::deserialize(d).map(|l| l.0)
}

/// An optional coerced scalar; `null` gives `None`.
pub fn option<'de, D: Deserializer<'de>, T: Coerce>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Lenient<T>>::deserialize(d).map(|o| o.map(|l| l.0))
}

/// An array of coerced scalars; `null` gives an empty vector.
pub fn vec<'de, D: Deserializer<'de>, T: Coerce>(d: D) -> Result<Vec<T>, D::Error> {
    Option::<Vec<Lenient<T>>>::deserialize(d)
        .map(|o| o.unwrap_or_default().into_iter().map(|l| l.0).collect())
}

/// A set of coerced scalars; `null` gives an empty set.
pub fn set<'de, D: Deserializer<'de>, T: Coerce + Ord>(d: D) -> Result<BTreeSet<T>, D::Error> {
    Option::<Vec<Lenient<T>>>::deserialize(d)
        .map(|o| o.unwrap_or_default().into_iter().map(|l| l.0).collect())
}

/// Any value; `null` gives its default.
pub fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A `bool` whose Java default is `true`: `null` keeps `true`.
pub fn bool_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    option::<D, bool>(d).map(|o| o.unwrap_or(true))
}

/// `LanguageCode` as fastjson writes it (the name) and reads it (name or ordinal).
pub mod language {
    use super::*;

    pub fn serialize<S: Serializer>(lang: &LanguageCode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(lang.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LanguageCode, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LanguageCode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a LanguageCode name or ordinal")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LanguageCode, E> {
                match v.trim().parse::<u8>() {
                    Ok(code) => Ok(LanguageCode::from_code(code)),
                    Err(_) => Ok(LanguageCode::from_name(v)),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LanguageCode, E> {
                Ok(u8::try_from(v)
                    .map(LanguageCode::from_code)
                    .unwrap_or(LanguageCode::Other))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LanguageCode, E> {
                Ok(u8::try_from(v)
                    .map(LanguageCode::from_code)
                    .unwrap_or(LanguageCode::Other))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LanguageCode, E> {
                Ok(LanguageCode::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<LanguageCode, E> {
                Ok(LanguageCode::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LanguageCode, D::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct T {
        #[serde(deserialize_with = "scalar")]
        n: i64,
        #[serde(deserialize_with = "scalar")]
        i: i32,
        #[serde(deserialize_with = "scalar")]
        b: bool,
        #[serde(deserialize_with = "scalar")]
        s: String,
        #[serde(deserialize_with = "scalar")]
        f: f64,
        #[serde(deserialize_with = "option")]
        o: Option<i64>,
        #[serde(deserialize_with = "set")]
        codes: BTreeSet<i32>,
        #[serde(deserialize_with = "bool_true")]
        t: bool,
        #[serde(with = "language")]
        lang: LanguageCode,
    }

    #[test]
    fn coercions() {
        let t: T = serde_json::from_str(
            r#"{"n":"17","i":3.9,"b":"true","s":42,"f":"1.5","o":null,"codes":["1",2],"t":null,"lang":1}"#,
        )
        .unwrap();
        assert_eq!(
            (t.n, t.i, t.b, t.s.as_str(), t.f, t.o),
            (17, 3, true, "42", 1.5, None)
        );
        assert_eq!(t.codes.into_iter().collect::<Vec<_>>(), vec![1, 2]);
        assert!(t.t);
        assert_eq!(t.lang, LanguageCode::Cpp);
        let t: T = serde_json::from_str(
            r#"{"n":null,"s":true,"b":1,"o":"5","lang":"PYTHON","codes":null}"#,
        )
        .unwrap();
        assert_eq!((t.n, t.s.as_str(), t.b, t.o), (0, "true", true, Some(5)));
        assert_eq!(t.lang, LanguageCode::Python);
        assert!(serde_json::from_str::<T>(r#"{"n":"abc"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"i":4294967296}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"n":{"$ref":"$"}}"#).is_err());
    }
}
