//! A cache of freed small heap blocks in front of another allocator: the
//! guest's global allocator in a rule component (see `export_rule!`).
//!
//! Why: a rule's call returns its updates to the host, and every text the
//! rule makes (pvuv's group key `total`, twice a line) is a `String` of its
//! own, which the bindings free after the call. In wasm each of those went
//! through four calls (`__rust_alloc`, `malloc`, `dlmalloc`, and back through
//! `free`), each paying the call deadline's check at its entry: 12% of a
//! wasm rule call's time. Blocks of up to 32 bytes freed here are kept on a
//! list per size (8, 16, 24 or 32 bytes) and handed out again by the next
//! allocation of that size: a few instructions each way.
//!
//! At most [`KEEP`] blocks per size are kept (1 MiB in all); what is freed
//! beyond that goes back to the inner allocator, so a burst of small
//! strings does not pin their memory.
#![expect(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; each block's ownership is spelled out below"
)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Size classes: blocks of 8, 16, 24 and 32 bytes.
const CLASSES: usize = 4;
/// Bytes per size class step; also the blocks' alignment, enough for the
/// free list's pointer written into a free block (4 bytes on wasm32).
const STEP: usize = 8;
/// Most free blocks kept per size class.
pub const KEEP: usize = 8192;

/// Free blocks of one size class: a list threaded through the blocks
/// themselves (each free block's first bytes point at the next).
#[derive(Clone, Copy)]
struct FreeList {
    head: *mut u8,
    len: usize,
}

/// Caches freed blocks of up to 32 bytes in front of `A`.
///
/// Not thread-safe by itself: it is shared only where there is one thread
/// (a wasm32 component without the `atomics` feature; see `export_rule!`).
pub struct SmallBlocks<A> {
    inner: A,
    lists: UnsafeCell<[FreeList; CLASSES]>,
}

impl<A> SmallBlocks<A> {
    /// An empty cache in front of `inner`.
    pub const fn new(inner: A) -> Self {
        Self {
            inner,
            lists: UnsafeCell::new(
                [FreeList {
                    head: ptr::null_mut(),
                    len: 0,
                }; CLASSES],
            ),
        }
    }
}

// SAFETY: a wasm32 component without the `atomics` feature runs one
// thread, so the lists are never touched by two at once.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl<A: Sync> Sync for SmallBlocks<A> {}

/// The size class of `layout` and the layout its blocks get from the inner
/// allocator, or `None` for a layout left to the inner allocator.
fn class_of(layout: Layout) -> Option<(usize, Layout)> {
    if layout.size() == 0 || layout.size() > CLASSES * STEP || layout.align() > STEP {
        return None;
    }
    let class = (layout.size() - 1) / STEP;
    let block = Layout::from_size_align((class + 1) * STEP, STEP).ok()?;
    Some((class, block))
}

// SAFETY: every block handed out is either fresh from `inner` or a block of
// the same size class (so at least as large, same alignment) that was
// freed to this cache and is no longer used by its former owner. A cached
// block is only read or written here, through its first pointer-sized
// bytes, while it is on a free list. Blocks go back to `inner` with the
// layout `inner` allocated them with (the class's).
unsafe impl<A: GlobalAlloc> GlobalAlloc for SmallBlocks<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((class, block)) = class_of(layout) else {
            // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
            return unsafe { self.inner.alloc(layout) };
        };
        // SAFETY: one thread (see the type's docs), and no other reference
        // to the lists lives across this call.
        let lists = unsafe { &mut *self.lists.get() };
        let list = &mut lists[class];
        if list.head.is_null() {
            // SAFETY: a non-zero size.
            return unsafe { self.inner.alloc(block) };
        }
        let taken = list.head;
        // SAFETY: `taken` is a free block of this class; its first bytes
        // hold the next free block (written by `dealloc`), aligned to STEP.
        list.head = unsafe { taken.cast::<*mut u8>().read() };
        list.len -= 1;
        taken
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((class, block)) = class_of(layout) else {
            // SAFETY: `ptr` came from `inner` with this layout (`alloc`).
            return unsafe { self.inner.dealloc(ptr, layout) };
        };
        // SAFETY: as in `alloc`.
        let lists = unsafe { &mut *self.lists.get() };
        let list = &mut lists[class];
        if list.len >= KEEP {
            // SAFETY: blocks of this class come from `inner` with `block`.
            return unsafe { self.inner.dealloc(ptr, block) };
        }
        // SAFETY: the block is at least STEP bytes, aligned to STEP, and
        // its owner freed it: it now holds the list's next pointer.
        unsafe { ptr.cast::<*mut u8>().write(list.head) };
        list.head = ptr;
        list.len += 1;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's promise that `new_size` with this alignment
        // is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // Both outside the cache: the inner allocator may grow in place.
            // SAFETY: `ptr` came from `inner` with `layout`.
            (None, None) => unsafe { self.inner.realloc(ptr, layout, new_size) },
            // Within one class the block already fits.
            (Some((old, _)), Some((new, _))) if old == new => ptr,
            _ => {
                // SAFETY: a valid layout; the copy covers what both hold.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::System;

    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 1).unwrap()
    }

    /// A freed block is handed out again to the next allocation of its
    /// class, not of another class; live blocks never overlap; at most
    /// KEEP are kept per class.
    #[test]
    fn freed_blocks_are_reused_within_their_class_and_kept_up_to_a_bound() {
        let cache = SmallBlocks::new(System);
        unsafe {
            let a = cache.alloc(layout(5));
            a.write_bytes(0xaa, 5);
            cache.dealloc(a, layout(5));
            let b = cache.alloc(layout(20));
            assert_ne!(a, b, "a 5-byte block is not a 24-byte one");
            assert_eq!(cache.alloc(layout(8)), a, "same class: reused");

            let live: Vec<*mut u8> = (0..KEEP + 100).map(|_| cache.alloc(layout(32))).collect();
            for (i, &p) in live.iter().enumerate() {
                p.write_bytes(i as u8, 32);
            }
            for (i, &p) in live.iter().enumerate() {
                assert!(
                    (0..32).all(|k| *p.add(k) == i as u8),
                    "block {i} overwritten"
                );
            }
            for &p in &live {
                cache.dealloc(p, layout(32));
            }
            assert_eq!((*cache.lists.get())[3].len, KEEP);
            let again: Vec<*mut u8> = (0..KEEP).map(|_| cache.alloc(layout(25))).collect();
            assert!(
                again.iter().all(|p| live.contains(p)),
                "the kept blocks come back"
            );
            assert_eq!((*cache.lists.get())[3].len, 0);
            for p in again {
                cache.dealloc(p, layout(25));
            }
            cache.dealloc(b, layout(20));
        }
    }

    /// Growing a `String` through the classes and past them keeps its
    /// bytes; large and over-aligned layouts bypass the cache.
    #[test]
    fn realloc_keeps_the_bytes_across_classes() {
        let cache = SmallBlocks::new(System);
        unsafe {
            let mut p = cache.alloc(layout(3));
            p.copy_from_nonoverlapping(b"abc".as_ptr(), 3);
            let mut size = 3;
            for new_size in [7, 8, 9, 31, 33, 100, 4096, 12] {
                p = cache.realloc(p, layout(size), new_size);
                assert_eq!(std::slice::from_raw_parts(p, 3), b"abc", "at {new_size}");
                size = new_size;
            }
            cache.dealloc(p, layout(size));
            assert!(class_of(Layout::from_size_align(16, 16).unwrap()).is_none());
            assert!(class_of(layout(0)).is_none());
            assert!(class_of(layout(33)).is_none());
        }
    }
}
