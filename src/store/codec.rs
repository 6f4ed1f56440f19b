//! The one place that turns records into bytes and back: a format-version byte, then bincode 2
//! (serde API, standard configuration; decoding goes through [`super::any_as_str`] so that
//! `Decimal` reads back the string it wrote).
//!
//! Format versions: bincode is not self-describing, so a record type whose shape changes cannot
//! read its old bytes as the new type. Every stored type implements [`Record`]; a type whose shape
//! changed since an older version overrides [`Record::decode_older`] and reads that version
//! through a mirror of its old shape (kept in [`super::legacy`]), then converts. Types whose shape
//! did not change read older versions as they are (the default). Versions: 1 = the first release;
//! 2 = the Record trait; 3 = the current one (records written since; shapes that changed are
//! listed in `legacy`).

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::any_as_str::Seed;
use super::keys::{TreeId, describe_key};

/// The format version written in front of every record.
pub const CURRENT_VERSION: u8 = 3;

/// The oldest format version this build still reads.
pub const OLDEST_VERSION: u8 = 1;

/// A type that is stored as a record. Implement it with [`stored_record!`] for a type whose
/// shape is unchanged since [`OLDEST_VERSION`]; override [`Record::decode_older`] when it changed.
pub trait Record: Serialize + DeserializeOwned {
    /// Decodes the body of a record written in `version` (older than [`CURRENT_VERSION`], at
    /// least [`OLDEST_VERSION`]). The default reads it as the current shape.
    fn decode_older(
        version: u8,
        body: &[u8],
    ) -> Result<(Self, usize), bincode::error::DecodeError> {
        let _ = version;
        decode_body(body)
    }
}

/// Decodes a record body (no version byte) as `T` with the store's configuration; returns the
/// value and the number of bytes read. For [`Record::decode_older`] implementations.
pub fn decode_body<T: DeserializeOwned>(
    body: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::seed_decode_from_slice(Seed::<T>::new(), body, config())
}

/// Marks types as stored records whose shape has not changed since [`OLDEST_VERSION`].
#[macro_export]
macro_rules! stored_record {
    ($($ty:ty),+ $(,)?) => {
        $(impl $crate::store::codec::Record for $ty {})+
    };
}

// The records of the fixed trees, and the plain values kept in the meta tree. A meta value of a
// type of another layer is marked next to that type.
stored_record!(
    crate::domain::Integration,
    crate::domain::Product,
    crate::domain::StockLevel,
    crate::domain::OutboxEntry,
    crate::domain::SyncLog,
    crate::domain::ErrorLog,
    crate::domain::PriceChange,
    u64,
    i64,
    String,
    Vec<String>,
    Vec<i64>,
    chrono::DateTime<chrono::Utc>,
    std::collections::BTreeSet<String>,
    std::collections::BTreeMap<String, rust_decimal::Decimal>,
);

impl Record for crate::domain::Order {
    /// Versions 1 and 2 had no `shop_read_at` (see [`super::legacy::v2`]).
    fn decode_older(
        _version: u8,
        body: &[u8],
    ) -> Result<(Self, usize), bincode::error::DecodeError> {
        decode_body::<super::legacy::v2::Order>(body).map(|(old, read)| (old.into(), read))
    }
}

/// Upper bound on what decoding one record may allocate. Far above any real record; it stops a
/// corrupt length prefix from asking for gigabytes.
const DECODE_LIMIT: usize = 64 * 1024 * 1024;

type Config = Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>>;

fn config() -> Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Encodes `value` for `tree`/`key` (the names only serve the error message).
pub fn encode<T: Serialize + ?Sized>(
    tree: TreeId,
    key: &[u8],
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![CURRENT_VERSION];
    bincode::serde::encode_into_std_write(value, &mut bytes, config()).map_err(|source| {
        StoreError::Encode {
            tree: tree.name(),
            key: describe_key(tree, key),
            source,
        }
    })?;
    Ok(bytes)
}

