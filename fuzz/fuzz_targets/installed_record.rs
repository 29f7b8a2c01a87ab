//! Any bytes as a model's `installed.json`: the model is intact, damaged or unreadable, never a
//! panic, and no file outside the model's folder is touched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linguastream_core::models::store::{InstalledModel, INSTALLED_FILE};
use linguastream_core::models::ModelStore;

fuzz_target!(|data: &[u8]| {
    let json = String::from_utf8_lossy(data);
    if let Ok(record) = InstalledModel::parse("silero-vad", &json) {
        assert!(record.files.iter().all(|f| !f.name.contains('/') && f.name != ".."));
    }
    let root = tempfile::tempdir().unwrap();
    let store = ModelStore::open(root.path().to_path_buf());
    let dir = store.model_dir("silero-vad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("silero_vad.onnx"), b"weights").unwrap();
    std::fs::write(dir.join(INSTALLED_FILE), data).unwrap();
    let _ = store.require("silero-vad");
    let _ = store.verify("silero-vad");
});
