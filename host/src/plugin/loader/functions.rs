//! Compiled functions kept across the versions of a rule: Cranelift's
//! incremental compilation cache, in memory.
//!
//! A new version of a rule mostly changes a few of its functions; the SDK,
//! the standard library and the allocator it carries are the same bytes
//! in every version. Cranelift keys each function by its code and the
//! compiler's settings, so a function it compiled before is reused, and a
//! hot reload compiles what changed instead of the whole component (on
//! pvuv, compile + init was 115-130 ms of a ~150 ms swap).
//!
//! Kept in memory only, up to [`BUDGET`] bytes: past it the cache is
//! emptied and fills again from the next compile, so a process that loads
//! many rules never holds more. (The whole compiled component is also kept
//! on disk, by its bytes' hash, in `cache`.)

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use wasmtime::CacheStore;

/// Most bytes of compiled functions kept (keys and values).
pub const BUDGET: usize = 64 << 20;

/// Compiled functions by Cranelift's key for them.
#[derive(Debug, Default)]
pub struct FunctionCache {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    functions: HashMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let kept = self.kept.lock().ok()?;
        kept.functions
            .get(key)
            .map(|value| Cow::Owned(value.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let Ok(mut kept) = self.kept.lock() else {
            return false;
        };
        let size = key.len() + value.len();
        if size > BUDGET {
            return false;
        }
        if kept.bytes + size > BUDGET {
            kept.functions.clear();
            kept.bytes = 0;
        }
        if let Some(old) = kept.functions.insert(key.to_vec(), value) {
            kept.bytes -= key.len() + old.len();
        }
        kept.bytes += size;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is inserted is found again; past the budget the cache starts
    /// over instead of growing.
    #[test]
    fn keeps_functions_up_to_its_budget() {
        let cache = FunctionCache::default();
        assert!(cache.get(b"f").is_none());
        assert!(cache.insert(b"f", vec![1, 2, 3]));
        assert_eq!(cache.get(b"f").as_deref(), Some(&[1, 2, 3][..]));
        assert!(cache.insert(b"f", vec![4]));
        assert_eq!(cache.kept.lock().unwrap().bytes, 2);
        assert!(!cache.insert(b"huge", vec![0; BUDGET]));
        assert!(cache.insert(b"big", vec![0; BUDGET - 10]));
        assert!(cache.get(b"f").is_some());
        assert!(cache.insert(b"more", vec![0; 100]));
        assert!(cache.get(b"f").is_none(), "emptied past the budget");
        assert!(cache.get(b"more").is_some());
    }
}
