//! Trained initial states of the context model, embedded in the codec.
//!
//! A stripe normally starts from a state trained on real images (by
//! `medzip train-context`, see `models/README.md`) instead of an empty
//! one, so that small images do not pay for learning what every radiograph
//! shares. The state's id (first 8 bytes of the SHA-256 of its bytes) is
//! written to the file header; decoding with a build that lacks that state
//! is refused with an error that names it.

use crate::cm::{CtxNet, Model};
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
/// For images of at most 8 bits stored, coded with the context network.
static CM8N: &[u8] = include_bytes!("../models/cm8n.state.z");
/// The context network for images of at most 8 bits stored (`medzip-nn`
/// network bytes).
static NET8: &[u8] = include_bytes!("../models/ctx8.net");

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

fn cm8n() -> Option<&'static Trained> {
    static S: OnceLock<Option<Trained>> = OnceLock::new();
    S.get_or_init(|| unpack("cm8n", CM8N)).as_ref()
}

/// An embedded context network.
pub struct TrainedNet {
    pub name: &'static str,
    pub id: [u8; 8],
    pub net: CtxNet,
}

/// Parses network bytes (`medzip-nn` format) as a context network.
pub fn load_net(name: &'static str, bytes: &[u8]) -> Result<TrainedNet, String> {
    let net = medzip_nn::Net::from_bytes(bytes).map_err(|e| e.to_string())?;
    Ok(TrainedNet {
        name,
        id: id_of(bytes),
        net: CtxNet::new(net)?,
    })
}

/// The embedded network for images of at most 8 bits stored.
pub fn net8() -> Option<&'static TrainedNet> {
    static S: OnceLock<Option<TrainedNet>> = OnceLock::new();
    S.get_or_init(|| {
        (!NET8.is_empty())
            .then(|| load_net("ctx8", NET8).ok())
            .flatten()
    })
    .as_ref()
}

/// The network (embedded) an encoder uses for `bits` bits stored.
pub fn net_for_bits(bits: u8) -> Option<&'static TrainedNet> {
    if bits <= 8 {
        net8()
    } else {
        None
    }
}

/// The embedded network with this id.
pub fn net_by_id(id: &[u8]) -> Option<&'static TrainedNet> {
    net8().filter(|n| n.id == id)
}

/// Every state embedded in this build (those that load with this code).
pub fn all() -> Vec<&'static Trained> {
    [cm8(), cm16(), cm8n()].into_iter().flatten().collect()
}

/// The state the encoder uses for an image of `bits` bits stored, coded
/// with (`net`) or without the context network.
pub fn for_bits(bits: u8, net: bool) -> Option<&'static Trained> {
    match (bits <= 8, net) {
        (true, false) => cm8(),
        (true, true) => cm8n(),
        (false, _) => cm16(),
    }
}

/// The state with this id.
pub fn by_id(id: &[u8]) -> Option<&'static Trained> {
    all().into_iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_states_load_and_roundtrip() {
        // Every embedded file must load with this code (a shape change
        // without retraining is caught here).
        for (name, z) in [("cm8", CM8), ("cm16", CM16), ("cm8n", CM8N)] {
            if z.is_empty() {
                continue;
            }
            let t =
                unpack(name, z).unwrap_or_else(|| panic!("embedded state {name} no longer loads"));
            assert_eq!(id_of(&t.model.save()), t.id);
        }
        if !NET8.is_empty() {
            let n = load_net("ctx8", NET8).expect("embedded network ctx8 no longer loads");
            assert_eq!(n.net.net().to_bytes(), NET8);
        }
    }
}
