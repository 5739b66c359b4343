//! The keys of a channel and the stored forms of a signal.

use redis::Value;

use super::{Signal, SignalId, Target, BROADCAST};
use crate::conn::{from_millis, parse_u64, tagged};
use crate::error::{BackendError, InvalidValue};

/// A kind: 1 to 200 bytes, no control characters.
pub(super) fn check_kind(kind: &str) -> Result<(), InvalidValue> {
    if kind.is_empty() || kind.len() > 200 || kind.chars().any(char::is_control) {
        return Err(InvalidValue::new("kind", kind, "1 to 200 bytes without control characters"));
    }
    Ok(())
}

/// The stream and latest-hash keys of `target`'s channel.
pub(super) fn keys(prefix: &str, target: &Target) -> (String, String) {
    let tag = tagged(prefix, "sig");
    match target {
        Target::Agent(name) => (format!("{tag}:stream:{name}"), format!("{tag}:latest:{name}")),
        Target::Broadcast => (format!("{tag}:bcast:stream"), format!("{tag}:bcast:latest")),
    }
}

/// A stream entry id's numeric order (`ms-seq`).
pub(super) fn entry_order(entry: &str) -> (u64, u64) {
    let (ms, seq) = entry.split_once('-').unwrap_or((entry, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Decodes a latest-hash value: `id\nsent\nexpires\nsource\ntarget\npayload`.
pub(super) fn decode_latest(
    server: &str,
    kind: &str,
    value: &[u8],
    channel: Target,
) -> Result<Signal, BackendError> {
    let mut parts = value.splitn(6, |b| *b == b'\n');
    let mut next = |what: &str| {
        parts
            .next()
            .ok_or_else(|| BackendError::malformed(server, format!("latest `{kind}` signal lacks {what}")))
    };
    let entry = text(server, next("an id")?)?;
    let sent = parse_u64(server, "sent", next("a send time")?)?;
    let expires = parse_u64(server, "expires", next("an expiry")?)?;
    let source = text(server, next("a source")?)?;
    let target = text(server, next("a target")?)?;
    let payload = next("a payload")?.to_vec();
    let target = if target == BROADCAST { Target::Broadcast } else { channel };
    Ok(Signal {
        id: SignalId { target, entry },
        kind: kind.to_owned(),
        source,
        payload,
        sent_at: from_millis(sent),
        expires_at: from_millis(expires),
    })
}

/// Decodes a stream entry written by the send script.
pub(super) fn decode_entry(
    server: &str,
    entry: String,
    map: &std::collections::HashMap<String, Value>,
) -> Result<Signal, BackendError> {
    let field = |name: &str| -> Result<Vec<u8>, BackendError> {
        let value = map
            .get(name)
            .ok_or_else(|| BackendError::malformed(server, format!("signal {entry} lacks `{name}`")))?;
        redis::from_redis_value(value).map_err(|e| BackendError::redis(server, e))
    };
    Ok(Signal {
        kind: text(server, &field("kind")?)?,
        source: text(server, &field("source")?)?,
        payload: field("payload")?,
        sent_at: from_millis(parse_u64(server, "sent", &field("sent")?)?),
        expires_at: from_millis(parse_u64(server, "expires", &field("expires")?)?),
        id: SignalId { target: Target::from_stored(&text(server, &field("target")?)?), entry },
    })
}

pub(super) fn text(server: &str, bytes: &[u8]) -> Result<String, BackendError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| BackendError::malformed(server, "a name is not UTF-8"))
}
