//! The 0.2.0 contract's `process` as the host calls it on its hot path:
//! the batch lowered from borrowed parts, the updates lifted in one pass
//! over the rule's memory.
//!
//! The generated bindings take a `Batch` that owns its bytes and return a
//! `BatchOutput` with a `String` for every text the rule owns: the halves
//! of a batch and the parts of a bisected one needed copies of the batch,
//! every update of pvuv (whose group key `total` is owned text) cost an
//! allocation and a free, and each field of each update was lifted through
//! wasmtime's generic per-field code; together a third of the host's share
//! of a call. Here the list of updates is read as what the canonical ABI
//! makes it, fixed-size records, and owned texts are copied into one
//! buffer. The types are checked against the component's as the generated
//! ones are (through [`shape`]), so a rule of another shape is refused at
//! the call, never misread.

use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext, wasmtime_environ,
};
use wasmtime::component::{ComponentType, Lift, Lower};

use super::lower::Records;
use super::{Batch, RecordMeta, Reject, Span};

/// A batch whose parts are borrowed: the records of a half or a part of a
/// batch go into the rule with the whole batch's sources and bytes, no copy.
#[derive(Debug, Clone, Copy, ComponentType, Lower)]
#[component(record)]
pub struct BatchView<'a> {
    /// Source names.
    pub sources: &'a [String],
    /// The records' bytes.
    pub data: &'a [u8],
    /// The records (lowered by [`Records`] in one pass).
    pub records: Records<'a>,
}

impl<'a> From<&'a Batch> for BatchView<'a> {
    fn from(batch: &'a Batch) -> Self {
        Self {
            sources: &batch.sources,
            data: &batch.data,
            records: Records(&batch.records),
        }
    }
}

impl<'a> BatchView<'a> {
    /// The same batch with only `records` (of this batch's bytes).
    pub fn with_records(self, records: &'a [RecordMeta]) -> Self {
        Self {
            records: Records(records),
            ..self
        }
    }
}

/// A `batch-output` lifted from the rule's memory.
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct RawOutput {
    /// The updates.
    pub updates: RawUpdates,
    /// The rejects (few; their reasons are lifted as strings).
    pub rejects: Vec<Reject>,
}

/// A `list<metric-update>`, lifted: the updates, and the texts the rule
/// owned, copied into one buffer ([`RawText::Owned`] spans point there).
#[derive(Debug, Default)]
pub struct RawUpdates {
    /// The updates, in the rule's order.
    pub updates: Vec<RawUpdate>,
    /// The owned texts.
    pub texts: String,
}

/// A `metric-update`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawUpdate {
    /// The record it came from.
    pub record: u32,
    /// The metric.
    pub metric: u32,
    /// The group key.
    pub key: RawText,
    /// What it adds.
    pub measure: RawMeasure,
    /// The event time.
    pub event_time_ms: Option<i64>,
}

/// A `text`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawText {
    /// Bytes of the batch.
    Span(Span),
    /// Text the rule owned: where it is in [`RawUpdates::texts`].
    Owned(Span),
}

/// A `measure`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawMeasure {
    /// One.
    One,
    /// A number.
    Number(f64),
    /// A member.
    Member(RawText),
    /// A decimal, as text.
    Decimal(RawText),
}

/// The contract's output types as the component model sees them, for type
/// checks and sizes only (never lifted).
mod shape {
    use wasmtime::component::{ComponentType, WasmStr};

    use super::Span;

    #[derive(ComponentType)]
    #[component(record)]
    pub struct MetricUpdate {
        #[component(name = "record")]
        pub record: u32,
        pub metric: u32,
        pub key: Text,
        pub measure: Measure,
        #[component(name = "event-time-ms")]
        pub event_time_ms: Option<i64>,
    }

    #[derive(ComponentType)]
    #[component(variant)]
    pub enum Text {
        #[component(name = "span")]
        Span(Span),
        #[component(name = "owned")]
        Owned(WasmStr),
    }

