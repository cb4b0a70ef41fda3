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
use std::sync::{Arc, OnceLock};

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
/// For images of 9 to 16 bits stored, coded with the context network.
static CM16N: &[u8] = include_bytes!("../models/cm16n.state.z");
/// The same, for the networks that also see farther neighbours (40 inputs).
static CM8W: &[u8] = include_bytes!("../models/cm8w.state.z");
static CM16W: &[u8] = include_bytes!("../models/cm16w.state.z");
/// For small 8-bit images, with `ctx8s.net` (downscaled radiographs).
static CM8S: &[u8] = include_bytes!("../models/cm8s.state.z");
/// For larger 8-bit images at the default level, with `ctx8f.net`.
static CM8F: &[u8] = include_bytes!("../models/cm8f.state.z");
/// For images of 9 to 16 bits stored, with `ctx16m.net` (the encoder's
/// since 2026-12-04; `cm16w` before).
static CM16M: &[u8] = include_bytes!("../models/cm16m.state.z");
/// The context networks (`medzip-nn` network bytes) for images of at most
/// 8 and of 9 to 16 bits stored: the first ones (32 inputs; files made with
/// them keep decoding) and those the encoder uses (40 inputs), and the
/// 8-bit network for downscaled images that the encoder also tries on a
/// small image, the smaller 8-bit network of the default level's larger
/// images, and the 16-bit network trained also on mirrored images, which
/// the encoder uses since 2026-12-04 (`ctx16w` before).
static NETS: [(&str, &[u8]); 7] = [
    ("ctx8", include_bytes!("../models/ctx8.net")),
    ("ctx16", include_bytes!("../models/ctx16.net")),
    ("ctx8w", include_bytes!("../models/ctx8w.net")),
    ("ctx16w", include_bytes!("../models/ctx16w.net")),
    ("ctx8s", include_bytes!("../models/ctx8s.net")),
    ("ctx8f", include_bytes!("../models/ctx8f.net")),
    ("ctx16m", include_bytes!("../models/ctx16m.net")),
];

/// Id of serialized state bytes.
pub fn id_of(state: &[u8]) -> [u8; 8] {
    Sha256::digest(state)[..8].try_into().expect("8 bytes")
}

/// Compresses serialized state bytes for embedding.
pub fn pack(state: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(state, 9)
}

/// Inflates and parses a state; `id`: its recorded id (embedded states:
/// checked by a test, so the state need not be hashed at every start), or
/// `None` to compute it.
fn unpack(name: &'static str, z: &[u8], id: Option<[u8; 8]>) -> Option<Trained> {
    if z.is_empty() {
        return None;
    }
    // Inflated in one go into a buffer larger than any state of this code
    // (about 0.4 MB; its pages are touched only as far as written),
    // instead of a growing vector. Anything larger is not such a state.
    let mut bytes = vec![0u8; 8 << 20];
    let n = miniz_oxide::inflate::decompress_slice_iter_to_slice(
        &mut bytes,
        std::iter::once(z),
        false,
        true,
    )
    .ok()?;
    bytes.truncate(n);
    Some(Trained {
        name,
        id: id.unwrap_or_else(|| id_of(&bytes)),
        model: Model::load(&bytes)?,
    })
}

/// The embedded states: name, deflated bytes, and id — recorded here so
/// that a decoder inflates only the state its file names (inflating every
/// state would take most of the time of decoding a small image); a test checks
/// each id against the state's bytes.
const EMBEDDED: [(&str, &[u8], [u8; 8]); 9] = [
    ("cm8", CM8, hex8("1191ebd0f0ef9c33")),
    ("cm16", CM16, hex8("a370bdaddd4c92e4")),
    ("cm8n", CM8N, hex8("5412acd36922d820")),
    ("cm16n", CM16N, hex8("ecf555ba1d64bcde")),
    ("cm8w", CM8W, hex8("044877d1ba082cde")),
    ("cm16w", CM16W, hex8("a0ba6de85ee3136c")),
    ("cm8s", CM8S, hex8("de34ec362c1997f3")),
    ("cm8f", CM8F, hex8("b9032843cf3fea33")),
    ("cm16m", CM16M, hex8("e793746aad10d6e5")),
];

