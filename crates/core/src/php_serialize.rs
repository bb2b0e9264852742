//! PHP's `serialize()` format, read without PHP, as `ext/standard/var_unserializer.re`
//! (PHP 7.4 to 8.x) reads it: the grammar, the slot numbers references use, and what it
//! refuses. Nothing is instantiated, no class is looked up and no PHP code (`__wakeup`,
//! `__unserialize`, `Serializable::unserialize`) has any part in it.
//!
//! Values become JSON as PHP's `json_encode` writes them: `N;` null, `b:` booleans, `i:`
//! integers (64 bits; PHP clamps a wider one with a warning, here it is refused), `d:`
//! floats, `s:` strings, and `a:` arrays, a list when the keys are 0 to n-1 in order and an
//! object otherwise (a numeric string key is an integer key, as in PHP). What has no JSON
//! form:
//!
//! - A string that is not UTF-8 reads as `null`, as `json_encode` writes it with
//!   `JSON_PARTIAL_OUTPUT_ON_ERROR`: PHP strings are bytes (a `random_bytes` token, Latin-1
//!   text), and one of them must not cost the whole session. An array key that is not UTF-8
//!   is refused: leaving it out would change the array.
//! - `INF`, `-INF` and `NAN` read as `null` as well (`json_encode` writes 0 there, which would
//!   be a number the app never stored).
//! - Objects stay opaque: `O:` and `C:` read as `{"__PHP_Incomplete_Class_Name":"<class>"}`,
//!   the form PHP gives an object whose class it may not load (`allowed_classes => false`),
//!   without its properties; `C:`'s payload is never read. An enum case `E:` reads as
//!   `{"__PHP_Incomplete_Class_Name":"<enum>","case":"<case>"}`. Their properties are still
//!   parsed (the grammar nests), never kept.
//! - References are resolved. `r:` (an object seen before) reads as that object's form; `R:`
//!   (a PHP reference, `&$x`) as a copy of the value it names, read again from the input,
//!   with every copy counted against a budget, so a few bytes cannot expand without bound.
//!   Refused: a reference outside objects to an array that contains it (PHP builds a cycle,
//!   which JSON cannot hold), one from outside an object into its properties (its class may
//!   rewrite them on wakeup), and one to a value after a `C:` payload (PHP's class code may
//!   number values inside it, so later numbers are unknown).
//!
//! Also refused where PHP reads on, though `serialize()` never writes them: an array key
//! twice (PHP keeps the last), an integer past 64 bits (PHP clamps it), a count or length
//! with a sign or without digits, `S:` escaped strings, and bytes after the value. Bounds:
//! the input is at most [`MAX_RECORD_BYTES`], nesting at most 64 levels, and an element
//! count larger than the bytes left could hold is refused before anything is allocated.

use crate::session::{MAX_RECORD_BYTES, RecordError};
use serde_json::{Map, Number, Value};
use std::collections::HashSet;

/// Entries reserved up front per array, whatever its count says.
const PREALLOCATED_ENTRIES: usize = 64;

/// The key an opaque object reads with: PHP's own, for an object whose class it did not load.
pub const CLASS_NAME_KEY: &str = "__PHP_Incomplete_Class_Name";
/// The key holding an enum's case beside its class name.
pub const ENUM_CASE_KEY: &str = "case";

/// Nesting of arrays and objects; PHP sessions are a few levels deep.
const MAX_DEPTH: u32 = 64;
/// Bytes that `R:` references may read again in all: each copies a whole value with a
/// few bytes, so copies need a bound of their own.
const MAX_COPIED_BYTES: usize = 4 * MAX_RECORD_BYTES;
/// The fewest bytes an array element or a property takes (`i:0;N;`).
const MIN_ELEMENT_BYTES: usize = 6;

/// PHP's `session.serialize_handler`, for the two that write `serialize()`'s format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerializeHandler {
    /// `php`, the default: `name|<value>` for each session variable, one after the other.
    Php,
    /// `php_serialize`: the whole `$_SESSION` array as one value.
    PhpSerialize,
}

/// The one value `bytes` holds, as JSON; anything after it is refused.
pub fn unserialize(bytes: &[u8]) -> Result<Value, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge);
    }
    let mut parser = Parser::new(bytes);
    let value = parser.value(0, true).map_err(|e| e.into_record_error())?;
    if parser.at != bytes.len() {
        return Err(Fail::new("bytes after the value", parser.at).into_record_error());
    }
    Ok(value)
}

