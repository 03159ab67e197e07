//! The machinery shared by every typed header: field value conversion, field
//! metadata, and the `define_header!` macro that turns a list of
//! `(field, kind, type, key)` rows into a struct plus its [`CommandHeader`] impl.
//!
//! [`CommandHeader`]: crate::ext_fields::CommandHeader

use crate::error::{CodecError, Result};
use crate::ext_fields::{parse_bool, parse_i32, parse_i64, ExtFields};

/// How a header field behaves when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// `@CFNotNull` in Java: a plain Rust value; absence is a
    /// [`MissingField`](crate::error::ErrorKind::MissingField) error.
    Required,
    /// A nullable Java field: an `Option`; written only when `Some`.
    Optional,
    /// A Java primitive (or a field with a non-null initialiser) without `@CFNotNull`:
    /// Java always writes it, and a receiver that does not find it keeps the initial
    /// value. A plain Rust value, always written, defaulted when absent.
    Defaulted,
}

/// The value type a field travels as (always as text inside `extFields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Java `String`.
    Str,
    /// Java `Integer` / `int`: decimal text, 32-bit.
    Int,
    /// Java `Long` / `long`: decimal text, 64-bit.
    Long,
    /// Java `Boolean` / `boolean`: `parseBoolean` semantics (only case-insensitive `true` is true).
    Bool,
}

/// One field of a header: its `extFields` key (= the Java field name), kind and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderField {
    pub key: &'static str,
    pub kind: FieldKind,
    pub ty: FieldType,
}

/// Static facts about a header type.
pub trait HeaderInfo {
    /// The simple name of the Java class this header mirrors (also the error context).
    const JAVA_CLASS: &'static str;
    /// The header's own fields, in declaration order. Keys of an embedded base header
    /// (e.g. [`RpcRequestHeader`](super::RpcRequestHeader)) are not listed here.
    const FIELDS: &'static [HeaderField];
}

/// A scalar that can live in `extFields`.
pub(crate) trait FieldValue: Sized {
    const TYPE: FieldType;

    /// Parse the raw text of `key`; `ctx` names the header for the error.
    fn parse_field(ctx: &'static str, key: &'static str, raw: &str) -> Result<Self>;

    /// Write the value under `key`.
    fn put_field(&self, fields: &mut ExtFields, key: &str);

    /// A required field: absent is a missing-field error.
    fn required(fields: &ExtFields, ctx: &'static str, key: &'static str) -> Result<Self> {
        let raw = fields
            .get(key)
            .ok_or_else(|| CodecError::missing(ctx, key))?;
        Self::parse_field(ctx, key, raw)
    }

    /// An optional field: absent is `None`, present but ill-typed is an error.
    fn optional(fields: &ExtFields, ctx: &'static str, key: &'static str) -> Result<Option<Self>> {
        fields
            .get(key)
            .map(|raw| Self::parse_field(ctx, key, raw))
            .transpose()
    }
}

impl FieldValue for String {
    const TYPE: FieldType = FieldType::Str;
    fn parse_field(_ctx: &'static str, _key: &'static str, raw: &str) -> Result<Self> {
        Ok(raw.to_owned())
    }
    fn put_field(&self, fields: &mut ExtFields, key: &str) {
        fields.put_str(key, self);
    }
}

impl FieldValue for i32 {
    const TYPE: FieldType = FieldType::Int;
    fn parse_field(ctx: &'static str, key: &'static str, raw: &str) -> Result<Self> {
        parse_i32(ctx, key, raw)
    }
    fn put_field(&self, fields: &mut ExtFields, key: &str) {
        fields.put_num(key, *self);
    }
}

impl FieldValue for i64 {
    const TYPE: FieldType = FieldType::Long;
    fn parse_field(ctx: &'static str, key: &'static str, raw: &str) -> Result<Self> {
        parse_i64(ctx, key, raw)
    }
    fn put_field(&self, fields: &mut ExtFields, key: &str) {
        fields.put_num(key, *self);
    }
}

impl FieldValue for bool {
    const TYPE: FieldType = FieldType::Bool;
    fn parse_field(_ctx: &'static str, _key: &'static str, raw: &str) -> Result<Self> {
        Ok(parse_bool(raw))
    }
    fn put_field(&self, fields: &mut ExtFields, key: &str) {
        fields.put_bool(key, *self);
    }
}

