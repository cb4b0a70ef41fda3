//! medzip as the storage area of Orthanc, the open PACS: every attachment
//! Orthanc stores (DICOM instances, their JSON summaries, anything else)
//! is written as a `.mdz` file — a DICOM file coded by its pixels and its
//! header byte coder, anything else stored whole — and read back byte for
//! byte. Every DICOM client sees the same Orthanc, in less disk.
//!
//! Built as a shared library (`libmedzip_orthanc.so`) for Orthanc's C
//! plugin SDK (`OrthancCPlugin.h`, Orthanc ≥ 1.9.0 for
//! `OrthancPluginRegisterStorageArea2`). The few structures and service
//! numbers it uses are written here by hand from the SDK of Orthanc 1.10
//! (Debian's `orthanc-dev`); the C ABI has kept them since 1.9.0.
//!
//! Configuration, in Orthanc's JSON:
//!
//! ```json
//! "Plugins": ["/path/to/libmedzip_orthanc.so"],
//! "Medzip": { "Root": "/var/lib/orthanc/medzip", "Effort": 2, "Threads": 2 }
//! ```
//!
//! `Threads` (default 0: every core) bounds the threads medzip codes one
//! attachment with (its stripes and frames in parallel), in a pool of the
//! plugin's own that all of Orthanc's storing threads share.
//!
//! `Root` (default: `StorageDirectory`, else `OrthancStorage`, with
//! `/medzip` appended) holds the files as `Root/ab/cd/UUID.mdz`, as Orthanc
//! lays out its own; `GET /medzip/statistics` reports the files and bytes
//! stored there. Each write is compressed, **decoded and compared with
//! what Orthanc gave before it is acknowledged**, written to a temporary
//! file, fsynced and renamed; a stored file that fails its checks on read
//! (CRC, pixel and file hashes) is an Orthanc error for that attachment,
//! never other bytes.

use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `OrthancPluginContext`.
#[repr(C)]
pub struct Context {
    plugins_manager: *mut c_void,
    orthanc_version: *const c_char,
    free: Option<unsafe extern "C" fn(*mut c_void)>,
    invoke_service: unsafe extern "C" fn(*mut Context, i32, *const c_void) -> i32,
}

/// `OrthancPluginMemoryBuffer64`.
#[repr(C)]
pub struct MemoryBuffer64 {
    data: *mut c_void,
    size: u64,
}

type CreateFn = unsafe extern "C" fn(*const c_char, *const c_void, i64, i32) -> i32;
type ReadWholeFn = unsafe extern "C" fn(*mut MemoryBuffer64, *const c_char, i32) -> i32;
type ReadRangeFn = unsafe extern "C" fn(*mut MemoryBuffer64, *const c_char, i32, u64) -> i32;
type RemoveFn = unsafe extern "C" fn(*const c_char, i32) -> i32;

/// `_OrthancPluginRegisterStorageArea2`.
#[repr(C)]
struct RegisterStorageArea2 {
    create: CreateFn,
    read_whole: ReadWholeFn,
    read_range: ReadRangeFn,
    remove: RemoveFn,
}

/// `_OrthancPluginCreateMemoryBuffer64`.
#[repr(C)]
struct CreateMemoryBuffer64 {
    target: *mut MemoryBuffer64,
    size: u64,
}

/// `_OrthancPluginRetrieveDynamicString`.
#[repr(C)]
struct RetrieveDynamicString {
    result: *mut *mut c_char,
    argument: *const c_char,
}

/// `_OrthancPluginRestCallback`.
#[repr(C)]
struct RestCallback {
    path_regular_expression: *const c_char,
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_void) -> i32,
}

/// `_OrthancPluginAnswerBuffer`.
#[repr(C)]
struct AnswerBuffer {
    output: *mut c_void,
    answer: *const c_void,
    answer_size: u32,
    mime_type: *const c_char,
}

