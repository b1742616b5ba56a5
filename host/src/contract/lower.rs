//! A batch's records lowered into the rule's memory in one pass.
//!
//! wasmtime lowers a `list<record-meta>` record by record and field by
//! field, looking the rule's memory up again for every field: in a `perf`
//! profile of the pvuv bench that was 3% of all CPU, about a tenth of a wasm
//! rule call, for what is a copy of 56 bytes per record. Here each record's
//! bytes are laid out as the canonical ABI lays them (the offsets are checked
//! against wasmtime's own layout code in a test, the type against the
//! component's at every call) and copied into memory the rule allocated.

use std::mem::MaybeUninit;
use std::ops::Deref;

use wasmtime::ValRaw;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentType, Lower};

use super::RecordMeta;

/// The records of a batch, lowered as a `list<record-meta>`.
#[derive(Debug, Clone, Copy)]
pub struct Records<'a>(pub &'a [RecordMeta]);

impl Deref for Records<'_> {
    type Target = [RecordMeta];

    fn deref(&self) -> &[RecordMeta] {
        self.0
    }
}

/// Where the fields of a `record-meta` are, in bytes from its start:
/// `payload` (a span: two u32) at 0, `key` (an `option<span>`: a u8 case,
/// the span at +4) at 8, `source` u32 at 20, `partition` u32 at 24, `offset`
/// u64 at 32, `timestamp-ms` (an `option<s64>`: a u8 case, the s64 at +8) at
/// 40: 56 bytes, aligned to 8.
mod at {
    pub const SIZE: usize = 56;
    pub const ALIGN: usize = 8;
    pub const PAYLOAD: usize = 0;
    pub const KEY: usize = 8;
    pub const KEY_PAYLOAD: usize = KEY + 4;
    pub const SOURCE: usize = 20;
    pub const PARTITION: usize = 24;
    pub const OFFSET: usize = 32;
    pub const TIMESTAMP: usize = 40;
    pub const TIMESTAMP_PAYLOAD: usize = TIMESTAMP + 8;
}

// SAFETY: the type's ABI, flat form and type check are those of a
// `list<record-meta>` (`[RecordMeta]`), which it is lowered as.
#[expect(
    unsafe_code,
    reason = "wasmtime's lowering traits are unsafe to implement; every layout fact is delegated to the generated type"
)]
unsafe impl ComponentType for Records<'_> {
    type Lower = [ValRaw; 2];

    const ABI: CanonicalAbiInfo = <[RecordMeta] as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[RecordMeta] as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: writes only into memory the rule's allocator returned for the
// list, through a bounds-checked slice, and the list's pointer and length
// as wasmtime's own list lowering writes them.
#[expect(
    unsafe_code,
    reason = "wasmtime's lowering traits are unsafe to implement; this one writes memory through checked slices only"
)]
unsafe impl Lower for Records<'_> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        dst: &mut MaybeUninit<[ValRaw; 2]>,
    ) -> wasmtime::Result<()> {
        let (ptr, len) = store(cx, self.0)?;
        // A pointer and a length are written as 64-bit values whatever the
        // memory's width, as wasmtime's list lowering does.
        dst.write([ValRaw::i64(ptr as i64), ValRaw::i64(len as i64)]);
        Ok(())
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        let (ptr, len) = store(cx, self.0)?;
        *cx.get::<4>(offset) = u32::try_from(ptr)?.to_le_bytes();
        *cx.get::<4>(offset + 4) = u32::try_from(len)?.to_le_bytes();
        Ok(())
    }
}

/// Allocates the list in the rule's memory and writes every record into
/// it; returns its pointer and length.
fn store<T>(
    cx: &mut LowerContext<'_, T>,
    records: &[RecordMeta],
) -> wasmtime::Result<(usize, usize)> {
    let size = records
        .len()
        .checked_mul(at::SIZE)
        .ok_or_else(|| wasmtime::format_err!("size overflow copying a list"))?;
    let ptr = cx.realloc(0, 0, at::ALIGN as u32, size)?;
    let memory = ptr
        .checked_add(size)
        .and_then(|end| cx.as_slice_mut().get_mut(ptr..end))
        .ok_or_else(|| wasmtime::format_err!("list pointer/length out of bounds of memory"))?;
    for (record, out) in records.iter().zip(memory.chunks_exact_mut(at::SIZE)) {
        out.copy_from_slice(&encode(record));
    }
    Ok((ptr, records.len()))
}

