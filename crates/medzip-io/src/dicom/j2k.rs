//! JPEG 2000 codestreams of one component, lossless (the reversible 5/3
//! wavelet, one quality layer), rewritten from their samples: the tile
//! data that `openjp2` (a Rust port of OpenJPEG 2.5.2, pinned) writes
//! for the coding parameters of the stream's main header. Streams that
//! OpenJPEG wrote (GDCM, most open-source DICOM writers) and some of other
//! writers come out byte for byte; [`super::encaps::take_apart`] keeps a
//! stream only where they do.
//!
//! The encoder runs on integers alone for such streams: the wavelet, the
//! bit-plane coder and the packets are integer code, and with one
//! lossless layer every coding pass goes in (`openjp2`'s rate allocation
//! takes all passes without comparing distortions), so the bytes are the
//! same on every CPU.

use super::ljpeg::Why;
use openjp2::openjpeg::*;
use std::ffi::c_void;

/// What the main header says about the coding of a lossless one-component
/// codestream.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Coding {
    pub cols: u32,
    pub rows: u32,
    pub bits: u8,
    pub signed: bool,
    /// One tile (at least the image's size).
    tile: (u32, u32),
    /// Scod: precincts (1), SOP (2), EPH (4).
    scod: u8,
    progression: u8,
    levels: u8,
    /// Code-block width and height exponents (xcb, ycb as stored: +2).
    block: (u8, u8),
    style: u8,
    /// Precinct exponents (PPx, PPy) per resolution, lowest first.
    precincts: Vec<(u8, u8)>,
}

/// Where the first tile-part (SOT) begins: the main header's end.
pub(super) fn main_header_end(s: &[u8]) -> Result<usize, Why> {
    if !s.starts_with(&[0xFF, 0x4F]) {
        return Err("no JPEG 2000 codestream (SOC)".into());
    }
    let mut at = 2;
    loop {
        match s.get(at..at + 4) {
            Some(&[0xFF, 0x90, ..]) => return Ok(at),
            Some(&[0xFF, _, a, b]) => at += 2 + u16::from_be_bytes([a, b]) as usize,
            _ => return Err(format!("no JPEG 2000 marker segment at byte {at}")),
        }
    }
}

