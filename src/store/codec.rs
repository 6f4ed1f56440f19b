//! The one place that turns records into bytes and back: a format-version byte, then bincode 2
//! (serde API, standard configuration; decoding goes through [`super::any_as_str`] so that
//! `Decimal` reads back the string it wrote). A future format change is made here and only here: bump
//! [`CURRENT_VERSION`] and decode the older versions alongside.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::any_as_str::Seed;
use super::keys::{TreeId, describe_key};

/// The format version written in front of every record.
pub const CURRENT_VERSION: u8 = 1;

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
pub fn decode<T: DeserializeOwned>(
    tree: TreeId,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    let Some((&version, body)) = bytes.split_first() else {
        return Err(StoreError::Corrupt {
            tree: tree.name(),
            key: describe_key(tree, key),
            reason: "the value is empty".to_owned(),
        });
    };
    if version != CURRENT_VERSION {
        return Err(StoreError::UnknownVersion {
            tree: tree.name(),
            key: describe_key(tree, key),
            version,
        });
    }
    let (value, read) = bincode::serde::seed_decode_from_slice(Seed::<T>::new(), body, config())
        .map_err(|source| StoreError::Decode {
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
        assert!(decode::<Vec<Decimal>>(TreeId::Meta, b"k", &bytes).is_err());
        assert!(decode::<String>(TreeId::Meta, b"k", &bytes).is_err());
    }
}
