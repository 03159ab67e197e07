//! The SQL92 selector language of RocketMQ 4.9.8 (`filter/.../parser/SelectorParser.jj`): lexer
//! and parser (nom), and the compiled expression tree.
//!
//! # Grammar (as the Java parser accepts it)
//!
//! ```text
//! selector   := or                                   -- must end up boolean
//! or         := and ( OR and )*
//! and        := equality ( AND equality )*
//! equality   := comparison ( '=' comparison | '<>' comparison | IS NULL | IS NOT NULL )*
//! comparison := unary ( ('>' | '>=' | '<' | '<=') unary
//!                     | [NOT] BETWEEN unary AND unary
//!                     | [NOT] IN '(' string ( ',' string )* ')' )*
//! unary      := '+' unary | '-' unary | NOT unary | primary
//! primary    := string | integer | decimal | TRUE | FALSE | NULL | identifier | '(' or ')'
//! ```
//!
//! Tokens: keywords `NOT AND OR BETWEEN IN TRUE FALSE NULL IS` (any case); integers
//! `0 | [1-9][0-9]*` with an optional `l`/`L` (a `long`; an `int` when it fits); decimals
//! `1.5`, `1.`, `.5`, `1e3`, `1.5E-3` (a `double`); strings in single quotes with `''` for a
//! quote; identifiers `[A-Za-z_$][A-Za-z0-9_$]*` (case-sensitive property names); operators
//! `= <> > >= < <= ( , ) + -`. Blanks are space, tab, CR, LF and FF; `-- …` comments end at a
//! line break (and are not comments without one), `/* … */` comments anywhere.
//!
//! Faithful to the Java parser, including its quirks:
//!
//! * `NOT` is a prefix operator binding tighter than comparisons: `NOT a = 1` is
//!   `(NOT a) = 1`; write `NOT (a = 1)`. `NOT a IN (…)` is refused (IN needs a property).
//! * Parsing stops after the longest expression; what follows is ignored as long as its first
//!   token is a valid token (`a = 1 b` is `a = 1`; `a = 1 !` is an error).
//! * Build-time checks: `=`/`<>` refuse a `NULL` operand and `TRUE`/`FALSE` compared with a
//!   non-boolean constant on its right; `> >= < <=` and `BETWEEN` take only numbers,
//!   properties or negations; `BETWEEN` of two constants needs low ≤ high; `IN` takes a
//!   property on its left and string literals; a decimal literal must be a positive finite
//!   `double` (so `0.0` is refused, as in Java); an integer must fit a `long`.
//! * `[NOT] CONTAINS`, `[NOT] STARTSWITH` and `[NOT] ENDSWITH` are 5.x only (and `LIKE` is in
//!   neither): here they are plain identifiers, so `a CONTAINS 'x'` compiles as the boolean
//!   property `a` followed by ignored text, exactly as on a 4.9.8 broker.
//!
//! Hostile input is refused, never a stack overflow: at most [`MAX_NESTING`] nested
//! parentheses / prefix operators and a tree at most [`MAX_DEPTH`] deep (`AND`/`OR` chains are
//! flat lists, so long chains of them are fine).

use std::cell::Cell;
use std::fmt;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_until, take_while, take_while1};
use nom::combinator::{recognize, value};
use nom::multi::many0_count;
use nom::{IResult, Parser};

/// Deepest nesting of parentheses and prefix operators (`NOT`, `-`, `+`) accepted.
pub const MAX_NESTING: usize = 64;
/// Deepest expression tree accepted (e.g. `a IS NULL IS NULL …` chains).
pub const MAX_DEPTH: usize = 256;

/// Why an expression does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    message: String,
    /// Character (not byte) index in the expression.
    position: usize,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>, position: usize) -> Self {
        ParseError {
            message: message.into(),
            position,
        }
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Character index (0-based) where the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at position {})", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

/// A compiled SQL92 selector (Java's `BooleanExpression`). Evaluate it with
/// [`Expression::evaluate`] or [`Expression::evaluate_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub(crate) root: Node,
    source: Box<str>,
    /// Byte offset of ignored trailing text, if any.
    ignored_from: Option<usize>,
}

impl Expression {
    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Trailing text the Java grammar ignores (`"b = 2"` in `"a = 1 b = 2"`); empty if none.
    pub fn ignored_suffix(&self) -> &str {
        self.ignored_from
            .and_then(|at| self.source.get(at..))
            .unwrap_or("")
    }
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    /// Java `Integer`.
    Int(i32),
    /// Java `Long`.
    Long(i64),
    /// Java `Double`.
    Double(f64),
    Str(Box<str>),
}

