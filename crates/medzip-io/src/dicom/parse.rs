//! A lenient reader of a DICOM file's structure, as DCMTK, GDCM and pydicom
//! (`force=True`) read files that archives actually hold.
//!
//! It only *locates* things: where the data set starts, which transfer
//! syntax it is in, the few attributes that describe the pixels, and where
//! the Pixel Data value lies. Nothing is rewritten, so whatever was odd
//! (an over-long meta element, a wrong or missing group length, no preamble,
//! no meta group, a TIFF header in the preamble) stays in the bytes that
//! come back; what was odd is listed in [`Parsed::notes`] for `medzip info`.
//!
//! Accepted: a 128-byte preamble with anything in it followed by `DICM`;
//! `DICM` without a preamble; a bare meta group; no meta group at all (the
//! data set's encoding is then guessed from its first element: implicit VR
//! little endian, the standard's default, unless the bytes say otherwise);
//! implicit and explicit VR little endian, explicit VR big endian, deflated
//! explicit VR little endian (located after inflating), and every
//! encapsulated syntax (the Pixel Data element then has an undefined length).

/// Transfer syntaxes this module names.
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
pub const DEFLATED_LE: &str = "1.2.840.10008.1.2.1.99";

/// Nesting deeper than this (sequences in items in sequences …) is refused:
/// real files nest a few levels, a hostile one could nest until the stack
/// runs out.
const MAX_DEPTH: usize = 32;

/// How a data set is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syntax {
    pub explicit: bool,
    pub big_endian: bool,
}

impl Syntax {
    const IMPLICIT_LE: Syntax = Syntax {
        explicit: false,
        big_endian: false,
    };
    const EXPLICIT_LE: Syntax = Syntax {
        explicit: true,
        big_endian: false,
    };
    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
    fn name(self) -> &'static str {
        match (self.explicit, self.big_endian) {
            (false, false) => "implicit VR little endian",
            (true, false) => "explicit VR little endian",
            (true, true) => "explicit VR big endian",
            (false, true) => "implicit VR big endian",
        }
    }
}

/// The syntax a transfer syntax UID implies for the data set (explicit VR
/// little endian for the deflated syntax, after inflating, and for the
/// encapsulated ones).
pub fn syntax_of(ts: &str) -> Syntax {
    match ts {
        IMPLICIT_LE => Syntax::IMPLICIT_LE,
        EXPLICIT_BE => Syntax {
            explicit: true,
            big_endian: true,
        },
        _ => Syntax::EXPLICIT_LE,
    }
}

/// The Pixel Data element (7FE0,0010) of the top-level data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelData {
    /// Offset of the value's first byte (in the data set's buffer).
    pub offset: usize,
    /// Value length; `None` when undefined (encapsulated fragments).
    pub len: Option<usize>,
    /// The VR written in the file (explicit VR), e.g. `*b"OW"`.
    pub vr: Option<[u8; 2]>,
}

/// What the pixels' description says (top-level attributes only: an icon
/// image in a sequence has its own, which are not these).
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    pub samples_per_pixel: Option<u16>,
    pub photometric: Option<String>,
    pub planar_configuration: Option<u16>,
    pub frames: Option<String>,
    pub rows: Option<u16>,
    pub columns: Option<u16>,
    pub bits_allocated: Option<u16>,
    pub bits_stored: Option<u16>,
    pub high_bit: Option<u16>,
    pub pixel_representation: Option<u16>,
}

/// A file's structure, as located by [`parse`].
#[derive(Clone, Debug)]
pub struct Parsed {
    /// Where the data set starts (after the meta group, if any).
    pub dataset_start: usize,
    /// The transfer syntax (from the meta group, or guessed: see `notes`).
    pub ts: String,
    /// The data set's encoding (after inflating, for the deflated syntax).
    pub syntax: Syntax,
    pub attrs: Attrs,
    pub pixel: Option<PixelData>,
    /// What was unusual, in words (reported by `medzip info`).
    pub notes: Vec<String>,
}