const fn hex8(s: &str) -> [u8; 8] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 8];
    let mut i = 0;
    while i < 8 {
        out[i] = digit(b[2 * i]) << 4 | digit(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Embedded state `i` of [`EMBEDDED`], inflated on first use only (a
/// process that codes 8-bit images never pays for the 16-bit state).
fn embedded(i: usize) -> Option<&'static Trained> {
    static S: [OnceLock<Option<Trained>>; EMBEDDED.len()] =
        [const { OnceLock::new() }; EMBEDDED.len()];
    let (name, z, id) = EMBEDDED[i];
    S[i].get_or_init(|| unpack(name, z, Some(id))).as_ref()
}

/// The embedded state named `name`.
fn state(name: &str) -> Option<&'static Trained> {
    embedded(EMBEDDED.iter().position(|e| e.0 == name)?)
}

fn cm8() -> Option<&'static Trained> {
    state("cm8")
}

fn cm16() -> Option<&'static Trained> {
    state("cm16")
}

fn cm8w() -> Option<&'static Trained> {
    state("cm8w")
}

fn cm16m() -> Option<&'static Trained> {
    state("cm16m")
}

fn cm8s() -> Option<&'static Trained> {
    state("cm8s")
}

fn cm8f() -> Option<&'static Trained> {
    state("cm8f")
}

/// A context network (embedded, or a site's).
pub struct TrainedNet {
    pub name: &'static str,
    pub id: [u8; 8],
    pub net: CtxNet,
}

/// Parses network bytes (`medzip-nn` format) as a context network.
pub fn load_net(name: &'static str, bytes: &[u8]) -> crate::Result<TrainedNet> {
    let net = medzip_nn::Net::from_bytes(bytes)
        .map_err(|e| crate::Error::InvalidModel(format!("context network: {e}")))?;
    Ok(TrainedNet {
        name,
        id: id_of(bytes),
        net: CtxNet::new(net)?,
    })
}

/// Embedded network `i` of [`NETS`], parsed on first use.
fn embedded_net(i: usize) -> Option<&'static TrainedNet> {
    static S: [OnceLock<Option<TrainedNet>>; NETS.len()] = [const { OnceLock::new() }; NETS.len()];
    let (name, bytes) = NETS[i];
    S[i].get_or_init(|| {
        (!bytes.is_empty())
            .then(|| load_net(name, bytes).ok())
            .flatten()
    })
    .as_ref()
}

/// The embedded network named `name`.
fn net(name: &str) -> Option<&'static TrainedNet> {
    embedded_net(NETS.iter().position(|e| e.0 == name)?)
}

/// The networks the encoder uses for ≤ 8 and 9–16 bits stored.
fn net8() -> Option<&'static TrainedNet> {
    net("ctx8w")
}

fn net16() -> Option<&'static TrainedNet> {
    net("ctx16m")
}

fn net8s() -> Option<&'static TrainedNet> {
    net("ctx8s")
}

fn net8f() -> Option<&'static TrainedNet> {
    net("ctx8f")
}

/// The embedded model sets a model id may name by one byte (entry kind
/// `E`, format version 15; written in the compact layout, where the
/// state's and network's entries, 20 bytes, would weigh on a small file):
/// set `k` (from 1) is entry `k − 1`, its state's id and its network's
/// (none: a coder without the network). Append only: a set's number is
/// part of the format.
const SETS: [([u8; 8], Option<[u8; 8]>); 6] = [
    (hex8("044877d1ba082cde"), Some(hex8("d463bc1d11f6288b"))), // 1: cm8w, ctx8w
    (hex8("a0ba6de85ee3136c"), Some(hex8("807021d21fe34cc6"))), // 2: cm16w, ctx16w
    (hex8("de34ec362c1997f3"), Some(hex8("6e2319a39de64b04"))), // 3: cm8s, ctx8s
    (hex8("1191ebd0f0ef9c33"), None),                           // 4: cm8
    (hex8("a370bdaddd4c92e4"), None),                           // 5: cm16
    (hex8("e793746aad10d6e5"), Some(hex8("3fc15cdf7ff95fb9"))), // 6: cm16m, ctx16m
];