/// `> >= < <=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// The expression tree (Java's expression classes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Const(Literal),
    /// A property's value (always a string, or null when absent).
    Property(Box<str>),
    /// A property used as a boolean (Java `BOOLEANCAST`): null if absent, else FALSE.
    BoolCast(Box<str>),
    Not(Box<Node>),
    /// Unary minus: numbers are negated, anything else is null.
    Negate(Box<Node>),
    /// Left-folded three-valued AND / OR over two or more operands.
    And(Vec<Node>),
    Or(Vec<Node>),
    /// `=` (also `IS NULL`: `Eq(x, Const(Null))`).
    Eq(Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    /// `[NOT] IN`: values sorted and deduplicated.
    In {
        property: Box<str>,
        values: Box<[Box<str>]>,
        negated: bool,
    },
}

impl Node {
    /// Java `instanceof BooleanExpression`.
    fn is_boolean(&self) -> bool {
        match self {
            Node::Const(l) => matches!(l, Literal::Null | Literal::Bool(_)),
            Node::Property(_) | Node::Negate(_) => false,
            Node::BoolCast(_)
            | Node::Not(_)
            | Node::And(_)
            | Node::Or(_)
            | Node::Eq(..)
            | Node::Cmp(..)
            | Node::In { .. } => true,
        }
    }
}

/// Compile a selector. Never panics; refuses what the Java 4.9.8 parser refuses (plus input
/// nested deeper than [`MAX_NESTING`] / [`MAX_DEPTH`]).
pub fn compile(expr: &str) -> Result<Expression, ParseError> {
    let to_error = |e: PErr<'_>| {
        let at = skip_trivia(e.input);
        let message = match e.msg {
            Some(m) => m,
            None => format!("syntax error: {}", describe(at)),
        };
        ParseError::new(message, char_pos(expr, at))
    };
    let _tail = UnterminatedTail::set(expr);
    let (rest, p) = match or_expr(expr, 0) {
        Ok(ok) => ok,
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => return Err(to_error(e)),
        Err(nom::Err::Incomplete(_)) => {
            return Err(ParseError::new(
                "incomplete expression",
                expr.chars().count(),
            ))
        }
    };
    // The Java parser always looks at the token after the expression: it must be a valid
    // token (or the end); the rest is not read at all.
    let rest = skip_trivia(rest);
    let ignored_from = if rest.is_empty() {
        None
    } else {
        if let Err(nom::Err::Error(e) | nom::Err::Failure(e)) = token(rest) {
            return Err(to_error(e));
        }
        Some(expr.len() - rest.len())
    };
    let root = as_boolean(p).map_err(|e| match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => to_error(e),
        nom::Err::Incomplete(_) => ParseError::new("incomplete expression", 0),
    })?;
    Ok(Expression {
        root: root.node,
        source: expr.into(),
        ignored_from,
    })
}

// ---- errors ------------------------------------------------------------------------------

/// The parser's error: where, and (when known) what.
#[derive(Debug, Clone)]
struct PErr<'a> {
    input: &'a str,
    msg: Option<String>,
}

impl<'a> PErr<'a> {
    fn at(input: &'a str, msg: impl Into<String>) -> Self {
        PErr {
            input,
            msg: Some(msg.into()),
        }
    }
}

impl<'a> nom::error::ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        PErr { input, msg: None }
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, O> = IResult<&'a str, O, PErr<'a>>;

#[cold]
#[inline(never)]
fn fail<'a, T>(input: &'a str, msg: impl Into<String>) -> Result<T, nom::Err<PErr<'a>>> {
    Err(nom::Err::Failure(PErr::at(input, msg)))
}

fn char_pos(src: &str, at: &str) -> usize {
    let byte = src.len().saturating_sub(at.len());
    src.get(..byte).map_or(0, |s| s.chars().count())
}

/// "end of expression", "'foo'", or the lexical problem at `at`.
fn describe(at: &str) -> String {
    let at = skip_trivia(at);
    if at.is_empty() {
        return "unexpected end of expression".into();
    }
    match token(at) {
        Ok((_, t)) => format!("unexpected {t}"),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            e.msg.unwrap_or_else(|| "invalid token".into())
        }
        Err(nom::Err::Incomplete(_)) => "invalid token".into(),
    }
}

/// A failure "expected `what`, found …" at `at`.
#[cold]
#[inline(never)]
fn expected<'a, T>(at: &'a str, what: &str) -> Result<T, nom::Err<PErr<'a>>> {
    fail(at, format!("expected {what}, {}", describe(at)))
}

/// Run `p`; a non-match becomes a failure "expected `what`".
fn required<'a, O>(
    input: &'a str,
    what: &str,
    mut p: impl FnMut(&'a str) -> PResult<'a, O>,
) -> PResult<'a, O> {
    match p(input) {
        Err(nom::Err::Error(_)) => expected(input, what),
        other => other,
    }
}