// `_OrthancPluginService` values.
const LOG_INFO: i32 = 1;
const LOG_WARNING: i32 = 2;
const LOG_ERROR: i32 = 3;
const GET_CONFIGURATION: i32 = 13;
const CREATE_MEMORY_BUFFER64: i32 = 40;
const REGISTER_STORAGE_AREA2: i32 = 1016;
const REGISTER_REST_CALLBACK_NO_LOCK: i32 = 1004;
const ANSWER_BUFFER: i32 = 2000;

// `OrthancPluginErrorCode` values.
const SUCCESS: i32 = 0;
const PLUGIN_ERROR: i32 = 1;
const INEXISTENT_FILE: i32 = 13;
const CORRUPTED_FILE: i32 = 20;
const BAD_RANGE: i32 = 41;
const CANNOT_WRITE: i32 = 2001;

/// `OrthancPluginContentType_Dicom`.
const CONTENT_DICOM: i32 = 1;

/// Calls Orthanc's service `service` with `params` (its parameter struct);
/// returns Orthanc's error code.
///
/// # Safety
/// `context` is Orthanc's, and `T` is the struct that service takes.
unsafe fn invoke<T>(context: *mut Context, service: i32, params: *const T) -> i32 {
    // SAFETY: as this function's.
    unsafe { ((*context).invoke_service)(context, service, params as *const c_void) }
}

/// The plugin's settings and Orthanc's context (set once, at
/// initialization: Orthanc's callbacks carry no user data).
struct Plugin {
    context: *mut Context,
    store: Store,
}

// SAFETY: Orthanc's context is valid for the plugin's lifetime and its
// services may be called from any thread (the SDK's contract).
unsafe impl Send for Plugin {}
unsafe impl Sync for Plugin {}

static PLUGIN: OnceLock<Plugin> = OnceLock::new();

/// The storage itself, independent of Orthanc (tested without it).
pub struct Store {
    root: PathBuf,
    options: medzip::Options,
    /// The plugin's own thread pool (`Threads`), or none: rayon's global one.
    pool: Option<rayon::ThreadPool>,
}

/// Why an attachment could not be stored or read.
#[derive(Debug)]
pub enum StoreError {
    /// No stored file for that UUID.
    Missing,
    /// The stored file is damaged (or needs a model this build lacks).
    Damaged(String),
    /// Writing failed, or the written file would not give the bytes back.
    Write(String),
}

impl StoreError {
    fn code(&self) -> i32 {
        match self {
            StoreError::Missing => INEXISTENT_FILE,
            StoreError::Damaged(_) => CORRUPTED_FILE,
            StoreError::Write(_) => CANNOT_WRITE,
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Missing => f.write_str("no such attachment"),
            StoreError::Damaged(m) => write!(f, "damaged stored file: {m}"),
            StoreError::Write(m) => write!(f, "cannot store: {m}"),
        }
    }
}

impl Store {
    /// A store under `root` coding at effort `effort` (1–3).
    pub fn new(root: PathBuf, effort: u8) -> Store {
        Store {
            root,
            options: medzip::Options::effort(effort),
            pool: None,
        }
    }

