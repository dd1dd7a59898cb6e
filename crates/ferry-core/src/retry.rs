//! How long to wait before each retry.
//!
//! Without instructions QStash backs off exponentially, `e^(2.5·n)` seconds
//! capped at one day ([`default_backoff`]). A publisher can replace that with
//! an `Upstash-Retry-Delay` expression in milliseconds, such as
//! `pow(2, retried) * 1000`. Expressions are untrusted input that is parsed
//! at publish time and evaluated at every retry, so [`RetryDelayExpr`] is a
//! deliberately small language: arithmetic, the variable `retried` and a
//! fixed set of functions, with limits on length, token count and nesting so
//! neither parsing nor evaluation can be made expensive. It keeps the source
//! text, which is what is stored and what API responses show.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(test)]
mod tests;

/// Longest expression source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 256;
/// Most tokens an expression may have.
pub const MAX_TOKENS: usize = 128;
/// Deepest nesting of parentheses, function calls and unary minus.
pub const MAX_DEPTH: usize = 32;

/// Longest wait before a retry that an expression can ask for: the default
/// bound on `Upstash-Delay` (`gateway.limits.max_delay`), 365 days. A larger
/// value (`pow(10, 300)`) would park the message for ever, never retried nor
/// dead-lettered.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The default backoff never waits longer than a day.
const MAX_DEFAULT_BACKOFF_SECS: f64 = 86_400.0;
/// The growth rate QStash documents for its default backoff.
const BACKOFF_EXPONENT: f64 = 2.5;

/// QStash's default wait before the next retry, `min(86400, e^(2.5·n))`
/// seconds with `n = retried + 1`, where `retried` counts the retries
/// already made: about 12 s, 2m28s, 30m8s, 6h7m and then a day.
pub fn default_backoff(retried: u32) -> Duration {
    let n = f64::from(retried) + 1.0;
    // `exp` goes to infinity rather than overflowing and `min` brings that
    // back to the cap, so the value is always within 12.18..=86400 and
    // `from_secs_f64` cannot panic.
    Duration::from_secs_f64((BACKOFF_EXPONENT * n).exp().min(MAX_DEFAULT_BACKOFF_SECS))
}

/// A parsed `Upstash-Retry-Delay` expression whose value is the delay in
/// milliseconds, with `retried` bound to the number of retries already made.
///
/// Two expressions are equal when their source text is, since the text is
/// what gets stored.
#[derive(Clone)]
pub struct RetryDelayExpr {
    source: String,
    root: Expr,
}

impl RetryDelayExpr {
    /// Parses `src`, keeping it verbatim for [`as_str`](Self::as_str).
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        if src.len() > MAX_SOURCE_BYTES {
            return Err(ExprError::TooLong { len: src.len() });
        }
        let tokens = tokenize(src)?;
        if tokens.is_empty() {
            return Err(ExprError::Empty);
        }
        let mut parser = Parser {
            tokens,
            next: 0,
            depth: 0,
        };
        let root = parser.parse_sum()?;
        if let Some(extra) = parser.peek() {
            return Err(ExprError::TrailingInput {
                position: extra.position,
                found: extra.text.to_owned(),
            });
        }
        Ok(Self {
            source: src.to_owned(),
            root,
        })
    }

    /// The expression exactly as it was written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The wait before the retry that follows `retried` earlier retries.
    ///
    /// Fractions of a millisecond are dropped and values beyond `u64`
    /// milliseconds saturate; capping to [`MAX_RETRY_DELAY`] is the caller's
    /// job. A result that is not a finite, non-negative number is an error.
    pub fn delay(&self, retried: u32) -> Result<Duration, ExprError> {
        let millis = self.root.eval(f64::from(retried));
        if !millis.is_finite() {
            return Err(ExprError::NotFinite { retried });
        }
        if millis < 0.0 {
            return Err(ExprError::Negative {
                retried,
                value: millis,
            });
        }
        // A float-to-integer `as` cast saturates, which is the behaviour
        // documented above, and the value is known to be finite and >= 0.
        Ok(Duration::from_millis(millis as u64))
    }
}

impl PartialEq for RetryDelayExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for RetryDelayExpr {}

impl fmt::Debug for RetryDelayExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryDelayExpr").field(&self.source).finish()
    }
}