// ---- lexer -------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
}

const KEYWORDS: [(&str, Kw); 9] = [
    ("NOT", Kw::Not),
    ("AND", Kw::And),
    ("OR", Kw::Or),
    ("BETWEEN", Kw::Between),
    ("IN", Kw::In),
    ("TRUE", Kw::True),
    ("FALSE", Kw::False),
    ("NULL", Kw::Null),
    ("IS", Kw::Is),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    LParen,
    Comma,
    RParen,
    Plus,
    Minus,
}

const OPERATORS: [(&str, Op); 11] = [
    ("<>", Op::Ne),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("=", Op::Eq),
    ("<", Op::Lt),
    (">", Op::Gt),
    ("(", Op::LParen),
    (",", Op::Comma),
    (")", Op::RParen),
    ("+", Op::Plus),
    ("-", Op::Minus),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Kw(Kw),
    /// Integer literal as written (with any `l`/`L`).
    Decimal(&'a str),
    /// Decimal literal as written.
    Float(&'a str),
    /// String literal between its quotes, `''` escapes still in.
    Str(&'a str),
    Id(&'a str),
    Op(Op),
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Kw(k) => {
                let name = KEYWORDS
                    .iter()
                    .find(|(_, kw)| kw == k)
                    .map_or("?", |(n, _)| n);
                write!(f, "keyword {name}")
            }
            Tok::Decimal(s) | Tok::Float(s) => write!(f, "number {s}"),
            Tok::Str(s) => write!(f, "string '{s}'"),
            Tok::Id(s) => write!(f, "identifier {s}"),
            Tok::Op(o) => {
                let sym = OPERATORS
                    .iter()
                    .find(|(_, op)| op == o)
                    .map_or("?", |(s, _)| s);
                write!(f, "'{sym}'")
            }
        }
    }
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

thread_local! {
    /// While [`compile`] runs: the length of the source's longest suffix without a line break.
    static UNTERMINATED_TAIL: Cell<usize> = const { Cell::new(0) };
}

/// Sets [`UNTERMINATED_TAIL`] for one compilation (0, "unknown", again when dropped), so that
/// a `--` with no line break after it is rejected at once instead of after a scan to the end
/// of the input — once per such `--`, which would make compiling quadratic.
struct UnterminatedTail;

impl UnterminatedTail {
    fn set(src: &str) -> Self {
        let tail = src.len() - src.rfind(['\n', '\r']).map_or(0, |p| p + 1);
        UNTERMINATED_TAIL.with(|c| c.set(tail));
        UnterminatedTail
    }
}

impl Drop for UnterminatedTail {
    fn drop(&mut self) {
        UNTERMINATED_TAIL.with(|c| c.set(0));
    }
}

/// `-- …` up to and including a line break (without one it is not a comment).
fn line_comment(i: &str) -> PResult<'_, &str> {
    // During a compilation every input is a suffix of the source: a short enough one has no
    // line break left.
    if i.len() <= UNTERMINATED_TAIL.with(Cell::get) {
        return Err(nom::Err::Error(PErr {
            input: i,
            msg: None,
        }));
    }
    recognize((
        tag("--"),
        take_while(|c| c != '\n' && c != '\r'),
        alt((tag("\r\n"), tag("\n"), tag("\r"))),
    ))
    .parse(i)
}

/// `/* … */`.
fn block_comment(i: &str) -> PResult<'_, &str> {
    recognize((tag("/*"), take_until("*/"), tag("*/"))).parse(i)
}

/// Blanks and comments.
fn trivia(i: &str) -> PResult<'_, ()> {
    value(
        (),
        many0_count(alt((take_while1(is_blank), line_comment, block_comment))),
    )
    .parse(i)
}

fn skip_trivia(i: &str) -> &str {
    match trivia(i) {
        Ok((rest, ())) => rest,
        Err(_) => i,
    }
}

fn is_id_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// Identifier or keyword (longest match; a keyword wins a tie).
fn word(i: &str) -> PResult<'_, Tok<'_>> {
    let (rest, w) = recognize((take_while1(is_id_start), take_while(is_id_char))).parse(i)?;
    let tok = KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(w))
        .map_or(Tok::Id(w), |(_, kw)| Tok::Kw(*kw));
    Ok((rest, tok))
}

fn digits(i: &str) -> usize {
    i.bytes().take_while(u8::is_ascii_digit).count()
}

/// Length of a complete exponent `[eE][+-]?[0-9]+` at the start of `i`, or 0.
fn exponent_len(i: &str) -> usize {
    let b = i.as_bytes();
    if !matches!(b.first(), Some(b'e' | b'E')) {
        return 0;
    }
    let sign = usize::from(matches!(b.get(1), Some(b'+' | b'-')));
    let n = digits(i.get(1 + sign..).unwrap_or(""));
    if n == 0 {
        0
    } else {
        1 + sign + n
    }
}

