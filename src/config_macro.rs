//! A declarative macro for configuration structs that are set from Java-style properties
//! (`broker.conf`): each field has its Java property name, a type and a default.
//!
//! The generated struct offers `set(key, value)` (Ok(false) for an unknown key, Err naming the
//! key for an ill-typed value) and `to_properties()` (every key with its current value, the
//! text `mqbroker -p` prints).

/// A value that can be read from a property string.
pub trait PropValue: Sized {
    fn parse_prop(s: &str) -> Option<Self>;
    fn show_prop(&self) -> String;
}

macro_rules! prop_int {
    ($($t:ty),*) => {$(
        impl PropValue for $t {
            fn parse_prop(s: &str) -> Option<Self> { s.trim().parse().ok() }
            fn show_prop(&self) -> String { self.to_string() }
        }
    )*};
}
prop_int!(i32, i64, u16, u32, u64, usize, f64);

impl PropValue for bool {
    fn parse_prop(s: &str) -> Option<Self> {
        // Java's Boolean.parseBoolean would read anything else as false; a typo in a config
        // file deserves an error instead.
        match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    fn show_prop(&self) -> String {
        self.to_string()
    }
}

impl PropValue for String {
    fn parse_prop(s: &str) -> Option<Self> {
        Some(s.trim().to_owned())
    }
    fn show_prop(&self) -> String {
        self.clone()
    }
}

/// Declare a config struct: `config_struct! { pub struct Name { rust_name: Type = default => "javaName", ... } }`.
#[macro_export]
macro_rules! config_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $default:expr => $key:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $name {
            /// Every Java property name this struct knows.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Set a property by its Java name. `Ok(false)`: unknown key (the caller logs and
            /// ignores it); `Err`: the value does not parse as the key's type.
            pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
                match key {
                    $( $key => {
                        self.$field = <$ty as $crate::config_macro::PropValue>::parse_prop(value)
                            .ok_or_else(|| format!(
                                "config key '{}': {:?} is not a valid {}",
                                $key, value, stringify!($ty)
                            ))?;
                        Ok(true)
                    } )*
                    _ => Ok(false),
                }
            }

            /// `(key, value)` for every property, in declaration order.
            pub fn to_properties(&self) -> Vec<(&'static str, String)> {
                vec![ $( ($key, $crate::config_macro::PropValue::show_prop(&self.$field)), )* ]
            }
        }
    };
}
