//! Writes that never leave a half-written file behind: the bytes go to a temporary
//! file in the same folder, are flushed to disk, and the temporary file is renamed
//! over the target in one step.

use std::io::{BufWriter, Write};
use std::path::Path;

/// Replaces `path` with `bytes` atomically, creating the folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// Replaces `path` with what `write` writes, atomically, creating the folder if needed.
/// The writing goes through a buffer into the temporary file, so that a large file
/// (a long run's metrics or session) is never held in memory whole.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path has no file name"))?;
    let temp = folder.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));

    let written = (|| {
        let mut out = BufWriter::new(std::fs::File::create(&temp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        // The temporary file is useless now; the target was never touched.
        if let Err(err) = std::fs::remove_file(&temp) {
            log::debug!("could not remove {}: {err}", temp.display());
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("out.json");
        write_atomic(&path, b"first")?;
        write_atomic(&path, b"second")?;
        assert_eq!(std::fs::read(&path)?, b"second");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn failed_write_keeps_the_old_file() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("out.json");
        write_atomic(&path, b"kept")?;
        // A folder where the file should go makes the rename fail.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked)?;
        assert!(write_atomic(&blocked, b"x").is_err());
        assert_eq!(std::fs::read(&path)?, b"kept");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 2);
        Ok(())
    }

    /// A writer that fails half-way (a serialiser's error, a full disk) leaves the old
    /// file as it was and no temporary file; one that succeeds is written whole,
    /// however much goes through the buffer.
    #[test]
    fn a_streamed_write_is_all_or_nothing() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("out.csv");
        write_atomic(&path, b"kept")?;
        let failed = write_atomic_with(&path, |out| {
            out.write_all(&[b'x'; 100_000])?;
            Err(std::io::Error::other("the writer gave up"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path)?, b"kept");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);

        write_atomic_with(&path, |out| {
            for line in 0..50_000 {
                writeln!(out, "{line}")?;
            }
            Ok(())
        })?;
        let text = std::fs::read_to_string(&path)?;
        assert_eq!(text.lines().count(), 50_000);
        assert_eq!(text.lines().last(), Some("49999"));
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }
}