/// Integer or decimal literal, longest match as JavaCC does.
fn number(i: &str) -> PResult<'_, Tok<'_>> {
    let int_len = digits(i);
    let after_int = i.get(int_len..).unwrap_or("");
    let float_len = if let Some(frac) = after_int.strip_prefix('.') {
        let frac_len = digits(frac);
        if int_len == 0 && frac_len == 0 {
            0
        } else {
            let end = int_len + 1 + frac_len;
            end + exponent_len(i.get(end..).unwrap_or(""))
        }
    } else if int_len > 0 {
        let e = exponent_len(after_int);
        if e > 0 {
            int_len + e
        } else {
            0
        }
    } else {
        0
    };
    if float_len > 0 {
        let (lit, rest) = i.split_at(float_len);
        return Ok((rest, Tok::Float(lit)));
    }
    if int_len == 0 {
        return Err(nom::Err::Error(PErr {
            input: i,
            msg: None,
        }));
    }
    // `"0" | ["1"-"9"] (["0"-"9"])* (["l","L"])?`: a leading 0 is a literal on its own.
    let len = if i.starts_with('0') {
        1
    } else if matches!(after_int.as_bytes().first(), Some(b'l' | b'L')) {
        int_len + 1
    } else {
        int_len
    };
    let (lit, rest) = i.split_at(len);
    Ok((rest, Tok::Decimal(lit)))
}

/// `'…'` with `''` for a quote.
fn string_lit(i: &str) -> PResult<'_, Tok<'_>> {
    let Some(body) = i.strip_prefix('\'') else {
        return Err(nom::Err::Error(PErr {
            input: i,
            msg: None,
        }));
    };
    let mut at = 0;
    loop {
        match body.get(at..).and_then(|s| s.find('\'')) {
            None => return Err(nom::Err::Error(PErr::at(i, "unterminated string literal"))),
            Some(q) => {
                let q = at + q;
                if body.get(q + 1..).is_some_and(|s| s.starts_with('\'')) {
                    at = q + 2;
                } else {
                    let lit = body.get(..q).unwrap_or("");
                    let rest = body.get(q + 1..).unwrap_or("");
                    return Ok((rest, Tok::Str(lit)));
                }
            }
        }
    }
}

fn operator(i: &str) -> PResult<'_, Tok<'_>> {
    for (sym, op) in OPERATORS {
        if let Some(rest) = i.strip_prefix(sym) {
            return Ok((rest, Tok::Op(op)));
        }
    }
    Err(nom::Err::Error(PErr {
        input: i,
        msg: None,
    }))
}

/// The next token after blanks and comments. A non-match (`Error`) carries the lexical
/// problem; the end of input is a non-match too.
fn token(i: &str) -> PResult<'_, Tok<'_>> {
    let (i, ()) = trivia(i)?;
    let Some(c) = i.chars().next() else {
        return Err(nom::Err::Error(PErr::at(i, "unexpected end of expression")));
    };
    let r = if is_id_start(c) {
        word(i)
    } else if c.is_ascii_digit() || c == '.' {
        number(i)
    } else if c == '\'' {
        string_lit(i)
    } else {
        operator(i)
    };
    match r {
        Err(nom::Err::Error(PErr { msg: None, .. })) => {
            let msg = if i.starts_with("/*") {
                "unterminated comment".to_owned()
            } else {
                format!("invalid character {c:?}")
            };
            Err(nom::Err::Error(PErr::at(i, msg)))
        }
        other => other,
    }
}

/// Consume the token `want`, or a non-match.
fn expect_tok<'a>(want: Tok<'static>) -> impl Fn(&'a str) -> PResult<'a, ()> {
    move |i: &'a str| match token(i) {
        Ok((rest, t)) if t == want => Ok((rest, ())),
        Ok(_) => Err(nom::Err::Error(PErr {
            input: i,
            msg: None,
        })),
        Err(e) => Err(e),
    }
}