/// Decodes the record stored under `tree`/`key`. Unknown versions, truncation, trailing bytes
/// and garbage all become a [`StoreError`] naming the record; nothing here panics.
pub fn decode<T: Record>(tree: TreeId, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let Some((&version, body)) = bytes.split_first() else {
        return Err(StoreError::Corrupt {
            tree: tree.name(),
            key: describe_key(tree, key),
            reason: "the value is empty".to_owned(),
        });
    };
    let decoded = match version {
        CURRENT_VERSION => decode_body::<T>(body),
        OLDEST_VERSION..CURRENT_VERSION => T::decode_older(version, body),
        _ => {
            return Err(StoreError::UnknownVersion {
                tree: tree.name(),
                key: describe_key(tree, key),
                version,
            });
        }
    };
    let (value, read) = decoded.map_err(|source| StoreError::Decode {
        tree: tree.name(),
        key: describe_key(tree, key),
        source,
    })?;
    if read != body.len() {
        return Err(StoreError::Corrupt {
            tree: tree.name(),
            key: describe_key(tree, key),
            reason: format!("{} unexpected bytes after the record", body.len() - read),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use rust_decimal::Decimal;
    use serde::Deserialize;
    use std::str::FromStr;
    use uuid::Uuid;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Unit,
        Tuple(Decimal, String),
        Struct { at: DateTime<Utc>, id: Uuid },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        amounts: Vec<Decimal>,
        at: DateTime<Utc>,
        id: Uuid,
        maybe: Option<String>,
        nothing: Option<Decimal>,
        shapes: Vec<Shape>,
        text: String,
    }

    stored_record!(Sample);

    fn decimal(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn sample() -> Sample {
        Sample {
            amounts: vec![
                decimal("0.1"),
                decimal("1.50"),
                decimal("-0.0000000000000000000000000001"),
                decimal("79228162514264337593543950335"),
                decimal("-79228162514264337593543950335"),
                decimal("12345.6789"),
            ],
            at: Utc
                .with_ymd_and_hms(2025, 3, 14, 9, 41, 7)
                .unwrap()
                .checked_add_signed(chrono::Duration::nanoseconds(123_456_789))
                .unwrap(),
            id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            maybe: Some("Příliš žluťoučký kůň".to_owned()),
            nothing: None,
            shapes: vec![
                Shape::Unit,
                Shape::Tuple(decimal("2.000"), "x".to_owned()),
                Shape::Struct {
                    at: Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap(),
                    id: Uuid::nil(),
                },
            ],
            text: String::new(),
        }
    }

    #[test]
    fn values_round_trip_exactly() {
        let original = sample();
        let bytes = encode(TreeId::Meta, b"k", &original).unwrap();
        assert_eq!(bytes[0], CURRENT_VERSION);
        let decoded: Sample = decode(TreeId::Meta, b"k", &bytes).unwrap();
        assert_eq!(decoded, original);
        // Decimal equality ignores scale; the text form shows the scale survived too.
        let texts: Vec<String> = decoded.amounts.iter().map(|d| d.to_string()).collect();
        let expected: Vec<String> = original.amounts.iter().map(|d| d.to_string()).collect();
        assert_eq!(texts, expected);
        assert_eq!(texts[1], "1.50");
        assert_eq!(decoded.at.timestamp_subsec_nanos(), 123_456_789);
    }

    #[test]
    fn unknown_version_names_the_record() {
        let mut bytes = encode(TreeId::Meta, b"k", &sample()).unwrap();
        bytes[0] = 7;
        let id = Uuid::from_u128(1);
        let key = super::super::keys::order_key(id, "2025000318");
        let err = decode::<Sample>(TreeId::Orders, &key, &bytes).unwrap_err();
        assert!(matches!(err, StoreError::UnknownVersion { version: 7, .. }));
        assert_eq!(
            err.to_string(),
            format!("record orders/{id}/2025000318 has unknown format version 7")
        );
    }

    #[test]
    fn an_older_version_of_an_unchanged_shape_reads_as_the_current_one() {
        let mut bytes = encode(TreeId::Meta, b"k", &sample()).unwrap();
        bytes[0] = OLDEST_VERSION;
        let decoded: Sample = decode(TreeId::Meta, b"k", &bytes).unwrap();
        assert_eq!(decoded, sample());
    }

    #[test]
    fn empty_and_trailing_bytes_are_corrupt() {
        let err = decode::<Sample>(TreeId::Meta, b"k", &[]).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        let mut bytes = encode(TreeId::Meta, b"k", &sample()).unwrap();
        bytes.push(0);
        let err = decode::<Sample>(TreeId::Meta, b"k", &bytes).unwrap_err();
        assert!(err.to_string().contains("1 unexpected bytes"), "{err}");
    }

    #[test]
    fn truncated_or_damaged_records_give_errors_not_panics() {
        let bytes = encode(TreeId::Meta, b"k", &sample()).unwrap();
        for len in 0..bytes.len() {
            assert!(decode::<Sample>(TreeId::Meta, b"k", &bytes[..len]).is_err());
        }
        // Every single-byte flip must decode to something or fail cleanly.
        for position in 1..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[position] ^= flip;
                let _ = decode::<Sample>(TreeId::Meta, b"k", &damaged);
            }
        }
    }

    #[test]
    fn a_huge_length_prefix_is_refused_without_allocating_it() {
        // version, then a varint u64 marker (253) with u64::MAX as a string length.
        let mut bytes = vec![CURRENT_VERSION, 253];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        let err = decode::<String>(TreeId::Meta, b"k", &bytes).unwrap_err();
        assert!(matches!(err, StoreError::Decode { .. }), "{err}");
        let mut bytes = vec![CURRENT_VERSION, 253];
        bytes.extend_from_slice(&((DECODE_LIMIT as u64) * 4).to_le_bytes());
        assert!(decode::<Vec<String>>(TreeId::Meta, b"k", &bytes).is_err());
        assert!(decode::<String>(TreeId::Meta, b"k", &bytes).is_err());
    }
}