/// The model-id entries `(kind, id)` that embedded set `k` stands for;
/// `None` for a set this build does not know.
pub fn embedded_set(k: u8) -> Option<Vec<(u8, &'static [u8])>> {
    let (state, net) = SETS.get((k as usize).checked_sub(1)?)?;
    let mut e = vec![(medzip_format::model::CONTEXT, &state[..])];
    e.extend(
        net.as_ref()
            .map(|n| (medzip_format::model::NETWORK, &n[..])),
    );
    Some(e)
}

/// A model id with the entries of an embedded set (a state and its
/// network, in the order the encoder writes them) as that set's one
/// entry; any other model id as it is.
pub fn as_embedded_set(model_id: Vec<u8>) -> Vec<u8> {
    let expanded = |k: u8| {
        let e = embedded_set(k).expect("a set of the table");
        e.iter()
            .flat_map(|&(tag, id)| medzip_format::model::entry(tag, id))
            .collect::<Vec<u8>>()
    };
    match (1..=SETS.len() as u8).find(|&k| expanded(k) == model_id) {
        Some(k) => medzip_format::model::entry(medzip_format::model::EMBEDDED_SET, &[k]),
        None => model_id,
    }
}

/// Images of at most this many pixels are also tried with the pair for
/// downscaled images (a 512 × 512 image; the paper's 256 × 256 ones).
pub const SMALL_PIXELS: u64 = 1 << 18;

/// The second network and state the encoder tries on an image of `bits`
/// bits stored and `pixels` pixels coded with the embedded 8-bit pair
/// (`net`, `state`): `ctx8s`/`cm8s`, trained on 256 × 256 chest X-rays
/// downscaled from full size, which code such images about 4 % smaller
/// and most native images larger (up to 12 %) than `ctx8w`/`cm8w`
/// (`models/README.md`); the encoder keeps the better pair. None for a
/// site's pair, a larger image, or more bits.
pub fn small_image_pair(
    net: &TrainedNet,
    state: &Trained,
    bits: u8,
    pixels: u64,
) -> Option<(&'static TrainedNet, &'static Trained)> {
    if bits > 8 || pixels > SMALL_PIXELS {
        return None;
    }
    let (n8, s8) = (net8()?, cm8w()?);
    if net.id != n8.id || state.id != s8.id {
        return None;
    }
    Some((net8s()?, cm8s()?))
}

/// The network and state the default level (tokens of the network's
/// distribution) codes an 8-bit image of more than [`SMALL_PIXELS`]
/// samples with, instead of the embedded 8-bit pair (`net`, `state`):
/// `ctx8f`/`cm8f`, a network of 40 → 32 → 2 (1,378 parameters against
/// 4,770), which decodes such images about 1.2 times as fast for files
/// about 1 % larger (`models/README.md`). None for a site's pair, a
/// smaller image, or more bits; the strongest level keeps `ctx8w`.
pub fn large_image_pair(
    net: &TrainedNet,
    state: &Trained,
    bits: u8,
    pixels: u64,
) -> Option<(&'static TrainedNet, &'static Trained)> {
    if bits > 8 || pixels <= SMALL_PIXELS {
        return None;
    }
    let (n8, s8) = (net8()?, cm8w()?);
    if net.id != n8.id || state.id != s8.id {
        return None;
    }
    Some((net8f()?, cm8f()?))
}

/// The context models a coder may use: the embedded networks and states
/// of this build and, optionally, a site's own network and state (from
/// `medzip train-net` and `medzip train-context`), given explicitly. The
/// encoder prefers a site's models for every image; the decoder finds
/// every model by the id its file names. Cheap to clone (the site's
/// models are shared), and nothing is global: two callers in one process
/// may use two sites' models at once.
#[derive(Clone, Default)]
pub struct Models {
    site_net: Option<Arc<TrainedNet>>,
    site_state: Option<Arc<Trained>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = |i: Option<[u8; 8]>| i.map(|i| medzip_format::hex(&i));
        f.debug_struct("Models")
            .field("site_net", &id(self.site_net.as_ref().map(|n| n.id)))
            .field("site_state", &id(self.site_state.as_ref().map(|t| t.id)))
            .finish()
    }
}