impl Parsed {
    pub fn deflated(&self) -> bool {
        self.ts == DEFLATED_LE
    }
}

/// Why a file could not be located as DICOM.
#[derive(Debug)]
pub struct ParseError(pub String);

type Res<T> = Result<T, ParseError>;

fn err<T>(msg: impl Into<String>) -> Res<T> {
    Err(ParseError(msg.into()))
}

/// VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
fn long_vr(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// Every VR of the standard (PS3.5 6.2).
fn known_vr(vr: [u8; 2]) -> bool {
    long_vr(vr)
        || matches!(
            &vr,
            b"AE"
                | b"AS"
                | b"AT"
                | b"CS"
                | b"DA"
                | b"DS"
                | b"DT"
                | b"FL"
                | b"FD"
                | b"IS"
                | b"LO"
                | b"LT"
                | b"PN"
                | b"SH"
                | b"SL"
                | b"SS"
                | b"ST"
                | b"TM"
                | b"UI"
                | b"UL"
                | b"US"
        )
}

/// Longest value the standard allows for a VR, where it sets one that a
/// writer can get wrong (for the notes; the value is kept as it is).
fn max_len(vr: [u8; 2]) -> Option<usize> {
    match &vr {
        b"AE" | b"CS" | b"SH" => Some(16),
        b"UI" | b"LO" | b"PN" => Some(64),
        _ => None,
    }
}

/// One element header.
#[derive(Clone, Copy, Debug)]
struct Header {
    group: u16,
    elem: u16,
    vr: Option<[u8; 2]>,
    /// `None`: undefined length.
    len: Option<usize>,
    /// Offset of the value.
    value: usize,
}

fn header(b: &[u8], p: usize, syn: Syntax) -> Res<Header> {
    let Some(h) = b.get(p..p + 8) else {
        return err(format!("element header at offset {p} runs past the end"));
    };
    let group = syn.u16(&h[0..2]);
    let elem = syn.u16(&h[2..4]);
    let vr = [h[4], h[5]];
    let (vr, len, value) = if group == 0xFFFE {
        // Items and delimiters: never a VR.
        (None, syn.u32(&h[4..8]), p + 8)
    } else if syn.explicit && known_vr(vr) {
        if long_vr(vr) {
            let Some(l) = b.get(p + 8..p + 12) else {
                return err(format!(
                    "element ({group:04X},{elem:04X}) at offset {p} is cut off"
                ));
            };
            (Some(vr), syn.u32(l), p + 12)
        } else {
            (Some(vr), syn.u16(&h[6..8]) as u32, p + 8)
        }
    } else if syn.explicit {
        return err(format!(
            "element ({group:04X},{elem:04X}) at offset {p} has no valid VR ({:?})",
            String::from_utf8_lossy(&vr)
        ));
    } else {
        (None, syn.u32(&h[4..8]), p + 8)
    };
    let len = (len != u32::MAX).then_some(len as usize);
    if let Some(l) = len {
        // (`value ≤ b.len()`: the header was read from `b`.)
        if l > b.len() - value {
            return err(format!(
                "element ({group:04X},{elem:04X}) at offset {p} declares {l} bytes, but the file ends {} bytes after its header (truncated file?)",
                b.len() - value
            ));
        }
    }
    Ok(Header {
        group,
        elem,
        vr,
        len,
        value,
    })
}

/// Skips the items of a sequence (or the fragments of encapsulated pixel
/// data) of undefined length starting at `p`; returns the offset after its
/// delimiter.
fn skip_undefined(b: &[u8], mut p: usize, syn: Syntax, depth: usize) -> Res<usize> {
    if depth > MAX_DEPTH {
        return err(format!("sequences nested deeper than {MAX_DEPTH} levels"));
    }
    loop {
        let h = header(b, p, syn)?;
        match (h.group, h.elem) {
            (0xFFFE, 0xE0DD) => return Ok(h.value),
            (0xFFFE, 0xE000) => match h.len {
                Some(l) => p = h.value + l,
                None => p = walk_item(b, h.value, syn, depth + 1)?,
            },
            (g, e) => {
                return err(format!(
                    "({g:04X},{e:04X}) at offset {p} inside a sequence where an item was expected"
                ))
            }
        }
    }
}

/// Walks the elements of an item of undefined length; returns the offset
/// after its delimiter.
fn walk_item(b: &[u8], mut p: usize, syn: Syntax, depth: usize) -> Res<usize> {
    loop {
        let h = header(b, p, syn)?;
        if (h.group, h.elem) == (0xFFFE, 0xE00D) {
            return Ok(h.value);
        }
        p = after(b, &h, syn, depth)?;
    }
}

/// The offset after an element's value.
fn after(b: &[u8], h: &Header, syn: Syntax, depth: usize) -> Res<usize> {
    match h.len {
        Some(l) => Ok(h.value + l),
        // An undefined length is a sequence, or UN holding one (whose
        // content is implicit VR little endian, PS3.5 6.2.2).
        None if h.vr == Some(*b"UN") => skip_undefined(b, h.value, Syntax::IMPLICIT_LE, depth + 1),
        None => skip_undefined(b, h.value, syn, depth + 1),
    }
}

/// Guesses a data set's encoding from its first element (as pydicom and
/// DCMTK do for files that do not say).
fn guess_syntax(b: &[u8], p: usize) -> Syntax {
    let Some(h) = b.get(p..p + 6) else {
        return Syntax::IMPLICIT_LE;
    };
    // Groups of a data set's first elements are small: 0x0002, 0x0008, …
    let big_endian = h[0] == 0 && h[1] != 0;
    let explicit = known_vr([h[4], h[5]]);
    Syntax {
        explicit,
        big_endian: big_endian && explicit,
    }
}

/// Whether `b` plausibly starts with a data set or a meta group that has
/// neither preamble nor `DICM` (for detection): its first few elements
/// parse, in ascending order, starting with a low group.
pub fn looks_like_dataset(b: &[u8]) -> bool {
    let syn = guess_syntax(b, 0);
    let mut p = 0;
    let mut last = None;
    for i in 0..4 {
        let Ok(h) = header(b, p, syn) else {
            return false;
        };
        let tag = (h.group as u32) << 16 | h.elem as u32;
        if i == 0 && !(h.group == 0x0002 || h.group == 0x0008) {
            return false;
        }
        if h.group % 2 == 1 && h.group <= 0x0008 || last.is_some_and(|l| tag <= l) {
            return false;
        }
        last = Some(tag);
        match after(b, &h, syn, 0) {
            Ok(q) if q >= b.len() => return i > 0,
            Ok(q) => p = q,
            Err(_) => return false,
        }
    }
    true
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v)
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string()
}