    /// [`new`](Self::new), coding each attachment on at most `threads`
    /// threads (0: every core).
    pub fn with_threads(root: PathBuf, effort: u8, threads: usize) -> Result<Store, String> {
        let pool = match threads {
            0 => None,
            n => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("medzip-{i}"))
                    .build()
                    .map_err(|e| format!("cannot start {n} threads: {e}"))?,
            ),
        };
        Ok(Store {
            pool,
            ..Store::new(root, effort)
        })
    }

    /// Runs `f` in the store's pool.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// Where the attachment `uuid` lives (`root/ab/cd/UUID.mdz`).
    pub fn path(&self, uuid: &str) -> PathBuf {
        let part = |r: std::ops::Range<usize>| uuid.get(r).unwrap_or("__");
        self.root
            .join(part(0..2))
            .join(part(2..4))
            .join(format!("{uuid}.mdz"))
    }

    /// Stores `content`: compressed, decoded and compared, written to a
    /// temporary file, fsynced and renamed. Returns the bytes written.
    pub fn create(&self, uuid: &str, content: &[u8], dicom: bool) -> Result<u64, StoreError> {
        if uuid.is_empty() || uuid.contains(['/', '\\', '.']) {
            return Err(StoreError::Write(format!("unusable UUID {uuid:?}")));
        }
        let name = dicom.then_some("instance.dcm");
        // PNG byte for byte too; a file medzip would give back as other
        // bytes (a PGM: pixels only) is stored whole.
        let read = medzip::ReadOptions {
            transcode: false,
            exact_file: true,
        };
        let mdz = self.run(|| self.coded(content, name, &read))?;
        let path = self.path(uuid);
        let dir = path.parent().expect("a file in a folder");
        let w = |e: std::io::Error| StoreError::Write(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(dir).map_err(w)?;
        let tmp = path.with_extension("mdz.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(w)?;
            f.write_all(&mdz).map_err(w)?;
            f.sync_all().map_err(w)?;
        }
        std::fs::rename(&tmp, &path).map_err(w)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(mdz.len() as u64)
    }

    /// The `.mdz` of `content`, decoded and compared (stored whole where
    /// the image coding would not give the same bytes back).
    fn coded(
        &self,
        content: &[u8],
        name: Option<&str>,
        read: &medzip::ReadOptions,
    ) -> Result<Vec<u8>, StoreError> {
        let write = |e: medzip::Error| StoreError::Write(e.to_string());
        let mut mdz = medzip::compress_with(content, name, &self.options, read).map_err(write)?;
        let same = |mdz: &[u8]| {
            medzip::decompress(mdz, &Default::default()).is_ok_and(|back| back == content)
        };
        if !same(&mdz) {
            let whole = medzip::medzip_io::stored::store(content).map_err(|e| write(e.into()))?;
            mdz = medzip::medzip_codec::compress(&whole.image, &whole.meta, &self.options)
                .map_err(|e| write(e.into()))?;
            if !same(&mdz) {
                return Err(StoreError::Write(
                    "the .mdz does not decode to the same bytes".into(),
                ));
            }
        }
        Ok(mdz)
    }

    /// The bytes of attachment `uuid`, checked (CRCs, pixel and file hashes).
    pub fn read(&self, uuid: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(uuid);
        let mdz = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::Missing,
            _ => StoreError::Damaged(format!("{}: {e}", path.display())),
        })?;
        self.run(|| medzip::decompress(&mdz, &Default::default()))
            .map_err(|e| StoreError::Damaged(format!("{}: {e}", path.display())))
    }

    /// The stored files and their bytes (what `du` of the root counts,
    /// less the folders).
    pub fn statistics(&self) -> (u64, u64) {
        let (mut files, mut bytes) = (0, 0);
        let mut dirs = vec![self.root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                match e.metadata() {
                    Ok(m) if m.is_dir() => dirs.push(e.path()),
                    Ok(m) if e.path().extension().is_some_and(|x| x == "mdz") => {
                        files += 1;
                        bytes += m.len();
                    }
                    _ => {}
                }
            }
        }
        (files, bytes)
    }

    /// Removes attachment `uuid` (a missing one is not an error).
    pub fn remove(&self, uuid: &str) -> Result<(), StoreError> {
        match std::fs::remove_file(self.path(uuid)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Write(e.to_string())),
        }
    }
}

fn plugin() -> Option<&'static Plugin> {
    PLUGIN.get()
}

/// Logs through Orthanc's log.
fn log(level: i32, msg: &str) {
    let Some(p) = plugin() else { return };
    let Ok(c) = std::ffi::CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: the context is Orthanc's; the log services take a C string.
    unsafe { invoke(p.context, level, c.as_ptr()) };
}

/// Runs a callback body, turning a panic into Orthanc's plugin error.
fn guarded(what: &str, f: impl FnOnce() -> i32) -> i32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(_) => {
            log(LOG_ERROR, &format!("medzip: {what} failed (a panic)"));
            PLUGIN_ERROR
        }
    }
}

/// # Safety
/// `s` is null or a C string.
unsafe fn text<'a>(s: *const c_char) -> &'a str {
    if s.is_null() {
        return "";
    }
    // SAFETY: as this function's.
    unsafe { CStr::from_ptr(s) }.to_str().unwrap_or("")
}