/// The coding of the codestream whose main header is `head` (SOC up to the
/// first SOT), or why it is not one this module rewrites.
pub(super) fn coding(head: &[u8]) -> Result<Coding, Why> {
    if !head.starts_with(&[0xFF, 0x4F]) {
        return Err("no JPEG 2000 codestream (SOC)".into());
    }
    let (mut siz, mut cod) = (None, None);
    let mut at = 2;
    while at < head.len() {
        let (m, len) = match head.get(at..at + 4) {
            Some(&[0xFF, m, a, b]) => (m, u16::from_be_bytes([a, b]) as usize),
            _ => return Err(format!("no JPEG 2000 marker segment at byte {at}")),
        };
        let seg = head
            .get(at + 4..at + 2 + len)
            .ok_or("a JPEG 2000 marker segment past the header")?;
        match m {
            0x51 => siz = Some(seg),
            0x52 => cod = Some(seg),
            // QCD (its reversible exponents follow from the bits) and
            // comments do not change the tile data; others might.
            0x5C | 0x64 => {}
            _ => return Err(format!("a JPEG 2000 main header with marker FF{m:02X}")),
        }
        at += 2 + len;
    }
    let (siz, cod) = (siz.ok_or("no SIZ marker")?, cod.ok_or("no COD marker")?);
    let u32_at = |i: usize| u32::from_be_bytes(siz[i..i + 4].try_into().expect("4 bytes"));
    if siz.len() != 36 + 3 || u16::from_be_bytes([siz[34], siz[35]]) != 1 {
        return Err("a JPEG 2000 stream of other than one component".into());
    }
    let (cols, rows) = (u32_at(2), u32_at(6));
    let offsets = (u32_at(10), u32_at(14), u32_at(26), u32_at(30));
    let tile = (u32_at(18), u32_at(22));
    let (ssiz, dx, dy) = (siz[36], siz[37], siz[38]);
    let bits = (ssiz & 0x7F) + 1;
    if offsets != (0, 0, 0, 0) || (dx, dy) != (1, 1) || bits > 16 || tile.0 == 0 || tile.1 == 0 {
        return Err("a JPEG 2000 image with offsets, subsampling or more than 16 bits".into());
    }
    if cod.len() < 10 {
        return Err("a short COD marker".into());
    }
    let (scod, progression, layers, mct) =
        (cod[0], cod[1], u16::from_be_bytes([cod[2], cod[3]]), cod[4]);
    let (levels, xcb, ycb, style, transform) = (cod[5], cod[6], cod[7], cod[8], cod[9]);
    // (openjp2 0.6.1 cannot write RPCL, progression 2: its encoder has
    // no such order; and for images of several tiles its encoder writes
    // tile data that decodes to other samples than it took.)
    if layers != 1
        || transform != 1
        || mct != 0
        || !matches!(progression, 0 | 1 | 3 | 4)
        || scod & !7 != 0
        || levels > 32
        || tile.0 < cols
        || tile.1 < rows
    {
        return Err(format!(
            "a JPEG 2000 stream of {layers} layers, transform {transform}, progression {progression}, tiles {}×{}: not rewritten",
            tile.0, tile.1
        ));
    }
    let precincts: Vec<(u8, u8)> = if scod & 1 != 0 {
        let p = cod
            .get(10..)
            .filter(|p| p.len() == levels as usize + 1)
            .ok_or("a COD marker without its precincts")?;
        p.iter().map(|&b| (b & 15, b >> 4)).collect()
    } else {
        Vec::new()
    };
    if xcb > 8 || ycb > 8 || xcb + ycb > 8 {
        return Err("a JPEG 2000 code-block size out of range".into());
    }
    Ok(Coding {
        cols,
        rows,
        bits,
        signed: ssiz & 0x80 != 0,
        tile,
        scod,
        progression,
        levels,
        block: (xcb, ycb),
        style,
        precincts,
    })
}

/// The samples of a one-component codestream (sign-extended where
/// signed), decoded by `openjp2`.
pub(super) fn decode(stream: &[u8], c: &Coding) -> Result<Vec<i32>, Why> {
    guarded(|| decode_unguarded(stream, c))
}

/// Runs `f` so that a panic inside `openjp2` (a port of C code, which may
/// meet a damaged stream with a failed bounds check) is this stream's
/// error, not the caller's panic.
fn guarded<T>(f: impl FnOnce() -> Result<T, Why>) -> Result<T, Why> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(format!(
            "JPEG 2000: openjp2 failed ({})",
            crate::panic_message(&*p)
        ))
    })
}

fn decode_unguarded(stream: &[u8], c: &Coding) -> Result<Vec<i32>, Why> {
    let img = jpeg2k::Image::from_bytes(stream).map_err(|e| format!("JPEG 2000 decoding: {e}"))?;
    let comp = match img.components() {
        [one] => one,
        _ => return Err("a JPEG 2000 stream of other than one component".into()),
    };
    if (comp.width(), comp.height()) != (c.cols, c.rows)
        || comp.precision() != c.bits as u32
        || comp.is_signed() != c.signed
    {
        return Err("JPEG 2000 samples that do not fit the stream's header".into());
    }
    let data = comp.data();
    if data.len() != c.cols as usize * c.rows as usize {
        return Err("JPEG 2000 decoding gave too few samples".into());
    }
    Ok(data.to_vec())
}

/// Where the encoder writes: a growing buffer with a position (it seeks
/// back to fill in lengths).
struct Sink {
    buf: Vec<u8>,
    pos: usize,
}

unsafe extern "C" fn sink_write(p: *mut c_void, n: usize, user: *mut c_void) -> usize {
    // SAFETY: `user` is the `Sink` of `encode`, alive for the stream's
    // life; `p` holds `n` bytes (the stream's buffer).
    let (s, src) = unsafe {
        (
            &mut *(user as *mut Sink),
            std::slice::from_raw_parts(p as *const u8, n),
        )
    };
    let end = s.pos + n;
    if s.buf.len() < end {
        s.buf.resize(end, 0);
    }
    s.buf[s.pos..end].copy_from_slice(src);
    s.pos = end;
    n
}