/// The session a save handler stored (`$_SESSION`), as a JSON object keyed by variable name.
/// An empty record is an empty session, as PHP reads it.
pub fn session_data(bytes: &[u8], handler: SerializeHandler) -> Result<Value, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge);
    }
    match handler {
        SerializeHandler::PhpSerialize => {
            if bytes.is_empty() {
                return Ok(Value::Object(Map::new()));
            }
            // PHP would make `$_SESSION` whatever the value is; only an array is a session.
            if bytes.first() != Some(&b'a') {
                return Err(Fail::new("the session is not an array", 0).into_record_error());
            }
            match unserialize(bytes)? {
                Value::Object(map) => Ok(Value::Object(map)),
                // Keys 0 to n-1: still variables by name to the session.
                Value::Array(list) => Ok(Value::Object(
                    list.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
                )),
                _ => Err(Fail::new("the session is not an array", 0).into_record_error()),
            }
        }
        SerializeHandler::Php => php_handler(bytes).map_err(|e| e.into_record_error()),
    }
}

/// `ext/session/session.c`, `PS_SERIALIZER_DECODE_FUNC(php)`: a name runs to the next `|`
/// (PHP 7 dropped the `!` marker of undefined variables: a `!` is part of a name), then one
/// value; the values share one set of slot numbers. Text left without a `|` fails in PHP.
fn php_handler(bytes: &[u8]) -> Result<Value, Fail> {
    let mut parser = Parser::new(bytes);
    let mut session = Map::new();
    while let Some(rest) = bytes.get(parser.at..).filter(|rest| !rest.is_empty()) {
        let Some(len) = rest.iter().position(|&b| b == b'|') else {
            return Err(Fail::new("a name without a value", parser.at));
        };
        let name = std::str::from_utf8(rest.get(..len).unwrap_or_default())
            .map_err(|_| Fail::new("a name that is not UTF-8", parser.at))?
            .to_owned();
        parser.at += len + 1;
        let value = parser.value(0, true)?;
        // PHP keeps the last; it never writes one name twice.
        if session.insert(name, value).is_some() {
            return Err(Fail::new("a name twice", parser.at));
        }
    }
    Ok(Value::Object(session))
}

/// Why the input was refused, and where: never the bytes themselves, which may be secrets.
struct Fail {
    what: &'static str,
    at: usize,
}

impl Fail {
    fn new(what: &'static str, at: usize) -> Self {
        Self { what, at }
    }

    fn into_record_error(self) -> RecordError {
        RecordError::Malformed(format!("PHP serialize: {} at byte {}", self.what, self.at))
    }
}

/// What a slot number (`r:`/`R:` count values from 1, keys and `R:` excepted) stands for.
enum Slot {
    /// A value outside objects, at `start..end` of the input; `end` is unset while an array
    /// is being read.
    Data { start: usize, end: Option<usize> },
    /// A value among an object's properties: never read into JSON.
    Hidden { done: bool },
    /// An object or an enum case, wherever it is: the index of the form it reads as.
    Object(usize),
}

