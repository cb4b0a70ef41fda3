//! Trained initial states of the context model, embedded in the codec.
//!
//! A stripe normally starts from a state trained on real images (by
//! `medzip train-context`, see `models/README.md`) instead of an empty
//! one, so that small images do not pay for learning what every radiograph
//! shares. The state's id (first 8 bytes of the SHA-256 of its bytes) is
//! written to the file header; decoding with a build that lacks that state
//! is refused with an error that names it.

use crate::cm::Model;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// A trained state.
pub struct Trained {
    pub name: &'static str,
    pub id: [u8; 8],
    pub model: Model,
}

/// For images of at most 8 bits stored.
static CM8: &[u8] = include_bytes!("../models/cm8.state.z");
/// For images of 9 to 16 bits stored.
static CM16: &[u8] = include_bytes!("../models/cm16.state.z");

/// Id of serialized state bytes.
pub fn id_of(state: &[u8]) -> [u8; 8] {
    Sha256::digest(state)[..8].try_into().expect("8 bytes")
}

/// Compresses serialized state bytes for embedding.
pub fn pack(state: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(state, 9)
}

fn unpack(name: &'static str, z: &[u8]) -> Option<Trained> {
    if z.is_empty() {
        return None;
    }
    let bytes = miniz_oxide::inflate::decompress_to_vec_with_limit(z, 64 << 20).ok()?;
    Some(Trained {
        name,
        id: id_of(&bytes),
        model: Model::load(&bytes)?,
    })
}

/// Each embedded state, inflated on first use only (a process that codes
/// 8-bit images never pays for the 16-bit state).
fn cm8() -> Option<&'static Trained> {
    static S: OnceLock<Option<Trained>> = OnceLock::new();
    S.get_or_init(|| unpack("cm8", CM8)).as_ref()
}

fn cm16() -> Option<&'static Trained> {
    static S: OnceLock<Option<Trained>> = OnceLock::new();
    S.get_or_init(|| unpack("cm16", CM16)).as_ref()
}

/// Every state embedded in this build (those that load with this code).
pub fn all() -> Vec<&'static Trained> {
    [cm8(), cm16()].into_iter().flatten().collect()
}

/// The state the encoder uses for an image of `bits` bits stored.
pub fn for_bits(bits: u8) -> Option<&'static Trained> {
    if bits <= 8 {
        cm8()
    } else {
        cm16()
    }
}

/// The state with this id; the one usual for `bits` is tried first.
pub fn by_id(id: &[u8], bits: u8) -> Option<&'static Trained> {
    for_bits(bits)
        .filter(|t| t.id == id)
        .or_else(|| all().into_iter().find(|t| t.id == id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_states_load_and_roundtrip() {
        // Every embedded file must load with this code (a shape change
        // without retraining is caught here).
        for (name, z) in [("cm8", CM8), ("cm16", CM16)] {
            if z.is_empty() {
                continue;
            }
            let t =
                unpack(name, z).unwrap_or_else(|| panic!("embedded state {name} no longer loads"));
            assert_eq!(id_of(&t.model.save()), t.id);
        }
    }
}