unsafe extern "C" fn sink_skip(n: i64, user: *mut c_void) -> i64 {
    // SAFETY: as `sink_write`.
    let s = unsafe { &mut *(user as *mut Sink) };
    match (s.pos as i64).checked_add(n) {
        Some(p) if p >= 0 => {
            s.pos = p as usize;
            n
        }
        _ => -1,
    }
}

unsafe extern "C" fn sink_seek(to: i64, user: *mut c_void) -> i32 {
    // SAFETY: as `sink_write`.
    let s = unsafe { &mut *(user as *mut Sink) };
    if to < 0 {
        return 0;
    }
    s.pos = to as usize;
    1
}

/// The codestream `openjp2` writes for `samples` with coding `c`, from its
/// first tile-part (SOT) to its end (EOC); the main header it writes is not
/// returned (the original's is kept).
pub(super) fn encode_tiles(samples: &[i32], c: &Coding) -> Result<Vec<u8>, Why> {
    let mut out = guarded(|| encode(samples, c))?;
    let start = main_header_end(&out)?;
    Ok(out.split_off(start))
}

/// The whole codestream `openjp2` writes for `samples` with coding `c`.
fn encode(samples: &[i32], c: &Coding) -> Result<Vec<u8>, Why> {
    let (w, h) = (c.cols as usize, c.rows as usize);
    if samples.len() != w * h {
        return Err("JPEG 2000 re-encoding: samples do not fit the image".into());
    }
    let mut p = opj_cparameters_t {
        tcp_numlayers: 1,
        cp_disto_alloc: 1,
        irreversible: 0,
        numresolution: c.levels as i32 + 1,
        cblockw_init: 1 << (c.block.0 + 2),
        cblockh_init: 1 << (c.block.1 + 2),
        mode: c.style as i32,
        prog_order: c.progression as _,
        csty: c.scod as i32,
        tcp_mct: 0,
        ..Default::default()
    };
    // One layer of rate 0: lossless, every coding pass.
    p.tcp_rates[0] = 0.0;
    if c.scod & 1 != 0 {
        // openjp2 lists precincts from the highest resolution down.
        p.res_spec = c.precincts.len() as i32;
        for (i, &(px, py)) in c.precincts.iter().rev().enumerate() {
            p.prcw_init[i] = 1 << px;
            p.prch_init[i] = 1 << py;
        }
    }
    let comp = [openjp2::opj_image_comptparm {
        dx: 1,
        dy: 1,
        w: c.cols,
        h: c.rows,
        x0: 0,
        y0: 0,
        prec: c.bits as u32,
        bpp: c.bits as u32,
        sgnd: c.signed as u32,
    }];
    let fail = |what: &str| format!("JPEG 2000 re-encoding: {what}");
    let mut img =
        openjp2::opj_image::create(&comp[..], OPJ_CLRSPC_GRAY).ok_or_else(|| fail("image"))?;
    img.x0 = 0;
    img.y0 = 0;
    img.x1 = c.cols;
    img.y1 = c.rows;
    img.comps_mut()
        .and_then(|cs| cs.first_mut())
        .and_then(|c0| c0.data_mut())
        .ok_or_else(|| fail("image data"))?
        .copy_from_slice(samples);
    let mut sink = Sink {
        buf: Vec::new(),
        pos: 0,
    };
    // SAFETY: the codec, image and stream are created here, used only
    // here and destroyed on every path; the stream's user data is `sink`,
    // which outlives it.
    let ok = unsafe {
        let codec = opj_create_compress(OPJ_CODEC_J2K);
        if codec.is_null() {
            return Err(fail("codec"));
        }
        let stream = opj_stream_create(1 << 16, 0);
        opj_stream_set_write_function(stream, Some(sink_write));
        opj_stream_set_skip_function(stream, Some(sink_skip));
        opj_stream_set_seek_function(stream, Some(sink_seek));
        opj_stream_set_user_data(stream, &mut sink as *mut Sink as *mut c_void, None);
        let img_ptr: *mut opj_image_t = &mut *img;
        let ok = opj_setup_encoder(codec, &mut p, img_ptr) != 0
            && opj_start_compress(codec, img_ptr, stream) != 0
            && opj_encode(codec, stream) != 0
            && opj_end_compress(codec, stream) != 0;
        opj_stream_destroy(stream);
        opj_destroy_codec(codec);
        ok
    };
    if !ok {
        return Err(fail("the encoder refused the parameters"));
    }
    Ok(sink.buf)
}

