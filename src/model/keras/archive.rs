//! `.keras` archives: a zip holding `config.json`, `metadata.json` and `model.weights.h5`.
use std::io::Read;
use std::path::{Path, PathBuf};

pub struct Archive {
    pub config: String,
    pub keras_version: Option<String>,
    /// The weights file, extracted to a temporary file (removed on drop).
    pub weights: TempFile,
}

pub struct TempFile(pub PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

pub fn open(path: &Path) -> Result<Archive, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut z =
        zip::ZipArchive::new(f).map_err(|e| format!("not a readable .keras archive: {e}"))?;
    let mut read = |name: &str| -> Result<Option<Vec<u8>>, String> {
        match z.by_name(name) {
            Ok(mut e) => {
                let mut buf = Vec::new();
                e.read_to_end(&mut buf)
                    .map_err(|e| format!("{name} in the archive: {e}"))?;
                Ok(Some(buf))
            }
            Err(zip::result::ZipError::FileNotFound) => Ok(None),
            Err(e) => Err(format!("{name} in the archive: {e}")),
        }
    };
    let config = read("config.json")?.ok_or("the .keras archive has no config.json")?;
    let config = String::from_utf8(config).map_err(|_| "config.json is not UTF-8".to_string())?;
    let keras_version = read("metadata.json")?
        .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m).ok())
        .and_then(|m| {
            m.get("keras_version")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        });
    let weights = read("model.weights.h5")?.ok_or("the .keras archive has no model.weights.h5")?;
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!(
        "deepresolve-keras-{}-{n}.weights.h5",
        std::process::id()
    ));
    std::fs::write(&tmp, &weights)
        .map_err(|e| format!("cannot extract model.weights.h5 to {}: {e}", tmp.display()))?;
    Ok(Archive {
        config,
        keras_version,
        weights: TempFile(tmp),
    })
}