/// The next token if there is a valid one, without treating its absence as an error.
fn peek(i: &str) -> Result<Option<(&str, Tok<'_>)>, nom::Err<PErr<'_>>> {
    match token(i) {
        Ok(ok) => Ok(Some(ok)),
        Err(nom::Err::Error(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

// ---- parser ------------------------------------------------------------------------------

/// A parsed sub-expression: its tree, the tree's depth and where it started.
struct P<'a> {
    node: Node,
    depth: usize,
    start: &'a str,
}

fn composite<'a>(
    start: &'a str,
    node: Node,
    child_depth: usize,
) -> Result<P<'a>, nom::Err<PErr<'a>>> {
    let depth = child_depth + 1;
    if depth > MAX_DEPTH {
        return fail(
            start,
            format!("expression too deeply nested (more than {MAX_DEPTH} levels)"),
        );
    }
    Ok(P { node, depth, start })
}

/// Java `asBooleanExpression`.
fn as_boolean(p: P<'_>) -> Result<P<'_>, nom::Err<PErr<'_>>> {
    match p.node {
        Node::Property(name) => Ok(P {
            node: Node::BoolCast(name),
            depth: p.depth,
            start: p.start,
        }),
        ref n if n.is_boolean() => Ok(p),
        _ => fail(p.start, "expression will not result in a boolean value"),
    }
}

fn or_expr(i: &str, nest: usize) -> PResult<'_, P<'_>> {
    logic_chain(i, nest, Kw::Or, and_expr)
}

fn and_expr(i: &str, nest: usize) -> PResult<'_, P<'_>> {
    logic_chain(i, nest, Kw::And, equality_expr)
}

/// `item ( KW item )*` as one flat AND / OR (Java folds it to the left; same result).
fn logic_chain<'a>(
    i: &'a str,
    nest: usize,
    kw: Kw,
    item: fn(&'a str, usize) -> PResult<'a, P<'a>>,
) -> PResult<'a, P<'a>> {
    // The first operand is parsed in this small frame, the rest in `logic_rest`: nesting
    // through first operands costs less stack.
    let (i, first) = item(i, nest)?;
    logic_rest(i, nest, kw, item, first)
}

fn logic_rest<'a>(
    mut i: &'a str,
    nest: usize,
    kw: Kw,
    item: fn(&'a str, usize) -> PResult<'a, P<'a>>,
    first: P<'a>,
) -> PResult<'a, P<'a>> {
    let mut items = vec![first];
    while let Ok((r, ())) = expect_tok(Tok::Kw(kw))(i) {
        let what = if kw == Kw::And {
            "an expression after AND"
        } else {
            "an expression after OR"
        };
        let (r, next) = required(r, what, |x| item(x, nest))?;
        items.push(next);
        i = r;
    }
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return Ok((i, only));
        }
    }
    let start = items.first().map_or(i, |p| p.start);
    let mut depth = 0;
    let mut nodes = Vec::with_capacity(items.len());
    for p in items {
        let p = as_boolean(p)?;
        depth = depth.max(p.depth);
        nodes.push(p.node);
    }
    let node = if kw == Kw::And {
        Node::And(nodes)
    } else {
        Node::Or(nodes)
    };
    Ok((i, composite(start, node, depth)?))
}

fn equality_expr(i: &str, nest: usize) -> PResult<'_, P<'_>> {
    let (i, left) = comparison_expr(i, nest)?;
    equality_rest(i, nest, left)
}

fn equality_rest<'a>(mut i: &'a str, nest: usize, mut left: P<'a>) -> PResult<'a, P<'a>> {
    while let Some((r, t)) = peek(i)? {
        match t {
            Tok::Op(Op::Eq) | Tok::Op(Op::Ne) => {
                let (r, right) = required(r, "an operand", |x| comparison_expr(x, nest))?;
                let eq = create_equal(left, right)?;
                left = if t == Tok::Op(Op::Ne) {
                    let (start, depth) = (eq.start, eq.depth);
                    composite(start, Node::Not(Box::new(eq.node)), depth)?
                } else {
                    eq
                };
                i = r;
            }
            Tok::Kw(Kw::Is) => {
                let not = expect_tok(Tok::Kw(Kw::Not))(r).ok();
                let after_not = not.map_or(r, |(rest, ())| rest);
                let Ok((r, ())) = expect_tok(Tok::Kw(Kw::Null))(after_not) else {
                    return expected(r, "NULL or NOT NULL after IS");
                };
                let start = left.start;
                let is_null = composite(
                    start,
                    Node::Eq(Box::new(left.node), Box::new(Node::Const(Literal::Null))),
                    left.depth,
                )?;
                left = if not.is_some() {
                    composite(start, Node::Not(Box::new(is_null.node)), is_null.depth)?
                } else {
                    is_null
                };
                i = r;
            }
            _ => break,
        }
    }
    Ok((i, left))
}

fn comparison_expr(i: &str, nest: usize) -> PResult<'_, P<'_>> {
    let (i, left) = unary_expr(i, nest)?;
    comparison_rest(i, nest, left)
}

