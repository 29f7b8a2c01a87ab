//! Output files that appear whole or not at all.
//!
//! Everything LinguaStream writes (speech, captions, reports, model records) goes to a temporary
//! file in the target's own folder, is synced to disk, and only then renamed over the target, so
//! a crash, a full disk or an error midway leaves the previous file untouched. `-` means standard
//! output, and a target that is not a regular file (a FIFO, `/dev/null`) is written in place:
//! renaming over a device would replace it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Why an output location cannot be used. Each names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path} is a directory; give a file name for {what}")]
    IsDirectory { what: String, path: String },
    #[error("cannot write {what} to {path}: the folder {folder} does not exist")]
    NoFolder { what: String, path: String, folder: String },
    #[error("cannot write {what} to {path}: {folder} is not a folder")]
    NotAFolder { what: String, path: String, folder: String },
    #[error("cannot write {what} to {path}: the folder {folder} is not writable ({reason})")]
    FolderNotWritable { what: String, path: String, folder: String, reason: String },
    #[error("cannot write {what} to {path}: the file is read-only")]
    ReadOnly { what: String, path: String },
    #[error("{what} would overwrite the input {path}; choose another output file")]
    OverwritesInput { what: String, path: String },
    #[error("{first} and {second} are the same file ({path}); give each output its own file")]
    SameOutput { first: String, second: String, path: String },
    #[error("disk full while writing {path}; the previous file, if any, is unchanged")]
    DiskFull { path: String },
    #[error("cannot write {path}: {reason}")]
    Io { path: String, reason: String },
}

impl OutputError {
    fn io(path: &Path, error: io::Error) -> Self {
        let path = path.display().to_string();
        if error.kind() == io::ErrorKind::StorageFull {
            Self::DiskFull { path }
        } else {
            Self::Io { path, reason: error.to_string() }
        }
    }
}

/// True when `path` means standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Where `target` really is: symlinks are followed so the link survives the rename.
fn resolve(target: &Path) -> PathBuf {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(target).unwrap_or_else(|_| target.into()),
        _ => target.into(),
    }
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Checks, before any work is done, that `what` (e.g. "the English speech") can be written to
/// `path`: its folder exists and is writable, and it is not a directory or a read-only file.
pub fn check_writable(what: &str, path: &Path) -> Result<(), OutputError> {
    if is_stdout(path) {
        return Ok(());
    }
    let target = resolve(path);
    let shown = path.display().to_string();
    let named = |folder: &Path| (what.to_string(), shown.clone(), folder.display().to_string());
    if let Ok(meta) = fs::metadata(&target) {
        if meta.is_dir() {
            return Err(OutputError::IsDirectory { what: what.into(), path: shown });
        }
        if !meta.is_file() {
            return Ok(()); // a FIFO or device is written in place
        }
        if meta.permissions().readonly() {
            return Err(OutputError::ReadOnly { what: what.into(), path: shown });
        }
    }
    let folder = folder_of(&target);
    match fs::metadata(folder) {
        Err(_) => {
            let (what, path, folder) = named(folder);
            return Err(OutputError::NoFolder { what, path, folder });
        }
        Ok(meta) if !meta.is_dir() => {
            let (what, path, folder) = named(folder);
            return Err(OutputError::NotAFolder { what, path, folder });
        }
        Ok(_) => {}
    }
    // Permission bits do not tell the whole story (root, read-only mounts, ACLs): try it.
    match TempFile::create(&target) {
        Ok((_probe, _)) => Ok(()),
        Err(e) => {
            let (what, path, folder) = named(folder);
            Err(OutputError::FolderNotWritable { what, path, folder, reason: e.to_string() })
        }
    }
}

