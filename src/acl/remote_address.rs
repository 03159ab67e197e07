//! White-listed remote addresses (Java `RemoteAddressStrategyFactory`).
//!
//! Spellings, as Java accepts them:
//! * blank: matches nothing; `*`, `*.*.*.*`, `*:*:*:*:*:*:*:*`: matches everything;
//! * one address (`192.168.1.1`, `::1`): that address;
//! * a list (`192.168.1.1,192.168.1.2`) or a brace list on the last part
//!   (`192.168.1.{1,2}`, `2001:db8::{1,2}`): any of them;
//! * a range: `*` or `a-b` in one part (`192.168.1.*`, `192.168.1.1-100`, `192.168.*.*`,
//!   `192.*.1.*`; IPv6 in full form, `2001:db8:0:0:0:0:0:1-ff`): the first `*`/range part decides, the parts before
//!   it must equal the address's, the parts after it are not looked at.
//!
//! A spelling Java rejects is an error (the whole file is then refused).

use std::net::{Ipv4Addr, Ipv6Addr};

/// A compiled whitelist entry.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteAddressStrategy {
    /// Blank: never matches.
    Blank,
    /// Everything.
    All,
    /// Exactly these (IPv4 as written, IPv6 expanded upper-case).
    Multiple(Vec<String>),
    /// One address (expanded upper-case).
    One(String),
    /// Addresses starting with `head` whose part number `index` lies in `start..=end`.
    Range {
        head: String,
        index: usize,
        start: u32,
        end: u32,
        v6: bool,
    },
}

fn err(s: &str) -> String {
    format!("Netaddress examine Exception netaddress is {s}")
}

/// Split on `sep`, dropping empty tokens (commons-lang `StringUtils.split`).
fn split(s: &str, sep: char) -> Vec<&str> {
    s.split(sep).filter(|t| !t.is_empty()).collect()
}

fn is_v4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

fn is_v6(s: &str) -> bool {
    s.parse::<Ipv6Addr>().is_ok()
}

