//! Request signatures as RocketMQ 4.x clients compute them (`AclClientRPCHook` on the client,
//! `PlainAccessValidator.parse` + `AclUtils` on the broker).
//!
//! The signed content is the concatenation of the **values** of the request's `extFields`,
//! ordered by key (Java `TreeMap`: UTF-16 code unit order), leaving out `Signature` itself and
//! `_UNIQUE_KEY_QUERY` (a field the query path adds after signing), encoded as UTF-8, followed
//! by the raw body bytes. The signature is HMAC-SHA1 over that content keyed with the secret
//! key's UTF-8 bytes, in standard base64 with padding.

use apogee_codec::ExtFields;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// An HMAC-SHA1 state with the key already mixed in (clone it per message).
pub type SigningKey = Hmac<Sha1>;

/// Ext field carrying the access key.
pub const ACCESS_KEY: &str = "AccessKey";
/// Ext field carrying the signature.
pub const SIGNATURE: &str = "Signature";
/// Ext field carrying the optional security token (signed like any other field).
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Added by the client's query path after signing; never part of the signed content.
pub const UNIQUE_MSG_QUERY_FLAG: &str = "_UNIQUE_KEY_QUERY";

/// Java's `String.compareTo`: UTF-16 code units, not bytes (differs for non-BMP characters).
fn java_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The ext fields that are signed, in signing order.
fn signed_fields(fields: &ExtFields) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, _)| *k != SIGNATURE && *k != UNIQUE_MSG_QUERY_FLAG)
        .collect();
    v.sort_unstable_by(|a, b| java_cmp(a.0, b.0));
    v
}

/// The HMAC key of a secret (cache it: setting a key up costs two SHA-1 blocks).
pub fn key(secret_key: &str) -> SigningKey {
    // HMAC accepts keys of every length, so the fallback (an all-zero key, which verifies
    // nothing a client signs) is never taken; it only keeps a panic path out.
    Hmac::<Sha1>::new_from_slice(secret_key.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha1> as hmac::digest::KeyInit>::new(&Default::default()))
}

fn tag(fields: Option<&ExtFields>, body: &[u8], key: &SigningKey) -> [u8; 20] {
    let mut mac = key.clone();
    if let Some(f) = fields {
        for (_, v) in signed_fields(f) {
            mac.update(v.as_bytes());
        }
    }
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA1 of the request's signed content under `secret_key`, base64-encoded.
pub fn sign_request(fields: Option<&ExtFields>, body: &[u8], secret_key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(tag(fields, body, &key(secret_key)))
}

/// True when `signature` (base64) is the request's signature under `key`; the digests are
/// compared in constant time.
pub fn verify_with_key(
    fields: Option<&ExtFields>,
    body: &[u8],
    key: &SigningKey,
    signature: &str,
) -> bool {
    let mut given = [0u8; 24];
    match base64::engine::general_purpose::STANDARD.decode_slice(signature, &mut given) {
        // Java compares base64 text; any other spelling of the same bytes is refused too.
        Ok(20) if signature.len() == 28 => {}
        _ => return false,
    }
    let expected = tag(fields, body, key);
    let (a, b) = (expected.as_ref(), &given[..20]);
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// [`verify_with_key`] with the key made from `secret_key`.
pub fn verify(fields: Option<&ExtFields>, body: &[u8], secret_key: &str, signature: &str) -> bool {
    verify_with_key(fields, body, &key(secret_key), signature)
}

/// Sign `fields` + `body` as a 4.x client does: add `AccessKey` (and `SecurityToken`), then
/// `Signature` computed over everything else. Used by tests, benches and the admin tool.
pub fn sign_in_place(
    fields: &mut ExtFields,
    body: &[u8],
    access_key: &str,
    secret_key: &str,
    security_token: Option<&str>,
) {
    fields.remove(SIGNATURE);
    fields.insert(ACCESS_KEY, access_key);
    if let Some(t) = security_token {
        fields.insert(SECURITY_TOKEN, t);
    }
    let sig = sign_request(Some(fields), body, secret_key);
    fields.insert(SIGNATURE, sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> ExtFields {
        let mut f = ExtFields::new();
        for (k, v) in pairs {
            f.insert(*k, *v);
        }
        f
    }

    /// Values concatenated in key order, body appended: checked against an HMAC computed
    /// over the content spelled out by hand.
    #[test]
    fn content_is_sorted_values_then_body() {
        let f = fields(&[
            ("topic", "T"),
            ("AccessKey", "rocketmq2"),
            ("Signature", "ignored"),
            ("_UNIQUE_KEY_QUERY", "true"),
            ("a", "1"),
        ]);
        // Order: AccessKey < a < topic (uppercase sorts first).
        let mut mac = key("12345678");
        mac.update(b"rocketmq21Tbody");
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sign_request(Some(&f), b"body", "12345678"), want);
        assert!(verify(Some(&f), b"body", "12345678", &want));
        assert!(!verify(Some(&f), b"bodY", "12345678", &want));
        assert!(!verify(Some(&f), b"body", "12345679", &want));
    }

    /// RFC 2202 test case 2 (HMAC-SHA1, key "Jefe").
    #[test]
    fn hmac_sha1_known_answer() {
        let f = fields(&[("k", "what do ya want for nothing?")]);
        assert_eq!(
            sign_request(Some(&f), b"", "Jefe"),
            base64::engine::general_purpose::STANDARD
                .encode(hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"))
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sign_in_place_round_trips() {
        let mut f = fields(&[("b", "TopicTest"), ("a", "pg")]);
        sign_in_place(&mut f, b"x", "ak", "sk", Some("tok"));
        let sig = f.get(SIGNATURE).unwrap().to_owned();
        assert!(verify(Some(&f), b"x", "sk", &sig));
        f.insert("b", "Other");
        assert!(!verify(Some(&f), b"x", "sk", &sig));
    }

    #[test]
    fn java_order_is_utf16() {
        // U+FF5E (one UTF-16 unit, 0xFF5E) sorts after U+1F600 (surrogates 0xD83D..) in
        // UTF-16 order, but before it in byte order.
        assert_eq!(java_cmp("\u{1F600}", "\u{FF5E}"), std::cmp::Ordering::Less);
        assert_eq!("\u{1F600}".cmp("\u{FF5E}"), std::cmp::Ordering::Greater);
    }
}
