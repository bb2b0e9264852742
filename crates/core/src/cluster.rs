//! Redis Cluster routing: hash slots (CRC16 with hash tags, as Redis defines them), the node a
//! slot is expected on, and the redirections a node answers with.

use crc::{CRC_16_XMODEM, Crc};

pub const SLOTS: u16 = 16384;
const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// The hash slot of `key`: only the part between the first `{` and the next `}` counts when
/// that part is non-empty, so keys sharing a tag share a slot.
pub fn slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(key);
    CRC16.checksum(hashed) % SLOTS
}

/// The index of the node expected to hold `slot` among `nodes` primaries listed in the order
/// their ranges were assigned (`redis-cli --cluster create` splits the slots evenly in order).
/// Only a first guess: a redirection corrects it.
pub fn expected_node(slot: u16, nodes: usize) -> usize {
    // redis-cli gives node i the slots up to round((i + 1) * 16384 / n - 1).
    let per_node = f64::from(SLOTS) / nodes.max(1) as f64;
    (0..nodes)
        .find(|&i| f64::from(slot) <= ((i + 1) as f64 * per_node - 1.0).round())
        .unwrap_or(nodes.saturating_sub(1))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot lives at `addr` now.
    Moved(String),
    /// The slot is migrating: ask `addr` once, after `ASKING`.
    Ask(String),
}

/// The redirection in a Redis error message, as Spin hands it over
/// ("An error was signalled by the server - Moved: 15495 127.0.0.1:17202", or `MOVED ...`).
pub fn redirect(message: &str) -> Option<Redirect> {
    let find = |marker: &str| {
        let at = message.find(marker)? + marker.len();
        let mut words = message[at..].split_whitespace();
        let _slot: u16 = words.next()?.parse().ok()?;
        let addr = words.next()?.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        addr.contains(':').then(|| addr.to_owned())
    };
    find("Moved: ")
        .or_else(|| find("MOVED "))
        .map(Redirect::Moved)
        .or_else(|| find("Ask: ").or_else(|| find("ASK ")).map(Redirect::Ask))
}