unsafe extern "C" fn create(
    uuid: *const c_char,
    content: *const c_void,
    size: i64,
    ty: i32,
) -> i32 {
    guarded("storing", || {
        let Some(p) = plugin() else {
            return PLUGIN_ERROR;
        };
        // SAFETY: Orthanc passes a C string and `size` readable bytes.
        let (uuid, bytes) = unsafe {
            (
                text(uuid),
                if size <= 0 || content.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(content as *const u8, size as usize)
                },
            )
        };
        match p.store.create(uuid, bytes, ty == CONTENT_DICOM) {
            Ok(n) => {
                log(
                    LOG_INFO,
                    &format!("medzip: stored {uuid} ({} bytes -> {n})", bytes.len()),
                );
                SUCCESS
            }
            Err(e) => {
                log(LOG_ERROR, &format!("medzip: {uuid}: {e}"));
                e.code()
            }
        }
    })
}

/// Copies `bytes` into a new buffer of Orthanc's.
fn answer(target: *mut MemoryBuffer64, bytes: &[u8]) -> i32 {
    let Some(p) = plugin() else {
        return PLUGIN_ERROR;
    };
    let params = CreateMemoryBuffer64 {
        target,
        size: bytes.len() as u64,
    };
    // SAFETY: Orthanc allocates `target`'s buffer of that size.
    unsafe {
        let code = invoke(p.context, CREATE_MEMORY_BUFFER64, &params);
        if code != SUCCESS {
            return code;
        }
        if !bytes.is_empty() {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), (*target).data as *mut u8, bytes.len());
        }
    }
    SUCCESS
}

unsafe extern "C" fn read_whole(target: *mut MemoryBuffer64, uuid: *const c_char, _ty: i32) -> i32 {
    guarded("reading", || {
        let Some(p) = plugin() else {
            return PLUGIN_ERROR;
        };
        // SAFETY: a C string from Orthanc.
        let uuid = unsafe { text(uuid) };
        match p.store.read(uuid) {
            Ok(bytes) => answer(target, &bytes),
            Err(e) => {
                log(LOG_ERROR, &format!("medzip: {uuid}: {e}"));
                e.code()
            }
        }
    })
}

unsafe extern "C" fn read_range(
    target: *mut MemoryBuffer64,
    uuid: *const c_char,
    _ty: i32,
    start: u64,
) -> i32 {
    guarded("reading a range", || {
        let Some(p) = plugin() else {
            return PLUGIN_ERROR;
        };
        // SAFETY: a C string from Orthanc; `target` is its buffer, of the
        // range's size.
        let (uuid, len) = unsafe { (text(uuid), (*target).size) };
        match p.store.read(uuid) {
            Ok(bytes) => {
                let Some(end) = start.checked_add(len).filter(|&e| e <= bytes.len() as u64) else {
                    return BAD_RANGE;
                };
                if len > 0 {
                    // SAFETY: `target` holds `len` bytes.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            bytes[start as usize..end as usize].as_ptr(),
                            (*target).data as *mut u8,
                            len as usize,
                        )
                    };
                }
                SUCCESS
            }
            Err(e) => {
                log(LOG_ERROR, &format!("medzip: {uuid}: {e}"));
                e.code()
            }
        }
    })
}

unsafe extern "C" fn remove(uuid: *const c_char, _ty: i32) -> i32 {
    guarded("removing", || {
        let Some(p) = plugin() else {
            return PLUGIN_ERROR;
        };
        // SAFETY: a C string from Orthanc.
        let uuid = unsafe { text(uuid) };
        match p.store.remove(uuid) {
            Ok(()) => SUCCESS,
            Err(e) => {
                log(LOG_ERROR, &format!("medzip: {uuid}: {e}"));
                e.code()
            }
        }
    })
}

