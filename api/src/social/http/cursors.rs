//! The cursors of the social lists, as opaque text: `<microseconds>_<uuid>` for lists in
//! date order (posts, edges, bookmarks, comments), `<snapshot>_<offset>` for ranked lists,
//! `<uuid>` for mutual friends.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The cursor of a row dated `at` with id `id`.
pub fn encode_dated(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{}", at.timestamp_micros(), id.simple())
}

/// The `(date, id)` of a cursor from [`encode_dated`]; `None` for anything else.
pub fn decode_dated(text: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = text.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, Uuid::try_parse(id).ok()?))
}

/// A place in a ranking snapshot: the snapshot and how many of its posts came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotCursor {
    pub snapshot_id: Uuid,
    pub offset: usize,
}

impl SnapshotCursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.snapshot_id.simple(), self.offset)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (id, offset) = text.split_once('_')?;
        Some(Self { snapshot_id: Uuid::try_parse(id).ok()?, offset: offset.parse().ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_wrote_and_nothing_else() {
        let at = DateTime::from_timestamp_micros(1_796_188_463_827_123).unwrap_or_default();
        let id = Uuid::now_v7();
        assert_eq!(decode_dated(&encode_dated(at, id)), Some((at, id)));
        assert_eq!(decode_dated("17"), None);
        assert_eq!(decode_dated("x_y"), None);
        let snapshot = SnapshotCursor { snapshot_id: id, offset: 40 };
        assert_eq!(SnapshotCursor::decode(&snapshot.encode()), Some(snapshot));
        assert_eq!(SnapshotCursor::decode("abc_-1"), None);
    }
}
