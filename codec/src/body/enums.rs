//! Java enums that appear in JSON bodies.
//!
//! fastjson writes an enum as its **name**; it reads either the name or the integer
//! **ordinal** (the C++ client sends ordinals in heartbeats). The Rust enums below are
//! serialised by name and deserialised from a name (exact, then case-insensitive, then a few
//! aliases), an ordinal, or an ordinal written as a string. Unknown values are an error; put
//! [`lenient::or_default`](super::lenient::or_default) on a field to turn `null` into the default.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

macro_rules! java_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $var:ident = $jname:literal $(| $alias:literal)* ),+ $(,)?
        }
        default = $default:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $var ),+
        }

        impl $name {
            /// Every value, in Java declaration (ordinal) order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The Java enum name, as fastjson writes it.
            pub fn name(self) -> &'static str {
                match self { $($name::$var => $jname),+ }
            }

            /// The Java ordinal.
            pub fn ordinal(self) -> usize {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0)
            }

            /// From a Java ordinal.
            pub fn from_ordinal(ordinal: i64) -> Option<Self> {
                usize::try_from(ordinal).ok().and_then(|i| Self::ALL.get(i).copied())
            }

            /// From the Java name (exact, else ASCII case-insensitive), an alias, or a
            /// decimal ordinal.
            pub fn from_name(name: &str) -> Option<Self> {
                let name = name.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == name)
                    .or_else(|| Self::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(name)))
                    .or_else(|| match name {
                        $($( n if n.eq_ignore_ascii_case($alias) => Some($name::$var), )*)+
                        _ => None,
                    })
                    .or_else(|| name.parse::<i64>().ok().and_then(Self::from_ordinal))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        write!(f, "a {} name or ordinal", stringify!($name))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_name(v).ok_or_else(|| {
                            E::custom(format_args!("unknown {} {:?}", stringify!($name), v))
                        })
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        $name::from_ordinal(v).ok_or_else(|| {
                            E::custom(format_args!("{} ordinal {} out of range", stringify!($name), v))
                        })
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        self.visit_i64(i64::try_from(v).unwrap_or(-1))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        if v.fract() == 0.0 && v.is_finite() {
                            self.visit_i64(v as i64)
                        } else {
                            Err(E::custom(format_args!("{} ordinal {} is not an integer", stringify!($name), v)))
                        }
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

java_enum! {
    /// `ConsumeType`: how a consumer fetches (`ConsumerData.consumeType`).
    pub enum ConsumeType {
        /// Pull consumer ("PULL").
        ConsumeActively = "CONSUME_ACTIVELY" | "PULL",
        /// Push consumer ("PUSH").
        ConsumePassively = "CONSUME_PASSIVELY" | "PUSH",
        /// 5.x POP consumer ("POP").
        ConsumePop = "CONSUME_POP" | "POP",
    }
    default = ConsumePassively;
}

java_enum! {
    /// `MessageModel`: broadcasting or clustering consumption.
    pub enum MessageModel {
        Broadcasting = "BROADCASTING",
        Clustering = "CLUSTERING",
    }
    default = Clustering;
}

java_enum! {
    /// `ConsumeFromWhere`: where a new consumer group starts.
    pub enum ConsumeFromWhere {
        ConsumeFromLastOffset = "CONSUME_FROM_LAST_OFFSET",
        /// Deprecated in Java.
        ConsumeFromLastOffsetAndFromMinWhenBootFirst = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        /// Deprecated in Java.
        ConsumeFromMinOffset = "CONSUME_FROM_MIN_OFFSET",
        /// Deprecated in Java.
        ConsumeFromMaxOffset = "CONSUME_FROM_MAX_OFFSET",
        ConsumeFromFirstOffset = "CONSUME_FROM_FIRST_OFFSET",
        ConsumeFromTimestamp = "CONSUME_FROM_TIMESTAMP",
    }
    default = ConsumeFromLastOffset;
}

java_enum! {
    /// `TopicFilterType` of a `TopicConfig`.
    pub enum TopicFilterType {
        SingleTag = "SINGLE_TAG",
        MultiTag = "MULTI_TAG",
    }
    default = SingleTag;
}

java_enum! {
    /// `CMResult`: outcome of CONSUME_MESSAGE_DIRECTLY.
    pub enum ConsumeResult {
        Success = "CR_SUCCESS",
        Later = "CR_LATER",
        Rollback = "CR_ROLLBACK",
        Commit = "CR_COMMIT",
        ThrowException = "CR_THROW_EXCEPTION",
        ReturnNull = "CR_RETURN_NULL",
    }
    default = Success;
}

java_enum! {
    /// 5.x `MessageRequestMode`: how a group consumes a topic (SET_MESSAGE_REQUEST_MODE,
    /// QUERY_ASSIGNMENT).
    pub enum MessageRequestMode {
        Pull = "PULL",
        Pop = "POP",
    }
    default = Pull;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ordinals() {
        for (i, v) in ConsumeFromWhere::ALL.iter().enumerate() {
            assert_eq!(v.ordinal(), i);
            assert_eq!(ConsumeFromWhere::from_ordinal(i as i64), Some(*v));
            assert_eq!(ConsumeFromWhere::from_name(v.name()), Some(*v));
        }
        assert_eq!(ConsumeFromWhere::ConsumeFromTimestamp.ordinal(), 5);
        assert_eq!(
            ConsumeType::from_name("PUSH"),
            Some(ConsumeType::ConsumePassively)
        );
        assert_eq!(
            MessageModel::from_name("clustering"),
            Some(MessageModel::Clustering)
        );
        assert_eq!(
            MessageModel::from_name("0"),
            Some(MessageModel::Broadcasting)
        );
        assert_eq!(MessageModel::from_name("BOTH"), None);
        assert_eq!(
            serde_json::to_string(&ConsumeResult::Later).unwrap(),
            "\"CR_LATER\""
        );
        let v: Vec<MessageModel> = serde_json::from_str(r#"[1,"BROADCASTING","1",0.0]"#).unwrap();
        assert_eq!(
            v,
            vec![
                MessageModel::Clustering,
                MessageModel::Broadcasting,
                MessageModel::Clustering,
                MessageModel::Broadcasting
            ]
        );
        assert!(serde_json::from_str::<MessageModel>("2").is_err());
        assert!(serde_json::from_str::<MessageModel>("-1").is_err());
        assert!(serde_json::from_str::<MessageModel>("\"X\"").is_err());
        assert!(serde_json::from_str::<MessageModel>("1.5").is_err());
    }
}
