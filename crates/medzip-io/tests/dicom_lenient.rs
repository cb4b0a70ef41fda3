//! The DICOM reader on the encodings and oddities archives hold: every
//! transfer syntax with native pixel data (implicit and explicit VR little
//! endian, explicit VR big endian, deflated), with and without preamble,
//! `DICM` and meta group, on 8-bit and 16-bit (signed and unsigned) images
//! of odd sizes, grey and colour (RGB interleaved and planar, YBR_FULL,
//! YBR_FULL_422, PALETTE COLOR), of one frame or several. Each file must
//! read, and write back byte for byte.

use medzip_io::{detect, read, write};

#[derive(Clone, Copy)]
struct Enc {
    explicit: bool,
    big: bool,
}

const IMPLICIT: Enc = Enc {
    explicit: false,
    big: false,
};
const EXPLICIT: Enc = Enc {
    explicit: true,
    big: false,
};
const BIG: Enc = Enc {
    explicit: true,
    big: true,
};

fn u16b(v: u16, big: bool) -> [u8; 2] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

fn u32b(v: u32, big: bool) -> [u8; 4] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

/// One element; `value` already in the encoding's byte order.
fn el(e: Enc, g: u16, n: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    o.extend(u16b(g, e.big));
    o.extend(u16b(n, e.big));
    if e.explicit {
        o.extend(vr);
        if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
            o.extend([0, 0]);
            o.extend(u32b(value.len() as u32, e.big));
        } else {
            o.extend(u16b(value.len() as u16, e.big));
        }
    } else {
        o.extend(u32b(value.len() as u32, e.big));
    }
    o.extend(value);
    o
}

fn us(e: Enc, n: u16, v: u16) -> Vec<u8> {
    el(e, 0x0028, n, b"US", &u16b(v, e.big))
}

/// The meta group (always explicit VR little endian), with its group length.
fn meta(ts: &str) -> Vec<u8> {
    let mut uid = ts.as_bytes().to_vec();
    if uid.len() % 2 == 1 {
        uid.push(0);
    }
    let mut body = el(EXPLICIT, 2, 0x0001, b"OB", &[0, 1]);
    body.extend(el(EXPLICIT, 2, 0x0010, b"UI", &uid));
    body.extend(el(EXPLICIT, 2, 0x0013, b"SH", b"TEST_1.0"));
    let mut o = el(
        EXPLICIT,
        2,
        0x0000,
        b"UL",
        &(body.len() as u32).to_le_bytes(),
    );
    o.extend(body);
    o
}

/// What the pixels are: photometric interpretation (padded to even
/// length), samples per pixel, planar configuration, number of frames.
#[derive(Clone, Copy)]
struct Kind {
    pi: &'static str,
    spp: u16,
    planar: Option<u16>,
    frames: Option<&'static str>,
}

const GREY: Kind = Kind {
    pi: "MONOCHROME2 ",
    spp: 1,
    planar: None,
    frames: None,
};

impl Kind {
    fn frames(&self) -> usize {
        self.frames.map_or(1, |f| f.trim().parse().unwrap())
    }
    /// Words of pixel data per pixel.
    fn words(&self) -> usize {
        match self.pi {
            "YBR_FULL_422" => 2,
            _ => self.spp as usize,
        }
    }
}

/// The image pixel attributes (group 0028) of a `w`×`h` image of `bits`
/// stored bits in `ba` allocated.
fn image_attrs(e: Enc, (w, h): (u16, u16), (ba, bits, signed): (u16, u16, bool)) -> Vec<u8> {
    image_attrs_of(e, GREY, (w, h), (ba, bits, signed))
}