/// `GET /medzip/statistics`: the stored files and bytes, as JSON.
unsafe extern "C" fn statistics(
    output: *mut c_void,
    _url: *const c_char,
    _request: *const c_void,
) -> i32 {
    guarded("statistics", || {
        let Some(p) = plugin() else {
            return PLUGIN_ERROR;
        };
        let (files, bytes) = p.store.statistics();
        let body = serde_json::json!({
            "root": p.store.root.display().to_string(),
            "files": files,
            "bytes": bytes,
        })
        .to_string();
        let params = AnswerBuffer {
            output,
            answer: body.as_ptr() as *const c_void,
            answer_size: body.len() as u32,
            mime_type: c"application/json".as_ptr(),
        };
        // SAFETY: Orthanc's context and the output it passed.
        unsafe { invoke(p.context, ANSWER_BUFFER, &params) }
    })
}

/// The store a configuration (Orthanc's JSON) describes.
pub fn store_from_config(config: &serde_json::Value) -> Result<Store, String> {
    let m = config.get("Medzip");
    let root = match m.and_then(|m| m.get("Root")) {
        Some(r) => PathBuf::from(r.as_str().ok_or("Medzip.Root must be a string")?),
        None => Path::new(
            config
                .get("StorageDirectory")
                .and_then(|s| s.as_str())
                .unwrap_or("OrthancStorage"),
        )
        .join("medzip"),
    };
    let effort = match m.and_then(|m| m.get("Effort")) {
        Some(e) => e
            .as_u64()
            .filter(|e| (1..=3).contains(e))
            .ok_or("Medzip.Effort must be 1, 2 or 3")? as u8,
        None => 2,
    };
    let threads = match m.and_then(|m| m.get("Threads")) {
        Some(t) => t
            .as_u64()
            .filter(|&t| t <= 1024)
            .ok_or("Medzip.Threads must be a number of threads (0: every core)")?
            as usize,
        None => 0,
    };
    Store::with_threads(root, effort, threads)
}

/// Orthanc's configuration, as JSON.
///
/// # Safety
/// `context` is Orthanc's.
unsafe fn configuration(context: *mut Context) -> Option<serde_json::Value> {
    let mut s: *mut c_char = std::ptr::null_mut();
    let params = RetrieveDynamicString {
        result: &mut s,
        argument: std::ptr::null(),
    };
    // SAFETY: as this function's.
    unsafe {
        if invoke(context, GET_CONFIGURATION, &params) != SUCCESS || s.is_null() {
            return None;
        }
        let v = serde_json::from_str(text(s)).ok();
        if let Some(free) = (*context).free {
            free(s as *mut c_void);
        }
        v
    }
}

/// Orthanc's version as (major, minor) ("mainline" counts as new).
fn version(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(a), Some(b)) => (a, b),
        _ => (u32::MAX, 0),
    }
}

/// # Safety
/// Called by Orthanc with its context.
#[no_mangle]
pub unsafe extern "C" fn OrthancPluginInitialize(context: *mut Context) -> i32 {
    // SAFETY: Orthanc's context.
    let v = unsafe { text((*context).orthanc_version) }.to_string();
    if version(&v) < (1, 9) {
        return PLUGIN_ERROR;
    }
    // SAFETY: Orthanc's context.
    let config = unsafe { configuration(context) }.unwrap_or(serde_json::Value::Null);
    let store = match store_from_config(&config) {
        Ok(s) => s,
        Err(_) => return PLUGIN_ERROR,
    };
    let root = store.root.display().to_string();
    if PLUGIN.set(Plugin { context, store }).is_err() {
        return PLUGIN_ERROR;
    }
    let params = RegisterStorageArea2 {
        create,
        read_whole,
        read_range,
        remove,
    };
    // SAFETY: Orthanc's context; the service takes these callbacks.
    let code = unsafe { invoke(context, REGISTER_STORAGE_AREA2, &params) };
    if code != SUCCESS {
        // (Another plugin's storage area, say: Orthanc would not store
        // through this one.)
        log(
            LOG_ERROR,
            &format!("medzip: Orthanc refused the storage area (error {code})"),
        );
        return code;
    }
    let rest = RestCallback {
        path_regular_expression: c"/medzip/statistics".as_ptr(),
        callback: statistics,
    };
    // SAFETY: as above.
    let code = unsafe { invoke(context, REGISTER_REST_CALLBACK_NO_LOCK, &rest) };
    if code != SUCCESS {
        log(
            LOG_WARNING,
            &format!("medzip: no /medzip/statistics route (error {code})"),
        );
    }
    log(
        LOG_WARNING,
        &format!(
            "medzip {}: storing attachments as .mdz files under {root}",
            env!("CARGO_PKG_VERSION")
        ),
    );
    SUCCESS
}

