//! Evaluation of a compiled SQL92 selector with the semantics of RocketMQ 4.9.8's expression
//! classes (`ComparisonExpression`, `LogicExpression`, `UnaryExpression`, …).
//!
//! Values are Java's: `null`, `Boolean`, `Integer`, `Long`, `Double` and `String`; a property
//! is always a `String` (or null when absent). The rules that matter:
//!
//! * Three-valued logic: a comparison with a null operand is null (unknown); `AND`/`OR` are
//!   Kleene's with left-to-right short-circuit; `NOT null` is null. Only a TRUE result matches.
//! * `=`: null = null is TRUE, null = x is null, x = null is FALSE; same type and equal → TRUE;
//!   else both are converted to a common type (below) and compared.
//! * `> >= < <=` on two strings (two properties) parse both as `double`; otherwise the common
//!   type: int → long → double (a `long` becomes a `double` when the other side is one); a
//!   string against a number is parsed as that number's type (`Integer.valueOf`,
//!   `Long.valueOf`, `Double.valueOf`); a string against a boolean is `Boolean.valueOf`.
//!   Doubles compare as `Double.compare` (NaN above everything, -0.0 below 0.0).
//! * A string that does not parse, or a boolean compared with a string, makes Java throw: the
//!   whole evaluation fails (no match), even under `OR` — `a > 5 OR b = 1` does not match
//!   a message with `a=abc`, `b=1`, as in Java.
//! * `IN` needs the property present (else null). A property used as a boolean is FALSE when
//!   present (a string is never a boolean), null when absent. Unary minus of anything but a
//!   number is null.

use std::borrow::Cow;
use std::cmp::Ordering;

use apogee_codec::message::find_property;

use super::sql92::{CmpOp, Expression, Literal, Node};

/// A Java value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(Cow<'a, str>),
}

/// Java threw (`NumberFormatException`, `ClassCastException`): the message does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EvalError;

type Lookup<'f, 'a> = &'f dyn Fn(&str) -> Option<Cow<'a, str>>;

impl Expression {
    /// Evaluate against a property lookup. `Some(b)` for a boolean result; `None` when the
    /// result is null (unknown) or evaluation failed as Java's would throw. Only `Some(true)`
    /// is a match.
    pub fn evaluate(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<bool> {
        self.evaluate_with(&|name| lookup(name).map(Cow::Owned))
    }

    /// [`Expression::evaluate`] with borrowed values (no allocation per lookup).
    pub fn evaluate_with<'a>(
        &'a self,
        lookup: &dyn Fn(&str) -> Option<Cow<'a, str>>,
    ) -> Option<bool> {
        match eval(&self.root, lookup) {
            Ok(Value::Bool(b)) => Some(b),
            _ => None,
        }
    }

    /// Whether a message with this raw properties string (`name 0x01 value 0x02 …`, Java
    /// parsing rules, last duplicate wins) matches. Properties are looked up lazily, without
    /// allocating (values that are not UTF-8 are decoded lossily, as Java does).
    pub fn matches_properties<'a>(&'a self, raw: &'a [u8]) -> bool {
        self.evaluate_with(&|name| find_property(raw, name).map(String::from_utf8_lossy))
            == Some(true)
    }
}

pub(crate) fn literal_value(l: &Literal) -> Value<'_> {
    match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(v) => Value::Int(*v),
        Literal::Long(v) => Value::Long(*v),
        Literal::Double(v) => Value::Double(*v),
        Literal::Str(s) => Value::Str(Cow::Borrowed(s)),
    }
}

/// `(Boolean) value`.
fn as_bool(v: Value<'_>) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        _ => Err(EvalError),
    }
}

fn eval<'a>(n: &'a Node, lookup: Lookup<'_, 'a>) -> Result<Value<'a>, EvalError> {
    Ok(match n {
        Node::Const(l) => literal_value(l),
        Node::Property(name) => lookup(name).map_or(Value::Null, Value::Str),
        Node::BoolCast(name) => lookup(name).map_or(Value::Null, |_| Value::Bool(false)),
        Node::Not(c) => match as_bool(eval(c, lookup)?)? {
            None => Value::Null,
            Some(b) => Value::Bool(!b),
        },
        Node::Negate(c) => match eval(c, lookup)? {
            Value::Int(v) => Value::Int(v.wrapping_neg()),
            Value::Long(v) => Value::Long(v.wrapping_neg()),
            Value::Double(v) => Value::Double(-v),
            _ => Value::Null,
        },
        Node::And(items) => logic(items, lookup, false)?,
        Node::Or(items) => logic(items, lookup, true)?,
        Node::Eq(l, r) => {
            let lv = eval(l, lookup)?;
            let rv = eval(r, lookup)?;
            match (lv == Value::Null, rv == Value::Null) {
                (true, true) => Value::Bool(true),
                (true, false) => Value::Null,
                (false, true) => Value::Bool(false),
                (false, false) => {
                    Value::Bool(java_equals(&lv, &rv) || java_compare(&lv, &rv)? == Ordering::Equal)
                }
            }
        }
        Node::Cmp(op, l, r) => {
            let lv = eval(l, lookup)?;
            if lv == Value::Null {
                return Ok(Value::Null);
            }
            let rv = eval(r, lookup)?;
            if rv == Value::Null {
                return Ok(Value::Null);
            }
            let ord = match (&lv, &rv) {
                // Comparing two strings is refused unless both are numbers.
                (Value::Str(a), Value::Str(b)) => {
                    java_double_compare(parse_java_double(a)?, parse_java_double(b)?)
                }
                _ => java_compare(&lv, &rv)?,
            };
            Value::Bool(match op {
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
            })
        }
        Node::In {
            property,
            values,
            negated,
        } => match lookup(property) {
            None => Value::Null,
            Some(v) => {
                let found = values.binary_search_by(|x| (**x).cmp(&*v)).is_ok();
                Value::Bool(found != *negated)
            }
        },
    })
}