impl Models {
    /// The embedded models only (the same as `Models::default()`).
    pub fn embedded() -> Models {
        Models::default()
    }

    /// These models with a site's context network (network bytes, as
    /// `medzip train-net` writes them).
    pub fn with_site_net(mut self, bytes: &[u8]) -> crate::Result<Models> {
        self.site_net = Some(Arc::new(load_net("site", bytes)?));
        Ok(self)
    }

    /// These models with a site's context-model state (the deflated file
    /// `medzip train-context` writes).
    pub fn with_site_state(mut self, z: &[u8]) -> crate::Result<Models> {
        let t = unpack("site", z, None).ok_or_else(|| {
            crate::Error::InvalidModel("not a context-model state of this version".into())
        })?;
        self.site_state = Some(Arc::new(t));
        Ok(self)
    }

    /// The site's network, if one was given.
    pub fn site_net(&self) -> Option<&TrainedNet> {
        self.site_net.as_deref()
    }

    /// The site's state, if one was given.
    pub fn site_state(&self) -> Option<&Trained> {
        self.site_state.as_deref()
    }

    /// Every network these models hold: a site's, then the embedded ones.
    pub fn nets(&self) -> Vec<&TrainedNet> {
        let embedded = (0..NETS.len()).map(|i| -> Option<&TrainedNet> { embedded_net(i) });
        std::iter::once(self.site_net())
            .chain(embedded)
            .flatten()
            .collect()
    }

    /// The network an encoder uses for `bits` bits stored: a site's, else
    /// the embedded one for the depth.
    pub fn net_for_bits(&self, bits: u8) -> Option<&TrainedNet> {
        self.site_net().or(if bits <= 8 { net8() } else { net16() })
    }

    /// The network with this id.
    pub fn net_by_id(&self, id: &[u8]) -> Option<&TrainedNet> {
        self.nets().into_iter().find(|n| n.id == id)
    }

    /// Every state these models hold: a site's, then the embedded ones
    /// (those that load with this code).
    pub fn states(&self) -> Vec<&Trained> {
        let embedded = (0..EMBEDDED.len()).map(|i| -> Option<&Trained> { embedded(i) });
        std::iter::once(self.site_state())
            .chain(embedded)
            .flatten()
            .collect()
    }

    /// The state the encoder uses for an image of `bits` bits stored, coded
    /// with (`net`) or without the context network: a site's (when it is
    /// for that coder), else the embedded one — none for a site's network
    /// given without its state.
    pub fn for_bits(&self, bits: u8, net: bool) -> Option<&Trained> {
        if let Some(t) = self.site_state().filter(|t| t.model.uses_net() == net) {
            return Some(t);
        }
        if net && self.site_net.is_some() {
            // The embedded states were trained with the embedded networks.
            return None;
        }
        match (bits <= 8, net) {
            (true, false) => cm8(),
            (true, true) => cm8w(),
            (false, false) => cm16(),
            (false, true) => cm16m(),
        }
    }