impl fmt::Display for RetryDelayExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for RetryDelayExpr {
    type Err = ExprError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for RetryDelayExpr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// Re-parses the stored source, so a record can never carry an expression
/// that the current parser would reject.
impl<'de> Deserialize<'de> for RetryDelayExpr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Self::parse(&source).map_err(serde::de::Error::custom)
    }
}

/// Why an expression was rejected at parse time or failed to evaluate.
/// Positions are byte offsets into the source, starting at 0.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    #[error("the expression is empty")]
    Empty,
    #[error("the expression is {len} bytes long; the limit is {MAX_SOURCE_BYTES}")]
    TooLong { len: usize },
    #[error("the expression has more than {MAX_TOKENS} tokens")]
    TooManyTokens,
    #[error("the expression nests deeper than {MAX_DEPTH} levels at byte {position}")]
    TooDeep { position: usize },
    #[error("unexpected character {found:?} at byte {position}")]
    UnexpectedChar { position: usize, found: char },
    #[error("invalid number {text:?} at byte {position}")]
    InvalidNumber { position: usize, text: String },
    #[error(
        "unknown name {name:?} at byte {position} \
         (use retried, pow, sqrt, abs, exp, floor, ceil, round, min or max)"
    )]
    UnknownName { position: usize, name: String },
    #[error(
        "wrong number of arguments for {function} at byte {position}: \
         expected {expected}, got {found}"
    )]
    WrongArity {
        position: usize,
        function: String,
        expected: usize,
        found: usize,
    },
    #[error("unexpected {found:?} at byte {position} (expected {expected})")]
    UnexpectedToken {
        position: usize,
        found: String,
        expected: &'static str,
    },
    #[error("the expression ends too early (expected {expected})")]
    UnexpectedEnd { expected: &'static str },
    #[error("unexpected {found:?} at byte {position} after a complete expression")]
    TrailingInput { position: usize, found: String },
    #[error("the expression is not a finite number when retried is {retried}")]
    NotFinite { retried: u32 },
    #[error("the expression is negative ({value} ms) when retried is {retried}")]
    Negative { retried: u32, value: f64 },
}

/// What may start an operand; used in "expected …" messages.
const EXPECTED_OPERAND: &str = "a number, retried, a function call or \"(\"";
/// What may follow an argument of a function call.
const EXPECTED_SEPARATOR: &str = "\",\" or \")\"";

#[derive(Clone)]
enum Expr {
    Number(f64),
    Retried,
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    fn eval(&self, retried: f64) -> f64 {
        match self {
            Self::Number(value) => *value,
            Self::Retried => retried,
            Self::Unary(op, operand) => op.apply(operand.eval(retried)),
            Self::Binary(op, lhs, rhs) => op.apply(lhs.eval(retried), rhs.eval(retried)),
        }
    }
}

/// Operations of one operand: unary minus and the one-argument functions.
#[derive(Clone, Copy)]
enum UnaryOp {
    Neg,
    Sqrt,
    Abs,
    Exp,
    Floor,
    Ceil,
    Round,
}

impl UnaryOp {
    fn apply(self, x: f64) -> f64 {
        match self {
            Self::Neg => -x,
            Self::Sqrt => x.sqrt(),
            Self::Abs => x.abs(),
            Self::Exp => x.exp(),
            Self::Floor => x.floor(),
            Self::Ceil => x.ceil(),
            // Halves round away from zero, as Go's `math.Round` does.
            Self::Round => x.round(),
        }
    }
}

/// Operations of two operands: the arithmetic operators and the
/// two-argument functions.
#[derive(Clone, Copy)]
enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Min,
    Max,
}

impl BinaryOp {
    fn apply(self, x: f64, y: f64) -> f64 {
        match self {
            Self::Add => x + y,
            Self::Sub => x - y,
            Self::Mul => x * y,
            Self::Div => x / y,
            Self::Pow => x.powf(y),
            Self::Min => propagate_nan(x, y, f64::min),
            Self::Max => propagate_nan(x, y, f64::max),
        }
    }
}

/// `f64::min` and `f64::max` return the other operand when one is NaN, which
/// would let `max(sqrt(-1), 1000)` quietly succeed. A NaN operand makes the
/// whole expression fail instead.
fn propagate_nan(x: f64, y: f64, pick: fn(f64, f64) -> f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        pick(x, y)
    }
}