#[no_mangle]
pub extern "C" fn OrthancPluginFinalize() {}

#[no_mangle]
pub extern "C" fn OrthancPluginGetName() -> *const c_char {
    c"medzip".as_ptr()
}

#[no_mangle]
pub extern "C" fn OrthancPluginGetVersion() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_come_back_byte_for_byte_and_damage_is_an_error() {
        let root = std::env::temp_dir().join(format!("medzip-orthanc-{}", std::process::id()));
        let store = Store::new(root.clone(), 1);
        let dcm = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/mr12_suyashkumar_3.dcm"),
        )
        .unwrap();
        let json = br#"{"0010,0010":{"Name":"PatientName","Value":"ANON"}}"#.repeat(20);
        let uuid = "0a1b2c3d-0000-1111-2222-333344445555";
        let n = store.create(uuid, &dcm, true).unwrap();
        assert!(n < dcm.len() as u64 / 2, "{n}");
        assert_eq!(store.read(uuid).unwrap(), dcm);
        store.create("ffee0000-json", &json, false).unwrap();
        assert_eq!(store.read("ffee0000-json").unwrap(), json);
        // An image attachment medzip would give back as other bytes (a PGM
        // with its own spacing: pixels only) is stored whole.
        let pgm = b"P5 3 2 255\n\x01\x02\x03\x04\x05\x06".to_vec();
        store.create("ffee0001-pgm", &pgm, false).unwrap();
        assert_eq!(store.read("ffee0001-pgm").unwrap(), pgm);
        store.remove("ffee0001-pgm").unwrap();
        assert!(store.path(uuid).starts_with(root.join("0a").join("1b")));
        let (files, bytes) = store.statistics();
        assert_eq!(files, 2);
        assert_eq!(
            bytes,
            std::fs::metadata(store.path(uuid)).unwrap().len()
                + std::fs::metadata(store.path("ffee0000-json"))
                    .unwrap()
                    .len()
        );
        // Damaged: an error, never other bytes.
        let p = store.path(uuid);
        let mut b = std::fs::read(&p).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 1;
        std::fs::write(&p, &b).unwrap();
        assert!(matches!(store.read(uuid), Err(StoreError::Damaged(_))));
        store.remove(uuid).unwrap();
        assert!(matches!(store.read(uuid), Err(StoreError::Missing)));
        store.remove(uuid).unwrap();
        assert!(store.create("../x", &json, false).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn configuration() {
        let c: serde_json::Value =
            serde_json::from_str(r#"{"StorageDirectory": "/s", "Medzip": {"Effort": 1}}"#).unwrap();
        let s = store_from_config(&c).unwrap();
        assert_eq!(s.root, Path::new("/s/medzip"));
        let c: serde_json::Value =
            serde_json::from_str(r#"{"Medzip": {"Root": "/r", "Effort": 7}}"#).unwrap();
        assert!(store_from_config(&c).is_err());
        let c: serde_json::Value =
            serde_json::from_str(r#"{"Medzip": {"Root": "/r", "Threads": 2}}"#).unwrap();
        assert_eq!(
            store_from_config(&c)
                .unwrap()
                .pool
                .unwrap()
                .current_num_threads(),
            2
        );
        let c: serde_json::Value =
            serde_json::from_str(r#"{"Medzip": {"Root": "/r", "Threads": "many"}}"#).unwrap();
        assert!(store_from_config(&c).is_err());
        assert_eq!(version("1.10.1"), (1, 10));
        assert!(version("1.8.2") < (1, 9));
        assert!(version("mainline") > (1, 9));
    }
}