fn image_attrs_of(
    e: Enc,
    k: Kind,
    (w, h): (u16, u16),
    (ba, bits, signed): (u16, u16, bool),
) -> Vec<u8> {
    let mut o = us(e, 0x0002, k.spp);
    o.extend(el(e, 0x0028, 0x0004, b"CS", k.pi.as_bytes()));
    if let Some(p) = k.planar {
        o.extend(us(e, 0x0006, p));
    }
    if let Some(f) = k.frames {
        o.extend(el(e, 0x0028, 0x0008, b"IS", f.as_bytes()));
    }
    o.extend(us(e, 0x0010, h));
    o.extend(us(e, 0x0011, w));
    o.extend(us(e, 0x0100, ba));
    o.extend(us(e, 0x0101, bits));
    o.extend(us(e, 0x0102, bits - 1));
    o.extend(us(e, 0x0103, signed as u16));
    o
}

/// Sample `i` of the test images (unsigned, `bits` bits).
fn sample(i: usize, bits: u16) -> u32 {
    (i * 7919 + i * i * 31) as u32 & ((1 << bits) - 1)
}

/// A data set holding a `w`×`h` image of `bits` stored bits (`ba` allocated),
/// with a private tag and a nested sequence of undefined length before the
/// pixels, and trailing padding after them.
fn dataset(e: Enc, w: u16, h: u16, ba: u16, bits: u16, signed: bool) -> Vec<u8> {
    dataset_of(e, GREY, w, h, ba, bits, signed)
}

fn dataset_of(e: Enc, k: Kind, w: u16, h: u16, ba: u16, bits: u16, signed: bool) -> Vec<u8> {
    let mut o = el(e, 0x0008, 0x0060, b"CS", b"MR");
    // (0008,1140) SQ, undefined length, one item of undefined length.
    let mut sq = Vec::new();
    sq.extend(u16b(0x0008, e.big));
    sq.extend(u16b(0x1140, e.big));
    if e.explicit {
        sq.extend(b"SQ\0\0");
    }
    sq.extend([0xFF; 4]);
    // An item of undefined length.
    sq.extend(u16b(0xFFFE, e.big));
    sq.extend(u16b(0xE000, e.big));
    sq.extend([0xFF; 4]);
    sq.extend(el(e, 0x0008, 0x1150, b"UI", b"1.2.3.4\0"));
    for n in [0xE00Du16, 0xE0DD] {
        sq.extend(u16b(0xFFFE, e.big));
        sq.extend(u16b(n, e.big));
        sq.extend([0; 4]);
    }
    o.extend(sq);
    o.extend(el(e, 0x0009, 0x0010, b"LO", b"PRIVATE CREATOR "));
    o.extend(el(e, 0x0010, 0x0010, b"PN", b"Doe^Jane"));
    o.extend(image_attrs_of(e, k, (w, h), (ba, bits, signed)));
    let n = w as usize * h as usize * k.frames() * k.words();
    let mut px = Vec::new();
    if ba == 1 {
        // Packed eight to a byte, the first sample in the lowest bit; a
        // stray padding bit after the last sample (kept as a fix-up).
        px = vec![0u8; n.div_ceil(8)];
        for i in 0..n {
            px[i / 8] |= (sample(i, 1) as u8) << (i % 8);
        }
        if !n.is_multiple_of(8) {
            px[n / 8] |= 0x80;
        }
    }
    for i in (0..n).filter(|_| ba != 1) {
        let v = sample(i, bits);
        if ba == 16 {
            // Sign-extended words for signed data (canonical), one odd word
            // with a stray high bit (kept as a fix-up).
            let mut word = v as u16;
            if signed && bits < 16 && v >> (bits - 1) & 1 == 1 {
                word |= !((1u16 << bits) - 1);
            }
            if i == 5 && bits < 16 && !signed {
                word |= 1 << 15;
            }
            px.extend(u16b(word, e.big));
        } else {
            px.push(v as u8);
        }
    }
    if px.len() % 2 == 1 {
        px.push(0);
    }
    let vr = if ba == 16 { b"OW" } else { b"OB" };
    o.extend(el(e, 0x7FE0, 0x0010, vr, &px));
    o.extend(el(e, 0xFFFC, 0xFFFC, b"OB", &[0; 6]));
    o
}