/// Reads the meta group (group 0002, always explicit VR little endian) at
/// `p` without trusting its group length; returns (end, transfer syntax).
fn meta_group(b: &[u8], mut p: usize, notes: &mut Vec<String>) -> Res<(usize, Option<String>)> {
    let start = p;
    let mut syn = Syntax::EXPLICIT_LE;
    if !known_vr([
        b.get(p + 4).copied().unwrap_or(0),
        b.get(p + 5).copied().unwrap_or(0),
    ]) {
        syn = Syntax::IMPLICIT_LE;
        notes.push("file meta group in implicit VR (the standard says explicit)".into());
    }
    let mut declared = None;
    let mut ts = None;
    while let Some(g) = b.get(p..p + 2) {
        if u16::from_le_bytes([g[0], g[1]]) != 0x0002 {
            break;
        }
        let h = header(b, p, syn).map_err(|e| ParseError(format!("file meta group: {}", e.0)))?;
        let Some(l) = h.len else {
            return err(format!(
                "file meta group: (0002,{:04X}) has an undefined length",
                h.elem
            ));
        };
        let v = &b[h.value..h.value + l];
        match h.elem {
            0x0000 if l == 4 => {
                declared = Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize)
            }
            0x0010 => ts = Some(text(v)),
            _ => {}
        }
        if let Some((vr, most)) = h.vr.and_then(|vr| Some((vr, max_len(vr)?))) {
            if l > most {
                let vr = String::from_utf8_lossy(&vr);
                notes.push(format!(
                    "file meta element (0002,{:04X}) {vr} is {l} bytes long ({vr} allows {most})",
                    h.elem
                ));
            }
        }
        p = h.value + l;
    }
    match declared {
        None => notes.push("file meta group without a group length".into()),
        Some(d) => {
            // The group length counts from after its own element (12 bytes).
            let actual = (p - start).saturating_sub(12);
            if d != actual {
                notes.push(format!(
                    "file meta group length says {d} bytes, the group holds {actual}"
                ));
            }
        }
    }
    Ok((p, ts))
}

