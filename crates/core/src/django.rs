//! Sessions as Django keeps them in Redis: cache-backed sessions
//! (`django.contrib.sessions.backends.cache`) on `django.core.cache.backends.redis.RedisCache`
//! or django-redis.
//!
//! - Cookie `sessionid` = the session key, unsigned: 32 characters of `[a-z0-9]` from Django's
//!   CSPRNG (`get_random_string`), whose charset and length are what the gateway can check.
//! - Key `<cache KEY_PREFIX>:<VERSION>:django.contrib.sessions.cache` + key, by default
//!   `:1:django.contrib.sessions.cache` + key; the cache's TTL (`SESSION_COOKIE_AGE`) is the
//!   expiry.
//! - The value is the session dict as a pickle. It is read by [`unpickle`], which knows only
//!   the opcodes that build dicts, lists, tuples, strings, numbers, booleans and None, and
//!   refuses every other one (globals, reduce, build, ...): nothing is ever called or
//!   instantiated. `django.contrib.auth` keeps the user's primary key under `_auth_user_id`.

use crate::cookie_codec::{CookieCodec, SessionId, VerifiedSessionId};
use crate::session::{ForeignRecord, MAX_RECORD_BYTES, RecordError, Session, SessionDecoder};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub const DEFAULT_COOKIE_NAME: &str = "sessionid";
pub const DEFAULT_KEY_PREFIX: &str = ":1:django.contrib.sessions.cache";
pub const DEFAULT_USER_POINTER: &str = "/_auth_user_id";

/// The deepest nesting a session may have; Django's are a level or two deep.
const MAX_DEPTH: u32 = 64;
/// Strings a pickle may produce in all, memo copies included (a pickle can repeat one
/// string many times with two-byte references).
const MAX_STRING_BYTES: usize = 4 * MAX_RECORD_BYTES;

/// Django's session cookie: the bare key.
#[derive(Clone, Copy, Debug, Default)]
pub struct DjangoCookie;

impl CookieCodec for DjangoCookie {
    fn decode(&self, value: &str) -> Option<VerifiedSessionId> {
        let django_charset = value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        SessionId::parse(value)
            .filter(|_| django_charset)
            .map(VerifiedSessionId::verified)
    }

    fn encode(&self, id: &SessionId) -> String {
        id.as_str().to_owned()
    }
}

/// The pickled session dict the cache holds, read as a [`ForeignRecord`].
#[derive(Clone, Copy, Debug)]
pub struct DjangoRecordDecoder<'a> {
    pub record: &'a ForeignRecord,
}

impl SessionDecoder for DjangoRecordDecoder<'_> {
    fn decode(&self, bytes: &[u8], _now: u64) -> Result<Session, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge);
        }
        let value = unpickle(bytes).map_err(|e| RecordError::Malformed(format!("pickle: {e}")))?;
        if !value.is_object() {
            return Err(RecordError::Malformed("the session is not a dict".into()));
        }
        self.record.session(&value, 0, u64::MAX)
    }
}

enum Slot {
    Mark,
    /// A value, what it is to pickle, and how deep it nests.
    Value(Value, Kind, u32),
}

/// What Python would hold: only a dict takes items and only a list takes appends (CPython
/// calls `__setitem__` and `append`, which a list, a dict or a tuple lacks in turn).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dict,
    List,
    Tuple,
    Scalar,
}

