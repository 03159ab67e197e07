//! Grammar and evaluation of the SQL92 filter, checked against the semantics of the Java 4.9.8
//! classes.

use std::borrow::Cow;
use std::collections::HashMap;

use apogee_codec::message::{MessageProperties, MessageRecord, RecordVersion};
use proptest::prelude::*;

use super::sql92::{MAX_DEPTH, MAX_NESTING};
use super::*;

fn lookup(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Compile (must succeed) and evaluate over `pairs`.
fn eval(expr: &str, pairs: &[(&str, &str)]) -> Option<bool> {
    let e = compile(expr).unwrap_or_else(|err| panic!("{expr:?} should compile: {err}"));
    let map = lookup(pairs);
    let owned = e.evaluate(&|k| map.get(k).cloned());
    let borrowed = e.evaluate_with(&|k| map.get(k).map(|v| Cow::Borrowed(v.as_str())));
    assert_eq!(owned, borrowed, "{expr}");
    // The same through a raw properties string.
    let mut props = MessageProperties::new();
    for (k, v) in pairs {
        props.insert(*k, *v);
    }
    let raw = props.encode();
    if pairs.iter().all(|(_, v)| !v.is_empty()) {
        assert_eq!(
            e.matches_properties(&raw),
            owned == Some(true),
            "{expr} on {pairs:?}"
        );
    }
    owned
}

fn matches(expr: &str, pairs: &[(&str, &str)]) -> bool {
    eval(expr, pairs) == Some(true)
}

/// Compile must fail; returns the error.
fn err(expr: &str) -> ParseError {
    match compile(expr) {
        Ok(e) => panic!("{expr:?} should not compile, got {e:?}"),
        Err(e) => e,
    }
}

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const N: Option<bool> = None;

// ---- operators ---------------------------------------------------------------------------

#[test]
fn equality_and_inequality() {
    assert_eq!(eval("a = 1", &[("a", "1")]), T);
    assert_eq!(eval("a = 1", &[("a", "2")]), F);
    assert_eq!(eval("a <> 1", &[("a", "2")]), T);
    assert_eq!(eval("a <> 1", &[("a", "1")]), F);
    assert_eq!(eval("a = 'x'", &[("a", "x")]), T);
    assert_eq!(eval("a = 'x'", &[("a", "y")]), F);
    assert_eq!(eval("a <> 'x'", &[("a", "y")]), T);
    assert_eq!(eval("'x' = a", &[("a", "x")]), T);
    assert_eq!(eval("a = b", &[("a", "x"), ("b", "x")]), T);
    assert_eq!(eval("a = b", &[("a", "x"), ("b", "y")]), F);
    assert_eq!(eval("1 = 1", &[]), T);
    assert_eq!(eval("TRUE = FALSE", &[]), F);
    // A string property against a boolean constant: Boolean.valueOf.
    assert_eq!(eval("a = TRUE", &[("a", "TrUe")]), T);
    assert_eq!(eval("a = FALSE", &[("a", "yes")]), T);
}

#[test]
fn ordering_comparisons() {
    for (expr, a, want) in [
        ("a > 5", "6", T),
        ("a > 5", "5", F),
        ("a >= 5", "5", T),
        ("a >= 5", "4", F),
        ("a < 5", "4", T),
        ("a < 5", "5", F),
        ("a <= 5", "5", T),
        ("a <= 5", "6", F),
        ("5 < a", "6", T),
        ("a > -3", "-2", T),
        ("a < -3", "-2", F),
        ("a > 1.5", "2", T),
        ("a > 1.5", "1.25", F),
        ("a >= 10", "9", F),
        ("a > 2147483648", "2147483649", T),
    ] {
        assert_eq!(eval(expr, &[("a", a)]), want, "{expr} with a={a}");
    }
    // Two properties: both parsed as doubles (numeric, not lexical).
    assert_eq!(eval("a > b", &[("a", "10"), ("b", "9")]), T);
    assert_eq!(eval("a < b", &[("a", "1e3"), ("b", "999.5")]), F);
    assert_eq!(eval("a > b", &[("a", "x"), ("b", "9")]), N);
}

#[test]
fn between_and_not_between() {
    for a in 1..=10 {
        let v = a.to_string();
        assert_eq!(
            matches("a BETWEEN 3 AND 5", &[("a", &v)]),
            (3..=5).contains(&a),
            "{a}"
        );
        assert_eq!(
            matches("a NOT BETWEEN 3 AND 5", &[("a", &v)]),
            !(3..=5).contains(&a),
            "{a}"
        );
    }
    assert!(matches("a BETWEEN 1.5 AND 2.5", &[("a", "2")]));
    assert!(matches("a BETWEEN -5 AND -1", &[("a", "-3")]));
    assert!(matches(
        "a BETWEEN b AND c",
        &[("a", "2"), ("b", "1"), ("c", "3")]
    ));
    assert!(matches("a BETWEEN 3 AND 3", &[("a", "3")]));
    assert_eq!(eval("a BETWEEN 3 AND 5", &[]), N);
    assert_eq!(eval("a NOT BETWEEN 3 AND 5", &[]), N);
    // BETWEEN binds its AND before the logical AND.
    assert!(matches(
        "a BETWEEN 1 AND 2 AND b = 'x'",
        &[("a", "1"), ("b", "x")]
    ));
    assert!(!matches(
        "a BETWEEN 1 AND 2 AND b = 'x'",
        &[("a", "1"), ("b", "y")]
    ));
}

#[test]
fn in_and_not_in() {
    assert_eq!(eval("a IN ('x', 'y')", &[("a", "y")]), T);
    assert_eq!(eval("a IN ('x', 'y')", &[("a", "z")]), F);
    assert_eq!(eval("a IN ('x', 'y')", &[]), N);
    assert_eq!(eval("a NOT IN ('x', 'y')", &[("a", "z")]), T);
    assert_eq!(eval("a NOT IN ('x', 'y')", &[("a", "x")]), F);
    assert_eq!(eval("a NOT IN ('x')", &[]), N);
    assert_eq!(eval("a IN ('1')", &[("a", "1")]), T);
    let many = "a IN ('k1','k2','k3','k4','k5','k6','k7','k2','it''s')";
    for v in ["k1", "k4", "k7", "it's"] {
        assert_eq!(eval(many, &[("a", v)]), T, "{v}");
    }
    assert_eq!(eval(many, &[("a", "k8")]), F);
    assert_eq!(eval("TAGS IN ('TagA', 'TagB')", &[("TAGS", "TagB")]), T);
}

#[test]
fn is_null_and_is_not_null() {
    assert_eq!(eval("a IS NULL", &[]), T);
    assert_eq!(eval("a IS NULL", &[("a", "1")]), F);
    assert_eq!(eval("a IS NOT NULL", &[("a", "1")]), T);
    assert_eq!(eval("a IS NOT NULL", &[]), F);
    assert_eq!(eval("5 IS NULL", &[]), F);
    assert_eq!(eval("NULL IS NULL", &[]), T);
    assert_eq!(eval("(a > 1) IS NULL", &[]), T);
    assert_eq!(eval("(a > 1) IS NULL", &[("a", "3")]), F);
    assert_eq!(eval("a IS NULL IS NULL", &[]), F);
}

#[test]
fn and_or_not_three_valued() {
    let x1 = ("x", "1");
    let y1 = ("y", "1");
    // AND
    assert_eq!(eval("x = 1 AND y = 1", &[x1, y1]), T);
    assert_eq!(eval("x = 1 AND y = 2", &[x1, y1]), F);
    assert_eq!(eval("x = 1 AND y = 1", &[x1]), N);
    assert_eq!(eval("x = 2 AND y = 1", &[x1]), F);
    assert_eq!(eval("y = 1 AND x = 2", &[x1]), F);
    // OR
    assert_eq!(eval("x = 1 OR y = 1", &[x1]), T);
    assert_eq!(eval("y = 1 OR x = 1", &[x1]), T);
    assert_eq!(eval("x = 2 OR y = 1", &[x1]), N);
    assert_eq!(eval("x = 2 OR y = 2", &[x1, y1]), F);
    // NOT
    assert_eq!(eval("NOT (x = 1)", &[x1]), F);
    assert_eq!(eval("NOT (x = 2)", &[x1]), T);
    assert_eq!(eval("NOT (y = 1)", &[x1]), N);
    assert_eq!(eval("NOT NOT (x = 1)", &[x1]), T);
    // Chains, parentheses.
    assert_eq!(eval("x = 1 AND y = 1 AND z IS NULL", &[x1, y1]), T);
    assert_eq!(eval("x = 2 OR y = 2 OR z IS NULL", &[x1, y1]), T);
    assert_eq!(eval("(x = 2 OR y = 1) AND (x = 1)", &[x1, y1]), T);
    assert_eq!(eval("x = 2 OR (y = 1 AND x = 1)", &[x1, y1]), T);
    // Constants.
    assert_eq!(eval("TRUE", &[]), T);
    assert_eq!(eval("FALSE", &[]), F);
    assert_eq!(eval("NULL", &[]), N);
    assert_eq!(eval("TRUE AND NULL", &[]), N);
    assert_eq!(eval("FALSE AND NULL", &[]), F);
    assert_eq!(eval("TRUE OR NULL", &[]), T);
    assert_eq!(eval("NULL OR NULL", &[]), N);
}

#[test]
fn precedence() {
    // AND binds tighter than OR.
    let p = [("a", "1"), ("b", "0"), ("c", "0")];
    assert!(matches("a = 1 OR b = 1 AND c = 1", &p));
    assert!(!matches("(a = 1 OR b = 1) AND c = 1", &p));
    // Comparisons bind tighter than = / <>.
    assert!(matches("a > 0 = TRUE", &[("a", "1")]));
    assert!(matches("a > 5 <> TRUE", &[("a", "1")]));
    // NOT binds tighter than comparisons (Java): `NOT a = 1` is `(NOT a) = 1`, never true.
    assert_eq!(eval("NOT a = 1", &[("a", "2")]), F);
    assert_eq!(eval("NOT a = 1", &[("a", "1")]), F);
    assert_eq!(eval("NOT a = 1", &[]), N);
    assert!(matches("NOT (a = 1)", &[("a", "2")]));
    // Unary minus and plus.
    assert!(matches("a = - - 3", &[("a", "3")]));
    assert!(matches("a = +3", &[("a", "3")]));
    assert!(matches("a = -(3)", &[("a", "-3")]));
    assert!(matches(
        "a = 'x' AND (b = 'y' OR c = 'z')",
        &[("a", "x"), ("c", "z")]
    ));
}

// ---- null, types, quirks ---------------------------------------------------------------

#[test]
fn null_semantics() {
    for expr in [
        "a = 1",
        "a <> 1",
        "a > 1",
        "a >= 1",
        "a < 1",
        "a <= 1",
        "a = 'x'",
        "a <> 'x'",
        "a IN ('x')",
        "a NOT IN ('x')",
        "a BETWEEN 1 AND 2",
        "a NOT BETWEEN 1 AND 2",
        "NOT (a = 1)",
        "a",
        "NOT a",
        "1 < a",
    ] {
        assert_eq!(eval(expr, &[("b", "1")]), N, "{expr}");
    }
    // x = null is FALSE when x is the left side; null = null is TRUE (Java).
    assert_eq!(eval("1 = a", &[]), F);
    assert_eq!(eval("a = b", &[]), T);
    assert_eq!(eval("a = b", &[("a", "1")]), F);
    assert_eq!(eval("a = b", &[("b", "1")]), N);
    // A property used as a boolean: FALSE when present (a string is never a boolean).
    assert_eq!(eval("a", &[("a", "true")]), F);
    assert_eq!(eval("NOT a", &[("a", "true")]), T);
    assert_eq!(eval("a OR b = 1", &[("a", "true"), ("b", "1")]), T);
    // A negated property is null.
    assert_eq!(eval("-a > 1", &[("a", "-5")]), N);
}

#[test]
fn number_types() {
    // int against a string: Integer.valueOf — decimals, blanks and overflow do not parse.
    assert_eq!(eval("a = 1", &[("a", "+1")]), T);
    assert_eq!(eval("a = 1", &[("a", "1.0")]), N);
    assert_eq!(eval("a = 1", &[("a", " 1")]), N);
    assert_eq!(eval("a > 5", &[("a", "5.5")]), N);
    assert_eq!(eval("a > 5", &[("a", "3000000000")]), N);
    // long against a string: Long.valueOf.
    assert_eq!(
        eval("a > 5L", &[("a", "3000000000")]),
        N,
        "5L still fits an int"
    );
    assert_eq!(eval("a < 3000000000", &[("a", "2999999999")]), T);
    assert_eq!(eval("a = -2147483648", &[("a", "-2147483648")]), T);
    assert_eq!(
        eval("a = 9223372036854775807", &[("a", "9223372036854775807")]),
        T
    );
    // double against a string: Double.valueOf (trimmed, suffixes, NaN, Infinity).
    assert_eq!(eval("a = 1.0", &[("a", "1")]), T);
    assert_eq!(eval("a = 1.5", &[("a", " 1.5 ")]), T);
    assert_eq!(eval("a = 1.5", &[("a", "1.5d")]), T);
    assert_eq!(eval("a = 1.5", &[("a", "15e-1")]), T);
    assert_eq!(
        eval("a > 1.5", &[("a", "NaN")]),
        T,
        "Double.compare: NaN is the largest"
    );
    assert_eq!(eval("a > 1.5", &[("a", "-Infinity")]), F);
    assert_eq!(eval("a > 1.5", &[("a", "inf")]), N);
    assert_eq!(eval("a > 1.5", &[("a", "1.5.5")]), N);
    // Mixed constants: int → long → double, like Java.
    assert_eq!(eval("1 = 1.0", &[]), T);
    assert_eq!(eval("1 = 1L", &[]), T);
    assert_eq!(eval("2147483648 > 1", &[]), T);
    assert_eq!(eval("9007199254740993 = 9007199254740992.0", &[]), T);
    assert_eq!(eval("9007199254740993 = 9007199254740992", &[]), F);
    assert_eq!(eval("1 = TRUE", &[]), F);
    assert_eq!(eval("5 > 1e1", &[]), F);
    assert_eq!(eval("-0.5 < .5", &[]), T);
    assert_eq!(eval("-(-2147483648) < 0", &[]), F, "the literal is a long");
}

#[test]
fn java_evaluation_errors_fail_the_whole_expression() {
    // Integer.valueOf("abc") throws: the OR never sees its right side.
    assert_eq!(eval("a > 5 OR b = 1", &[("a", "abc"), ("b", "1")]), N);
    // … unless the left side already decided.
    assert_eq!(eval("b = 1 OR a > 5", &[("a", "abc"), ("b", "1")]), T);
    assert_eq!(eval("b = 2 AND a > 5", &[("a", "abc"), ("b", "1")]), F);
    // A boolean compared with a string: ClassCastException in Java.
    assert_eq!(eval("TRUE = a", &[("a", "true")]), N);
    assert_eq!(eval("a = 1", &[("a", "x")]), N);
    assert_eq!(eval("NOT (a = 1)", &[("a", "x")]), N);
}

#[test]
fn quoting_and_case() {
    assert!(matches("a = 'it''s'", &[("a", "it's")]));
    assert!(matches("a = ''''", &[("a", "'")]));
    assert!(matches("a = 'héllo wörld ✓'", &[("a", "héllo wörld ✓")]));
    assert!(matches(
        "a = 'x -- not a comment'",
        &[("a", "x -- not a comment")]
    ));
    assert!(matches("a = 'AND'", &[("a", "AND")]));
    // An empty value (only through a lookup: the properties string drops empty values).
    let e = compile("a = ''").unwrap();
    assert_eq!(e.evaluate(&|_| Some(String::new())), T);
    // Keywords in any case; identifiers are case-sensitive.
    assert!(matches("a between 1 and 3", &[("a", "2")]));
    assert!(matches(
        "a BeTwEeN 1 aNd 3 oR b iS nOt NuLl",
        &[("a", "7"), ("b", "x")]
    ));
    assert!(matches("a Is NoT nUlL", &[("a", "1")]));
    assert!(matches("a not in ('x') and true", &[("a", "y")]));
    assert_eq!(eval("A = 1", &[("a", "1")]), N);
    assert!(matches(
        "$a_1 = 1 AND _b$ = 2",
        &[("$a_1", "1"), ("_b$", "2")]
    ));
    assert!(
        matches("notes = 1", &[("notes", "1")]),
        "a keyword prefix is an identifier"
    );
    // Blanks and comments.
    assert!(matches("\ta\r\n=\x0c1", &[("a", "1")]));
    assert!(matches("a /* c */ = -- line\n 1", &[("a", "1")]));
    // `--` is a comment only when a line break follows somewhere.
    assert!(matches("a = --1", &[("a", "1")]));
    assert!(matches("a = --1 OR a = --2", &[("a", "2")]));
    err("a = --1\n");
    assert!(matches("a = 1 -- the rest\r\n OR a = 2", &[("a", "2")]));
}

#[test]
fn trailing_text_is_ignored_like_java() {
    let e = compile("a = 1 b = 2").unwrap();
    assert_eq!(e.ignored_suffix(), "b = 2");
    assert!(matches("a = 1 b = 2", &[("a", "1")]));
    assert!(matches("a = 1)", &[("a", "1")]));
    // 5.x operators are identifiers to 4.9.8: `a CONTAINS 'x'` is the boolean property `a`.
    let e = compile("a CONTAINS 'x'").unwrap();
    assert_eq!(e.ignored_suffix(), "CONTAINS 'x'");
    assert_eq!(eval("a CONTAINS 'x'", &[("a", "xyz")]), F);
    assert_eq!(compile("a = 1").unwrap().ignored_suffix(), "");
    // The first trailing token must still be a valid token.
    err("a = 1 !");
    err("a = 1 'open");
}

// ---- errors ------------------------------------------------------------------------------

#[test]
fn syntax_errors() {
    for bad in [
        "",
        "   ",
        "a >",
        "a =",
        "a = 1 AND",
        "a = 1 OR",
        "(a = 1",
        "a = 'x",
        "a != 1",
        "a == 1",
        "a IN ()",
        "a IN ('x'",
        "a IN ('x' 'y')",
        "a IN 'x'",
        "a IN (1)",
        "a BETWEEN 1",
        "a BETWEEN 1 OR 2",
        "a IS 5",
        "a IS NOT 5",
        "a NOT 5",
        "a NOT LIKE 'x'",
        "NOT",
        "-",
        "+",
        "()",
        ")",
        "AND a = 1",
        ". = a",
        "a = 1 /* open",
        "a = @",
        "a.b = 1",
    ] {
        let e = err(bad);
        assert!(!e.message().is_empty(), "{bad:?}");
    }
}

#[test]
fn semantic_errors() {
    for bad in [
        // Not boolean.
        "5",
        "'x'",
        "-a",
        "NOT 5",
        "a = 1 AND 5",
        "5 OR a = 1",
        // = / <> with NULL, TRUE/FALSE against a non-boolean constant.
        "a = NULL",
        "NULL = a",
        "a <> NULL",
        "TRUE = 1",
        "FALSE <> 'x'",
        // > >= < <= and BETWEEN: numbers, properties and negations only.
        "a > 'x'",
        "'x' < a",
        "a > TRUE",
        "a > NULL",
        "(a > 1) > 2",
        "a > (b = 1)",
        "a BETWEEN 'a' AND 'b'",
        "a BETWEEN 5 AND 1",
        "a BETWEEN 2.5 AND 1",
        "a BETWEEN NULL AND 1",
        "a BETWEEN 1 AND 'x'",
        "(a = 1) BETWEEN 1 AND 2",
        // IN needs a property.
        "5 IN ('a')",
        "'a' IN ('a')",
        "NOT a IN ('x')",
        // Literals.
        "a = 9223372036854775808",
        "a = 0.0",
        "a > 0.",
        "a > 1e-400",
        "a > 1e400",
    ] {
        let e = err(bad);
        assert!(!e.message().is_empty(), "{bad:?}");
    }
    // Accepted counterparts.
    for good in [
        "1 = TRUE",
        "TRUE = FALSE",
        "a IS NULL",
        "NULL",
        "a > -a",
        "a BETWEEN b AND 1",
        "a BETWEEN -5 AND -10",
        "a BETWEEN 1 AND 1.5",
        "a NOT BETWEEN 5 AND 1",
        "(a) IN ('x')",
        "+a IN ('x')",
        "a > 0",
        "a > 0.5",
        "a = -9223372036854775807",
        "a = 1L",
        "- TRUE > 1",
    ] {
        compile(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
}

#[test]
fn error_messages_and_positions() {
    let e = err("a = 1 AND");
    assert_eq!(e.position(), 9, "{e}");
    assert!(e.message().contains("after AND"), "{e}");
    assert!(e.message().contains("end of expression"), "{e}");
    let e = err("a != 1");
    assert_eq!(e.position(), 2, "{e}");
    assert!(e.message().contains("'!'"), "{e}");
    let e = err("a IN (1)");
    assert_eq!(e.position(), 6, "{e}");
    assert!(e.message().contains("string literal"), "{e}");
    let e = err("(a = 1");
    assert!(e.message().contains("')'"), "{e}");
    let e = err("a = 'x");
    assert_eq!(e.position(), 4, "{e}");
    assert!(e.message().contains("unterminated string"), "{e}");
    let e = err("a BETWEEN 5 AND 1");
    assert!(e.message().contains("lower bound"), "{e}");
    let e = err("é = 1");
    assert_eq!(e.position(), 0, "{e}");
    let e = err("'é' = 1 AND !");
    assert_eq!(e.position(), 12, "character positions, not bytes: {e}");
    let e = err("a IS 5");
    assert!(e.message().contains("IS"), "{e}");
    assert_eq!(e.to_string(), format!("{} (at position 5)", e.message()));
}

// ---- hostile input -----------------------------------------------------------------------

#[test]
fn nesting_limit() {
    let nested = |n: usize| format!("{}a = 1{}", "(".repeat(n), ")".repeat(n));
    assert!(compile(&nested(MAX_NESTING)).is_ok());
    assert!(err(&nested(MAX_NESTING + 1)).message().contains("nested"));
    let nots = |n: usize| format!("{}(a = 1)", "NOT ".repeat(n));
    // Each NOT is a level, and so are the parentheses.
    assert!(compile(&nots(MAX_NESTING - 1)).is_ok());
    err(&nots(MAX_NESTING));
}

#[test]
fn hostile_input_is_refused_without_stack_overflow() {
    // Run on half the default thread stack (1 of 2 MiB), whatever RUST_MIN_STACK says: the
    // deepest accepted input fits it even in a debug build.
    let handle = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(|| {
            let n = 200_000;
            err(&format!("{}a = 1{}", "(".repeat(n), ")".repeat(n)));
            err(&format!("{}a", "NOT ".repeat(n)));
            err(&format!("a = {}1", "-".repeat(n)));
            err(&format!("a = {}1", "+ ".repeat(n)));
            err(&"(".repeat(n));
            err(&format!("a{}", " IS NULL".repeat(n)));
            err(&format!("a = 1{}", " = 1".repeat(n)));
            // The deepest accepted forms compile and evaluate.
            let deep = format!(
                "{}(a = 1){}",
                "(NOT NOT ".repeat((MAX_NESTING - 1) / 3),
                ")".repeat((MAX_NESTING - 1) / 3)
            );
            assert!(matches(&deep, &[("a", "1")]));
            let parens = format!(
                "{}a = 1{}",
                "(".repeat(MAX_NESTING),
                ")".repeat(MAX_NESTING)
            );
            assert!(matches(&parens, &[("a", "1")]));
            let right = format!(
                "{}a = 1{}",
                "a = 1 AND (".repeat(MAX_NESTING),
                ")".repeat(MAX_NESTING)
            );
            assert!(matches(&right, &[("a", "1")]));
            let cmp = format!(
                "a > {}1{}",
                "-(".repeat(MAX_NESTING / 2),
                ")".repeat(MAX_NESTING / 2)
            );
            assert!(matches(&cmp, &[("a", "2")]));
            let chain = format!("a{}", " IS NULL".repeat(MAX_DEPTH - 1));
            let e = compile(&chain).unwrap();
            assert_eq!(e.evaluate(&|_| None), F, "TRUE IS NULL is FALSE, and so on");
            let copy = e.clone();
            assert_eq!(copy, e);
            drop(copy);
            err(&format!("a{}", " IS NULL".repeat(MAX_DEPTH)));
            // Long AND / OR chains are flat: fine at any length.
            let ors = (0..20_000)
                .map(|i| format!("a = {i}"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let e = compile(&ors).unwrap();
            assert_eq!(e.evaluate(&|_| Some("19999".into())), T);
            assert_eq!(e.evaluate(&|_| Some("-1".into())), F);
            let ands = vec!["a IS NOT NULL"; 20_000].join(" AND ");
            assert_eq!(compile(&ands).unwrap().evaluate(&|_| Some("x".into())), T);
            // Very long literals and identifiers.
            let long = "x".repeat(1 << 20);
            assert!(matches(
                &format!("{long} = '{long}'"),
                &[(long.as_str(), long.as_str())]
            ));
        })
        .unwrap();
    handle.join().expect("no stack overflow or panic");
}

// ---- the store filter --------------------------------------------------------------------

fn record(props: &[u8]) -> Vec<u8> {
    MessageRecord {
        version: RecordVersion::V1,
        body_crc: 0,
        queue_id: 0,
        flag: 0,
        queue_offset: 0,
        physical_offset: 0,
        sys_flag: 0,
        born_timestamp: 0,
        born_host: "127.0.0.1:1".parse().unwrap(),
        store_timestamp: 0,
        store_host: "127.0.0.1:2".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: b"body",
        topic: b"T",
        properties: props,
    }
    .to_vec()
    .unwrap()
}

#[test]
fn message_filter_over_records() {
    use crate::store::results::MessageFilter;

    let f = Sql92Filter::compile("a BETWEEN 3 AND 5 AND TAGS = 'TagA'").unwrap();
    assert!(f.matches_cq(0));
    assert!(f.matches_cq(12345));
    assert!(f.matches_record(&record(b"TAGS\x01TagA\x02a\x014")));
    assert!(!f.matches_record(&record(b"TAGS\x01TagB\x02a\x014")));
    assert!(!f.matches_record(&record(b"TAGS\x01TagA\x02a\x016")));
    assert!(!f.matches_record(&record(b"")));
    // Last duplicate wins; empty values are absent; malformed segments are skipped.
    assert!(f.matches_record(&record(b"a\x019\x02TAGS\x01TagA\x02a\x013")));
    let g = Sql92Filter::compile("a IS NULL").unwrap();
    assert!(g.matches_record(&record(b"a\x01\x02b\x012")));
    assert!(g.matches_record(&record(b"\x01a\x02a")));
    // Invalid UTF-8 is decoded lossily, as Java does.
    let h = Sql92Filter::compile("a = 'x\u{fffd}'").unwrap();
    assert!(h.matches_record(&record(b"a\x01x\xff")));
    // A record that does not decode does not match (and does not panic).
    assert!(!f.matches_record(b"garbage"));
    assert!(!f.matches_record(&[]));
    let mut truncated = record(b"TAGS\x01TagA\x02a\x014");
    truncated.truncate(truncated.len() - 3);
    assert!(!f.matches_record(&truncated));
}

#[test]
fn compile_subscription_checks_type_and_caches() {
    let a = compile_subscription("SQL92", "a > 1").unwrap();
    let b = compile_subscription("SQL92", "a > 1").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert!(compile_subscription("SQL92", "a >").is_err());
    assert!(compile_subscription("SQL92", "a >").is_err());
    assert!(compile_subscription("sql92", "a > 1").is_err());
    assert!(compile_subscription("FOO", "a > 1").is_err());
    assert!(compile_subscription("SQL92", "").is_err());
    // Many distinct expressions: the cache stays bounded and answers stay right.
    for i in 0..(CACHE_CAPACITY * 2) {
        let f = compile_subscription("SQL92", &format!("a = {i}")).unwrap();
        assert!(f.expression().evaluate(&|_| Some(i.to_string())) == T);
    }
    assert!(cache().len() <= CACHE_CAPACITY);
}

// ---- property tests ----------------------------------------------------------------------

/// Fragments that make up plausible (and implausible) selectors.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("TAGS".to_owned()),
        Just(" AND ".to_owned()),
        Just(" OR ".to_owned()),
        Just(" NOT ".to_owned()),
        Just(" BETWEEN ".to_owned()),
        Just(" IN ".to_owned()),
        Just(" IS ".to_owned()),
        Just(" NULL ".to_owned()),
        Just(" TRUE ".to_owned()),
        Just(" FALSE ".to_owned()),
        Just("=".to_owned()),
        Just("<>".to_owned()),
        Just(">".to_owned()),
        Just(">=".to_owned()),
        Just("<".to_owned()),
        Just("<=".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(",".to_owned()),
        Just("-".to_owned()),
        Just("+".to_owned()),
        Just("'x'".to_owned()),
        Just("'".to_owned()),
        Just("--".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just("\n".to_owned()),
        (0i64..3_000_000_000).prop_map(|n| n.to_string()),
        "[0-9]{0,3}\\.[0-9]{0,3}([eE][+-]?[0-9]{0,3})?",
        "[ -~]{1,3}",
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

fn values() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (-20i64..20).prop_map(|n| Some(n.to_string())),
        "[0-9.eE+-]{0,6}".prop_map(Some),
        "[ -~]{0,4}".prop_map(Some),
        Just(Some("NaN".to_owned())),
        Just(Some("x".to_owned())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_fragments_never_panic(
        parts in prop::collection::vec(fragment(), 0..24),
        a in values(),
        b in values(),
    ) {
        let expr: String = parts.concat();
        if let Ok(e) = compile(&expr) {
            let r = e.evaluate(&|k| match k {
                "a" => a.clone(),
                "b" => b.clone(),
                _ => None,
            });
            // NOT(x) is the negation of x whenever x is boolean.
            if let Ok(n) = compile(&format!("NOT ({expr})")) {
                if e.ignored_suffix().is_empty() {
                    let rn = n.evaluate(&|k| match k {
                        "a" => a.clone(),
                        "b" => b.clone(),
                        _ => None,
                    });
                    prop_assert_eq!(rn, r.map(|x| !x), "{}", expr);
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,64}", bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = compile(&s);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(e) = compile(&text) {
            let _ = e.matches_properties(&bytes);
        }
        if let Ok(f) = Sql92Filter::compile("a > 1 OR b IN ('x') OR c IS NULL") {
            let _ = crate::store::results::MessageFilter::matches_record(&f, &bytes);
            let _ = f.matches_properties(&bytes);
        }
    }
}

#[test]
fn hostile_input_is_compiled_in_linear_time() {
    // `--` without a line break after it is not a comment: the lexer must not rescan to the
    // end for each one.
    let n = 20_000;
    let inputs = [
        format!("a = --1{}", " OR a = --1".repeat(n)),
        format!("a = --1{}\n", " OR a = --1".repeat(n)),
        format!("a = 1{}", " OR a = 1 /* c */".repeat(n)),
        format!("a IN ({}'x')", "'it''s', ".repeat(n)),
    ];
    for s in &inputs {
        let t0 = std::time::Instant::now();
        let _ = compile(s);
        let took = t0.elapsed();
        assert!(
            took < std::time::Duration::from_secs(5),
            "{} bytes took {took:?}",
            s.len()
        );
    }
}