/// A lossless codestream of one component as OpenJPEG writes it by
/// default (5 decomposition levels or fewer for small images, 64 × 64
/// code-blocks, LRCP), for tests.
#[cfg(test)]
pub(super) fn codestream(
    samples: &[i32],
    (cols, rows): (u32, u32),
    bits: u8,
    signed: bool,
) -> Vec<u8> {
    let mut levels = 5;
    while levels > 0 && (cols.min(rows) >> levels) == 0 {
        levels -= 1;
    }
    let c = Coding {
        cols,
        rows,
        bits,
        signed,
        tile: (cols, rows),
        scod: 0,
        progression: 0,
        levels,
        block: (4, 4),
        style: 0,
        precincts: Vec::new(),
    };
    encode(samples, &c).expect("openjp2 encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coding parameters other than OpenJPEG's defaults (precincts, the
    /// progression orders, small code-blocks, SOP and EPH markers, mode
    /// switches) are read back from the header that carries them, and
    /// rewrite the same tile data.
    #[test]
    fn the_header_gives_back_the_coding_and_the_tiles() {
        let (cols, rows) = (45u32, 38u32);
        let samples: Vec<i32> = (0..cols * rows)
            .map(|i| ((i * 7919 + (i / cols) * 31) % 1024) as i32 - 512)
            .collect();
        for (k, progression) in [0u8, 1, 3, 4, 0].into_iter().enumerate() {
            let c = Coding {
                cols,
                rows,
                bits: 10,
                signed: true,
                tile: (cols, rows),
                scod: [0, 1, 2 | 4, 1 | 2, 1 | 4][k],
                progression,
                levels: [3, 2, 4, 1, 3][k],
                block: [(4, 4), (3, 2), (2, 4), (3, 3), (1, 1)][k],
                style: [0, 1, 8, 0x3F, 4][k],
                precincts: Vec::new(),
            };
            let precincts = (0..=c.levels).map(|r| (r + 3, r + 4)).collect();
            let c = Coding {
                precincts: if c.scod & 1 != 0 {
                    precincts
                } else {
                    Vec::new()
                },
                ..c
            };
            let s = encode(&samples, &c).unwrap();
            let end = main_header_end(&s).unwrap();
            let read = coding(&s[..end]).unwrap();
            assert_eq!(read, c, "case {k}");
            assert_eq!(decode(&s, &read).unwrap(), samples, "case {k}");
            assert_eq!(encode_tiles(&samples, &read).unwrap(), s[end..], "case {k}");
        }
    }

    /// What the rewriting does not cover is refused by the header alone.
    #[test]
    fn other_codings_are_refused() {
        let s = codestream(&[0; 35], (7, 5), 8, false);
        let end = main_header_end(&s).unwrap();
        let cod = s.windows(2).position(|m| m == [0xFF, 0x52]).unwrap();
        // Two layers, the 9/7 wavelet, a colour transform, an unknown Scod
        // bit, RPCL and an unknown progression.
        for (at, v) in [(7, 2u8), (13, 0), (8, 1), (4, 8), (5, 2), (5, 9)] {
            let mut bad = s[..end].to_vec();
            bad[cod + at] = v;
            assert!(coding(&bad).is_err(), "COD byte {at} = {v}");
        }
        // Tiles smaller than the image (XTsiz at SIZ byte 22).
        let siz = s.windows(2).position(|m| m == [0xFF, 0x51]).unwrap();
        let mut tiled = s[..end].to_vec();
        tiled[siz + 22..siz + 26].copy_from_slice(&4u32.to_be_bytes());
        assert!(coding(&tiled).is_err());
        assert!(coding(&s[2..end]).is_err());
        assert!(main_header_end(&s[..end]).is_err());
    }
}