    /// The name of the state with this id ("site", or an embedded one's),
    /// without loading it.
    pub fn state_name(&self, id: &[u8]) -> Option<&'static str> {
        if self.site_state().is_some_and(|t| t.id == id) {
            return Some("site");
        }
        EMBEDDED.iter().find(|e| e.2 == id).map(|e| e.0)
    }

    /// The state with this id: a site's, or the embedded one of that id.
    pub fn state_by_id(&self, id: &[u8]) -> Option<&Trained> {
        if let Some(t) = self.site_state().filter(|t| t.id == id) {
            return Some(t);
        }
        let i = EMBEDDED.iter().position(|e| e.2 == id)?;
        embedded(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_states_load_and_roundtrip() {
        // Every embedded file must load with this code (a shape change
        // without retraining is caught here).
        for (name, z, id) in EMBEDDED {
            if z.is_empty() {
                continue;
            }
            let t = unpack(name, z, None)
                .unwrap_or_else(|| panic!("embedded state {name} no longer loads"));
            assert_eq!(id_of(&t.model.save()), t.id);
            assert_eq!(t.id, id, "{name}: the recorded id is stale");
        }
        for (name, b) in NETS {
            if !b.is_empty() {
                let n = load_net(name, b)
                    .unwrap_or_else(|e| panic!("embedded network {name} no longer loads: {e}"));
                assert_eq!(n.net.net().to_bytes(), b);
            }
        }
        // The encoder pairs each depth's network with the state trained
        // with it: the 40-input networks and their states.
        let m = Models::embedded();
        for (bits, net, state) in [(8, "ctx8w", "cm8w"), (16, "ctx16m", "cm16m")] {
            let n = m.net_for_bits(bits).expect("embedded network");
            assert_eq!((n.name, n.net.net().input.len()), (net, crate::cm::NF));
            assert_eq!(m.for_bits(bits, true).expect("embedded state").name, state);
        }
        // Small 8-bit images coded with the embedded pair are also tried
        // with the pair for downscaled images; nothing else is.
        let (n8, s8) = (m.net_for_bits(8).unwrap(), m.for_bits(8, true).unwrap());
        let (n16, s16) = (m.net_for_bits(16).unwrap(), m.for_bits(16, true).unwrap());
        let (n, s) = small_image_pair(n8, s8, 8, SMALL_PIXELS).expect("small 8-bit image");
        assert_eq!((n.name, s.name), ("ctx8s", "cm8s"));
        assert_eq!(n.net.net().input.len(), crate::cm::NF);
        assert!(s.model.uses_net());
        assert!(small_image_pair(n8, s8, 8, SMALL_PIXELS + 1).is_none());
        assert!(small_image_pair(n16, s16, 16, 100).is_none());
        assert!(small_image_pair(n8, s16, 8, 100).is_none());
        assert!(small_image_pair(n16, s8, 8, 100).is_none());
        // Larger 8-bit images take the smaller network at the default
        // level; nothing else does.
        let (n, s) = large_image_pair(n8, s8, 8, SMALL_PIXELS + 1).expect("large 8-bit image");
        assert_eq!((n.name, s.name), ("ctx8f", "cm8f"));
        assert_eq!(n.net.net().input.len(), crate::cm::NF);
        assert!(s.model.uses_net());
        assert!(large_image_pair(n8, s8, 8, SMALL_PIXELS).is_none());
        assert!(large_image_pair(n16, s16, 16, 1 << 24).is_none());
        assert!(large_image_pair(n8, s16, 8, 1 << 24).is_none());
        // Each embedded set names embedded models of this build, a state
        // with the network it was trained with; the model ids the encoder
        // writes for them become the set's one entry.
        for k in 1..=SETS.len() as u8 {
            let e = embedded_set(k).unwrap();
            let t = m.state_by_id(e[0].1).expect("an embedded state");
            assert_eq!(t.model.uses_net(), e.len() == 2, "set {k}");
            let mut long = medzip_format::model::entry(e[0].0, e[0].1);
            if let Some(&(tag, id)) = e.get(1) {
                assert!(m.net_by_id(id).is_some(), "set {k}: no such network");
                long.extend(medzip_format::model::entry(tag, id));
            }
            assert_eq!(as_embedded_set(long), vec![b'E', 1, k]);
        }
        assert!(embedded_set(0).is_none() && embedded_set(SETS.len() as u8 + 1).is_none());
        for (bits, pair) in [(8, (s8, n8)), (16, (s16, n16))] {
            let mut long = medzip_format::model::entry(b'C', &pair.0.id);
            long.extend(medzip_format::model::entry(b'N', &pair.1.id));
            assert_eq!(as_embedded_set(long).len(), 3, "{bits} bits");
        }
        let site = medzip_format::model::entry(b'C', &[1; 8]);
        assert_eq!(as_embedded_set(site.clone()), site);
        // Each state has the shape its coder needs.
        for bits in [8, 16] {
            for net in [false, true] {
                if let Some(t) = m.for_bits(bits, net) {
                    assert_eq!(t.model.uses_net(), net, "{}", t.name);
                }
            }
        }
    }
}