    #[derive(ComponentType)]
    #[component(variant)]
    pub enum Measure {
        #[component(name = "one")]
        One,
        #[component(name = "number")]
        Number(f64),
        #[component(name = "member")]
        Member(Text),
        #[component(name = "decimal")]
        Decimal(Text),
    }
}

/// Where the fields of a `metric-update` are, in bytes from its start, as
/// the canonical ABI lays it out: `record` u32 at 0, `metric` u32 at 4,
/// `key` (a `text`: a u8 case, a (u32, u32) payload at +4; 12 bytes) at 8,
/// `measure` (a u8 case, an f64 or `text` payload at +8; 24 bytes) at 24,
/// `event-time-ms` (a u8 case, an s64 at +8; 16 bytes) at 48: 64 bytes,
/// aligned to 8. `layout_matches_the_canonical_abi` checks these against
/// wasmtime's own computation.
mod at {
    pub const SIZE: usize = 64;
    pub const ALIGN: usize = 8;
    pub const RECORD: usize = 0;
    pub const METRIC: usize = 4;
    pub const KEY: usize = 8;
    pub const MEASURE: usize = 24;
    pub const MEASURE_PAYLOAD: usize = MEASURE + 8;
    pub const EVENT_TIME: usize = 48;
    pub const EVENT_TIME_PAYLOAD: usize = EVENT_TIME + 8;
    /// A `text`'s payload, from the text's start.
    pub const TEXT_PAYLOAD: usize = 4;
}

// SAFETY: the type's ABI, flat form and type check are those of a
// `list<metric-update>` (`Vec<shape::MetricUpdate>`), which it is lifted as.
#[expect(
    unsafe_code,
    reason = "wasmtime's lifting traits are unsafe to implement; every layout fact is delegated to the derived shape type"
)]
unsafe impl ComponentType for RawUpdates {
    type Lower = <Vec<shape::MetricUpdate> as ComponentType>::Lower;

    const ABI: CanonicalAbiInfo = <Vec<shape::MetricUpdate> as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <Vec<shape::MetricUpdate> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: reads only bytes of the rule's memory, through bounds-checked
// slices; the layout it reads is checked against the component's types by
// `typecheck` and against wasmtime's layout by the tests.
#[expect(
    unsafe_code,
    reason = "wasmtime's lifting traits are unsafe to implement; this one reads memory through checked slices only"
)]
unsafe impl Lift for RawUpdates {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        lift_updates(cx, src[0].get_u32(), src[1].get_u32())
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        lift_updates(cx, u32_at(bytes, 0)?, u32_at(bytes, 4)?)
    }
}

/// Reads the `len` updates at `ptr` of the rule's memory.
fn lift_updates(cx: &mut LiftContext<'_>, ptr: u32, len: u32) -> wasmtime::Result<RawUpdates> {
    if cx.options().string_encoding != wasmtime_environ::component::StringEncoding::Utf8 {
        wasmtime::bail!("the rule's strings are not UTF-8 encoded");
    }
    let (ptr, len) = (ptr as usize, len as usize);
    if ptr % at::ALIGN != 0 {
        wasmtime::bail!("list pointer is not aligned");
    }
    cx.consume_fuel_array(len, at::SIZE)?;
    let memory = cx.memory();
    let bytes = len
        .checked_mul(at::SIZE)
        .and_then(|size| memory.get(ptr..ptr.checked_add(size)?))
        .ok_or_else(|| wasmtime::format_err!("list pointer/length out of bounds of memory"))?;
    let mut updates = Vec::with_capacity(len);
    let mut texts = OwnedTexts::default();
    for update in bytes.chunks_exact(at::SIZE) {
        let key = text(memory, update, at::KEY, &mut texts)?;
        let measure = match update[at::MEASURE] {
            0 => RawMeasure::One,
            1 => RawMeasure::Number(f64::from_bits(u64_at(update, at::MEASURE_PAYLOAD)?)),
            2 => RawMeasure::Member(text(memory, update, at::MEASURE_PAYLOAD, &mut texts)?),
            3 => RawMeasure::Decimal(text(memory, update, at::MEASURE_PAYLOAD, &mut texts)?),
            case => wasmtime::bail!("invalid measure case {case}"),
        };
        let event_time_ms = match update[at::EVENT_TIME] {
            0 => None,
            1 => Some(u64_at(update, at::EVENT_TIME_PAYLOAD)? as i64),
            case => wasmtime::bail!("invalid option case {case}"),
        };
        updates.push(RawUpdate {
            record: u32_at(update, at::RECORD)?,
            metric: u32_at(update, at::METRIC)?,
            key,
            measure,
            event_time_ms,
        });
    }
    // What the generic lift would have charged for the strings' bytes.
    cx.consume_fuel(texts.lifted_bytes)?;
    Ok(RawUpdates {
        updates,
        texts: texts.texts,
    })
}

