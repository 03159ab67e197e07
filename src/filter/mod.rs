//! Message filtering by SQL92 property selectors (RocketMQ 4.9.8 `filter` module and the
//! broker's `ExpressionMessageFilter` for SQL92 subscriptions).
//!
//! * [`sql92`]: the selector language — [`compile`] an expression into an [`Expression`];
//!   evaluate it over message properties (evaluation in `eval`).
//! * [`Sql92Filter`]: the store-side [`MessageFilter`] of an SQL92 subscription. The consume
//!   queue stage always matches (no bloom bitmaps: `enableCalcFilterBitMap` is not offered);
//!   the CommitLog stage evaluates the expression over the record's properties. A null or
//!   failed evaluation is no match (broker-behaviour §5.4).
//! * [`compile_subscription`]: what the pull path and CHECK_CLIENT_CONFIG use — only the
//!   expression type `SQL92` is known (as Java's `FilterFactory`, case-sensitive); results,
//!   errors included, are cached by expression text like Java's parse cache.

mod eval;
pub mod sql92;

use std::sync::{Arc, OnceLock};

use apogee_codec::message::decode_record;
use dashmap::DashMap;
use log::info;

pub use sql92::{compile, Expression, ParseError};

use crate::store::results::MessageFilter;

/// The expression type of SQL92 subscriptions (Java `ExpressionType.SQL92`).
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";

/// Compiled selectors kept by [`compile_subscription`] (Java keeps 100).
const CACHE_CAPACITY: usize = 256;

/// The store filter of an SQL92 subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql92Filter {
    expression: Expression,
}

impl Sql92Filter {
    /// Compile `expr` (no cache).
    pub fn compile(expr: &str) -> Result<Self, ParseError> {
        compile(expr).map(|expression| Sql92Filter { expression })
    }

    pub fn expression(&self) -> &Expression {
        &self.expression
    }

    /// Whether a message with this raw properties string matches.
    pub fn matches_properties(&self, raw_properties: &[u8]) -> bool {
        self.expression.matches_properties(raw_properties)
    }
}

impl MessageFilter for Sql92Filter {
    /// No bloom bitmap: the consume-queue stage always matches.
    fn matches_cq(&self, _tags_code: i64) -> bool {
        true
    }

    /// Evaluate over the stored record's properties. A record that does not decode does not
    /// match.
    fn matches_record(&self, record: &[u8]) -> bool {
        match decode_record(record) {
            Ok((rec, _)) => self.expression.matches_properties(rec.properties),
            Err(e) => {
                log::debug!("SQL92 filter: undecodable record skipped: {e}");
                false
            }
        }
    }
}

type Compiled = Result<Arc<Sql92Filter>, ParseError>;

fn cache() -> &'static DashMap<Box<str>, Compiled> {
    static CACHE: OnceLock<DashMap<Box<str>, Compiled>> = OnceLock::new();
    CACHE.get_or_init(DashMap::new)
}

/// Compile the filter of a non-TAG subscription: `expression_type` must be `SQL92`. Cached by
/// expression text (errors too).
pub fn compile_subscription(expression_type: &str, expression: &str) -> Compiled {
    if expression_type != EXPRESSION_TYPE_SQL92 {
        return Err(ParseError::new(
            format!("unsupported expression type {expression_type:?} (only SQL92 is)"),
            0,
        ));
    }
    let cache = cache();
    if let Some(hit) = cache.get(expression) {
        return hit.value().clone();
    }
    let compiled = Sql92Filter::compile(expression).map(Arc::new);
    if let Ok(f) = &compiled {
        let ignored = f.expression().ignored_suffix();
        if !ignored.is_empty() {
            info!(
                "SQL92 expression {expression:?}: trailing text {ignored:?} ignored, as Java does"
            );
        }
    }
    if cache.len() >= CACHE_CAPACITY {
        cache.clear();
    }
    cache.insert(expression.into(), compiled.clone());
    compiled
}

#[cfg(test)]
mod tests;