/// Locates the structure of a DICOM file. `inflated` receives the data
/// set's bytes when they differ from the file's (deflated syntax); the
/// offsets of [`Parsed::pixel`] then refer to it.
pub fn parse(b: &[u8], inflated: &mut Vec<u8>) -> Res<Parsed> {
    parse_with(b, inflated, false)
}

/// [`parse`] of a stored header: the bytes before the Pixel Data value
/// (the walk stops at the Pixel Data element; what follows it is absent).
pub fn parse_header(b: &[u8]) -> Res<Parsed> {
    parse_with(b, &mut Vec::new(), true)
}

/// `DICM` after a 128-byte preamble.
pub fn has_preamble_magic(b: &[u8]) -> bool {
    b.get(128..132) == Some(b"DICM")
}

fn parse_with(b: &[u8], inflated: &mut Vec<u8>, header_only: bool) -> Res<Parsed> {
    let mut notes = Vec::new();
    let meta_at = if has_preamble_magic(b) {
        if b[..4] == *b"II*\0" || b[..4] == *b"MM\0*" {
            notes.push("the preamble holds a TIFF header (dual-personality file)".into());
        }
        Some(132)
    } else if b.starts_with(b"DICM") {
        notes.push("no 128-byte preamble".into());
        Some(4)
    } else if b.len() >= 2 && b[0] == 2 && b[1] == 0 {
        notes.push("no preamble and no 'DICM' prefix".into());
        Some(0)
    } else {
        None
    };
    let (dataset_start, ts) = match meta_at {
        Some(p) => {
            let (end, ts) = meta_group(b, p, &mut notes)?;
            if end == p {
                notes.push("no file meta group".into());
            }
            (end, ts)
        }
        None => {
            notes.push("no preamble and no file meta group".into());
            (0, None)
        }
    };
    let (ts, syntax) = match ts.filter(|t| !t.is_empty()) {
        Some(ts) => {
            let mut syn = syntax_of(&ts);
            if ts != DEFLATED_LE {
                // A file that says explicit but is implicit (or the reverse)
                // is read as it is written, as pydicom does.
                let seen = guess_syntax(b, dataset_start);
                if dataset_start < b.len() && seen.explicit != syn.explicit {
                    notes.push(format!(
                        "transfer syntax {ts} says {}, the data set is {}",
                        syn.name(),
                        seen.name()
                    ));
                    syn = seen;
                }
            }
            (ts, syn)
        }
        None => {
            let syn = guess_syntax(b, dataset_start);
            let ts = match (syn.explicit, syn.big_endian) {
                (false, _) => IMPLICIT_LE,
                (true, false) => EXPLICIT_LE,
                (true, true) => EXPLICIT_BE,
            };
            if meta_at.is_some() {
                notes.push(format!(
                    "no transfer syntax in the meta group: read as {}",
                    syn.name()
                ));
            } else {
                notes.push(format!("data set read as {}", syn.name()));
            }
            (ts.to_string(), syn)
        }
    };
    let mut parsed = Parsed {
        dataset_start,
        ts,
        syntax,
        attrs: Attrs::default(),
        pixel: None,
        notes,
    };
    if parsed.deflated() {
        // (A stored header holds the meta group only: nothing to inflate.)
        if !header_only && dataset_start < b.len() {
            *inflated = inflate(&b[dataset_start..])?;
            walk_top(inflated, 0, &mut parsed, false)?;
        }
    } else {
        walk_top(b, dataset_start, &mut parsed, header_only)?;
    }
    Ok(parsed)
}