/// A file's identity on disk, to tell whether two paths name the same file.
fn identity(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Refuses an output that is the input file, or two outputs that are the same file.
/// `outputs` pairs each output's description with its path.
pub fn check_distinct(input: Option<&Path>, outputs: &[(&str, &Path)]) -> Result<(), OutputError> {
    let key = |path: &Path| -> PathBuf {
        let target = resolve(path);
        let folder = fs::canonicalize(folder_of(&target)).unwrap_or_else(|_| folder_of(&target).into());
        folder.join(target.file_name().unwrap_or_default())
    };
    let same = |a: &Path, b: &Path| match (identity(a), identity(b)) {
        (Some(x), Some(y)) => x == y,
        _ => key(a) == key(b),
    };
    for (i, (what, path)) in outputs.iter().enumerate() {
        if is_stdout(path) {
            if let Some((first, _)) = outputs[..i].iter().find(|(_, p)| is_stdout(p)) {
                return Err(OutputError::SameOutput {
                    first: first.to_string(),
                    second: what.to_string(),
                    path: "standard output".into(),
                });
            }
            continue;
        }
        if let Some(input) = input.filter(|input| !is_stdout(input)) {
            if same(input, path) {
                return Err(OutputError::OverwritesInput { what: what.to_string(), path: path.display().to_string() });
            }
        }
        if let Some((first, _)) = outputs[..i].iter().find(|(_, p)| !is_stdout(p) && same(p, path)) {
            return Err(OutputError::SameOutput {
                first: first.to_string(),
                second: what.to_string(),
                path: path.display().to_string(),
            });
        }
    }
    Ok(())
}

/// A temporary file beside its target, removed unless it is renamed into place.
struct TempFile {
    path: PathBuf,
    /// False once renamed into place.
    owned: bool,
}

/// Distinguishes temporary files of one process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The prefix and suffix of temporary files for `target`: `.NAME.` … `.tmp`.
fn temp_affixes(target: &Path) -> (String, &'static str) {
    let name = target.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    (format!(".{name}."), ".tmp")
}

impl TempFile {
    fn create(target: &Path) -> io::Result<(Self, File)> {
        remove_stale_temps(target);
        let (prefix, suffix) = temp_affixes(target);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = folder_of(target).join(format!("{prefix}{}-{n}{suffix}", std::process::id()));
        let file = OpenOptions::new().write(true).create_new(true).open(&path)?;
        Ok((Self { path, owned: true }, file))
    }

    /// Syncs `file` (this temporary file) and renames it over `target`, then syncs the folder so
    /// the rename itself survives a power cut.
    fn persist(mut self, file: File, target: &Path) -> io::Result<()> {
        file.sync_all()?;
        drop(file);
        fs::rename(&self.path, target)?;
        self.owned = false;
        if let Ok(folder) = File::open(folder_of(target)) {
            let _ = folder.sync_all();
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.owned {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Removes temporary files for `target` left by processes that were killed.
fn remove_stale_temps(target: &Path) {
    let (prefix, suffix) = temp_affixes(target);
    let Ok(entries) = fs::read_dir(folder_of(target)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(middle) = name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(suffix)) else {
            continue;
        };
        let Some(pid) = middle.split('-').next().filter(|p| p.parse::<u32>().is_ok()) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

enum Sink {
    /// Written to a temporary file, renamed over the target on commit.
    Replace { temp: TempFile, writer: BufWriter<File> },
    /// Standard output, a FIFO or a device: written as it goes.
    InPlace(BufWriter<Box<dyn Write + Send>>),
}

/// An output being written: appears at its path, whole, on [`OutFile::commit`]; dropped
/// uncommitted, it leaves no trace and the previous file stays.
pub struct OutFile {
    target: PathBuf,
    sink: Sink,
    /// Bytes written so far (the position, for in-place sinks that cannot seek).
    written: u64,
}

impl OutFile {
    /// Starts writing `path` (`-` for standard output).
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let target = resolve(path);
        let in_place: Option<Box<dyn Write + Send>> = if is_stdout(path) {
            Some(Box::new(io::stdout()))
        } else if fs::metadata(&target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            Some(Box::new(OpenOptions::new().write(true).open(&target).map_err(|e| OutputError::io(path, e))?))
        } else {
            None
        };
        let sink = match in_place {
            Some(writer) => Sink::InPlace(BufWriter::new(writer)),
            None => {
                let (temp, file) = TempFile::create(&target).map_err(|e| OutputError::io(path, e))?;
                Sink::Replace { temp, writer: BufWriter::with_capacity(1 << 16, file) }
            }
        };
        Ok(Self { target: path.to_path_buf(), sink, written: 0 })
    }

    /// True when earlier bytes can be rewritten (see [`OutFile::write_at`]).
    pub fn can_rewrite(&self) -> bool {
        matches!(self.sink, Sink::Replace { .. })
    }

    /// Overwrites bytes at `offset` (a header's sizes, say) and returns to the end.
    /// Only for files that [`OutFile::can_rewrite`].
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), OutputError> {
        let target = self.target.clone();
        let Sink::Replace { writer, .. } = &mut self.sink else {
            return Err(OutputError::Io { path: target.display().to_string(), reason: "cannot seek".into() });
        };
        let result = (|| {
            writer.seek(SeekFrom::Start(offset))?;
            writer.write_all(bytes)?;
            writer.seek(SeekFrom::End(0)).map(|_| ())
        })();
        result.map_err(|e| OutputError::io(&target, e))
    }

    /// Appends `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        let result = match &mut self.sink {
            Sink::Replace { writer, .. } => writer.write_all(bytes),
            Sink::InPlace(writer) => writer.write_all(bytes),
        };
        self.written += bytes.len() as u64;
        result.map_err(|e| OutputError::io(&self.target, e))
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Makes the file appear at its path (synced), replacing any previous one.
    pub fn commit(self) -> Result<(), OutputError> {
        let target = self.target;
        let fail = |e| OutputError::io(&target, e);
        match self.sink {
            Sink::Replace { temp, writer } => {
                let file = writer.into_inner().map_err(|e| fail(e.into_error()))?;
                temp.persist(file, &resolve(&target)).map_err(fail)
            }
            Sink::InPlace(mut writer) => writer.flush().map_err(fail),
        }
    }
}

/// `bytes`, ready to appear at `path` when committed.
pub fn prepare(path: &Path, bytes: &[u8]) -> Result<OutFile, OutputError> {
    let mut out = OutFile::create(path)?;
    out.write_all(bytes)?;
    Ok(out)
}

/// Writes `bytes` to `path` whole or not at all (`-`: standard output).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    prepare(path, bytes)?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temps_in(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn an_uncommitted_file_leaves_the_previous_one_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        fs::write(&path, "old").unwrap();
        let mut out = OutFile::create(&path).unwrap();
        out.write_all(b"new, half written").unwrap();
        drop(out);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert!(temps_in(dir.path()).is_empty());

        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert!(temps_in(dir.path()).is_empty());
    }

    #[test]
    fn headers_can_be_rewritten_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        let mut out = OutFile::create(&path).unwrap();
        out.write_all(b"0000tail").unwrap();
        out.write_at(0, b"head").unwrap();
        out.write_all(b"!").unwrap();
        out.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"headtail!");
    }

    #[test]
    fn a_symlink_keeps_pointing_at_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.srt");
        let link = dir.path().join("link.srt");
        fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn temporary_files_of_dead_processes_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        // PIDs are below 2^22 on Linux, so this one is never alive.
        let stale = dir.path().join(".out.wav.4999999-0.tmp");
        fs::write(&stale, "partial").unwrap();
        write_atomic(&path, b"x").unwrap();
        assert!(!stale.exists());
    }

    #[test]
    fn bad_locations_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable("the captions", dir.path()).unwrap_err();
        assert!(matches!(err, OutputError::IsDirectory { .. }), "{err}");
        let missing = dir.path().join("nope/out.srt");
        let err = check_writable("the captions", &missing).unwrap_err().to_string();
        assert!(err.contains("does not exist") && err.contains("nope"), "{err}");
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = check_writable("the captions", &file.join("out.srt")).unwrap_err();
        assert!(matches!(err, OutputError::NotAFolder { .. }), "{err}");
        assert!(check_writable("the captions", &dir.path().join("ok.srt")).is_ok());
        assert!(check_writable("the captions", Path::new("/dev/null")).is_ok());
        assert!(temps_in(dir.path()).is_empty());
    }

    #[test]
    fn outputs_must_differ_from_the_input_and_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.wav");
        fs::write(&input, "x").unwrap();
        let relative = dir.path().join(".").join("in.wav");
        let err = check_distinct(Some(&input), &[("the English speech", &relative)]).unwrap_err();
        assert!(matches!(err, OutputError::OverwritesInput { .. }), "{err}");
        let a = dir.path().join("a.srt");
        let err = check_distinct(Some(&input), &[("--srt", &a), ("--vtt", &a)]).unwrap_err().to_string();
        assert!(err.contains("--srt and --vtt are the same file"), "{err}");
        let dash = Path::new("-");
        assert!(check_distinct(Some(&input), &[("--srt", &a), ("-o", dash)]).is_ok());
        assert!(check_distinct(None, &[("--srt", dash), ("-o", dash)]).is_err());
    }
}