/// Java's left-folded `createAND` / `createOR` over `items`: `AND(l, r)` is FALSE as soon as
/// one side is FALSE (`r` is not evaluated when `l` is), else null if one side is null, else
/// TRUE; `OR` the same with TRUE.
fn logic<'a>(
    items: &'a [Node],
    lookup: Lookup<'_, 'a>,
    is_or: bool,
) -> Result<Value<'a>, EvalError> {
    // The value that settles the fold: FALSE for AND, TRUE for OR.
    let decisive = is_or;
    let mut acc: Option<bool> = None;
    for (k, item) in items.iter().enumerate() {
        if k > 0 && acc == Some(decisive) {
            break;
        }
        let v = as_bool(eval(item, lookup)?)?;
        acc = if k == 0 {
            v
        } else if v == Some(decisive) {
            Some(decisive)
        } else if acc.is_none() || v.is_none() {
            None
        } else {
            Some(!decisive)
        };
    }
    Ok(acc.map_or(Value::Null, Value::Bool))
}

/// Java `Object.equals` for the value types.
fn java_equals(lv: &Value<'_>, rv: &Value<'_>) -> bool {
    match (lv, rv) {
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::Long(a), Value::Long(b)) => a == b,
        (Value::Double(a), Value::Double(b)) => java_double_bits(*a) == java_double_bits(*b),
        (Value::Str(a), Value::Str(b)) => a == b,
        _ => false,
    }
}

/// `Double.doubleToLongBits`: NaN canonicalised.
fn java_double_bits(d: f64) -> i64 {
    if d.is_nan() {
        0x7ff8_0000_0000_0000
    } else {
        d.to_bits() as i64
    }
}

/// `Double.compare`.
fn java_double_compare(a: f64, b: f64) -> Ordering {
    if a < b {
        Ordering::Less
    } else if a > b {
        Ordering::Greater
    } else {
        java_double_bits(a).cmp(&java_double_bits(b))
    }
}

/// `String.compareTo` (UTF-16 code units).
fn java_string_compare(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java `ComparisonExpression.__compare` with string conversion on: bring both sides to one
/// type, then `compareTo`.
pub(crate) fn java_compare(lv: &Value<'_>, rv: &Value<'_>) -> Result<Ordering, EvalError> {
    use Value::{Bool, Double, Int, Long, Null, Str};
    Ok(match (lv, rv) {
        (Bool(a), Bool(b)) => a.cmp(b),
        (Int(a), Int(b)) => a.cmp(b),
        (Long(a), Long(b)) => a.cmp(b),
        (Double(a), Double(b)) => java_double_compare(*a, *b),
        (Str(a), Str(b)) => java_string_compare(a, b),
        // Java casts the Boolean itself to String here: ClassCastException.
        (Bool(_), Str(_)) => return Err(EvalError),
        (Bool(_), _) | (Int(_) | Long(_) | Double(_), Bool(_)) => Ordering::Less,
        (Int(a), Long(b)) => i64::from(*a).cmp(b),
        (Int(a), Double(b)) => java_double_compare(f64::from(*a), *b),
        (Int(a), Str(s)) => a.cmp(&parse_java_int(s)?),
        (Long(a), Int(b)) => a.cmp(&i64::from(*b)),
        (Long(a), Double(b)) => java_double_compare(*a as f64, *b),
        (Long(a), Str(s)) => a.cmp(&parse_java_long(s)?),
        (Double(a), Int(b)) => java_double_compare(*a, f64::from(*b)),
        (Double(a), Long(b)) => java_double_compare(*a, *b as f64),
        (Double(a), Str(s)) => java_double_compare(*a, parse_java_double(s)?),
        (Str(s), Bool(b)) => java_boolean(s).cmp(b),
        (Str(s), Int(b)) => parse_java_int(s)?.cmp(b),
        (Str(s), Long(b)) => parse_java_long(s)?.cmp(b),
        (Str(s), Double(b)) => java_double_compare(parse_java_double(s)?, *b),
        (Null, _) | (_, Null) => return Err(EvalError),
    })
}

/// `Boolean.valueOf(String)`.
fn java_boolean(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

/// `Integer.valueOf(String)` (ASCII digits, optional sign, no blanks).
fn parse_java_int(s: &str) -> Result<i32, EvalError> {
    s.parse().map_err(|_| EvalError)
}

/// `Long.valueOf(String)`.
fn parse_java_long(s: &str) -> Result<i64, EvalError> {
    s.parse().map_err(|_| EvalError)
}

/// `Double.valueOf(String)`: surrounding characters ≤ U+0020 trimmed, optional sign,
/// `NaN`, `Infinity`, or digits with an optional `.`, an optional exponent and an optional
/// `f`/`F`/`d`/`D` suffix. (Java's hexadecimal form `0x1p3` is not accepted.)
pub(crate) fn parse_java_double(s: &str) -> Result<f64, EvalError> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or("")),
        Some(b'+') => (false, t.get(1..).unwrap_or("")),
        _ => (false, t),
    };
    let magnitude = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let number = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
            if !is_java_decimal(number) {
                return Err(EvalError);
            }
            number.parse::<f64>().map_err(|_| EvalError)?
        }
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// `digits [. digits] [exponent]` with at least one digit, or `. digits [exponent]`.
fn is_java_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut mantissa_digits = 0;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        mantissa_digits += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}