/// Declares a header struct from a table of fields.
///
/// ```text
/// define_header! {
///     /// docs…
///     pub struct Name = "JavaClassName"
///         [, base rpc: RpcRequestHeader]      // embedded base header (optional)
///         [, check path::to::fn]              // Java checkFields (optional)
///     {
///         /// field docs…
///         rust_field: req  i64    = "javaField",      // @CFNotNull -> i64
///         other:      opt  String = "other",          // nullable   -> Option<String>
///         flag:       dflt bool   = "flag" => false,  // primitive  -> bool, default if absent
///     }
/// }
/// ```
///
/// Generated: the struct (all fields `pub`; derives `Debug, Clone, PartialEq, Eq`), a
/// `Default` impl honouring the `dflt` values, [`HeaderInfo`] (Java class name and field
/// table) and [`CommandHeader`](crate::ext_fields::CommandHeader):
/// * `write_fields` writes `req`/`dflt` fields always and `opt` fields when `Some`, after
///   the base header's keys;
/// * `read_fields` reads the base header, then each field (missing `req` →
///   `CodecError::missing(JavaClass, key)`, ill-typed → `CodecError::invalid_field`),
///   ignores unknown keys, and finally runs the `check` function if one is given
///   (`fn(&Self) -> Result<()>`, Java's `checkFields`).
macro_rules! define_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $class:literal
            $(, base $base:ident : $bty:ty)?
            $(, check $check:path)?
        {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $kind:ident $ty:ty = $key:literal $(=> $dflt:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $(
                #[doc = "Base-class keys."]
                pub $base: $bty,
            )?
            $(
                $(#[$fmeta])*
                #[doc = concat!("\n\nKey `", $key, "`.")]
                pub $field: define_header!(@ty $kind $ty),
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $( $base: <$bty as Default>::default(), )?
                    $( $field: define_header!(@default $kind $ty $(, $dflt)?), )*
                }
            }
        }

        impl $crate::header::HeaderInfo for $name {
            const JAVA_CLASS: &'static str = $class;
            const FIELDS: &'static [$crate::header::HeaderField] = &[
                $(
                    $crate::header::HeaderField {
                        key: $key,
                        kind: define_header!(@kind $kind),
                        ty: <$ty as $crate::header::macros::FieldValue>::TYPE,
                    },
                )*
            ];
        }

        impl $crate::ext_fields::CommandHeader for $name {
            fn write_fields(&self, fields: &mut $crate::ext_fields::ExtFields) {
                $( $crate::ext_fields::CommandHeader::write_fields(&self.$base, fields); )?
                $( define_header!(@write $kind $ty, self.$field, fields, $key); )*
                let _ = fields;
            }

            fn read_fields(
                fields: &$crate::ext_fields::ExtFields,
            ) -> $crate::error::Result<Self> {
                let header = $name {
                    $( $base: <$bty as $crate::ext_fields::CommandHeader>::read_fields(fields)?, )?
                    $( $field: define_header!(@read $kind $ty, $class, fields, $key $(, $dflt)?), )*
                };
                let _ = fields;
                $( $check(&header)?; )?
                Ok(header)
            }
        }
    };

    // ---- field type ------------------------------------------------------------------
    (@ty req $t:ty) => { $t };
    (@ty opt $t:ty) => { Option<$t> };
    (@ty dflt $t:ty) => { $t };

    // ---- metadata ----------------------------------------------------------------------
    (@kind req) => { $crate::header::FieldKind::Required };
    (@kind opt) => { $crate::header::FieldKind::Optional };
    (@kind dflt) => { $crate::header::FieldKind::Defaulted };

    // ---- Default::default() ------------------------------------------------------------
    (@default req $t:ty) => { <$t as Default>::default() };
    (@default opt $t:ty) => { None };
    (@default dflt $t:ty, $d:expr) => { $d };

    // ---- reading -----------------------------------------------------------------------
    (@read req $t:ty, $ctx:expr, $f:ident, $key:literal) => {
        <$t as $crate::header::macros::FieldValue>::required($f, $ctx, $key)?
    };
    (@read opt $t:ty, $ctx:expr, $f:ident, $key:literal) => {
        <$t as $crate::header::macros::FieldValue>::optional($f, $ctx, $key)?
    };
    (@read dflt $t:ty, $ctx:expr, $f:ident, $key:literal, $d:expr) => {
        <$t as $crate::header::macros::FieldValue>::optional($f, $ctx, $key)?.unwrap_or($d)
    };

    // ---- writing -----------------------------------------------------------------------
    (@write req $t:ty, $v:expr, $f:ident, $key:literal) => {
        <$t as $crate::header::macros::FieldValue>::put_field(&$v, $f, $key)
    };
    (@write dflt $t:ty, $v:expr, $f:ident, $key:literal) => {
        <$t as $crate::header::macros::FieldValue>::put_field(&$v, $f, $key)
    };
    (@write opt $t:ty, $v:expr, $f:ident, $key:literal) => {
        if let Some(value) = &$v {
            <$t as $crate::header::macros::FieldValue>::put_field(value, $f, $key)
        }
    };
}