/// The owned texts of one call's updates, copied out of the rule's memory.
///
/// A rule names its groups with a few fixed texts (pvuv's `total`, on
/// every update), each a string of its own in the rule's memory: a text
/// equal to the last one copied takes the same place in `texts`, without
/// checking and copying its bytes again. What it resolves to is the same.
#[derive(Default)]
struct OwnedTexts {
    texts: String,
    /// Where the last text copied is in `texts`.
    last: Option<Span>,
    /// Bytes of every owned text lifted, equal ones included.
    lifted_bytes: usize,
}

impl OwnedTexts {
    /// `bytes` (the rule's), checked as UTF-8 and copied, or the last text
    /// copied if it is the same.
    fn push(&mut self, bytes: &[u8]) -> wasmtime::Result<Span> {
        self.lifted_bytes += bytes.len();
        let same = self.last.filter(|last| {
            let range = last.start as usize..last.start as usize + last.len as usize;
            self.texts.as_bytes().get(range) == Some(bytes)
        });
        if let Some(last) = same {
            return Ok(last);
        }
        let last = Span {
            start: self.texts.len() as u32,
            len: bytes.len() as u32,
        };
        self.texts.push_str(std::str::from_utf8(bytes)?);
        self.last = Some(last);
        Ok(last)
    }
}

/// The `text` at `offset` of `update`; an owned one is checked (in bounds,
/// UTF-8) and copied to `texts`.
fn text(
    memory: &[u8],
    update: &[u8],
    offset: usize,
    texts: &mut OwnedTexts,
) -> wasmtime::Result<RawText> {
    let (first, second) = (
        u32_at(update, offset + at::TEXT_PAYLOAD)?,
        u32_at(update, offset + at::TEXT_PAYLOAD + 4)?,
    );
    match update[offset] {
        0 => Ok(RawText::Span(Span {
            start: first,
            len: second,
        })),
        1 => {
            let (ptr, len) = (first as usize, second as usize);
            let bytes = memory.get(ptr..ptr.saturating_add(len)).ok_or_else(|| {
                wasmtime::format_err!("string pointer/length out of bounds of memory")
            })?;
            Ok(RawText::Owned(texts.push(bytes)?))
        }
        case => wasmtime::bail!("invalid text case {case}"),
    }
}