fn comparison_rest<'a>(mut i: &'a str, nest: usize, mut left: P<'a>) -> PResult<'a, P<'a>> {
    while let Some((r, t)) = peek(i)? {
        let (r, next) = match t {
            Tok::Op(op @ (Op::Gt | Op::Ge | Op::Lt | Op::Le)) => {
                let op = match op {
                    Op::Gt => CmpOp::Gt,
                    Op::Ge => CmpOp::Ge,
                    Op::Lt => CmpOp::Lt,
                    _ => CmpOp::Le,
                };
                let (r, right) = required(r, "an operand", |x| unary_expr(x, nest))?;
                (r, create_cmp(op, left, right)?)
            }
            Tok::Kw(Kw::Between) => {
                let (r, (low, high)) = between_bounds(r, nest)?;
                (r, create_between(left, low, high)?)
            }
            Tok::Kw(Kw::In) => {
                let (r, values) = in_list(r)?;
                (r, create_in(left, values, false)?)
            }
            Tok::Kw(Kw::Not) => match peek(r)? {
                Some((r, Tok::Kw(Kw::Between))) => {
                    let (r, (low, high)) = between_bounds(r, nest)?;
                    (r, create_not_between(left, low, high)?)
                }
                Some((r, Tok::Kw(Kw::In))) => {
                    let (r, values) = in_list(r)?;
                    (r, create_in(left, values, true)?)
                }
                _ => return expected(r, "BETWEEN or IN after NOT"),
            },
            _ => break,
        };
        left = next;
        i = r;
    }
    Ok((i, left))
}

/// `low AND high` after BETWEEN.
fn between_bounds(i: &str, nest: usize) -> PResult<'_, (P<'_>, P<'_>)> {
    let (r, low) = required(i, "the lower bound of BETWEEN", |x| unary_expr(x, nest))?;
    let (r, ()) = required(r, "AND in BETWEEN … AND …", expect_tok(Tok::Kw(Kw::And)))?;
    let (r, high) = required(r, "the upper bound of BETWEEN", |x| unary_expr(x, nest))?;
    Ok((r, (low, high)))
}

/// `( 'a', 'b', … )` after IN.
fn in_list(i: &str) -> PResult<'_, Vec<Box<str>>> {
    let (mut i, ()) = required(i, "'(' after IN", expect_tok(Tok::Op(Op::LParen)))?;
    let mut values = Vec::new();
    loop {
        let (r, s) = required(i, "a string literal in the IN list", string_token)?;
        values.push(s);
        match peek(r)? {
            Some((r, Tok::Op(Op::Comma))) => i = r,
            Some((r, Tok::Op(Op::RParen))) => return Ok((r, values)),
            _ => return expected(r, "',' or ')' in the IN list"),
        }
    }
}

fn string_token(i: &str) -> PResult<'_, Box<str>> {
    match token(i)? {
        (rest, Tok::Str(raw)) => Ok((rest, unescape(raw))),
        _ => Err(nom::Err::Error(PErr {
            input: i,
            msg: None,
        })),
    }
}

fn unescape(raw: &str) -> Box<str> {
    if raw.contains("''") {
        raw.replace("''", "'").into()
    } else {
        raw.into()
    }
}

fn unary_expr(i: &str, nest: usize) -> PResult<'_, P<'_>> {
    if nest > MAX_NESTING {
        return fail(
            i,
            format!("expression nested too deeply (more than {MAX_NESTING} levels)"),
        );
    }
    let (r, t) = token(i)?;
    match t {
        // Unary plus is the operand itself.
        Tok::Op(Op::Plus) => required(r, "an operand after '+'", |x| unary_expr(x, nest + 1)),
        Tok::Op(Op::Minus) => {
            let (r, p) = required(r, "an operand after '-'", |x| unary_expr(x, nest + 1))?;
            let start = skip_trivia(i);
            Ok((
                r,
                composite(start, Node::Negate(Box::new(p.node)), p.depth)?,
            ))
        }
        Tok::Kw(Kw::Not) => {
            let (r, p) = required(r, "an expression after NOT", |x| unary_expr(x, nest + 1))?;
            let p = as_boolean(p)?;
            let start = skip_trivia(i);
            Ok((r, composite(start, Node::Not(Box::new(p.node)), p.depth)?))
        }
        _ => primary_expr(i, nest),
    }
}