fn preamble_file(ts: &str, ds: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 128];
    f.extend(b"DICM");
    f.extend(meta(ts));
    f.extend(ds);
    f
}

fn roundtrip(name: &str, file: &[u8], bits: u8, signed: bool) {
    assert_eq!(
        detect(file, None),
        Some(medzip_codec::SourceKind::Dicom),
        "{name}: detected as DICOM without a name hint"
    );
    let l = read(file, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(l.image.bits, bits, "{name}");
    assert_eq!(l.image.signed, signed, "{name}");
    assert_eq!((l.image.width, l.image.height), (13, 7), "{name}");
    // Through the container, as the CLI does it.
    let mdz = medzip_codec::compress(&l.image, &l.meta, &medzip_codec::Options::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (img, m) = medzip_codec::decompress(&mdz, &medzip_codec::Limits::default(), None).unwrap();
    assert_eq!(img, l.image, "{name}");
    let back = write(&img, &m).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(back == file, "{name}: not byte for byte");
}

const CASES: [(u16, u16, bool); 5] = [
    (1, 1, false),
    (8, 8, false),
    (16, 12, false),
    (16, 12, true),
    (16, 16, true),
];

#[test]
fn every_native_syntax_round_trips_byte_for_byte() {
    for (ba, bits, signed) in CASES {
        for (ts, e) in [
            ("1.2.840.10008.1.2", IMPLICIT),
            ("1.2.840.10008.1.2.1", EXPLICIT),
            ("1.2.840.10008.1.2.2", BIG),
        ] {
            let ds = dataset(e, 13, 7, ba, bits, signed);
            let name = format!("{ts} {ba}/{bits} signed={signed}");
            let full = preamble_file(ts, &ds);
            roundtrip(&format!("{name} with preamble"), &full, bits as u8, signed);
            // 'DICM' and meta group, no preamble.
            roundtrip(
                &format!("{name} no preamble"),
                &full[128..],
                bits as u8,
                signed,
            );
            // A meta group alone (no preamble, no 'DICM').
            roundtrip(
                &format!("{name} bare meta"),
                &full[132..],
                bits as u8,
                signed,
            );
            // No meta group at all: the data set's encoding is guessed.
            roundtrip(&format!("{name} no meta"), &ds, bits as u8, signed);
        }
    }
}

/// Signed samples whose words leave the unused high bits zero (as some
/// writers do, e.g. pydicom-data's `mlut_18.dcm`) instead of extending the
/// sign: that form is chosen as canonical (flag bit 5 of the source block,
/// format version 14), the one word that does extend its sign is the only
/// fix-up, and the file comes back byte for byte.
#[test]
fn signed_words_with_zero_high_bits_round_trip_without_a_fix_up_each() {
    for (ts, e) in [
        ("1.2.840.10008.1.2", IMPLICIT),
        ("1.2.840.10008.1.2.1", EXPLICIT),
        ("1.2.840.10008.1.2.2", BIG),
    ] {
        let mut ds = dataset(e, 13, 7, 16, 12, true);
        // The Pixel Data value follows its tag and length (and VR).
        let tag = [u16b(0x7FE0, e.big), u16b(0x0010, e.big)].concat();
        let at = ds.windows(4).position(|w| w == tag).unwrap() + if e.explicit { 12 } else { 8 };
        let mut negative = 0;
        for i in 0..13 * 7 {
            let w = &mut ds[at + 2 * i..at + 2 * i + 2];
            let v = if e.big {
                u16::from_be_bytes([w[0], w[1]])
            } else {
                u16::from_le_bytes([w[0], w[1]])
            };
            if v >> 11 & 1 == 1 && i != 3 {
                negative += 1;
                w.copy_from_slice(&u16b(v & 0x0FFF, e.big));
            }
        }
        assert!(negative > 20, "{negative} negative samples");
        let file = preamble_file(ts, &ds);
        let name = format!("{ts} signed, zero high bits");
        roundtrip(&name, &file, 12, true);
        let l = read(&file, None).unwrap();
        assert_eq!(l.meta.source_data[0], 3, "{name}: layout");
        assert_eq!(l.meta.source_data[3] & 32, 32, "{name}: flags");
        // (By the fast coder, whose pixels need no version above 14.)
        let mdz =
            medzip_codec::compress(&l.image, &l.meta, &medzip_codec::Options::effort(1)).unwrap();
        assert_eq!(
            u16::from_le_bytes([mdz[8], mdz[9]]),
            14,
            "{name}: format version"
        );
        // The same samples with sign-extended words: the usual form, no flag.
        let usual = read(&preamble_file(ts, &dataset(e, 13, 7, 16, 12, true)), None).unwrap();
        assert_eq!(usual.image, l.image, "{name}");
        let src = &usual.meta.source_data;
        assert!(src[0] == 2 || src[3] & 32 == 0, "{name}: the usual form");
    }
}

#[test]
fn odd_meta_groups_are_read_and_kept() {
    let ds = dataset(EXPLICIT, 13, 7, 16, 12, true);
    // No group length; an over-long AE title (18 bytes, with a control
    // character, as an old DCMTK wrote it).
    let mut m = el(EXPLICIT, 2, 0x0001, b"OB", &[0, 1]);
    m.extend(el(EXPLICIT, 2, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
    m.extend(el(EXPLICIT, 2, 0x0016, b"AE", b"STATION_NAME\x01LONG_"));
    let mut f = vec![0u8; 128];
    f.extend(b"DICM");
    f.extend(&m);
    f.extend(&ds);
    roundtrip("long AE, no group length", &f, 12, true);
    // A wrong group length.
    let mut f2 = vec![0u8; 128];
    f2.extend(b"DICM");
    f2.extend(el(EXPLICIT, 2, 0x0000, b"UL", &999u32.to_le_bytes()));
    f2.extend(&m);
    f2.extend(&ds);
    roundtrip("wrong group length", &f2, 12, true);
    // No transfer syntax: the data set says it is explicit VR.
    let mut f3 = vec![0u8; 128];
    f3.extend(b"DICM");
    f3.extend(el(EXPLICIT, 2, 0x0001, b"OB", &[0, 1]));
    f3.extend(&ds);
    roundtrip("no transfer syntax", &f3, 12, true);
    // A meta group that says explicit VR over an implicit VR data set.
    let mut f4 = vec![0u8; 128];
    f4.extend(b"DICM");
    f4.extend(meta("1.2.840.10008.1.2.1"));
    f4.extend(dataset(IMPLICIT, 13, 7, 16, 12, true));
    roundtrip("explicit declared, implicit written", &f4, 12, true);
}

/// Deflated data sets as miniz_oxide (flate2's default backend) writes them
/// at three levels; classic zlib's streams are tested in
/// `crates/medzip/tests/dicom_compat.rs` with a file pydicom would write.
#[test]
fn deflated_data_set_round_trips_byte_for_byte() {
    use std::io::Write;
    for (ba, bits, signed) in CASES {
        let ds = dataset(EXPLICIT, 13, 7, ba, bits, signed);
        for level in [1u32, 6, 9] {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
            e.write_all(&ds).unwrap();
            let mut f = preamble_file("1.2.840.10008.1.2.1.99", &e.finish().unwrap());
            roundtrip(
                &format!("deflated level {level} {ba}/{bits}"),
                &f,
                bits as u8,
                signed,
            );
            // Bytes after the stream are kept too.
            f.extend_from_slice(b"\0\0trailing");
            roundtrip(
                &format!("deflated, trailing bytes {ba}/{bits}"),
                &f,
                bits as u8,
                signed,
            );
        }
    }
}

#[test]
fn truncated_and_odd_inputs_are_clear_errors() {
    let f = preamble_file(
        "1.2.840.10008.1.2.1",
        &dataset(EXPLICIT, 13, 7, 16, 12, false),
    );
    for cut in [140, 300, f.len() - 40] {
        let e = read(&f[..cut], None).unwrap_err().to_string();
        assert!(
            e.contains("truncated") || e.contains("cut off") || e.contains("past the end"),
            "{cut}: {e}"
        );
    }
    // Cut inside what follows the pixels: those bytes are kept as they are.
    let cut = &f[..f.len() - 9];
    let l = read(cut, None).unwrap();
    assert!(write(&l.image, &l.meta).unwrap() == cut);
    // No pixel data at all: refused as such.
    let g = preamble_file(
        "1.2.840.10008.1.2.1",
        &el(EXPLICIT, 0x0008, 0x0060, b"CS", b"SR"),
    );
    let e = read(&g, None).unwrap_err().to_string();
    assert!(e.contains("without pixel data"), "{e}");
}

/// An explicit VR little endian file whose pixels are one JPEG-LS fragment
/// (made by `pure_jpegls`, precision `bits`), and the samples it holds as
/// medzip reads them (sign-extended when signed). `damaged`: the stream
/// loses its second half.
fn jpegls_file(
    ts: &str,
    (w, h): (u16, u16),
    (ba, bits, signed): (u16, u16, bool),
    damaged: bool,
) -> (Vec<u8>, Vec<i32>) {
    let e = EXPLICIT;
    let mut o = el(e, 0x0008, 0x0060, b"CS", b"MR");
    o.extend(el(e, 0x0010, 0x0010, b"PN", b"Doe^Jane"));
    o.extend(image_attrs(e, (w, h), (ba, bits, signed)));
    let n = w as usize * h as usize;
    let raw: Vec<u16> = (0..n).map(|i| sample(i, bits) as u16).collect();
    let expected = raw
        .iter()
        .map(|&v| {
            let v = v as i32;
            if signed && v >> (bits - 1) & 1 == 1 {
                v - (1 << bits)
            } else {
                v
            }
        })
        .collect();
    let mut opts = jpegls::EncodeOptions::default();
    opts.precision = Some(bits as u8);
    let mut stream = Vec::new();
    jpegls::encode_with_options(&raw, w as u32, h as u32, &opts, &mut stream).unwrap();
    if damaged {
        stream.truncate(stream.len() / 2);
    }
    if stream.len() % 2 == 1 {
        stream.push(0);
    }
    // (7FE0,0010) OB of undefined length: an empty offset table, one
    // fragment, the sequence delimiter.
    o.extend([
        0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    o.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
    o.extend([0xFE, 0xFF, 0x00, 0xE0]);
    o.extend((stream.len() as u32).to_le_bytes());
    o.extend(&stream);
    o.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    (preamble_file(ts, &o), expected)
}

#[test]
fn jpeg_ls_is_read_in_the_default_build_and_comes_back_native() {
    for ts in ["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"] {
        // (JPEG-LS has no 1-bit samples.)
        for (ba, bits, signed) in CASES.into_iter().filter(|c| c.0 != 1) {
            let name = format!("{ts} {ba}/{bits} signed={signed}");
            let (file, expected) = jpegls_file(ts, (13, 7), (ba, bits, signed), false);
            let l = read(&file, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((l.image.width, l.image.height), (13, 7), "{name}");
            assert_eq!(
                (l.image.bits, l.image.signed),
                (bits as u8, signed),
                "{name}"
            );
            assert_eq!(l.image.data, expected, "{name}: samples");
            // What comes back is the native (Explicit VR Little Endian)
            // file with the same pixels, and that file round-trips
            // byte for byte.
            let back = write(&l.image, &l.meta).unwrap_or_else(|e| panic!("{name}: {e}"));
            let ts_le = b"1.2.840.10008.1.2.1\0";
            assert!(back.windows(ts_le.len()).any(|w| w == ts_le), "{name}");
            let again = read(&back, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(again.image, l.image, "{name}");
            assert_eq!(write(&again.image, &again.meta).unwrap(), back, "{name}");
        }
    }
    // A damaged stream is refused with the reason, never misread.
    let (file, _) = jpegls_file("1.2.840.10008.1.2.4.80", (13, 7), (16, 12, false), true);
    let err = read(&file, None).unwrap_err().to_string();
    assert!(err.contains("JPEG-LS pixel data"), "{err}");
}

/// Multi-frame and colour pixel data in every layout DICOM writes natively,
/// at every effort: the same pixels back (frame after frame, plane after
/// plane), the same file, and each frame alone the same as in the whole.
#[test]
fn frames_and_colour_planes_round_trip_byte_for_byte() {
    let kinds = [
        (GREY, 1),
        (
            Kind {
                frames: Some("5 "),
                ..GREY
            },
            1,
        ),
        (
            Kind {
                pi: "RGB ",
                spp: 3,
                planar: Some(0),
                frames: None,
            },
            3,
        ),
        (
            Kind {
                pi: "RGB ",
                spp: 3,
                planar: Some(1),
                frames: Some("3 "),
            },
            3,
        ),
        (
            Kind {
                pi: "YBR_FULL",
                spp: 3,
                planar: Some(0),
                frames: Some("2 "),
            },
            3,
        ),
        (
            Kind {
                pi: "YBR_FULL_422",
                spp: 3,
                planar: Some(0),
                frames: None,
            },
            2,
        ),
        (
            Kind {
                pi: "PALETTE COLOR ",
                spp: 1,
                planar: None,
                frames: Some("2 "),
            },
            1,
        ),
    ];
    for (k, planes) in kinds {
        // (1-bit samples: grey only; several frames packed without padding.)
        let one_bit = k.pi.starts_with("MONOCHROME");
        for (ba, bits, signed) in CASES.into_iter().filter(|c| c.0 != 1 || one_bit) {
            for e in [EXPLICIT, BIG] {
                // (YBR_FULL_422 pairs pixels: an even width.)
                let w = if k.pi == "YBR_FULL_422" { 14 } else { 13 };
                let file = preamble_file(
                    if e.big {
                        "1.2.840.10008.1.2.2"
                    } else {
                        "1.2.840.10008.1.2.1"
                    },
                    &dataset_of(e, k, w, 7, ba, bits, signed),
                );
                let name = format!(
                    "{} ×{} {ba}/{bits} signed={signed} big={}",
                    k.pi,
                    k.frames(),
                    e.big
                );
                let l = read(&file, None).unwrap_or_else(|e| panic!("{name}: {e}"));
                let frames = k.frames();
                assert_eq!(
                    (l.meta.frames, l.meta.planes),
                    (frames as u32, planes),
                    "{name}"
                );
                assert_eq!(
                    l.image.height as usize,
                    7 * frames * planes as usize,
                    "{name}"
                );
                for effort in [1, 2, 3] {
                    let opts = medzip_codec::Options::effort(effort);
                    let mdz = medzip_codec::compress(&l.image, &l.meta, &opts)
                        .unwrap_or_else(|e| panic!("{name} -e{effort}: {e}"));
                    let (img, m) =
                        medzip_codec::decompress(&mdz, &medzip_codec::Limits::default(), None)
                            .unwrap();
                    assert_eq!(img, l.image, "{name} -e{effort}");
                    let back = write(&img, &m).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(back == file, "{name} -e{effort}: not byte for byte");
                    let one = l.image.data.len() / frames;
                    let last = frames as u32 - 1;
                    let (f, _) = medzip_codec::decompress_frames(
                        &mdz,
                        last..frames as u32,
                        None,
                        &Default::default(),
                    )
                    .unwrap();
                    assert_eq!(f.len(), 1);
                    assert_eq!(
                        f[0].data,
                        l.image.data[last as usize * one..],
                        "{name} last frame"
                    );
                }
            }
        }
    }
}