/// The value a pickle builds, if it uses only the opcodes of plain data (protocols 2 to 5:
/// what `pickle.dumps` writes for dicts, lists, tuples, str, int, float, bool and None).
pub fn unpickle(bytes: &[u8]) -> Result<Value, String> {
    let mut input = Reader { bytes, at: 0 };
    let mut stack: Vec<Slot> = Vec::new();
    // Memoized scalars and strings; containers are memoized as `None`, and fetching one is
    // refused (it would be shared and mutable, which a JSON copy cannot be).
    let mut memo: HashMap<u32, Option<Value>> = HashMap::new();
    let mut strings = 0usize;
    loop {
        let op = input.byte()?;
        match op {
            0x80 => {
                let protocol = input.byte()?;
                if protocol > 5 {
                    return Err(format!("protocol {protocol}"));
                }
            }
            0x95 => {
                // FRAME: the length of what follows, which must be there (CPython checks).
                let len = u64::from_le_bytes(input.array()?);
                if len > (bytes.len() - input.at) as u64 {
                    return Err("a frame longer than the pickle".into());
                }
            }
            b'}' => stack.push(Slot::Value(Value::Object(Map::new()), Kind::Dict, 1)),
            b']' => stack.push(Slot::Value(Value::Array(Vec::new()), Kind::List, 1)),
            b')' => stack.push(Slot::Value(Value::Array(Vec::new()), Kind::Tuple, 1)),
            b'(' => stack.push(Slot::Mark),
            0x8c | b'X' | 0x8d => {
                let len = match op {
                    0x8c => u64::from(input.byte()?),
                    b'X' => u64::from(u32::from_le_bytes(input.array()?)),
                    _ => u64::from_le_bytes(input.array()?),
                };
                let len = usize::try_from(len).map_err(|_| "string too long")?;
                let text = std::str::from_utf8(input.take(len)?).map_err(|_| "string not UTF-8")?;
                strings = strings.saturating_add(len);
                stack.push(Slot::Value(Value::String(text.to_owned()), Kind::Scalar, 0));
            }
            0x94 | b'q' | b'r' => {
                let index = match op {
                    0x94 => u32::try_from(memo.len()).map_err(|_| "memo too large")?,
                    b'q' => u32::from(input.byte()?),
                    _ => u32::from_le_bytes(input.array()?),
                };
                // CPython writes memo entries in order; an index far ahead is a hostile one.
                if index as usize > memo.len() {
                    return Err("a memo index out of order".into());
                }
                let memoized = match stack.last() {
                    Some(Slot::Value(value, Kind::Scalar, _)) => Some(value.clone()),
                    Some(Slot::Value(..)) => None,
                    _ => return Err("memoizing a mark".into()),
                };
                // A memoized copy counts against the budget like any string.
                if let Some(Value::String(s)) = &memoized {
                    strings = strings.saturating_add(s.len());
                }
                memo.insert(index, memoized);
            }
            b'h' | b'j' => {
                let index = match op {
                    b'h' => u32::from(input.byte()?),
                    _ => u32::from_le_bytes(input.array()?),
                };
                match memo.get(&index) {
                    Some(Some(value)) => {
                        if let Value::String(s) = value {
                            strings = strings.saturating_add(s.len());
                        }
                        stack.push(Slot::Value(value.clone(), Kind::Scalar, 0));
                    }
                    Some(None) => return Err("a shared container".into()),
                    None => return Err("an unknown memo entry".into()),
                }
            }
            b'K' => stack.push(Slot::Value(Value::from(input.byte()?), Kind::Scalar, 0)),
            b'M' => stack.push(Slot::Value(
                Value::from(u16::from_le_bytes(input.array()?)),
                Kind::Scalar,
                0,
            )),
            b'J' => stack.push(Slot::Value(
                Value::from(i32::from_le_bytes(input.array()?)),
                Kind::Scalar,
                0,
            )),
            0x8a => {
                let len = usize::from(input.byte()?);
                if len > 8 {
                    return Err("an integer wider than 64 bits".into());
                }
                let digits = input.take(len)?;
                let mut buf = if digits.last().is_some_and(|b| b & 0x80 != 0) {
                    [0xff; 8]
                } else {
                    [0; 8]
                };
                buf[..len].copy_from_slice(digits);
                stack.push(Slot::Value(Value::from(i64::from_le_bytes(buf)), Kind::Scalar, 0));
            }
            b'G' => {
                let float = f64::from_be_bytes(input.array()?);
                let number = Number::from_f64(float).ok_or("a float that is not finite")?;
                stack.push(Slot::Value(Value::Number(number), Kind::Scalar, 0));
            }
            0x88 => stack.push(Slot::Value(Value::Bool(true), Kind::Scalar, 0)),
            0x89 => stack.push(Slot::Value(Value::Bool(false), Kind::Scalar, 0)),
            b'N' => stack.push(Slot::Value(Value::Null, Kind::Scalar, 0)),
            b's' | b'a' => {
                let items = pop_values(&mut stack, if op == b's' { 2 } else { 1 })?;
                add_items(&mut stack, items, if op == b's' { Kind::Dict } else { Kind::List })?;
            }
            b'u' | b'e' => {
                let items = pop_to_mark(&mut stack)?;
                add_items(&mut stack, items, if op == b'u' { Kind::Dict } else { Kind::List })?;
            }
            b't' | 0x85..=0x87 => {
                let items = match op {
                    b't' => pop_to_mark(&mut stack)?,
                    _ => pop_values(&mut stack, usize::from(op - 0x84))?,
                };
                let depth = items.iter().map(|(_, d)| *d).max().unwrap_or(0) + 1;
                if depth > MAX_DEPTH {
                    return Err("nested too deep".into());
                }
                stack.push(Slot::Value(
                    Value::Array(items.into_iter().map(|(v, _)| v).collect()),
                    Kind::Tuple,
                    depth,
                ));
            }
            b'.' => {
                return match (stack.pop(), stack.is_empty(), input.at == bytes.len()) {
                    (Some(Slot::Value(value, ..)), true, true) => Ok(value),
                    _ => Err("a pickle that does not end with one value".into()),
                };
            }
            other => return Err(format!("opcode 0x{other:02x} is not plain data")),
        }
        if strings > MAX_STRING_BYTES {
            return Err("strings too large".into());
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or("truncated")?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
}

fn pop_values(stack: &mut Vec<Slot>, count: usize) -> Result<Vec<(Value, u32)>, String> {
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        match stack.pop() {
            Some(Slot::Value(value, _, depth)) => items.push((value, depth)),
            _ => return Err("a stack too short".into()),
        }
    }
    items.reverse();
    Ok(items)
}

fn pop_to_mark(stack: &mut Vec<Slot>) -> Result<Vec<(Value, u32)>, String> {
    let mark = stack
        .iter()
        .rposition(|slot| matches!(slot, Slot::Mark))
        .ok_or("no mark")?;
    let items = stack
        .drain(mark + 1..)
        .filter_map(|slot| match slot {
            Slot::Value(value, _, depth) => Some((value, depth)),
            Slot::Mark => None, // none after the last mark
        })
        .collect();
    stack.pop(); // the mark
    Ok(items)
}

/// Puts `items` (pairs for a dict, values for a list) into the container on top of the
/// stack, which must be of the kind `into`.
fn add_items(stack: &mut [Slot], items: Vec<(Value, u32)>, into: Kind) -> Result<(), String> {
    let Some(Slot::Value(container, kind, depth)) = stack.last_mut() else {
        return Err("no container".into());
    };
    if *kind != into {
        return Err("items for a container of another kind".into());
    }
    let deepest = items.iter().map(|(_, d)| *d).max().unwrap_or(0);
    *depth = (*depth).max(deepest + 1);
    if *depth > MAX_DEPTH {
        return Err("nested too deep".into());
    }
    match container {
        Value::Object(map) => {
            if !items.len().is_multiple_of(2) {
                return Err("a key without a value".into());
            }
            let mut items = items.into_iter();
            while let (Some((key, _)), Some((value, _))) = (items.next(), items.next()) {
                let Value::String(key) = key else {
                    return Err("a key that is not a string".into());
                };
                map.insert(key, value);
            }
        }
        Value::Array(list) => list.extend(items.into_iter().map(|(v, _)| v)),
        _ => return Err("items for something that is not a container".into()),
    }
    Ok(())
}
