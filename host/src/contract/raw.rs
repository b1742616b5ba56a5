//! The 0.2.0 contract's `process` as the host calls it on its hot path:
//! the batch lowered from borrowed parts, the output lifted without a heap
//! string per text.
//!
//! The generated bindings take a `Batch` that owns its bytes and return a
//! `BatchOutput` with a `String` for every text the rule owns: the halves
//! of a batch and the parts of a bisected one needed copies of the batch,
//! and every update of pvuv (whose group key `total` is owned text) cost an
//! allocation and a free, a third of the host's share of a call. These
//! types describe the same WIT types, so wasmtime type-checks them against
//! the component as it does the generated ones.

use std::cell::RefCell;

use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext, wasmtime_environ,
};
use wasmtime::component::{ComponentType, Lift, Lower, WasmStr};

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
    /// The records.
    pub records: &'a [RecordMeta],
}

impl<'a> From<&'a Batch> for BatchView<'a> {
    fn from(batch: &'a Batch) -> Self {
        Self {
            sources: &batch.sources,
            data: &batch.data,
            records: &batch.records,
        }
    }
}

impl<'a> BatchView<'a> {
    /// The same batch with only `records` (of this batch's bytes).
    pub fn with_records(self, records: &'a [RecordMeta]) -> Self {
        Self { records, ..self }
    }
}

/// A `batch-output` as lifted from the rule's memory; its owned texts are
/// in [`take_texts`].
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct RawOutput {
    /// The updates.
    pub updates: Vec<RawUpdate>,
    /// The rejects (few; their reasons are lifted as strings).
    pub rejects: Vec<Reject>,
}

/// A `metric-update`.
#[derive(Debug, Clone, Copy, ComponentType, Lift)]
#[component(record)]
pub struct RawUpdate {
    /// The record it came from.
    #[component(name = "record")]
    pub record: u32,
    /// The metric.
    pub metric: u32,
    /// The group key.
    pub key: RawText,
    /// What it adds.
    pub measure: RawMeasure,
    /// The event time.
    #[component(name = "event-time-ms")]
    pub event_time_ms: Option<i64>,
}

/// A `text`.
#[derive(Debug, Clone, Copy, ComponentType, Lift)]
#[component(variant)]
pub enum RawText {
    /// Bytes of the batch.
    #[component(name = "span")]
    Span(Span),
    /// Text the rule owned, now in this thread's text buffer.
    #[component(name = "owned")]
    Owned(OwnedText),
}

/// A `measure`.
#[derive(Debug, Clone, Copy, ComponentType, Lift)]
#[component(variant)]
pub enum RawMeasure {
    /// One.
    #[component(name = "one")]
    One,
    /// A number.
    #[component(name = "number")]
    Number(f64),
    /// A member.
    #[component(name = "member")]
    Member(RawText),
    /// A decimal, as text.
    #[component(name = "decimal")]
    Decimal(RawText),
}

/// A `string` the rule owned, copied at lift time into this thread's text
/// buffer (it must be copied then: the rule frees it as soon as the call
/// returns); the span is where it is in the buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OwnedText(pub Span);

thread_local! {
    /// The texts lifted on this thread since the last [`take_texts`].
    static TEXTS: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Empties this thread's text buffer; call before a call whose output is
/// lifted as [`RawOutput`].
pub fn clear_texts() {
    TEXTS.with_borrow_mut(String::clear);
}

/// Takes the texts lifted on this thread since [`clear_texts`]: the buffer
/// [`OwnedText`] spans point into.
pub fn take_texts() -> String {
    TEXTS.with_borrow_mut(std::mem::take)
}

/// Checks and copies the `len` bytes at `ptr` of the rule's memory (already
/// bounds-checked by [`WasmStr`]'s lift) into this thread's buffer.
fn keep(cx: &LiftContext<'_>, ptr: u32, len: u32) -> wasmtime::Result<OwnedText> {
    if cx.options().string_encoding != wasmtime_environ::component::StringEncoding::Utf8 {
        wasmtime::bail!("the rule's strings are not UTF-8 encoded");
    }
    let (ptr, len) = (ptr as usize, len as usize);
    let bytes = cx
        .memory()
        .get(ptr..ptr.saturating_add(len))
        .ok_or_else(|| wasmtime::format_err!("string pointer/length out of bounds of memory"))?;
    let text = std::str::from_utf8(bytes)?;
    Ok(TEXTS.with_borrow_mut(|texts| {
        let start = texts.len() as u32;
        texts.push_str(text);
        OwnedText(Span {
            start,
            len: len as u32,
        })
    }))
}

// SAFETY: the type's ABI, flat representation and type check are exactly
// those of `WasmStr` (a `string`), which it is lifted as.
#[expect(
    unsafe_code,
    reason = "wasmtime's lifting traits are unsafe to implement; this one delegates every layout fact to WasmStr"
)]
unsafe impl ComponentType for OwnedText {
    type Lower = <WasmStr as ComponentType>::Lower;

    const ABI: CanonicalAbiInfo = <WasmStr as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmStr as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: lifts through `WasmStr` first (which checks the pointer, length,
// alignment and fuel), then reads the same pointer pair to copy the bytes.
#[expect(
    unsafe_code,
    reason = "wasmtime's lifting traits are unsafe to implement; this one lifts through WasmStr"
)]
unsafe impl Lift for OwnedText {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        WasmStr::linear_lift_from_flat(cx, ty, src)?;
        keep(cx, src[0].get_u32(), src[1].get_u32())
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        WasmStr::linear_lift_from_memory(cx, ty, bytes)?;
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or_else(|| wasmtime::format_err!("string pointer pair cut short"))
        };
        keep(cx, word(0)?, word(4)?)
    }
}