fn u32_at(bytes: &[u8], at: usize) -> wasmtime::Result<u32> {
    bytes_at(bytes, at).map(u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> wasmtime::Result<u64> {
    bytes_at(bytes, at).map(u64::from_le_bytes)
}

/// The `N` bytes at `at` of a record.
fn bytes_at<const N: usize>(bytes: &[u8], at: usize) -> wasmtime::Result<[u8; N]> {
    bytes
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| wasmtime::format_err!("record cut short"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::layout::{abi, field_offsets};

    /// The offsets in [`at`] are where wasmtime's own layout code puts the
    /// fields of the derived shape types.
    #[test]
    fn layout_matches_the_canonical_abi() {
        let update = abi::<shape::MetricUpdate>();
        assert_eq!(
            (update.size32 as usize, update.align32 as usize),
            (at::SIZE, at::ALIGN)
        );
        let fields = field_offsets(&[
            abi::<u32>(),
            abi::<u32>(),
            abi::<shape::Text>(),
            abi::<shape::Measure>(),
            abi::<Option<i64>>(),
        ]);
        assert_eq!(
            fields,
            [at::RECORD, at::METRIC, at::KEY, at::MEASURE, at::EVENT_TIME]
        );
        // A variant's payload starts at its case byte rounded up to the
        // payload's alignment.
        let text = abi::<shape::Text>();
        assert_eq!((text.size32, text.align32), (12, 4));
        assert_eq!(at::TEXT_PAYLOAD, 4);
        let measure = abi::<shape::Measure>();
        assert_eq!((measure.size32, measure.align32), (24, 8));
        assert_eq!(at::MEASURE_PAYLOAD - at::MEASURE, 8);
        let time = abi::<Option<i64>>();
        assert_eq!((time.size32, time.align32), (16, 8));
        assert_eq!(at::EVENT_TIME_PAYLOAD - at::EVENT_TIME, 8);
    }

    /// An update as a rule's memory holds it, decoded by hand.
    #[test]
    fn texts_and_measures_are_read_from_their_offsets() {
        let mut memory = vec![0u8; 256];
        memory[200..205].copy_from_slice(b"total");
        let mut update = [0u8; at::SIZE];
        update[at::RECORD..at::RECORD + 4].copy_from_slice(&7u32.to_le_bytes());
        update[at::METRIC..at::METRIC + 4].copy_from_slice(&1u32.to_le_bytes());
        update[at::KEY] = 1;
        update[at::KEY + 4..at::KEY + 8].copy_from_slice(&200u32.to_le_bytes());
        update[at::KEY + 8..at::KEY + 12].copy_from_slice(&5u32.to_le_bytes());
        update[at::MEASURE] = 2;
        update[at::MEASURE_PAYLOAD] = 0;
        update[at::MEASURE_PAYLOAD + 4..at::MEASURE_PAYLOAD + 8]
            .copy_from_slice(&3u32.to_le_bytes());
        update[at::MEASURE_PAYLOAD + 8..at::MEASURE_PAYLOAD + 12]
            .copy_from_slice(&9u32.to_le_bytes());
        update[at::EVENT_TIME] = 1;
        update[at::EVENT_TIME_PAYLOAD..].copy_from_slice(&(-5i64).to_le_bytes());
        let mut texts = OwnedTexts::default();
        assert_eq!(
            text(&memory, &update, at::KEY, &mut texts).unwrap(),
            RawText::Owned(Span { start: 0, len: 5 })
        );
        assert_eq!(texts.texts, "total");
        assert_eq!(
            text(&memory, &update, at::MEASURE_PAYLOAD, &mut texts).unwrap(),
            RawText::Span(Span { start: 3, len: 9 })
        );
        assert_eq!(u64_at(&update, at::EVENT_TIME_PAYLOAD).unwrap() as i64, -5);
        // Out of bounds, not UTF-8, an unknown case: errors, not panics.
        update[at::KEY + 4..at::KEY + 8].copy_from_slice(&254u32.to_le_bytes());
        assert!(text(&memory, &update, at::KEY, &mut texts).is_err());
        memory[200] = 0xff;
        update[at::KEY + 4..at::KEY + 8].copy_from_slice(&200u32.to_le_bytes());
        assert!(text(&memory, &update, at::KEY, &mut texts).is_err());
        update[at::KEY] = 2;
        assert!(text(&memory, &update, at::KEY, &mut texts).is_err());
    }

    /// Equal owned texts in a row are checked and copied once and name the
    /// same bytes; any other text is copied (and checked) as ever, and the
    /// fuel counts every text's bytes.
    #[test]
    fn an_owned_text_equal_to_the_last_is_copied_once() {
        let mut texts = OwnedTexts::default();
        let total = texts.push(b"total").unwrap();
        assert_eq!(texts.push(b"total").unwrap(), total);
        let shorter = texts.push(b"tota").unwrap();
        assert_eq!(shorter, Span { start: 5, len: 4 });
        let again = texts.push(b"total").unwrap();
        assert_eq!(again, Span { start: 9, len: 5 });
        assert_eq!(texts.texts, "totaltotatotal");
        assert_eq!(texts.lifted_bytes, 19);
        assert!(texts.push(b"tot\xffl").is_err());
        assert!(texts.push(b"").is_ok());
    }
}