/// Java `AclUtils.expandIP`: upper-case, `::` widened to the missing groups, each group
/// left-padded to 4 digits. IPv4 text passes through (upper-cased).
pub fn expand_ip(addr: &str, parts: usize) -> String {
    let mut a = addr.to_uppercase();
    let colons = a.matches(':').count();
    if parts > colons {
        let pad = ":".repeat(parts - colons + 1);
        a = a.replace("::", &pad);
    }
    a.split(':')
        .map(|g| {
            if g.len() < 4 {
                format!("{g:0>4}")
            } else {
                g.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

impl RemoteAddressStrategy {
    /// Compile one whitelist spelling.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let s = spec.trim();
        if s.is_empty() {
            return Ok(Self::Blank);
        }
        if s == "*" || s == "*.*.*.*" || s == "*:*:*:*:*:*:*:*" {
            return Ok(Self::All);
        }
        if s.ends_with('}') {
            let sep = if s.contains(':') { ':' } else { '.' };
            let parts = split(s, sep);
            if sep == '.' && parts.len() < 4 {
                return Err(format!(
                    "MultipleRemoteAddressStrategy has got a/some wrong format IP(s) {s}"
                ));
            }
            let last = parts.last().copied().unwrap_or("");
            let (Some(brace), true) = (s.find('{'), last.starts_with('{')) else {
                return Err(err(s));
            };
            let prefix = &s[..brace];
            let inner = &last[1..last.len().saturating_sub(1).max(1)];
            let list: Vec<String> = split(inner, ',')
                .into_iter()
                .map(|p| format!("{prefix}{p}"))
                .collect();
            return Self::multiple(&list);
        }
        if s.contains(',') {
            let list: Vec<String> = split(s, ',').into_iter().map(str::to_owned).collect();
            return Self::multiple(&list);
        }
        if s.contains('*') || s.contains('-') {
            return Self::range(s);
        }
        if is_v4(s) || is_v6(s) {
            return Ok(Self::One(expand_ip(s, 8)));
        }
        Err(err(s))
    }

    fn multiple(list: &[String]) -> Result<Self, String> {
        let mut v = Vec::with_capacity(list.len());
        for a in list {
            if is_v4(a) {
                v.push(a.clone());
            } else if is_v6(a) {
                v.push(expand_ip(a, 8));
            } else {
                return Err(err(a));
            }
        }
        Ok(Self::Multiple(v))
    }

    fn range(s: &str) -> Result<Self, String> {
        let v6 = s.contains(':');
        let sep = if v6 { ':' } else { '.' };
        let radix = if v6 { 16 } else { 10 };
        let max = if v6 { 0xffff } else { 255 };
        let parts = split(s, sep);
        let scope = || format!("RangeRemoteAddressStrategy netaddress examine scope Exception {s}");
        // The first part (from 1 on; 1..=3 for IPv4) holding `*` or `a-b`.
        let last_index = if v6 { parts.len().saturating_sub(1) } else { 3 };
        for index in 1..=last_index {
            let Some(value) = parts.get(index).map(|p| p.trim()) else {
                return Err(scope());
            };
            let (start, end) = if value == "*" {
                (0, max)
            } else if let Some((a, b)) = value.split_once('-') {
                if a.is_empty() {
                    return Err(scope());
                }
                let a = u32::from_str_radix(a.trim(), radix).map_err(|_| scope())?;
                let b = u32::from_str_radix(b.trim(), radix).map_err(|_| scope())?;
                if a > max || b > max || a > b {
                    return Err(scope());
                }
                (a, b)
            } else {
                continue;
            };
            if end == 0 {
                continue;
            }
            if v6 {
                let head = v6_head(s);
                let index = split(&head, ':').len();
                return Ok(Self::Range {
                    head,
                    index,
                    start,
                    end,
                    v6,
                });
            }
            // The parts before the range must be octets.
            for p in &parts[..index] {
                match p.trim().parse::<u32>() {
                    Ok(n) if n <= 255 => {}
                    _ => return Err(scope()),
                }
            }
            if parts.len() != 4 {
                return Err(scope());
            }
            let mut head = String::new();
            for p in &parts[..index] {
                head.push_str(p.trim());
                head.push('.');
            }
            return Ok(Self::Range {
                head,
                index,
                start,
                end,
                v6,
            });
        }
        Err(scope())
    }

    /// Whether `addr` (an IP address as text, no port) is white-listed.
    pub fn matches(&self, addr: &str) -> bool {
        match self {
            Self::Blank => false,
            Self::All => true,
            Self::Multiple(set) => {
                let a = if is_v6(addr) {
                    expand_ip(addr, 8)
                } else {
                    addr.to_owned()
                };
                set.contains(&a)
            }
            Self::One(one) => *one == expand_ip(addr, 8),
            Self::Range {
                head,
                index,
                start,
                end,
                v6,
            } => {
                let value = if !*v6 && is_v4(addr) {
                    let Some(rest) = addr.strip_prefix(head.as_str()) else {
                        return false;
                    };
                    // The part at `index`: up to the next dot (or the end for the last part).
                    let part = rest.split('.').next().unwrap_or("");
                    part.parse::<u32>().ok()
                } else if *v6 && is_v6(addr) {
                    let full = expand_ip(addr, 8);
                    if !full.starts_with(head.as_str()) {
                        return false;
                    }
                    full.get(5 * index..5 * index + 4)
                        .and_then(|g| u32::from_str_radix(g, 16).ok())
                } else {
                    None
                };
                value.is_some_and(|v| v >= *start && v <= *end)
            }
        }
    }
}

/// Java `AclUtils.v6ipProcess`: the expanded groups before the range part.
fn v6_head(s: &str) -> String {
    let star = s.contains('*');
    let minus = s.contains('-');
    let (parts, sub) = if star && minus {
        let last = s.rfind(':').unwrap_or(0);
        let second = s[..last].rfind(':').unwrap_or(0);
        (6, &s[..second])
    } else {
        (7, &s[..s.rfind(':').unwrap_or(0)])
    };
    expand_ip(sub, parts)
}

#[cfg(test)]
mod tests {
    use super::RemoteAddressStrategy as S;

    fn m(spec: &str, addr: &str) -> bool {
        S::parse(spec).unwrap().matches(addr)
    }

    #[test]
    fn spellings() {
        assert!(m("*", "10.1.2.3"));
        assert!(!m("", "10.1.2.3"));
        assert!(m("192.168.1.1", "192.168.1.1"));
        assert!(!m("192.168.1.1", "192.168.1.2"));
        assert!(m("192.168.1.*", "192.168.1.77"));
        assert!(!m("192.168.1.*", "192.168.2.77"));
        assert!(m("192.168.1.1-100", "192.168.1.100"));
        assert!(!m("192.168.1.1-100", "192.168.1.101"));
        assert!(m("192.168.*.*", "192.168.9.9"));
        assert!(m("192.168.1-3.*", "192.168.3.200"));
        assert!(!m("192.168.1-3.*", "192.168.4.1"));
        assert!(m("192.168.0.{1,2}", "192.168.0.2"));
        assert!(!m("192.168.0.{1,2}", "192.168.0.3"));
        assert!(m("127.0.0.1,10.0.0.1", "10.0.0.1"));
        assert!(m("::1", "0:0:0:0:0:0:0:1"));
        assert!(m("2001:db8:0:0:0:0:0:1-ff", "2001:db8::10"));
        assert!(!m("2001:db8:0:0:0:0:0:1-ff", "2001:db8::100"));
    }

    #[test]
    fn bad_spellings_are_refused() {
        for bad in [
            "300.1.1.1",
            "1.2.3",
            "1.2.3.300-301",
            "1.2.3.-5",
            "1.2.{3,4}",
            "abc",
        ] {
            assert!(S::parse(bad).is_err(), "{bad}");
        }
    }
}
