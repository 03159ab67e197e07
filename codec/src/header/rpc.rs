//! The base-class keys of request headers, and the extra keys a server ignores.

define_header! {
    /// Java `RpcRequestHeader`: keys inherited by many request headers.
    ///
    /// 4.9.8 has only `bname` (the broker name the client targets). 5.x adds `ns`
    /// (namespace), `nsd` (namespaced) and `oway` (oneway); normally only `bname` is set.
    /// 5.x `TopicRequestHeader` adds `lo` (logical queue), which the headers deriving from
    /// it carry as their own optional `lo` field. Embedded as the `rpc` field.
    pub struct RpcRequestHeader = "RpcRequestHeader" {
        /// 5.x namespace.
        ns: opt String = "ns",
        /// 5.x: whether the resource names are already namespaced.
        nsd: opt bool = "nsd",
        /// Broker name (4.9.8 and 5.x).
        bname: opt String = "bname",
        /// 5.x: the request is oneway.
        oway: opt bool = "oway",
    }
}

impl RpcRequestHeader {
    /// Only a broker name, as 4.9.8 clients send it.
    pub fn with_bname(bname: impl Into<String>) -> Self {
        RpcRequestHeader {
            bname: Some(bname.into()),
            ..Default::default()
        }
    }

    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        *self == RpcRequestHeader::default()
    }
}

/// Keys that hooks and non-Java clients add to `extFields` next to the header fields.
/// They are not header fields: a server reading a header ignores them (as it ignores
/// every unknown key).
pub mod extra_keys {
    /// ACL (4.x `AclClientRPCHook`): access key; C++ sends it empty when no credentials.
    pub const ACCESS_KEY: &str = "AccessKey";
    /// ACL: request signature.
    pub const SIGNATURE: &str = "Signature";
    /// ACL: security token (STS).
    pub const SECURITY_TOKEN: &str = "SecurityToken";
    /// C++ client and ali-ons: channel name (e.g. `ALIYUN`).
    pub const ONS_CHANNEL: &str = "OnsChannel";
    /// Stream request-type hook (`"0"`, only with `enableStreamRequestType`).
    pub const REQUEST_TYPE: &str = "ReqT";

    /// All of the above.
    pub const ALL: &[&str] = &[
        ACCESS_KEY,
        SIGNATURE,
        SECURITY_TOKEN,
        ONS_CHANNEL,
        REQUEST_TYPE,
    ];

    /// True for a key in [`ALL`].
    pub fn is_extra_key(key: &str) -> bool {
        ALL.contains(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_fields::{CommandHeader, ExtFields};
    use crate::header::testutil::check_header;

    #[test]
    fn rpc_header_round_trip() {
        check_header(RpcRequestHeader {
            ns: Some("ns1".into()),
            nsd: Some(true),
            bname: Some("broker-a".into()),
            oway: Some(false),
        });
        let empty = RpcRequestHeader::default();
        assert!(empty.is_empty());
        assert!(empty.to_ext_fields().is_empty());
        let h = RpcRequestHeader::with_bname("b");
        assert_eq!(h.to_ext_fields().get("bname"), Some("b"));
    }

    #[test]
    fn extra_keys_are_ignored() {
        let mut m = ExtFields::new();
        for k in extra_keys::ALL {
            m.insert(*k, "x");
        }
        m.insert("bname", "b");
        assert_eq!(
            RpcRequestHeader::read_fields(&m).unwrap(),
            RpcRequestHeader::with_bname("b")
        );
        assert!(extra_keys::is_extra_key("OnsChannel"));
        assert!(!extra_keys::is_extra_key("bname"));
    }
}