/// A callable name and the operation it builds; the arity follows from it.
#[derive(Clone, Copy)]
enum Function {
    Unary(UnaryOp),
    Binary(BinaryOp),
}

impl Function {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "pow" => Some(Self::Binary(BinaryOp::Pow)),
            "min" => Some(Self::Binary(BinaryOp::Min)),
            "max" => Some(Self::Binary(BinaryOp::Max)),
            "sqrt" => Some(Self::Unary(UnaryOp::Sqrt)),
            "abs" => Some(Self::Unary(UnaryOp::Abs)),
            "exp" => Some(Self::Unary(UnaryOp::Exp)),
            "floor" => Some(Self::Unary(UnaryOp::Floor)),
            "ceil" => Some(Self::Unary(UnaryOp::Ceil)),
            "round" => Some(Self::Unary(UnaryOp::Round)),
            _ => None,
        }
    }

    fn arity(self) -> usize {
        match self {
            Self::Unary(_) => 1,
            Self::Binary(_) => 2,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Number,
    Name,
    Plus,
    Minus,
    Star,
    Slash,
    Open,
    Close,
    Comma,
}

/// A token with its source text, kept for values and error messages.
#[derive(Clone, Copy)]
struct Token<'a> {
    kind: TokenKind,
    text: &'a str,
    position: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token<'_>>, ExprError> {
    let mut tokens = Vec::new();
    let mut position = 0;
    while let Some(first) = src[position..].chars().next() {
        if first.is_whitespace() {
            position += first.len_utf8();
            continue;
        }
        let (kind, len) = scan_token(&src[position..], first).ok_or(ExprError::UnexpectedChar {
            position,
            found: first,
        })?;
        if tokens.len() == MAX_TOKENS {
            return Err(ExprError::TooManyTokens);
        }
        tokens.push(Token {
            kind,
            text: &src[position..position + len],
            position,
        });
        position += len;
    }
    Ok(tokens)
}

/// The kind and byte length of the token at the start of `rest`, whose first
/// character is `first`. Numbers are a run of digits and dots; whether that
/// run is a valid number is decided by the parser, which can then name it.
fn scan_token(rest: &str, first: char) -> Option<(TokenKind, usize)> {
    let run = |accept: fn(char) -> bool| rest.find(|c| !accept(c)).unwrap_or(rest.len());
    let token = match first {
        '0'..='9' | '.' => (TokenKind::Number, run(|c| c.is_ascii_digit() || c == '.')),
        'a'..='z' | 'A'..='Z' | '_' => (
            TokenKind::Name,
            run(|c| c.is_ascii_alphanumeric() || c == '_'),
        ),
        '+' => (TokenKind::Plus, 1),
        '-' => (TokenKind::Minus, 1),
        '*' => (TokenKind::Star, 1),
        '/' => (TokenKind::Slash, 1),
        '(' => (TokenKind::Open, 1),
        ')' => (TokenKind::Close, 1),
        ',' => (TokenKind::Comma, 1),
        _ => return None,
    };
    Some(token)
}

fn additive_op(kind: TokenKind) -> Option<BinaryOp> {
    match kind {
        TokenKind::Plus => Some(BinaryOp::Add),
        TokenKind::Minus => Some(BinaryOp::Sub),
        _ => None,
    }
}

fn multiplicative_op(kind: TokenKind) -> Option<BinaryOp> {
    match kind {
        TokenKind::Star => Some(BinaryOp::Mul),
        TokenKind::Slash => Some(BinaryOp::Div),
        _ => None,
    }
}

