//! Parsing the replies of `XREADGROUP` and `XAUTOCLAIM` into entries.

use redis::{FromRedisValue, Value};

use super::{Entry, Origin};

/// `[[id, [field, value, …]], …]`, in order. An entry that no longer
/// exists (a pending ID whose entry was trimmed) comes with nil fields and
/// is returned with none.
pub(super) fn parse_entries(value: &Value, origin: Origin) -> Result<Vec<Entry>, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array of entries, got {value:?}"));
    };
    items
        .iter()
        .map(|item| {
            let Value::Array(parts) = item else {
                return Err(format!("expected [id, fields], got {item:?}"));
            };
            let [id, fields] = parts.as_slice() else {
                return Err(format!("expected [id, fields], got {item:?}"));
            };
            let id = String::from_redis_value(id).map_err(|e| e.to_string())?;
            let fields = match fields {
                Value::Nil => Vec::new(),
                Value::Array(flat) => flat
                    .chunks(2)
                    .map(|pair| match pair {
                        [k, v] => Ok((
                            String::from_redis_value(k).map_err(|e| e.to_string())?,
                            String::from_redis_value(v).map_err(|e| e.to_string())?,
                        )),
                        _ => Err(format!("entry {id}: odd number of field values")),
                    })
                    .collect::<Result<_, _>>()?,
                // RESP3 servers answer with a map.
                Value::Map(pairs) => pairs
                    .iter()
                    .map(|(k, v)| {
                        Ok((
                            String::from_redis_value(k).map_err(|e| e.to_string())?,
                            String::from_redis_value(v).map_err(|e| e.to_string())?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
                other => return Err(format!("entry {id}: unexpected fields {other:?}")),
            };
            Ok(Entry { id, fields, origin })
        })
        .collect()
}

/// `XREADGROUP`'s reply: nil (nothing), or `[[stream, entries]]` (an array
/// or, on RESP3, a map).
pub(super) fn parse_read_reply(value: &Value, origin: Origin) -> Result<Vec<Entry>, String> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => match streams.first() {
            None => Ok(Vec::new()),
            Some(Value::Array(pair)) if pair.len() == 2 => parse_entries(&pair[1], origin),
            Some(other) => Err(format!("expected [stream, entries], got {other:?}")),
        },
        Value::Map(streams) => match streams.first() {
            None => Ok(Vec::new()),
            Some((_, entries)) => parse_entries(entries, origin),
        },
        other => Err(format!("unexpected reply {other:?}")),
    }
}

/// `XAUTOCLAIM`'s reply: `[cursor, entries, deleted ids]`.
pub(super) fn parse_autoclaim_reply(value: &Value) -> Result<(String, Vec<Entry>, Vec<String>), String> {
    let Value::Array(items) = value else {
        return Err(format!("unexpected reply {value:?}"));
    };
    let (cursor, entries, deleted) = match items.as_slice() {
        [cursor, entries] => (cursor, entries, None),
        [cursor, entries, deleted] => (cursor, entries, Some(deleted)),
        _ => return Err(format!("unexpected reply {value:?}")),
    };
    let cursor = String::from_redis_value(cursor).map_err(|e| e.to_string())?;
    let entries = parse_entries(entries, Origin::Reclaimed)?;
    let deleted = match deleted {
        Some(deleted) => Vec::<String>::from_redis_value(deleted).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    Ok((cursor, entries, deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_in_order_with_trimmed_entries() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("z"), bulk("1"), bulk("a"), bulk("2")]),
                ]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let entries = parse_read_reply(&reply, Origin::Pending).unwrap();
        assert_eq!(entries[0].fields, [("z".to_owned(), "1".to_owned()), ("a".to_owned(), "2".to_owned())]);
        assert!(entries[1].fields.is_empty());
        assert_eq!(parse_read_reply(&Value::Nil, Origin::New).unwrap(), []);
    }
}
