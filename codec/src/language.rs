//! `LanguageCode`: the sender's language in every command header.
//!
//! The binary header carries the byte code, the JSON header the enum name (fastjson also
//! accepts the ordinal). Unknown codes and names are kept as they came, never an error.

use std::fmt;

/// The language a command's sender declares. Unknown values are preserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum LanguageCode {
    #[default]
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    /// 5.x only.
    NodeJs,
    /// A byte code this table does not know (binary header, or a JSON ordinal).
    UnknownCode(u8),
    /// A name this table does not know (JSON header).
    UnknownName(String),
}

const KNOWN: [(LanguageCode, u8, &str); 14] = [
    (LanguageCode::Java, 0, "JAVA"),
    (LanguageCode::Cpp, 1, "CPP"),
    (LanguageCode::Dotnet, 2, "DOTNET"),
    (LanguageCode::Python, 3, "PYTHON"),
    (LanguageCode::Delphi, 4, "DELPHI"),
    (LanguageCode::Erlang, 5, "ERLANG"),
    (LanguageCode::Ruby, 6, "RUBY"),
    (LanguageCode::Other, 7, "OTHER"),
    (LanguageCode::Http, 8, "HTTP"),
    (LanguageCode::Go, 9, "GO"),
    (LanguageCode::Php, 10, "PHP"),
    (LanguageCode::Oms, 11, "OMS"),
    (LanguageCode::Rust, 12, "RUST"),
    (LanguageCode::NodeJs, 13, "NODE_JS"),
];

impl LanguageCode {
    /// From the binary header byte.
    pub fn from_code(code: u8) -> Self {
        KNOWN
            .iter()
            .find(|(_, c, _)| *c == code)
            .map(|(l, _, _)| l.clone())
            .unwrap_or(LanguageCode::UnknownCode(code))
    }

    /// From the JSON enum name (exact, as Java writes it; case-insensitive to be lenient).
    pub fn from_name(name: &str) -> Self {
        KNOWN
            .iter()
            .find(|(_, _, n)| n.eq_ignore_ascii_case(name))
            .map(|(l, _, _)| l.clone())
            .unwrap_or_else(|| LanguageCode::UnknownName(name.to_owned()))
    }

    /// The byte code; an unknown name has no code and is written as OTHER (7).
    pub fn code(&self) -> u8 {
        match self {
            LanguageCode::UnknownCode(c) => *c,
            LanguageCode::UnknownName(_) => 7,
            known => KNOWN
                .iter()
                .find(|(l, _, _)| l == known)
                .map(|(_, c, _)| *c)
                .unwrap_or(7),
        }
    }

    /// The JSON name; an unknown byte code has no name and is written as OTHER.
    pub fn name(&self) -> &str {
        match self {
            LanguageCode::UnknownName(n) => n.as_str(),
            LanguageCode::UnknownCode(_) => "OTHER",
            known => KNOWN
                .iter()
                .find(|(l, _, _)| l == known)
                .map(|(_, _, n)| *n)
                .unwrap_or("OTHER"),
        }
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LanguageCode::UnknownCode(c) => write!(f, "UNKNOWN({c})"),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (l, c, n) in KNOWN.iter() {
            assert_eq!(LanguageCode::from_code(*c), *l);
            assert_eq!(LanguageCode::from_name(n), *l);
            assert_eq!(l.code(), *c);
            assert_eq!(l.name(), *n);
        }
        assert_eq!(LanguageCode::from_code(99), LanguageCode::UnknownCode(99));
        assert_eq!(LanguageCode::from_code(99).code(), 99);
        let x = LanguageCode::from_name("KOTLIN");
        assert_eq!(x.name(), "KOTLIN");
    }
}
