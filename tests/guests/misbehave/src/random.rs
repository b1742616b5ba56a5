//! The three ways a rule can meet randomness under WASI: secure random
//! bytes (what `getrandom`, and so most crates, read), the insecure
//! generator, and the insecure seed that std's `HashMap` keys its hasher
//! with. Each draw becomes a group key, so a host that does not make them
//! deterministic gives different results on two runs.

use std::collections::HashMap;

/// One draw from `wasi:random/random`.
pub fn secure() -> u64 {
    getrandom::u64().unwrap_or(0)
}

/// One draw from `wasi:random/insecure`.
#[cfg(target_os = "wasi")]
pub fn insecure() -> u64 {
    wasi_insecure::get_insecure_random_u64()
}

/// Natively there is no insecure generator to read; the secure one stands in.
#[cfg(not(target_os = "wasi"))]
pub fn insecure() -> u64 {
    secure()
}

/// The first key a fresh `HashMap` of eight keys yields: its order follows
/// the hasher's keys, which std takes from `wasi:random/insecure-seed`.
pub fn first_hashed_key() -> u8 {
    let map: HashMap<u8, ()> = (0..8).map(|key| (key, ())).collect();
    map.keys().next().copied().unwrap_or(0)
}

/// A direct import (as `getrandom` does for the secure interface), because
/// no crate in the workspace binds the insecure one.
#[cfg(target_os = "wasi")]
#[expect(
    unsafe_code,
    reason = "an import declaration; the function takes nothing and returns a u64"
)]
mod wasi_insecure {
    #[link(wasm_import_module = "wasi:random/insecure@0.2.0")]
    unsafe extern "C" {
        #[link_name = "get-insecure-random-u64"]
        pub safe fn get_insecure_random_u64() -> u64;
    }
}