fn primary_expr(i: &str, nest: usize) -> PResult<'_, P<'_>> {
    let (r, t) = token(i)?;
    let start = skip_trivia(i);
    let leaf = |node| P {
        node,
        depth: 1,
        start,
    };
    let p = match t {
        Tok::Str(raw) => leaf(Node::Const(Literal::Str(unescape(raw)))),
        Tok::Decimal(s) => leaf(Node::Const(decimal_literal(start, s)?)),
        Tok::Float(s) => leaf(Node::Const(float_literal(start, s)?)),
        Tok::Kw(Kw::True) => leaf(Node::Const(Literal::Bool(true))),
        Tok::Kw(Kw::False) => leaf(Node::Const(Literal::Bool(false))),
        Tok::Kw(Kw::Null) => leaf(Node::Const(Literal::Null)),
        Tok::Id(name) => leaf(Node::Property(name.into())),
        Tok::Op(Op::LParen) => {
            let (r, inner) = required(r, "an expression after '('", |x| or_expr(x, nest + 1))?;
            let (r, ()) = match expect_tok(Tok::Op(Op::RParen))(r) {
                Ok(ok) => ok,
                Err(_) => return expected(r, "')'"),
            };
            return Ok((r, inner));
        }
        _ => {
            return Err(nom::Err::Error(PErr {
                input: i,
                msg: None,
            }))
        }
    };
    Ok((r, p))
}

/// Java `ConstantExpression.createFromDecimal`: a `long` (an `int` when it fits).
fn decimal_literal<'a>(at: &'a str, s: &str) -> Result<Literal, nom::Err<PErr<'a>>> {
    let digits = s.trim_end_matches(['l', 'L']);
    match digits.parse::<i64>() {
        Ok(v) => Ok(i32::try_from(v).map_or(Literal::Long(v), Literal::Int)),
        Err(_) => fail(at, format!("integer {s} is out of the long range")),
    }
}

/// Java `ConstantExpression.createFloat`: refuses infinity and values below
/// `Double.MIN_VALUE` (i.e. zero).
fn float_literal<'a>(at: &'a str, s: &str) -> Result<Literal, nom::Err<PErr<'a>>> {
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() => fail(at, format!("{s} is greater than Double.MAX_VALUE")),
        Ok(v) if v < f64::from_bits(1) => fail(at, format!("{s} is less than Double.MIN_VALUE")),
        Ok(v) => Ok(Literal::Double(v)),
        Err(_) => fail(at, format!("invalid number {s}")),
    }
}

fn describe_operand(n: &Node) -> String {
    match n {
        Node::Const(Literal::Null) => "NULL".into(),
        Node::Const(Literal::Bool(b)) => if *b { "TRUE" } else { "FALSE" }.into(),
        Node::Const(Literal::Str(s)) => format!("'{}'", s.replace('\'', "''")),
        Node::Const(Literal::Int(v)) => v.to_string(),
        Node::Const(Literal::Long(v)) => v.to_string(),
        Node::Const(Literal::Double(v)) => v.to_string(),
        _ => "a boolean expression".into(),
    }
}

/// Java `createEqual` checks, then `=`.
fn create_equal<'a>(left: P<'a>, right: P<'a>) -> Result<P<'a>, nom::Err<PErr<'a>>> {
    for p in [&left, &right] {
        if p.node == Node::Const(Literal::Null) {
            return fail(
                p.start,
                "NULL cannot be compared with '=' or '<>' (use IS [NOT] NULL)",
            );
        }
    }
    if let (Node::Const(Literal::Bool(_)), Node::Const(r)) = (&left.node, &right.node) {
        if !matches!(r, Literal::Bool(_) | Literal::Null) {
            return fail(
                left.start,
                format!(
                    "{} cannot be compared with {}",
                    describe_operand(&left.node),
                    describe_operand(&right.node)
                ),
            );
        }
    }
    let depth = left.depth.max(right.depth);
    composite(
        left.start,
        Node::Eq(Box::new(left.node), Box::new(right.node)),
        depth,
    )
}

/// Java `checkLessThanOperand`: numbers, properties and negations only.
fn check_ordered_operand<'a>(p: &P<'a>, op: &str) -> Result<(), nom::Err<PErr<'a>>> {
    let ok = match &p.node {
        Node::Const(l) => matches!(l, Literal::Int(_) | Literal::Long(_) | Literal::Double(_)),
        n => !n.is_boolean(),
    };
    if ok {
        Ok(())
    } else {
        fail(
            p.start,
            format!(
                "{} cannot be compared with '{op}'",
                describe_operand(&p.node)
            ),
        )
    }
}

fn create_cmp<'a>(op: CmpOp, left: P<'a>, right: P<'a>) -> Result<P<'a>, nom::Err<PErr<'a>>> {
    check_ordered_operand(&left, op.symbol())?;
    check_ordered_operand(&right, op.symbol())?;
    let depth = left.depth.max(right.depth);
    composite(
        left.start,
        Node::Cmp(op, Box::new(left.node), Box::new(right.node)),
        depth,
    )
}

fn clone_p<'a>(p: &P<'a>) -> P<'a> {
    P {
        node: p.node.clone(),
        depth: p.depth,
        start: p.start,
    }
}