/// A recursive-descent parser over the token list:
///
/// ```text
/// sum     = product (("+" | "-") product)*
/// product = unary (("*" | "/") unary)*
/// unary   = "-" unary | primary
/// primary = number | "retried" | name "(" [sum ("," sum)*] ")" | "(" sum ")"
/// ```
///
/// `depth` counts the nested constructs currently open, so recursion is
/// bounded by [`MAX_DEPTH`] whatever the input.
struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    next: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).copied()
    }

    fn advance(&mut self, expected: &'static str) -> Result<Token<'a>, ExprError> {
        let token = self.peek().ok_or(ExprError::UnexpectedEnd { expected })?;
        self.next += 1;
        Ok(token)
    }

    fn expect(&mut self, kind: TokenKind, expected: &'static str) -> Result<(), ExprError> {
        let token = self.advance(expected)?;
        if token.kind == kind {
            Ok(())
        } else {
            Err(unexpected(token, expected))
        }
    }

    /// Runs `parse` one nesting level deeper, failing at `position` when that
    /// would exceed [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        position: usize,
        parse: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        if self.depth == MAX_DEPTH {
            return Err(ExprError::TooDeep { position });
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn parse_sum(&mut self) -> Result<Expr, ExprError> {
        self.parse_left_assoc(Self::parse_product, additive_op)
    }

    fn parse_product(&mut self) -> Result<Expr, ExprError> {
        self.parse_left_assoc(Self::parse_unary, multiplicative_op)
    }

    /// Parses `operand (op operand)*` into a left-leaning tree, so `10 - 4 - 3`
    /// is `(10 - 4) - 3`.
    fn parse_left_assoc(
        &mut self,
        operand: fn(&mut Self) -> Result<Expr, ExprError>,
        operator: fn(TokenKind) -> Option<BinaryOp>,
    ) -> Result<Expr, ExprError> {
        let mut lhs = operand(self)?;
        while let Some(op) = self.peek().and_then(|token| operator(token.kind)) {
            self.next += 1;
            let rhs = operand(self)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn parse_unary(&mut self) -> Result<Expr, ExprError> {
        match self.peek() {
            Some(token) if token.kind == TokenKind::Minus => {
                self.next += 1;
                let operand = self.nested(token.position, Self::parse_unary)?;
                Ok(Expr::Unary(UnaryOp::Neg, Box::new(operand)))
            }
            _ => self.parse_primary(),
        }
    }

    fn parse_primary(&mut self) -> Result<Expr, ExprError> {
        let token = self.advance(EXPECTED_OPERAND)?;
        match token.kind {
            TokenKind::Number => parse_number(token),
            TokenKind::Name if token.text == "retried" => Ok(Expr::Retried),
            TokenKind::Name => {
                let function =
                    Function::from_name(token.text).ok_or_else(|| ExprError::UnknownName {
                        position: token.position,
                        name: token.text.to_owned(),
                    })?;
                self.parse_call(function, token)
            }
            TokenKind::Open => {
                let inner = self.nested(token.position, Self::parse_sum)?;
                self.expect(TokenKind::Close, "\")\"")?;
                Ok(inner)
            }
            _ => Err(unexpected(token, EXPECTED_OPERAND)),
        }
    }

    fn parse_call(&mut self, function: Function, name: Token<'a>) -> Result<Expr, ExprError> {
        self.expect(TokenKind::Open, "\"(\" after a function name")?;
        let args = self.nested(name.position, Self::parse_arguments)?;
        let found = args.len();
        let mut args = args.into_iter();
        match (function, args.next(), args.next(), args.next()) {
            (Function::Unary(op), Some(x), None, None) => Ok(Expr::Unary(op, Box::new(x))),
            (Function::Binary(op), Some(x), Some(y), None) => {
                Ok(Expr::Binary(op, Box::new(x), Box::new(y)))
            }
            _ => Err(ExprError::WrongArity {
                position: name.position,
                function: name.text.to_owned(),
                expected: function.arity(),
                found,
            }),
        }
    }

    /// Parses a comma-separated argument list after its `(`, through the
    /// closing `)`. Counting is left to the caller, which knows the arity.
    fn parse_arguments(&mut self) -> Result<Vec<Expr>, ExprError> {
        let mut args = Vec::new();
        if self
            .peek()
            .is_some_and(|token| token.kind == TokenKind::Close)
        {
            self.next += 1;
            return Ok(args);
        }
        loop {
            args.push(self.parse_sum()?);
            let separator = self.advance(EXPECTED_SEPARATOR)?;
            match separator.kind {
                TokenKind::Comma => {}
                TokenKind::Close => return Ok(args),
                _ => return Err(unexpected(separator, EXPECTED_SEPARATOR)),
            }
        }
    }
}

fn parse_number(token: Token<'_>) -> Result<Expr, ExprError> {
    token
        .text
        .parse()
        .map(Expr::Number)
        .map_err(|_| ExprError::InvalidNumber {
            position: token.position,
            text: token.text.to_owned(),
        })
}

fn unexpected(token: Token<'_>, expected: &'static str) -> ExprError {
    ExprError::UnexpectedToken {
        position: token.position,
        found: token.text.to_owned(),
        expected,
    }
}