/// A slot as a reference finds it.
enum Target {
    Object(usize),
    /// An array still being read.
    Open,
    Hidden,
    Data(usize, usize),
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    Str(String),
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    slots: Vec<Slot>,
    /// The form of each object and enum case, once however many slots name it.
    objects: Vec<Value>,
    /// Values read again for `R:` take no slots, as PHP's references copy none.
    replaying: u32,
    copied: usize,
    /// The slots up to the first `C:` object; PHP's numbers after it are unknown.
    custom_boundary: Option<usize>,
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            slots: Vec::new(),
            objects: Vec::new(),
            replaying: 0,
            copied: 0,
            custom_boundary: None,
        }
    }

    fn fail(&self, what: &'static str) -> Fail {
        Fail::new(what, self.at)
    }

    /// One value at `depth` containers down; with `keep` false (inside an object) it is only
    /// checked and numbered, and reads as null.
    fn value(&mut self, depth: u32, keep: bool) -> Result<Value, Fail> {
        let start = self.at;
        let tag = self.take(2)?;
        if tag == b"R:" {
            return self.reference(depth, keep);
        }
        let slot = self.reserve(Slot::Data { start, end: None }, keep);
        let value = match tag {
            b"N;" => Value::Null,
            b"b:" => {
                let value = match self.take(2)? {
                    b"0;" => false,
                    b"1;" => true,
                    _ => return Err(self.fail("a boolean that is not 0 or 1")),
                };
                Value::Bool(value)
            }
            b"i:" => Value::from(self.integer()?),
            b"d:" => self.float()?,
            b"s:" => {
                let bytes = self.string()?;
                match std::str::from_utf8(bytes) {
                    Ok(text) if keep => Value::String(text.to_owned()),
                    _ => Value::Null,
                }
            }
            b"a:" => self.array(depth, keep)?,
            b"O:" | b"C:" => {
                let class = self.class_name()?;
                let object = self.new_object(marker(class, None), slot);
                if tag == b"O:" {
                    self.properties(depth)?;
                } else {
                    let len = self.unsigned()?;
                    self.expect(b":{")?;
                    self.take(len)?;
                    self.expect(b"}")?;
                    if self.replaying == 0 && self.custom_boundary.is_none() {
                        self.custom_boundary = Some(self.slots.len());
                    }
                }
                return Ok(if keep { object } else { Value::Null });
            }
            b"E:" => {
                let case = self.enum_case()?;
                let object = self.new_object(case, slot);
                return Ok(if keep { object } else { Value::Null });
            }
            b"r:" => {
                let Target::Object(index) = self.target()? else {
                    return Err(self.fail("an r: reference to something that is not an object"));
                };
                self.fill(slot, Slot::Object(index));
                return self.shared_object(index, keep);
            }
            _ => return Err(Fail::new("not a value PHP writes", start)),
        };
        let done = if keep {
            Slot::Data {
                start,
                end: Some(self.at),
            }
        } else {
            Slot::Hidden { done: true }
        };
        self.fill(slot, done);
        Ok(value)
    }

    /// Takes the next slot number for the value about to be read (none while replaying).
    fn reserve(&mut self, slot: Slot, keep: bool) -> Option<usize> {
        if self.replaying > 0 {
            return None;
        }
        self.slots.push(if keep { slot } else { Slot::Hidden { done: false } });
        Some(self.slots.len() - 1)
    }

    /// Records a new object's form for the references to come; the form, for the caller.
    fn new_object(&mut self, object: Value, slot: Option<usize>) -> Value {
        // Values read again reuse the forms recorded the first time.
        if slot.is_some() {
            self.fill(slot, Slot::Object(self.objects.len()));
            self.objects.push(object.clone());
        }
        object
    }

    /// An object's form once more, for a reference: a copy, counted as one.
    fn shared_object(&mut self, index: usize, keep: bool) -> Result<Value, Fail> {
        if !keep {
            return Ok(Value::Null);
        }
        let object = self.objects.get(index).cloned().unwrap_or_default();
        let names: usize = object
            .as_object()
            .map_or(0, |form| form.values().filter_map(Value::as_str).map(str::len).sum());
        self.count_copy(names)?;
        Ok(object)
    }

    /// Counts bytes copied for references against their budget.
    fn count_copy(&mut self, bytes: usize) -> Result<(), Fail> {
        self.copied = self.copied.saturating_add(bytes);
        if self.copied > MAX_COPIED_BYTES {
            return Err(self.fail("references copy too much"));
        }
        Ok(())
    }

    fn fill(&mut self, slot: Option<usize>, with: Slot) {
        if let Some(entry) = slot.and_then(|i| self.slots.get_mut(i)) {
            *entry = with;
        }
    }

    /// `R:<n>;`: the value of slot n, read again from the input.
    fn reference(&mut self, depth: u32, keep: bool) -> Result<Value, Fail> {
        let (start, end) = match self.target()? {
            Target::Object(index) => return self.shared_object(index, keep),
            Target::Open if keep => return Err(self.fail("a reference to an array that contains it")),
            Target::Hidden if keep => return Err(self.fail("a reference into an object's properties")),
            // Inside an object nothing is copied: a cycle through it is PHP's business.
            Target::Open | Target::Hidden => return Ok(Value::Null),
            Target::Data(start, end) => (start, end),
        };
        if !keep {
            return Ok(Value::Null);
        }
        self.count_copy(end - start)?;
        let resume = self.at;
        self.at = start;
        self.replaying += 1;
        let value = self.value(depth, true);
        self.replaying -= 1;
        self.at = resume;
        value
    }

    /// What the slot an `r:`/`R:` names holds, after the tag.
    fn target(&mut self) -> Result<Target, Fail> {
        let number = self.unsigned()?;
        self.expect(b";")?;
        if self.custom_boundary.is_some_and(|boundary| number > boundary) {
            return Err(self.fail("a reference past a custom-serialized object"));
        }
        let slot = number.checked_sub(1).and_then(|index| self.slots.get(index));
        Ok(match slot {
            None => return Err(self.fail("a reference to a value not read yet")),
            Some(Slot::Object(index)) => Target::Object(*index),
            Some(Slot::Data { end: None, .. } | Slot::Hidden { done: false }) => Target::Open,
            Some(Slot::Hidden { done: true }) => Target::Hidden,
            Some(Slot::Data { start, end: Some(end) }) => Target::Data(*start, *end),
        })
    }

    /// After `a:`: `<n>:{` then n keys and values, then `}`.
    fn array(&mut self, depth: u32, keep: bool) -> Result<Value, Fail> {
        let count = self.count(depth)?;
        // A count is only bounded by the bytes left, which 60 nested arrays can each claim at
        // once: reserve a little, grow with what is really read.
        let reserve = if keep { count.min(PREALLOCATED_ENTRIES) } else { 0 };
        let mut entries: Vec<(Key, Value)> = Vec::with_capacity(reserve);
        let mut seen: HashSet<Key> = HashSet::with_capacity(reserve);
        for _ in 0..count {
            let key = self.key(keep)?;
            let value = self.value(depth + 1, keep)?;
            if keep {
                if !seen.insert(key.clone()) {
                    return Err(self.fail("an array key twice"));
                }
                entries.push((key, value));
            }
        }
        self.expect(b"}")?;
        if !keep {
            return Ok(Value::Null);
        }
        // `json_encode`: a list only for the keys 0, 1, 2... in order.
        let is_list = entries
            .iter()
            .enumerate()
            .all(|(i, (key, _))| i64::try_from(i).is_ok_and(|i| *key == Key::Int(i)));
        Ok(if is_list {
            Value::Array(entries.into_iter().map(|(_, value)| value).collect())
        } else {
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| match key {
                        Key::Int(i) => (i.to_string(), value),
                        Key::Str(s) => (s, value),
                    })
                    .collect(),
            )
        })
    }

    /// After an object's class name: `<n>:{` then n properties, checked and numbered only.
    fn properties(&mut self, depth: u32) -> Result<(), Fail> {
        let count = self.count(depth)?;
        for _ in 0..count {
            self.key(false)?;
            self.value(depth + 1, false)?;
        }
        self.expect(b"}")
    }

    /// `<n>:{` of an array or an object one level below `depth`.
    fn count(&mut self, depth: u32) -> Result<usize, Fail> {
        if depth + 1 > MAX_DEPTH {
            return Err(self.fail("nested too deep"));
        }
        let count = self.unsigned()?;
        self.expect(b":{")?;
        if count > self.bytes.len().saturating_sub(self.at) / MIN_ELEMENT_BYTES {
            return Err(self.fail("more elements than bytes"));
        }
        Ok(count)
    }

    /// An array key: `i:` or `s:`, a numeric string read as the integer PHP makes of it.
    fn key(&mut self, keep: bool) -> Result<Key, Fail> {
        match self.take(2)? {
            b"i:" => Ok(Key::Int(self.integer()?)),
            b"s:" => {
                let bytes = self.string()?;
                if let Some(int) = numeric_key(bytes) {
                    return Ok(Key::Int(int));
                }
                match std::str::from_utf8(bytes) {
                    Ok(text) => Ok(Key::Str(text.to_owned())),
                    Err(_) if keep => Err(self.fail("an array key that is not UTF-8")),
                    Err(_) => Ok(Key::Str(String::new())),
                }
            }
            _ => Err(self.fail("a key that is not an integer or a string")),
        }
    }

    /// After `i:`: `[+-]?[0-9]+;` within 64 bits.
    fn integer(&mut self) -> Result<i64, Fail> {
        let start = self.at;
        self.skip_sign();
        if self.digits() == 0 {
            return Err(self.fail("an integer without digits"));
        }
        let text = self.text(start)?;
        self.expect(b";")?;
        text.parse().map_err(|_| Fail::new("an integer outside 64 bits", start))
    }

    /// After `d:`: `NAN`, `INF`, `-INF`, or PHP's number grammar (`iv`, `nv`, `nvexp`).
    fn float(&mut self) -> Result<Value, Fail> {
        for special in [&b"NAN;"[..], b"INF;", b"-INF;"] {
            if self.bytes.get(self.at..).is_some_and(|rest| rest.starts_with(special)) {
                self.at += special.len();
                return Ok(Value::Null);
            }
        }
        let start = self.at;
        self.skip_sign();
        let whole = self.digits();
        let fraction = if self.eat(b'.') { Some(self.digits()) } else { None };
        if whole == 0 && fraction.unwrap_or(0) == 0 {
            return Err(self.fail("a float without digits"));
        }
        if self.eat(b'e') || self.eat(b'E') {
            self.skip_sign();
            if self.digits() == 0 {
                return Err(self.fail("an exponent without digits"));
            }
        }
        let text = self.text(start)?;
        self.expect(b";")?;
        // Both Rust and PHP (zend_strtod) round correctly: the same float; past f64, infinity.
        let float: f64 = text.parse().map_err(|_| Fail::new("a float", start))?;
        Ok(Number::from_f64(float).map_or(Value::Null, Value::Number))
    }

    /// After `s:`: `<len>:"<len bytes>";`.
    fn string(&mut self) -> Result<&'a [u8], Fail> {
        let len = self.unsigned()?;
        self.expect(b":\"")?;
        let bytes = self.take(len)?;
        self.expect(b"\";")?;
        Ok(bytes)
    }

    /// After `O:`/`C:`: `<len>:"<class>":`, a name PHP could declare.
    fn class_name(&mut self) -> Result<&'a [u8], Fail> {
        let len = self.unsigned()?;
        self.expect(b":\"")?;
        let at = self.at;
        let name = self.take(len)?;
        self.expect(b"\":")?;
        if !is_class_name(name) {
            return Err(Fail::new("not a class name", at));
        }
        Ok(name)
    }

    /// After `E:`: `<len>:"<enum>:<case>";`.
    fn enum_case(&mut self) -> Result<Value, Fail> {
        let len = self.unsigned()?;
        self.expect(b":\"")?;
        let at = self.at;
        let name = self.take(len)?;
        self.expect(b"\";")?;
        let colon = name
            .iter()
            .position(|&b| b == b':')
            .ok_or(Fail::new("an enum case without its enum", at))?;
        let (class, case) = (
            name.get(..colon).unwrap_or_default(),
            name.get(colon + 1..).unwrap_or_default(),
        );
        let is_case = !case.is_empty()
            && case
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80);
        if !is_class_name(class) || !is_case {
            return Err(Fail::new("not an enum case", at));
        }
        Ok(marker(class, Some(case)))
    }

    /// `[0-9]+` as a length, a count or a slot number.
    fn unsigned(&mut self) -> Result<usize, Fail> {
        let start = self.at;
        if self.digits() == 0 {
            return Err(self.fail("a number without digits"));
        }
        self.bytes
            .get(start..self.at)
            .unwrap_or_default()
            .iter()
            .try_fold(0usize, |n, digit| {
                n.checked_mul(10)?.checked_add(usize::from(digit - b'0'))
            })
            .ok_or(Fail::new("a number too large", start))
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at - start
    }

    fn skip_sign(&mut self) {
        let _ = self.eat(b'+') || self.eat(b'-');
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    /// The ASCII read since `start`.
    fn text(&self, start: usize) -> Result<&'a str, Fail> {
        self.bytes
            .get(start..self.at)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .ok_or(Fail::new("not a number", start))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Fail> {
        let taken = self
            .at
            .checked_add(len)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or_else(|| self.fail("truncated"))?;
        self.at += len;
        Ok(taken)
    }

    fn expect(&mut self, literal: &[u8]) -> Result<(), Fail> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        if rest.starts_with(literal) {
            self.at += literal.len();
            Ok(())
        } else if literal.starts_with(rest) {
            Err(self.fail("truncated"))
        } else {
            Err(self.fail("unexpected byte"))
        }
    }
}

/// The integer PHP makes of a string key (`ZEND_HANDLE_NUMERIC_STR`): a canonical decimal
/// within 64 bits, so `"5"` and `"-3"`, but not `"05"`, `"-0"` or `"+1"`.
fn numeric_key(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let int: i64 = text.parse().ok()?;
    (int.to_string() == text).then_some(int)
}

/// `zend_is_valid_class_name` and the unserializer's own checks: not empty, not starting
/// with `\`, only `[A-Za-z0-9_\\]` and bytes from 0x80.
fn is_class_name(name: &[u8]) -> bool {
    name.first().is_some_and(|&b| b != b'\\')
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'\\' || b >= 0x80)
}

fn marker(class: &[u8], case: Option<&[u8]>) -> Value {
    let mut object = Map::new();
    object.insert(
        CLASS_NAME_KEY.to_owned(),
        Value::String(String::from_utf8_lossy(class).into_owned()),
    );
    if let Some(case) = case {
        object.insert(
            ENUM_CASE_KEY.to_owned(),
            Value::String(String::from_utf8_lossy(case).into_owned()),
        );
    }
    Value::Object(object)
}