/// `v BETWEEN low AND high` = `v >= low AND v <= high`, with Java's check of constant bounds.
fn create_between<'a>(v: P<'a>, low: P<'a>, high: P<'a>) -> Result<P<'a>, nom::Err<PErr<'a>>> {
    if let (Node::Const(l), Node::Const(h)) = (&low.node, &high.node) {
        if *l == Literal::Null || *h == Literal::Null {
            return fail(low.start, "the bounds of BETWEEN cannot be NULL");
        }
        let lo = super::eval::literal_value(l);
        let hi = super::eval::literal_value(h);
        match super::eval::java_compare(&hi, &lo) {
            Ok(std::cmp::Ordering::Less) => {
                return fail(
                    low.start,
                    format!(
                    "BETWEEN's lower bound ({}) must be less than or equal to its upper bound ({})",
                    describe_operand(&low.node),
                    describe_operand(&high.node)
                ),
                )
            }
            Ok(_) => {}
            Err(_) => {
                return fail(
                    low.start,
                    format!(
                        "BETWEEN bounds {} and {} cannot be compared",
                        describe_operand(&low.node),
                        describe_operand(&high.node)
                    ),
                )
            }
        }
    }
    let start = v.start;
    let ge = create_cmp(CmpOp::Ge, clone_p(&v), low)?;
    let le = create_cmp(CmpOp::Le, v, high)?;
    let depth = ge.depth.max(le.depth);
    composite(start, Node::And(vec![ge.node, le.node]), depth)
}

/// `v NOT BETWEEN low AND high` = `v < low OR v > high`.
fn create_not_between<'a>(v: P<'a>, low: P<'a>, high: P<'a>) -> Result<P<'a>, nom::Err<PErr<'a>>> {
    let start = v.start;
    let lt = create_cmp(CmpOp::Lt, clone_p(&v), low)?;
    let gt = create_cmp(CmpOp::Gt, v, high)?;
    let depth = lt.depth.max(gt.depth);
    composite(start, Node::Or(vec![lt.node, gt.node]), depth)
}

fn create_in<'a>(
    left: P<'a>,
    mut values: Vec<Box<str>>,
    negated: bool,
) -> Result<P<'a>, nom::Err<PErr<'a>>> {
    let Node::Property(property) = left.node else {
        return fail(left.start, "IN needs a property on its left");
    };
    values.sort_unstable();
    values.dedup();
    composite(
        left.start,
        Node::In {
            property,
            values: values.into_boxed_slice(),
            negated,
        },
        left.depth,
    )
}

#[cfg(test)]
mod lexer_tests {
    use super::*;

    fn tokens(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = s;
        while let Ok((rest, t)) = token(i) {
            out.push(t.to_string());
            i = rest;
        }
        if !skip_trivia(i).is_empty() {
            out.push(format!("ERR:{}", describe(i)));
        }
        out
    }

    #[test]
    fn longest_match() {
        assert_eq!(tokens("007"), ["number 0", "number 0", "number 7"]);
        assert_eq!(tokens("0L"), ["number 0", "identifier L"]);
        assert_eq!(tokens("12L"), ["number 12L"]);
        assert_eq!(tokens("007.5"), ["number 007.5"]);
        assert_eq!(tokens("5.e3x"), ["number 5.e3", "identifier x"]);
        assert_eq!(tokens("5ea"), ["number 5", "identifier ea"]);
        assert_eq!(
            tokens(".5 5. 5e+2"),
            ["number .5", "number 5.", "number 5e+2"]
        );
        assert_eq!(tokens("notx not"), ["identifier notx", "keyword NOT"]);
        assert_eq!(
            tokens("a<>b<=c>=d"),
            [
                "identifier a",
                "'<>'",
                "identifier b",
                "'<='",
                "identifier c",
                "'>='",
                "identifier d"
            ]
        );
        assert_eq!(tokens("'it''s'"), ["string 'it''s'"]);
        assert_eq!(tokens("a -- c\n b"), ["identifier a", "identifier b"]);
        assert_eq!(
            tokens("a -- c"),
            ["identifier a", "'-'", "'-'", "identifier c"]
        );
        assert_eq!(tokens("a /* x * y */ b"), ["identifier a", "identifier b"]);
        assert_eq!(
            tokens("a /* x"),
            ["identifier a", "ERR:unterminated comment"]
        );
        assert_eq!(tokens("'abc"), ["ERR:unterminated string literal"]);
        assert_eq!(
            tokens("a != b"),
            ["identifier a", "ERR:invalid character '!'"]
        );
        assert_eq!(tokens("."), ["ERR:invalid character '.'"]);
        assert_eq!(
            tokens("a\u{a0}"),
            ["identifier a", "ERR:invalid character '\\u{a0}'"]
        );
    }
}