/// A record's bytes as the canonical ABI lays them out (padding zeroed).
fn encode(record: &RecordMeta) -> [u8; at::SIZE] {
    let mut bytes = [0; at::SIZE];
    let mut put = |at: usize, field: &[u8]| {
        if let Some(to) = bytes.get_mut(at..at + field.len()) {
            to.copy_from_slice(field);
        }
    };
    put(at::PAYLOAD, &record.payload.start.to_le_bytes());
    put(at::PAYLOAD + 4, &record.payload.len.to_le_bytes());
    if let Some(key) = record.key {
        put(at::KEY, &[1]);
        put(at::KEY_PAYLOAD, &key.start.to_le_bytes());
        put(at::KEY_PAYLOAD + 4, &key.len.to_le_bytes());
    }
    put(at::SOURCE, &record.source.to_le_bytes());
    put(at::PARTITION, &record.partition.to_le_bytes());
    put(at::OFFSET, &record.offset.to_le_bytes());
    if let Some(timestamp) = record.timestamp_ms {
        put(at::TIMESTAMP, &[1]);
        put(at::TIMESTAMP_PAYLOAD, &timestamp.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Span;
    use crate::contract::layout::{abi, field_offsets};

    /// The offsets in [`at`] are where wasmtime's own layout code puts the
    /// fields of `record-meta`.
    #[test]
    fn layout_matches_the_canonical_abi() {
        let record = abi::<RecordMeta>();
        assert_eq!(
            (record.size32 as usize, record.align32 as usize),
            (at::SIZE, at::ALIGN)
        );
        let fields = field_offsets(&[
            abi::<Span>(),
            abi::<Option<Span>>(),
            abi::<u32>(),
            abi::<u32>(),
            abi::<u64>(),
            abi::<Option<i64>>(),
        ]);
        assert_eq!(
            fields,
            [
                at::PAYLOAD,
                at::KEY,
                at::SOURCE,
                at::PARTITION,
                at::OFFSET,
                at::TIMESTAMP
            ]
        );
        let key = abi::<Option<Span>>();
        assert_eq!((key.size32, key.align32), (12, 4));
        assert_eq!(at::KEY_PAYLOAD - at::KEY, 4);
        let time = abi::<Option<i64>>();
        assert_eq!((time.size32, time.align32), (16, 8));
        assert_eq!(at::TIMESTAMP_PAYLOAD - at::TIMESTAMP, 8);
    }

    /// Every field lands at its offset, little-endian; absent options leave
    /// a zero case byte.
    #[test]
    fn a_record_is_encoded_at_its_offsets() {
        let record = RecordMeta {
            payload: Span { start: 7, len: 300 },
            key: Some(Span { start: 1, len: 2 }),
            source: 3,
            partition: 4,
            offset: 0x0102_0304_0506_0708,
            timestamp_ms: Some(-5),
        };
        let bytes = encode(&record);
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        assert_eq!((u32_at(0), u32_at(4)), (7, 300));
        assert_eq!((bytes[8], u32_at(12), u32_at(16)), (1, 1, 2));
        assert_eq!((u32_at(20), u32_at(24)), (3, 4));
        assert_eq!(u64_at(32), 0x0102_0304_0506_0708);
        assert_eq!((bytes[40], u64_at(48) as i64), (1, -5));
        let bare = encode(&RecordMeta {
            key: None,
            timestamp_ms: None,
            ..record
        });
        assert_eq!((bare[8], bare[40]), (0, 0));
        assert!(bare[12..20].iter().chain(&bare[48..]).all(|&b| b == 0));
    }
}