/// Inflates a deflated data set (raw deflate, PS3.5 A.5), within a bound.
fn inflate(b: &[u8]) -> Res<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(b)
        .take(crate::dicom::MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ParseError(format!("deflated data set: {e}")))?;
    if out.len() > crate::dicom::MAX_SOURCE_BYTES {
        return err("deflated data set inflates beyond 256 MiB");
    }
    Ok(out)
}

/// Walks the top-level data set, recording the pixel description and the
/// Pixel Data element. Bytes after a complete Pixel Data value that do not
/// parse are noted and kept (they come back as they were). `header_only`:
/// stop at the Pixel Data element (its value is not in `b`).
fn walk_top(b: &[u8], mut p: usize, parsed: &mut Parsed, header_only: bool) -> Res<()> {
    let syn = parsed.syntax;
    let a = &mut parsed.attrs;
    while p < b.len() {
        if header_only
            && b.len() - p >= 4
            && (syn.u16(&b[p..]), syn.u16(&b[p + 2..])) == (0x7FE0, 0x0010)
        {
            return Ok(());
        }
        let h = match header(b, p, syn) {
            Ok(h) => h,
            Err(e) if parsed.pixel.is_some() => {
                parsed.notes.push(format!(
                    "{} bytes after the pixel data do not parse ({})",
                    b.len() - p,
                    e.0
                ));
                return Ok(());
            }
            Err(_) if b.len() - p < 8 && b[p..].iter().all(|&x| x == 0) => {
                parsed
                    .notes
                    .push(format!("{} zero bytes at the end", b.len() - p));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let value = h.len.map(|l| &b[h.value..h.value + l]);
        let us = |v: Option<&[u8]>| v.filter(|v| v.len() >= 2).map(|v| syn.u16(v));
        let st = |v: Option<&[u8]>| v.map(text);
        match (h.group, h.elem) {
            (0x0028, 0x0002) => a.samples_per_pixel = us(value),
            (0x0028, 0x0004) => a.photometric = st(value),
            (0x0028, 0x0006) => a.planar_configuration = us(value),
            (0x0028, 0x0008) => a.frames = st(value),
            (0x0028, 0x0010) => a.rows = us(value),
            (0x0028, 0x0011) => a.columns = us(value),
            (0x0028, 0x0100) => a.bits_allocated = us(value),
            (0x0028, 0x0101) => a.bits_stored = us(value),
            (0x0028, 0x0102) => a.high_bit = us(value),
            (0x0028, 0x0103) => a.pixel_representation = us(value),
            (0x7FE0, 0x0010) => {
                if parsed.pixel.is_some() {
                    return err("two Pixel Data elements");
                }
                parsed.pixel = Some(PixelData {
                    offset: h.value,
                    len: h.len,
                    vr: h.vr,
                })
            }
            (0xFFFE, _) => {
                return err(format!(
                    "item or delimiter (FFFE,{:04X}) at offset {p} outside a sequence",
                    h.elem
                ))
            }
            _ => {}
        }
        p = after(b, &h, syn, 0)?;
    }
    Ok(())
}

/// What the `dicom_parse` fuzz target and its regression replay run (not
/// part of the API): `data` as a whole file and behind a preamble and
/// `DICM` (so that the fuzzer reaches the data set walker at once). Ok or
/// an error, never a panic; what it locates lies inside its buffer.
#[doc(hidden)]
pub fn fuzz_check(data: &[u8]) {
    let _ = looks_like_dataset(data);
    let mut with_magic = vec![0u8; 128];
    with_magic.extend_from_slice(b"DICM");
    with_magic.extend_from_slice(data);
    for file in [data, &with_magic[..]] {
        let mut inflated = Vec::new();
        if let Ok(p) = parse(file, &mut inflated) {
            let ds = if p.deflated() { &inflated[..] } else { file };
            assert!(p.dataset_start <= file.len());
            if let Some(px) = p.pixel {
                assert!(px.offset <= ds.len());
                assert!(px.len.is_none_or(|l| px.offset + l <= ds.len()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An explicit VR little endian element.
    fn el(g: u16, e: u16, vr: &[u8; 2], v: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(&g.to_le_bytes());
        o.extend_from_slice(&e.to_le_bytes());
        o.extend_from_slice(vr);
        if long_vr(*vr) {
            o.extend_from_slice(&[0, 0]);
            o.extend_from_slice(&(v.len() as u32).to_le_bytes());
        } else {
            o.extend_from_slice(&(v.len() as u16).to_le_bytes());
        }
        o.extend_from_slice(v);
        o
    }

    #[test]
    fn nested_undefined_sequences_and_encapsulated_pixels() {
        let mut ds = el(0x0008, 0x0060, b"CS", b"MR");
        // (0008,1140) SQ of undefined length with one undefined-length item.
        ds.extend_from_slice(&[
            0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        ds.extend(el(0x0028, 0x0010, b"US", &7u16.to_le_bytes())); // inside the item: not ours
        ds.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        ds.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        ds.extend(el(0x0028, 0x0010, b"US", &3u16.to_le_bytes()));
        ds.extend_from_slice(&[
            0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 2, 0, 0, 0, 9, 9]);
        ds.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let mut file = vec![0u8; 128];
        file.extend_from_slice(b"DICM");
        file.extend(el(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.5\0"));
        let start = file.len();
        file.extend(ds);
        let p = parse(&file, &mut Vec::new()).unwrap();
        assert_eq!(p.dataset_start, start);
        assert_eq!(p.attrs.rows, Some(3));
        assert_eq!(p.pixel.unwrap().len, None);
        assert!(
            p.notes.iter().any(|n| n.contains("group length")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn hostile_nesting_is_refused_not_overflowed() {
        let mut ds = Vec::new();
        for _ in 0..10_000 {
            ds.extend_from_slice(&[
                0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let mut file = b"DICM".to_vec();
        file.extend(el(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
        file.extend(ds);
        let e = parse(&file, &mut Vec::new()).unwrap_err();
        assert!(e.0.contains("nested"), "{}", e.0);
    }

    #[test]
    fn no_meta_group_implicit_and_big_endian_guessed() {
        // Implicit VR little endian, no preamble: (0008,0060) then (0028,0010).
        let mut b = Vec::new();
        for (g, e, v) in [
            (0x0008u16, 0x0060u16, b"CT".to_vec()),
            (0x0028, 0x0010, 5u16.to_le_bytes().to_vec()),
        ] {
            b.extend_from_slice(&g.to_le_bytes());
            b.extend_from_slice(&e.to_le_bytes());
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            b.extend_from_slice(&v);
        }
        assert!(looks_like_dataset(&b));
        let p = parse(&b, &mut Vec::new()).unwrap();
        assert_eq!(p.ts, IMPLICIT_LE);
        assert_eq!(p.attrs.rows, Some(5));
        // Explicit VR big endian, no preamble.
        let mut b = vec![0x00, 0x08, 0x00, 0x60, b'C', b'S', 0, 2, b'C', b'T'];
        b.extend_from_slice(&[0x00, 0x28, 0x00, 0x10, b'U', b'S', 0, 2, 0, 6]);
        assert!(looks_like_dataset(&b));
        let p = parse(&b, &mut Vec::new()).unwrap();
        assert_eq!(p.ts, EXPLICIT_BE);
        assert_eq!(p.attrs.rows, Some(6));
        // Text is not a data set.
        assert!(!looks_like_dataset(b"hello, this is not DICOM at all"));
    }
}
