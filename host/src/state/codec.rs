//! How aggregates are stored in checkpoints.
//!
//! A group's value is one Redis hash field: a tag byte and a payload —
//! `c` + decimal count, `s`/`n`/`x` + shortest round-trip decimal for
//! sum/min/max, `h` + HyperLogLog registers, and `d` for exact distinct sets,
//! whose member hashes live in their own string key so each checkpoint only
//! APPENDs the members added since the previous one. Contract 0.2.0 adds
//! `m<scale>:<units>` (decimal sum), `a<scale>:<units>:<count>` (mean) and
//! `q<ppm>,<ppm>...|<bucket>=<count> ...` (quantile sketch).

use super::aggregate::Aggregate;
use super::distinct::{DecodeError, DistinctSet};
use super::hll::HyperLogLog;
use super::sketch::{Bucket, Sketch};
use crate::model::QuantileSet;

pub use super::distinct::{decode_hashes, encode_hashes};

/// Encodes an aggregate's checkpoint value (for distinct sets only the tag).
pub fn encode(agg: &Aggregate) -> Vec<u8> {
    match agg {
        Aggregate::Count(n) => format!("c{n}").into_bytes(),
        Aggregate::Sum(x) => format!("s{x}").into_bytes(),
        Aggregate::Min(x) => format!("n{x}").into_bytes(),
        Aggregate::Max(x) => format!("x{x}").into_bytes(),
        Aggregate::Distinct(_) => b"d".to_vec(),
        Aggregate::ApproxDistinct(hll) => {
            let mut bytes = b"h".to_vec();
            bytes.extend(hll.to_bytes());
            bytes
        }
        Aggregate::Decimal { units, scale } => format!("m{scale}:{units}").into_bytes(),
        Aggregate::Avg {
            units,
            count,
            scale,
        } => format!("a{scale}:{units}:{count}").into_bytes(),
        Aggregate::Quantiles(sketch, set) => {
            let ppm: Vec<String> = set.ppm().iter().map(u32::to_string).collect();
            let buckets: Vec<String> = sketch
                .buckets()
                .map(|(bucket, count)| format!("{}={count}", bucket.field()))
                .collect();
            format!("q{}|{}", ppm.join(","), buckets.join(" ")).into_bytes()
        }
    }
}

/// Why a checkpoint value could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Unknown tag or unreadable number.
    #[error("unreadable checkpoint value {0:?}")]
    Unreadable(String),
    /// A distinct set's or sketch's bytes are damaged.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Decodes a checkpoint value; `members` is the distinct set's hash string.
pub fn decode(value: &[u8], members: Option<&[u8]>) -> Result<Aggregate, CodecError> {
    let unreadable = || CodecError::Unreadable(String::from_utf8_lossy(value).into_owned());
    let (&tag, payload) = value.split_first().ok_or_else(unreadable)?;
    let number = || -> Result<f64, CodecError> {
        std::str::from_utf8(payload)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(unreadable)
    };
    Ok(match tag {
        b'c' => Aggregate::Count(
            std::str::from_utf8(payload)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(unreadable)?,
        ),
        b's' => Aggregate::Sum(number()?),
        b'n' => Aggregate::Min(number()?),
        b'x' => Aggregate::Max(number()?),
        b'd' => Aggregate::Distinct(DistinctSet::from_hashes(decode_hashes(
            members.unwrap_or_default(),
        )?)),
        b'h' => Aggregate::ApproxDistinct(Box::new(HyperLogLog::from_bytes(payload)?)),
        b'm' | b'a' | b'q' => {
            let text = std::str::from_utf8(payload).map_err(|_| unreadable())?;
            decode_0_2(tag, text).ok_or_else(unreadable)?
        }
        _ => return Err(unreadable()),
    })
}

/// Decodes the aggregates contract 0.2.0 added; `None` if unreadable.
fn decode_0_2(tag: u8, text: &str) -> Option<Aggregate> {
    Some(match tag {
        b'm' => {
            let (scale, units) = text.split_once(':')?;
            Aggregate::Decimal {
                units: units.parse().ok()?,
                scale: scale.parse().ok()?,
            }
        }
        b'a' => {
            let mut parts = text.splitn(3, ':');
            let scale = parts.next()?.parse().ok()?;
            let units = parts.next()?.parse().ok()?;
            let count = parts.next()?.parse().ok()?;
            Aggregate::Avg {
                units,
                count,
                scale,
            }
        }
        _ => {
            let (ppm, buckets) = text.split_once('|')?;
            let quantiles: Vec<f64> = ppm
                .split(',')
                .map(|p| p.parse::<u32>().ok().map(|p| f64::from(p) / 1e6))
                .collect::<Option<_>>()?;
            let set = QuantileSet::new(&quantiles).ok()?;
            let buckets: Vec<(Bucket, u64)> = buckets
                .split_whitespace()
                .map(|pair| {
                    let (field, count) = pair.split_once('=')?;
                    Some((Bucket::from_field(field)?, count.parse().ok()?))
                })
                .collect::<Option<_>>()?;
            Aggregate::Quantiles(Box::new(Sketch::from_buckets(buckets)), set)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::aggregate::Contribution;

    #[test]
    fn roundtrip() {
        for agg in [
            Aggregate::Count(7),
            Aggregate::Sum(0.1 + 0.2),
            Aggregate::Min(-3.5),
            Aggregate::Max(1e300),
            Aggregate::Decimal {
                units: -123_456,
                scale: 2,
            },
            Aggregate::Avg {
                units: 7_501,
                count: 2,
                scale: 2,
            },
            {
                let mut sketch = Sketch::default();
                for x in [-1.5, 0.0, 37.5, 80.25] {
                    sketch.insert(x);
                }
                let set = QuantileSet::new(&[0.5, 0.999]).unwrap();
                Aggregate::Quantiles(Box::new(sketch), set)
            },
        ] {
            let back = decode(&encode(&agg), None).unwrap();
            assert_eq!(back.render(), agg.render());
        }
        let mut set = Aggregate::Distinct(DistinctSet::new());
        set.add(Contribution::member("a")).unwrap();
        set.add(Contribution::member("b")).unwrap();
        let Aggregate::Distinct(inner) = &mut set else {
            unreachable!()
        };
        let members = encode_hashes(&inner.take_new_hashes());
        assert_eq!(decode(&encode(&set), Some(&members)).unwrap().render(), "2");
        assert!(decode(b"q1", None).is_err());
        assert!(decode(b"c-1", None).is_err());
        assert!(decode(b"d", Some(b"123")).is_err());
    }
}
